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
    """
| page | what you see | lecture |
|---|---|---|
| **Data** | the 2D dataset every page trains on; your own CSV | q₀(x) |
| **Forward process & β-schedules** | β_k, ᾱ_k, SNR; the data noised step by step *and* in closed form | q(x⁽ᵏ⁾\\|x⁽ᵏ⁻¹⁾), Eq. (7), L_N |
| **DDPM training** | ε_θ trained live by *Algorithm Training*; loss and samples | Eq. (10) |
| **Reverse sampling** | the reverse chain x⁽ᴺ⁾ → x⁽⁰⁾, paths, x̂⁽⁰⁾, the ε_θ field | Eq. (9), *Algorithm Sampling* |
| **Variational bound** | L = L_N + Σ L_{k−1} + L_0, term by term, for σ_k² = β_k or β̃_k | Eq. (6), (8) |
| **Normalizing flows** | NICE / RealNVP trained live by NLL; density, samples, latent space | Eq. (11) |
| **Coupling layers** | one layer at a time: points, warped grid, μ_θ, σ_θ, log\\|det J\\| | Eq. (12), NICE, RealNVP |
"""
)

st.subheader("Notation")
st.markdown(
    """
| lecture | meaning |
|---|---|
| N, k = 1..N | number of diffusion steps, the step (k = 0 is the data) |
| β_k, α_k = 1 − β_k, ᾱ_k = Π_{i≤k} α_i | noise schedule and its products |
| x⁽⁰⁾, x⁽ᵏ⁾ | a data point (standardised to mean 0, std 1 per coordinate) and its noised version |
| μ̃_k, β̃_k | mean and variance of the posterior q(x⁽ᵏ⁻¹⁾\\|x⁽ᵏ⁾, x⁽⁰⁾), Eq. (8) |
| ε_θ(x⁽ᵏ⁾, k) | the network that predicts the noise ε |
| σ_k² | reverse-process variance: β_k or β̃_k |
| x = f(z), z = f⁻¹(x) | a flow maps latent z ~ N(0, I) to data x |
| z_K = x, z_{k−1} = f_k⁻¹(z_k) | the intermediate points of a K-layer flow, Eq. (12) |
| μ_θ(z_1), σ_θ(z_1) | shift and log-scale of a coupling layer, computed from the kept coordinate z_1 |
"""
)
st.latex(r"q(x^{(k)}\mid x^{(0)}) = \mathcal N\big(x^{(k)};\ \sqrt{\bar\alpha_k}\,x^{(0)},\ (1-\bar\alpha_k) I\big)"
         r"\qquad p_x(x) = p_z\big(f^{-1}(x)\big)\,\big|\det J_{f^{-1}}(x)\big|")

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
