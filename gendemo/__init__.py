"""gendemo: the engine behind the lecture companion "DDPMs and normalizing flows".

The package is UI-free (it never imports streamlit): datasets, β-schedules, the DDPM of
Ho et al. (2020), NICE and RealNVP coupling flows, a chunked training loop, metrics,
checkpoints and a command-line interface (``python -m gendemo``).

Equation numbers in docstrings, e.g. "Ref: Eq. (9)", refer to the lecture notes
``shared/lecture/ddpm-and-flows.md``.
"""

__version__ = "0.1.0"
