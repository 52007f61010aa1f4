r"""Hyper-parameters chosen by the theory: the noise level that generalises best, by autodiff.

A linear DAE trained on $X_{train}$ for $T$ full-batch steps on the noise-averaged loss ends at
$W(T) = W_2(T)W_1(T)$; its **held-out reconstruction error** on clean held-out data
$X_{held}$ `(M, D)` is

$$E_{held} = \frac{1}{2M}\sum_i \lVert x_i - W x_i\rVert^2
 = \tfrac12\operatorname{tr}\big((I-W)\,C_{held}\,(I-W)^\top\big),\qquad C_{held} = X_{held}^\top X_{held}/M .$$

From the balanced aligned start ($W_1 = \sqrt{u_0}\,V_H^\top$, $W_2 = \sqrt{u_0}\,V_H$ in the
eigenbasis $V$ of the training moment) the net stays $W = V_H\operatorname{diag}(u)V_H^\top$ with
$u_k(T)$ the exact discrete map of mode $k$ (`jaxdae.exact.mode_strength_discrete`), so

$$E_{held} = \tfrac12\sum_{k<H} c_k(1-u_k(T))^2 + \tfrac12\sum_{k\ge H} c_k,\qquad c_k = v_k^\top C_{held} v_k,$$

exactly, at $O(HT)$ cost. From any other start it is evaluated through `jaxdae.train.fit`
(`noise="expected"`) and the final weights. `noise_level` minimises it over $\sigma^2$ with
`minimise`: a vmapped grid, then derivative bisection in the best bracket with forward-mode
derivatives through the solution.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, exact, initialise, loss, train
from .spectrum import Spectrum, check_data

__all__ = ["minimise", "heldout_loss", "noise_level"]


# --------------------------------------------------------------------------- one-dimensional search


def _bracket(values, i):
    return max(i - 1, 0), min(i + 1, values.shape[0] - 1)


def _bisect_slope(slope, ya, yb, ga, gb, iters):
    """A zero of `slope` between `ya` (slope < 0) and `yb` (slope > 0): secant steps kept in the
    middle 90 % of the bracket, bisection otherwise; returns every point it evaluated."""
    tried = []
    for _ in range(iters):
        width = yb - ya
        yc = (ya * gb - yb * ga) / (gb - ga)
        if not (ya + 0.05 * width < yc < yb - 0.05 * width):
            yc = 0.5 * (ya + yb)
        fc, gc = (float(v) for v in slope(yc))
        tried.append((fc, yc))
        if not np.isfinite(gc) or gc > 0:  # a non-finite slope lies past the optimum (divergence)
            yb, gb = yc, gc if np.isfinite(gc) else gb
        elif gc < 0:
            ya, ga = yc, gc
        if gc == 0 or width <= 1e-12 * max(1.0, abs(yc)):
            break
    return tried


def _refine(slope, grid_y, values, i, iters):
    """Points tried around the grid's best `i`: the sub-bracket whose ends' slopes change sign."""
    lo, hi = _bracket(values, i)
    f_i, g_i = (float(v) for v in slope(grid_y[i]))
    j = hi if g_i < 0 else lo
    if j == i or not np.isfinite(g_i) or g_i == 0:
        return [(f_i, grid_y[i])]
    f_j, g_j = (float(v) for v in slope(grid_y[j]))
    ya, yb, ga, gb = (grid_y[i], grid_y[j], g_i, g_j) if j > i else (grid_y[j], grid_y[i], g_j, g_i)
    if not (ga < 0 and (gb > 0 or not np.isfinite(gb))):
        return [(f_i, grid_y[i]), (f_j, grid_y[j])]  # no sign change: the optimum is a grid end
    gb = gb if np.isfinite(gb) else abs(ga)
    return [(f_i, grid_y[i])] + _bisect_slope(slope, ya, yb, ga, gb, iters)


def minimise(f, lo, hi, *, num: int = 256, log: bool = True, iters: int = 40):
    r"""The minimiser of a scalar function `f` on $[lo, hi]$, robust to a non-convex objective.

    **How.** (1) `f` on a grid of `num` points (geometric if `log`, else uniform) as **one**
    vectorised call (`jax.vmap`), non-finite values counting as $+\infty$; (2) in the bracket of
    the grid's best point $x_i$ (its neighbours $x_{i\pm1}$, where $f \ge f(x_i)$), the side where
    the derivative changes sign is refined by secant steps on $f'$ safeguarded by bisection, in
    $y = \log x$ if `log`; $f'$ comes from `jax.jvp` through `f` (forward mode: for a solver's
    `lax.scan` its memory does not grow with the number of steps); (3) the best point evaluated
    is returned, so the answer is never worse than the grid's best and never outside
    $[lo, hi]$. A minimum at an end of the range (the derivative keeps its sign there) is that end.

    **Cost.** `num` evaluations of `f` in one vectorised call (memory: `num` copies of its
    working state), then at most `iters + 2` evaluations of `f` with its derivative (about
    twice `f` each, sequential).

    **Arguments:**

    - `f`: a function of a 0-d array returning a 0-d real array, traceable by `jax.jit`,
      `jax.vmap` and `jax.jvp`.
    - `lo`, `hi`: the range, `0 < lo < hi` for `log=True`, `lo < hi` otherwise.
    - `num`: grid points, `>= 3`; `log`: geometric grid and refinement in $\log x$;
      `iters`: refinement steps, `>= 1`.

    **Returns:** `(x, f(x))`, two 0-d arrays in the dtype of `lo` and `hi`.

    **Raises:** `ValueError` for a bad range or settings, or when `f` is not finite anywhere on
    the grid.

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxdae import tune
    >>> x, fx = tune.minimise(lambda x: (jnp.log(x) - 1.0) ** 2, 0.1, 100.0)
    >>> round(float(x), 6), round(float(fx), 12)
    (2.718282, 0.0)

    ```
    """
    num, iters = _checks.integer("num", num, low=3), _checks.integer("iters", iters)
    lo, hi = _checks.as_float(_checks.finite("lo", lo), _checks.finite("hi", hi))
    if not float(lo) < float(hi) or (log and not float(lo) > 0):
        raise ValueError(f"lo and hi must satisfy {'0 < ' if log else ''}lo < hi, got lo={float(lo)!r}, hi={float(hi)!r}")
    to_x = jnp.exp if log else (lambda y: y)
    grid_y = jnp.linspace(jnp.log(lo), jnp.log(hi), num) if log else jnp.linspace(lo, hi, num)
    grid_y = grid_y.at[0].set(jnp.log(lo) if log else lo).at[-1].set(jnp.log(hi) if log else hi)
    values = np.asarray(jax.jit(jax.vmap(lambda y: f(to_x(y))))(grid_y), np.float64)
    values = np.where(np.isfinite(values), values, np.inf)
    i = int(np.argmin(values))
    if not np.isfinite(values[i]):
        raise ValueError(f"f is not finite anywhere on the grid of {num} points in [{float(lo)!r}, {float(hi)!r}]")
    slope = jax.jit(lambda y: jax.jvp(lambda y: f(to_x(y)), (y,), (jnp.ones_like(y),)))
    grid_host = np.asarray(grid_y, np.float64)
    tried = _refine(slope, grid_host, values, i, iters) + [(values[i], grid_host[i])]
    f_best, y_best = min((fv, y) for fv, y in tried if np.isfinite(fv))
    x = jnp.clip(to_x(jnp.asarray(y_best, lo.dtype)), lo, hi)
    return x, jnp.asarray(f_best, lo.dtype)


# --------------------------------------------------------------------------- held-out error


def _heldout_data(X_train, X_heldout):
    X_train, X_heldout = check_data(X_train), check_data(X_heldout)
    if X_heldout.shape[1] != X_train.shape[1]:
        raise ValueError(
            f"X_heldout must have the dimension of X_train, D = {X_train.shape[1]}, got shape {X_heldout.shape}"
        )
    return X_train, X_heldout


def _aligned_heldout(spectrum, X_heldout, hidden, steps, noise_var, weight_decay, lr, u0, heldout_noise_var):
    r"""$\tfrac12\sum_k [c_k(1-u_k)^2 + \sigma_h^2u_k^2]$, $c_k = v_k^\top C_{held}v_k$, $u_k = 0$ for $k \ge H$."""
    with jax.ensure_compile_time_eval():  # host-side, concrete even under a caller's jit or vmap
        xh = np.asarray(X_heldout, np.float64) @ np.asarray(spectrum.vecs, np.float64)
        c = jnp.asarray(np.mean(xh * xh, axis=0), spectrum.lam.dtype)
    args = (jnp.asarray(x, c.dtype)[..., None] for x in (noise_var, weight_decay, lr))
    noise_var, weight_decay, lr = args
    u = exact.mode_strength_discrete(
        steps, spectrum.lam[:hidden], u0=u0, noise_var=noise_var, weight_decay=weight_decay, lr=lr, steps=steps
    )
    per_mode = c[:hidden] * (1 - u) ** 2 + heldout_noise_var * u * u
    return 0.5 * jnp.sum(per_mode, -1) + 0.5 * jnp.sum(c[hidden:])


def _trained_heldout(X_train, X_heldout, hidden, steps, noise_var, weight_decay, lr, init, key, heldout_noise_var):
    with jax.ensure_compile_time_eval():
        held = Spectrum.from_data(X_heldout)

    def one(noise_var, weight_decay, lr):
        run = train.fit(X_train, hidden=hidden, steps=steps, noise_var=noise_var, weight_decay=weight_decay, lr=lr,
                        key=key, init=init, noise="expected", record_every=steps, record_weights=True)
        w1, w2 = (w[-1] for w in run.weights)
        return loss.expected_loss(held.lam, *held.rotate(w1, w2), heldout_noise_var)

    dtype = held.lam.dtype
    return jnp.vectorize(one)(*(jnp.asarray(x, dtype) for x in (noise_var, weight_decay, lr)))


def heldout_loss(X_train, X_heldout, *, hidden: int, steps: int, noise_var=0.0, weight_decay=0.0, lr=1e-2,
                 init="aligned", u0=1e-6, key=None, heldout_noise_var=0.0):
    r"""Reconstruction error on held-out data after training on `X_train` for `steps` steps.

    $E_{held} = \frac{1}{2M}\sum_i\mathbb E\lVert x_i - W(T)(x_i + n_i)\rVert^2
    = \tfrac12\operatorname{tr}((I-W)C_{held}(I-W)^\top) + \tfrac{\sigma_h^2}{2}\lVert W\rVert_F^2$
    over the rows of `X_heldout`, with held-out input noise $n_i \sim \mathcal N(0, \sigma_h^2 I)$
    ($\sigma_h^2$ = `heldout_noise_var`, default 0: clean reconstruction) and $W(T)$ after $T$
    full-batch gradient steps on the noise-averaged loss of `X_train` (module docstring). Aligned start: exact, through the spectrum of `X_train` and the held-out
    second moment, $O(HT + MD^2)$, elementwise over `noise_var`, `weight_decay`, `lr` (which
    broadcast together). Other starts: one `jaxdae.train.fit(noise="expected")` run per point.
    Differentiable in `noise_var`, `weight_decay` and `lr`.

    **Arguments:** `X_train` `(N, D)`, `X_heldout` `(M, D)`; `hidden` $H \ge 1$ ($\le D$ for the
    aligned start); `steps` $T \ge 1$; `noise_var`, `weight_decay` $\ge 0$; `lr` $> 0$;
    `init`: `"aligned"` (with `u0`), `"random"`, a `jaxdae.initialise` strategy or a pair
    `(W1, W2)`; `key`: the key of a random start (default `jax.random.key(0)`);
    `heldout_noise_var` $\sigma_h^2 \ge 0$ (scalar).

    **Returns:** $E_{held}$ with the broadcast shape of `noise_var`, `weight_decay`, `lr`.

    **Raises:** `ValueError` for bad arguments, named (a held-out set of another dimension, ...).

    ```python
    >>> import numpy as np
    >>> from jaxdae import tune
    >>> X = np.eye(3) * np.sqrt(3.0)            # C = I
    >>> round(float(tune.heldout_loss(X, X, hidden=3, steps=2000, lr=0.1)), 8)   # W -> I
    0.0

    ```
    """
    X_train, X_heldout = _heldout_data(X_train, X_heldout)
    hidden, steps = _checks.integer("hidden", hidden), _checks.integer("steps", steps)
    _checks.broadcast_shapes(noise_var=noise_var, weight_decay=weight_decay, lr=lr)
    noise_var = _checks.nonnegative("noise_var", noise_var)
    weight_decay = _checks.nonnegative("weight_decay", weight_decay)
    lr = _checks.positive("lr", lr)
    heldout_noise_var = _checks.nonnegative("heldout_noise_var", heldout_noise_var)
    aligned = isinstance(init, initialise.Aligned) or (isinstance(init, str) and init == "aligned")
    if not aligned:
        key = jax.random.key(0) if key is None else _checks.prng_key("key", key)
        return _trained_heldout(X_train, X_heldout, hidden, steps, noise_var, weight_decay, lr, init, key,
                                heldout_noise_var)
    with jax.ensure_compile_time_eval():
        spectrum = Spectrum.from_data(X_train)
    if hidden > spectrum.dim:
        raise ValueError(f"hidden must be <= the data dimension {spectrum.dim} for an aligned start, got {hidden}")
    u0 = init.u0 if isinstance(init, initialise.Aligned) else _checks.nonnegative("u0", u0)
    return _aligned_heldout(spectrum, X_heldout, hidden, steps, noise_var, weight_decay, lr, u0, heldout_noise_var)


def noise_level(X_train, X_heldout, *, hidden: int, steps: int, lr=1e-2, weight_decay=0.0, init="aligned",
                u0=1e-6, key=None, heldout_noise_var=0.0, bounds=None, num: int = 256):
    r"""The noise variance $\sigma^2$ whose DAE, trained `steps` steps on `X_train`, reconstructs
    `X_heldout` best: $\arg\min_{\sigma^2 \ge 0} E_{held}(\sigma^2)$ (`heldout_loss`).

    **How:** `minimise` in $\log\sigma^2$ over `bounds` (default
    $[10^{-4}\bar\lambda, 10\,\lambda_1]$, $\bar\lambda = \operatorname{tr}C/D$ of the training
    data), `num` values as one vectorised evaluation, then secant/bisection on
    $\partial E_{held}/\partial\log\sigma^2$ by forward-mode autodiff through the solution; and
    $\sigma^2 = 0$ (a plain autoencoder), returned when it is at least as good. **Cost:** `num` +
    at most 43 evaluations of `heldout_loss`.

    **Arguments:** as `heldout_loss` (`lr`, `weight_decay` scalars), and `bounds`: `(lo, hi)`,
    `0 < lo < hi`; `num` `>= 3`.

    **Returns:** `(noise_var, heldout)`: the best $\sigma^2$ and its $E_{held}$, 0-d arrays.

    **Raises:** `ValueError` for bad arguments (named).
    """
    X_train, X_heldout = _heldout_data(X_train, X_heldout)
    for name, v in (("lr", lr), ("weight_decay", weight_decay)):
        if np.ndim(v) != 0:
            raise ValueError(f"{name} must be a scalar, got shape {np.shape(v)}")
    f = lambda s: heldout_loss(X_train, X_heldout, hidden=hidden, steps=steps, noise_var=s,  # noqa: E731
                               weight_decay=weight_decay, lr=lr, init=init, u0=u0, key=key,
                               heldout_noise_var=heldout_noise_var)
    if bounds is None:
        lam = np.linalg.eigvalsh(X_train.T.astype(np.float64) @ X_train / X_train.shape[0])
        if not lam[-1] > 0:
            raise ValueError("X_train must not be all zeros (its second moment has no positive eigenvalue)")
        bounds = (1e-4 * float(np.mean(lam)), 10 * float(lam[-1]))
    best, value = minimise(f, *bounds, num=num)
    at_zero = f(jnp.zeros((), best.dtype))
    if float(at_zero) <= float(value):
        return jnp.zeros_like(best), jnp.asarray(at_zero, value.dtype)
    return best, value
