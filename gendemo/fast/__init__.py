"""Hand-written fast paths: each computes the same function as a plain implementation elsewhere in the engine.

On CPU the small networks here are bound by per-op framework overhead, not arithmetic, so writing the
chain rule out (training) or keeping activations feature-major in preallocated buffers (sampling) halves
the time. A caller chooses a fast path explicitly (`training.train_steps(state, n, fast=True)`,
`ddpm.sample(..., fast=True)`); the default is the plain path a reader can follow from the lecture.
Each fast path is tested equal to its plain path in tests/test_fast_<module>.py.

- `ddpm_loss_grad.DDPMLossGrad`: `ddpm.loss` (Eq. (10)) and its gradient without autograd.
- `flow_loss_grad.FlowLossGrad`: `Flow.nll_loss` (Eq. (11), (12)) and its gradient without autograd.
- `ddpm_sampler.sample`: `ddpm.sample` (Eq. (9), Algorithm Sampling) with a feature-major ε_θ.
- `eps_net`: what the DDPM fast paths read from a plain ε-network (its Linear layers, its activation).
- `grad_buffer.GradBuffer`: one flat buffer holding every parameter's gradient.
"""
