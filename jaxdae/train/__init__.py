r"""Discrete training of (denoising, weight-decayed) autoencoders with optax, on real data.

`fit` trains **one** network and records the observable of `jaxdae.exact` and `jaxdae.ode`,
the mode strengths $u_k(t)$, in a `jaxdae.Trajectory`. Every number that may be swept
(`noise_var`, `weight_decay`, `lr`, the `scale` or `u0` of an `init` strategy, and `key`) is
traced, so `jax.vmap` over `fit`, or `jaxdae.sweep.run`, trains a grid as one compiled program
and new values of the same shapes do not recompile. A grid of noise levels by seeds:

```python
data = train.Data.from_array(X)                  # the spectrum once
run = lambda noise_var, key: train.fit(data, hidden=32, steps=1000, noise_var=noise_var, key=key)
grid = jax.jit(jax.vmap(jax.vmap(run, (0, None)), (None, 0)))(levels, keys)  # (seed, noise, ...)
ds = sweep.run(lambda noise_var, seed, key: run(noise_var, key), {"seed": seeds, "noise_var": levels}, key=key)
```

**The model.** Rows of `X` `(N, D)` are samples, $W_1$ is `(H, D)`, $W_2$ `(D, H)`, and the
reconstruction of a corrupted sample $\tilde x = x + n$ is $\hat x = W_2\, f(W_1 \tilde x)$ with
$f$ = identity, ReLU or tanh (no biases). The loss is the per-sample mean (docs/theory.md),

$$L = \frac{1}{2B}\sum_{i \in \text{batch}} \|x_i - \hat x_i\|^2
      + \frac{\gamma}{2}\left(\|W_1\|_F^2 + \|W_2\|_F^2\right),
      \qquad n_i \sim \mathcal N(0, \sigma^2 I_D),$$

with $B = N$ (full batch, the default) or `batch_size`. Time is counted in optimiser updates.
Weight decay is this penalty, its gradient added before the optimiser (with the default SGD,
$W \leftarrow W - \alpha(\nabla L_{data} + \gamma W)$).

**Noise** (`noise=`, or the typed objects `Sampled()`, `Expected()`, `NoNoise()`):
`"sampled"` draws fresh noise every step; `"expected"` minimises the noise-averaged loss of a
linear net, $+\frac{\sigma^2}{2}\|W_2W_1\|_F^2$, exact because only the first two moments of
the noise enter (docs/derivations.md §1); `"none"` ignores $\sigma^2$.

**Randomness.** The key is split into three streams: initial weights, noise (step $t$ uses
`fold_in(noise_key, t)`; the moment engine turns that key's bits into all of the step's
normals and uniforms, `_sampling.moment_draw`) and minibatch order (epoch $e$:
`fold_in(shuffle_key, e)`). The noise is $\sigma Z_0$ with one standard pattern $Z_0$ per key and step, so one key gives the same
pattern at every noise level, weight decay, learning rate and initial scale (common random
numbers), and a random `init` is `scale` times one unit pattern. Nothing else is random:
a run is reproducible bit for bit from its key.

**Two engines, one distribution.** A linear net on the full batch sees data and noise only
through $S_{xt} = X^\top\tilde X/N$ and $S_{tt} = \tilde X^\top\tilde X/N$: with $W = W_2W_1$,
$\nabla_W L = W S_{tt} - S_{xt}$, $\nabla_{W_1} = W_2^\top\nabla_W$, $\nabla_{W_2} = \nabla_W W_1^\top$.
`engine="moments"` (`MomentEngine`, the default there) works in the eigenbasis of
$C = V\Lambda V^\top$, on $\bar W_1 = W_1V$, $\bar W_2 = V^\top W_2$ (an orthogonal change of
variables that gradient descent commutes with), where
$\bar S_{xt} = \Lambda + \sigma\bar E$, $\bar S_{tt} = \Lambda + \sigma(\bar E + \bar E^\top) + \sigma^2\bar F$,
and draws $(\bar E, \bar F) = (V^\top X^\top Z_0V/N, V^\top Z_0^\top Z_0V/N)$ exactly in
distribution from $O(D^2)$ normals (the rows of $\bar E$ are $\sqrt{\lambda_k/N}$ times
normal rows; $N\bar F$ adds a Bartlett Wishart; see `_sampling.moment_draw`): $O(D^2H)$ per
run and step, nothing of size $N$. For expected noise $\bar S_{tt} = \Lambda + \sigma^2 I$ is
diagonal and one of the four products becomes a scaling. `engine="data"` (`DataEngine`)
forms the corrupted batch and differentiates with `jax.grad`: nonlinear nets and minibatches.
For `"expected"` and `"none"` the engines agree to rounding; for `"sampled"` they draw
different realisations of one distribution.

**Mode strengths.** Linear nets: $u_k = v_k^\top W_2 W_1 v_k$; nonlinear nets, from the
reconstructions of the clean data, $u_k = v_k^\top(\hat X^\top X/N)v_k/\lambda_k$ (0 outside
the numerical rank of `X`).

**Cost.** Moment engine: four $D\times D\times H$ products per run and step (three for
expected noise), an $O(D^3)$ draw per key and step. Data engine: $O(BDH)$ per run and step.
Recording a nonlinear net reconstructs all of `X`.
"""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import _checks
from ..initialise import Aligned, Orthogonal, Random, as_strategy
from ..status import Status
from ..trajectory import Trajectory
from ._config import DataEngine, Expected, MomentEngine, NoNoise, Sampled, configure
from ._data import Data
from ._loop import simulate_jit
from ._record import record_times

__all__ = ["fit", "Data", "Sampled", "Expected", "NoNoise", "MomentEngine", "DataEngine"]

_DEFAULT_LR = 1e-2


class _Given(eqx.Module):
    """Explicit initial weights `(W1, W2)` as an init strategy."""

    w1: jax.Array
    w2: jax.Array

    def weights(self, key, spectrum, hidden, dtype=None):
        return self.w1, self.w2


def _init_strategy(init, hidden: int, dim: int, dtype):
    if isinstance(init, (tuple, list)) and len(init) == 2:
        w1, w2 = (jnp.asarray(w) for w in init)
        if w1.shape != (hidden, dim) or w2.shape != (dim, hidden):
            raise ValueError(f"init=(W1, W2) must have shapes {(hidden, dim)} and {(dim, hidden)}, "
                             f"got {w1.shape} and {w2.shape}")
        return _Given(_checks.finite("init W1", w1).astype(dtype), _checks.finite("init W2", w2).astype(dtype))
    if not isinstance(init, str) and not isinstance(init, (Random, Orthogonal, Aligned)):
        raise ValueError("init must be 'random', 'orthogonal', 'aligned', a jaxdae.initialise strategy or a pair "
                         f"(W1, W2) of arrays, got {init!r}")
    if isinstance(init, str) or isinstance(init, (Orthogonal, Aligned)):
        if hidden > dim and not isinstance(as_strategy(init), Random):
            raise ValueError(f"hidden must be <= the data dimension {dim} for init={init!r}, got {hidden}")
    return as_strategy(init)


def _hyper(dtype, noise_var, weight_decay, lr):
    out = {}
    for name, v, check in (("noise_var", noise_var, _checks.nonnegative),
                           ("weight_decay", weight_decay, _checks.nonnegative), ("lr", lr, _checks.positive)):
        if np.ndim(v) != 0:
            raise ValueError(f"{name} must be a scalar (vmap fit, or use jaxdae.sweep, for several values), "
                             f"got shape {np.shape(v)}")
        out[name] = jnp.asarray(check(name, v), dtype)
    return out


def _check_lr_with_fixed(cfg, lr):
    if cfg.optimizer.fixed is not None and (_checks.is_traced(lr) or float(lr) != _DEFAULT_LR):
        raise ValueError("lr cannot be combined with an optax.GradientTransformation, whose learning rate is fixed "
                         "inside it; pass a factory such as optax.adam (called as optimizer(lr)) to set or sweep lr")


def _trajectory(cfg, bufs, dtype) -> Trajectory:
    u, norm, loss, weights = bufs
    ok = jnp.all(jnp.isfinite(loss)) & jnp.all(jnp.isfinite(norm))
    status = jnp.where(ok, Status.SUCCESSFUL, Status.DIVERGED).astype(jnp.int32)
    t = jnp.asarray(record_times(cfg.steps, cfg.record_every), dtype)
    return Trajectory(t=t, mode_strength=u, loss=loss, weight_norm=norm, weights=weights, status=status,
                      stats={"num_steps": jnp.asarray(cfg.steps, jnp.int32)})


def fit(
    X,
    *,
    hidden: int,
    steps: int,
    noise_var=0.0,
    weight_decay=0.0,
    lr=_DEFAULT_LR,
    key,
    init="random",
    noise="sampled",
    activation: str = "linear",
    batch_size: Optional[int] = None,
    record_every: Optional[int] = None,
    record_weights: bool = False,
    engine="auto",
    optimizer=None,
) -> Trajectory:
    r"""Train one autoencoder on `X` and record its mode strengths (see the module docstring).

    **Arguments:**

    - `X`: `(N, D)` data, rows are samples, real, finite and concrete, or a prepared
      `train.Data` (then `fit` may run inside a user's `jit`). Its float dtype is the run's.
    - `hidden`: $H \ge 1$. `steps`: number of optimiser updates $T \ge 1$.
    - `noise_var`: $\sigma^2 \ge 0$ (ignored for `noise="none"`); `weight_decay`: $\gamma \ge 0$;
      `lr`: $\alpha > 0$ (default `1e-2`), of the default SGD or passed to an optimiser
      factory. Scalars, traced or not.
    - `key`: a `jax.random` key: initial weights, noise and batch order.
    - `init`: a `jaxdae.initialise` strategy (`Random(scale)`, `Orthogonal(scale)`,
      `Aligned(u0)` or `Aligned(w1=, w2=)`), the name of a default one (`"random"`,
      `"orthogonal"`, `"aligned"`), or a pair `(W1, W2)` of shapes `(H, D)`, `(D, H)`.
    - `noise`: `"sampled"`, `"expected"` (linear nets) or `"none"`, or `Sampled()`,
      `Expected()`, `NoNoise()`.
    - `activation`: `"linear"`, `"relu"` or `"tanh"` (no biases).
    - `batch_size`: `None` (full batch) or $1 \le B \le N$: minibatches reshuffled every epoch of
      $\lfloor N/B\rfloor$ updates.
    - `record_every`: record every this many updates (default `max(1, steps // 100)`); the
      record times are $0, r, 2r, \dots$ below `steps`, and `steps`.
    - `record_weights`: also return $(W_1, W_2)$ at the record times.
    - `engine`: `"auto"` (moments for a linear net on the full batch, data otherwise),
      `"moments"`, `"data"`, or `MomentEngine()`, `DataEngine(batch_size)`.
    - `optimizer`: `None` (SGD), a factory `lr -> optax.GradientTransformation` such as
      `optax.adam`, or a ready-made transformation (then `lr` stays at its default). Reuse the
      same object across calls: a new one is a new program to compile.

    **Returns:** a `jaxdae.Trajectory`: `t` `(T,)` in updates, `mode_strength` `(T, D)`, `loss`
    `(T,)` (the loss the optimiser sees at that time, that step's draw and batch, decay
    included), `weight_norm` `(T,)`, `weights` (if asked, `(T, H, D)` and `(T, D, H)`),
    `status` `()`: `Status.SUCCESSFUL`, or `Status.DIVERGED` when the weights or the loss
    became non-finite (e.g. a learning rate beyond the stability limit), and `stats`
    `{"num_steps": T}`.

    **Raises:** `ValueError` naming the argument and the bad value (`X` not 2-D, not finite or
    traced, non-integer or non-positive `hidden`/`steps`/`batch_size`/`record_every`,
    `batch_size` > N, negative `noise_var` or `weight_decay`, non-positive `lr`, an unknown
    `activation`, `noise`, `init` or `engine`, `noise="expected"` with a nonlinear net,
    `engine="moments"` with minibatches or a nonlinear net, a bad `optimizer` or `key`).

    **Cost:** see the module docstring; one compiled program per configuration and shapes.

    ```python
    >>> import jax, jaxdae.train
    >>> X = jaxdae.data.digits()
    >>> tr = jaxdae.train.fit(X, hidden=16, steps=2000, noise_var=0.1, lr=0.05,
    ...                       key=jax.random.key(0))
    >>> tr.mode_strength.shape          # (T, D): 101 records of 64 modes
    (101, 64)
    >>> int(tr.status)                  # jaxdae.Status.SUCCESSFUL
    0

    ```
    """
    data = X if isinstance(X, Data) else Data.from_array(X)
    cfg = configure(hidden=hidden, steps=steps, noise=noise, activation=activation, engine=engine,
                    batch_size=batch_size, record_every=record_every, optimizer=optimizer,
                    record_weights=record_weights, n_samples=data.n_samples)
    _check_lr_with_fixed(cfg, lr)
    key = _checks.prng_key("key", key)
    init = _init_strategy(init, cfg.hidden, data.dim, data.dtype)
    hyper = _hyper(data.dtype, noise_var, weight_decay, lr)
    bufs = simulate_jit(cfg, data, hyper, key, init)
    return _trajectory(cfg, bufs, data.dtype)
