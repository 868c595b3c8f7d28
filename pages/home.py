"""Home: the lecture map, the notation, and how to use the app in a lecture."""

from ui import router

router.inside_app()  # first, before the page's imports: a deep link on a fresh server must run inside app.py

import streamlit as st

from ui import style

st.title("DDPMs and normalizing flows, live")
st.markdown(
    "A companion to the lecture *Denoising diffusion probabilistic models and normalizing flows*. "
    "Every page turns one part of the lecture into something you can move a slider on and watch: "
    "the models are **trained live, in your browser session**, on 2D data."
)

st.subheader("Lecture map")
st.markdown(
    r"""
| page | what you see | lecture |
|---|---|---|
| **Data** | the 2D dataset every page trains on; your own CSV | q₀(x) |
| **Forward process & β-schedules** | $\beta_k$, $\bar\alpha_k$, SNR; the data noised step by step *and* in closed form | $q(x^{(k)}\mid x^{(k-1)})$, Eq. (7), $L_N$ |
| **DDPM training** | $\varepsilon_\theta$ trained live by *Algorithm Training*; loss and samples | *Algorithm Training*; its loss is $L_\text{simple}$, Eq. (10) |
| **Reverse sampling** | the reverse chain $x^{(N)} \to x^{(0)}$, paths, $\hat x^{(0)}$, the $\varepsilon_\theta$ field | Eq. (9), *Algorithm Sampling* |
| **Variational bound** | $L = L_N + \sum_k L_{k-1} + L_0$, term by term, for $\sigma_k^2 = \beta_k$ or $\tilde\beta_k$ | Eq. (6), Proposition (decomposition), Eq. (8) |
| **Normalizing flows** | NICE / RealNVP trained live by NLL; density, samples, latent space | Eq. (11) |
| **Coupling layers** | one layer at a time: points, warped grid, $\mu_\theta$, $\sigma_\theta$, $\log\lvert\det J\rvert$ | Eq. (12), NICE, RealNVP |
"""
)

st.subheader("Notation")
st.markdown(
    r"""
| lecture | meaning |
|---|---|
| $N$, $k = 1..N$ | number of diffusion steps, the step ($k = 0$ is the data) |
| $\beta_k$, $\alpha_k = 1 - \beta_k$, $\bar\alpha_k = \prod_{i\le k}\alpha_i$ | noise schedule and its products |
| $x^{(0)}$, $x^{(k)}$ | a data point (standardised to mean 0, std 1 per coordinate) and its noised version |
| $\tilde\mu_k$, $\tilde\beta_k$ | mean and variance of the posterior $q(x^{(k-1)}\mid x^{(k)}, x^{(0)})$, Eq. (8) |
| $\varepsilon_\theta(x^{(k)}, k)$ | the network that predicts the noise $\varepsilon$ |
| $\sigma_k^2$ | reverse-process variance: $\beta_k$ or $\tilde\beta_k$ |
| $x = f(z)$, $z = f^{-1}(x)$ | a flow maps latent $z \sim \mathcal N(0, I)$ to data $x$ |
| $z_K = x$, $z_{k-1} = f_k^{-1}(z_k)$ | the intermediate points of a K-layer flow, Eq. (12): $z_k$ is the output of layer $k$ |
| $x_1 = z_1$, $\mu_\theta(z_1)$, $\sigma_\theta(z_1)$ | in one coupling, $z = (z_1, z_2)$ splits its input: $z_1$ is the kept coordinate, from which the shift and log-scale are computed (the Coupling page calls it $u$, since $z_1$ there is layer 1's output) |
"""
)
st.latex(r"\begin{gathered}q(x^{(k)}\mid x^{(0)}) = \mathcal N\big(x^{(k)};\ \sqrt{\bar\alpha_k}\,x^{(0)},\ "
         r"(1-\bar\alpha_k) I\big)\\ p_x(x) = p_z\big(f^{-1}(x)\big)\,\big|\det J_{f^{-1}}(x)\big|\end{gathered}")

style.explain("How to use this app in a lecture", """
1. **Before the lecture**: open the app on the projector machine, switch on **Presenter mode** in the sidebar
   (bigger fonts and markers, explanations collapsed). Pick the dataset on **Data**.
2. **Forward process**: move the β-sliders and press ▶ on the animation; the left panel noises step by step,
   the right one jumps straight to step k with Eq. (7): the two clouds look alike — that is the lemma.
3. **DDPM training**: press Play and keep talking; the loss curve and the samples update a few times a
   second. Pause at any time, Step to advance by hand, Reset to start over.
4. **Reverse sampling** and **Variational bound** use the DDPM you just trained.
5. **Normalizing flows** and **Coupling layers** do the same for NICE and RealNVP.

Students can open the same address on their laptops: every browser tab trains its own models.
""")
