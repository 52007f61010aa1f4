r"""Optimal learning rates for a mode or a whole linear DAE / WDAE (docs/derivations.md §8–§10).

One mode (eigenvalue `lam` of $C = X^\top X/N$, noise variance `noise_var` $=\sigma^2$, weight
decay `weight_decay` $=\gamma$) has the scalar loss

$$\ell(w_1, w_2) = \tfrac{\lambda}{2}(1-u)^2 + \tfrac{\sigma^2}{2}u^2 + \tfrac{\gamma}{2}(w_1^2+w_2^2),
\qquad u = w_1 w_2,$$

with Hessian $[[\xi w_2^2+\gamma,\ 2\xi u-\lambda],\ [2\xi u-\lambda,\ \xi w_1^2+\gamma]]$,
$\xi = \lambda+\sigma^2$, $a = \lambda-\gamma$, balanced fixed point $u^* = a/\xi$. Full-batch
gradient descent at rate $\alpha$ keeps a balanced start balanced and maps
$u \mapsto u(1+\alpha(a-\xi u))^2$, i.e. $v \mapsto v(1+\kappa(1-v))^2$ for $v = u/u^*$ and
$\kappa = \alpha a$: every balanced criterion is a number $\kappa$ divided by $a$.

| criterion | rate | meaning |
|---|---|---|
| `"slides"` | $1/(2\lambda+3\sigma^2+\gamma)$ | $1/\lambda_{max}$ of the Hessian at $w_1=w_2=1$ (the paper) |
| `"critical"` | $1/(2a)$ | critical damping: the balanced map's slope $1-2\alpha a$ at $u^*$ is 0 |
| `"stability"` | $1/\max(a, \gamma)$ | $2/\lambda_{max}$ of the Hessian at the balanced minimum |
| `"fewest_steps"` | $\kappa^*(u_0/u^*, \text{tol})/a$ | fewest steps to enter and stay within `tol` of $u^*$ |

**DAE versus WDAE.** With the equivalent weight decay $\gamma_{eq} = \lambda\sigma^2/(\lambda+\sigma^2)$
(same fixed point), the balanced dynamics depend only on $(\alpha a, \alpha\xi)$, and both are
scaled by $\lambda/(\lambda+\sigma^2)$ from the DAE to the WDAE. So the DAE at rate $\alpha$ and the
WDAE at rate $\alpha(\lambda+\sigma^2)/\lambda$ (`equivalent_wdae_lr`) have *identical* balanced
trajectories, continuous and discrete. The slides' ratio $R = \alpha_{DAE}/\alpha_{WDAE} =
(2\lambda+\gamma)/(2\lambda+3\sigma^2)$ (`lr_ratio`) equals exactly $\lambda/(\lambda+\sigma^2)$ at
$\gamma = \gamma_{eq}$: at their "slides" rates the two models train identically, and "DAEs train
faster" holds only at equal rates (time ratio $(\lambda+\sigma^2)/\lambda$, `exact.dae_speedup`).
The same holds for `"critical"` and `"fewest_steps"`, and for `"stability"` while
$\sigma^2 \le \lambda$.

For a whole network (`optimal_learning_rate_for`) the curvatures come from the Hessian of the
full matrix loss, computed with `jax.hessian` or Lanczos on Hessian-vector products
(`hessian_max_eigenvalue`).
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from . import _checks
from .spectrum import Spectrum

__all__ = [
    "CRITERIA",
    "optimal_learning_rate",
    "steps_to_converge",
    "lr_ratio",
    "equivalent_wdae_lr",
    "hessian_max_eigenvalue",
    "optimal_learning_rate_for",
]

CRITERIA = ("slides", "critical", "stability", "fewest_steps")

# Longest horizon (in steps) simulated without an explicit `max_steps`.
_MAX_HORIZON = 1 << 20
# Rate-grid size for the fewest-steps search, and its cap on grid points x steps (memory).
_GRID = 512
_GRID_CELLS = 1 << 23


# --------------------------------------------------------------------------- validation


def _criterion(criterion) -> str:
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    return criterion


def _require_learning(lam, weight_decay, what):
    """`lam > weight_decay` (a learning mode), concrete or traced."""
    if not (_checks.is_traced(lam) or _checks.is_traced(weight_decay)):
        a = np.asarray(lam, dtype=np.float64) - np.asarray(weight_decay, dtype=np.float64)
        if np.any(a <= 0):
            lam_b, wd_b = np.broadcast_arrays(np.asarray(lam), np.asarray(weight_decay))
            i = np.unravel_index(int(np.argmin(a)), a.shape) if a.ndim else ()
            raise ValueError(
                f"lam must be > weight_decay (a learning mode) for {what}, "
                f"got lam={lam_b[i].item()!r}, weight_decay={wd_b[i].item()!r}"
            )
        return lam
    bad = ~(jnp.asarray(lam) - jnp.asarray(weight_decay) > 0)
    return eqx.error_if(lam, bad, f"lam must be > weight_decay (a learning mode) for {what}")


def _validate_modes(lam, noise_var, weight_decay):
    _checks.broadcast_shapes(lam=lam, noise_var=noise_var, weight_decay=weight_decay)
    lam = _checks.nonnegative("lam", lam)
    noise_var = _checks.nonnegative("noise_var", noise_var)
    weight_decay = _checks.nonnegative("weight_decay", weight_decay)
    return lam, noise_var, weight_decay


def _validate_tol(tol):
    return _checks.check("tol", tol, lambda v: (v > 0) & (v < 1), "in (0, 1)")


def _validate_u0(u0, lam, noise_var, weight_decay):
    """`0 < u0 < u* = (lam - weight_decay)/(lam + noise_var)` (the start lies below the fixed point)."""
    u0 = _checks.check("u0", u0, lambda v: (v > 0) & (v < np.inf), "> 0 and finite")
    if _checks.is_traced(u0) or any(_checks.is_traced(x) for x in (lam, noise_var, weight_decay)):
        v0 = u0 * (lam + noise_var) / (lam - weight_decay)
        msg = "u0 must be in (0, fixed point) = (0, (lam - weight_decay)/(lam + noise_var))"
        return eqx.error_if(jnp.asarray(u0), ~(v0 < 1), msg)
    arrays = (np.asarray(x, np.float64) for x in (u0, lam, noise_var, weight_decay))
    u0b, lam_b, sig_b, wd_b = np.broadcast_arrays(*arrays)
    ustar = (lam_b - wd_b) / (lam_b + sig_b)
    bad = u0b >= ustar
    if np.any(bad):
        i = tuple(np.argwhere(bad)[0]) if bad.ndim else ()
        raise ValueError(
            f"u0 must be in (0, fixed point) = (0, (lam - weight_decay)/(lam + noise_var)), "
            f"got u0={u0b[i].item()!r} with fixed point {ustar[i].item()!r}"
        )
    return u0


def _next_pow2(x: float) -> int:
    return 1 << max(int(math.ceil(x)) - 1, 1).bit_length()


def _escape_estimate(v0, tol, kappa):
    """Rough step count of the balanced map from `v0` into the `tol` band at `kappa <= 1/2`."""
    kappa = np.minimum(kappa, 0.5)
    return (np.log(1 / v0) + np.log(1 / tol) + 2) / (2 * np.log1p(kappa))


# --------------------------------------------------------------------------- balanced map


def _step(v, kappa):
    return v * (1 + kappa * (1 - v)) ** 2


def _errors(kappa, v0, n):
    """$v_k - 1$ for $k = 0..n$ (normalised balanced map)."""

    def body(v, _):
        return _step(v, kappa), v - 1

    _, e = jax.lax.scan(body, v0, None, length=n + 1)
    return e


def _error_after(kappa, v0, k, n):
    """$v_k - 1$ for a traced step index `k <= n` (a fixed-length scan that stops updating)."""

    def body(v, j):
        return jnp.where(j < k, _step(v, kappa), v), None

    v, _ = jax.lax.scan(body, v0, jnp.arange(n))
    return v - 1


def _count(kappa, v0, tol, n):
    """Smallest $m$ with $|v_k - 1| \\le$ `tol` for all $m \\le k \\le n$; `inf` if $|v_n - 1| >$ `tol`."""

    def body(carry, k):
        v, last = carry
        out = ~(jnp.abs(v - 1) <= tol)  # NaN / inf count as outside
        return (_step(v, kappa), jnp.where(out, k, last)), None

    kappa, v0, tol = jnp.broadcast_arrays(kappa, v0, tol)
    start = jnp.full(v0.shape, -1, jnp.int32)
    (_, last), _ = jax.lax.scan(body, (v0, start), jnp.arange(n + 1, dtype=jnp.int32))
    return jnp.where(last >= n, jnp.inf, (last + 1).astype(v0.dtype))


_count_jit = jax.jit(_count, static_argnames=("n",))


def _fewest_kappa_one(v0, tol, kappa_max, n, grid_size):
    r"""$\kappa^* \in (0, \kappa_{max})$ minimising `_count` for one point (see `optimal_learning_rate`)."""
    dtype = v0.dtype
    idx = jnp.arange(n + 1)
    grid = kappa_max * (jnp.arange(grid_size, dtype=dtype) + 0.5) / grid_size
    err = jax.vmap(lambda k: _errors(k, v0, n))(grid)  # (grid, n + 1)
    out = ~(jnp.abs(err) <= tol)
    last = jnp.max(jnp.where(out, idx, -1), axis=1)
    counts = jnp.where(last >= n, n + 1, last + 1)
    n_grid = jnp.min(counts)

    # Exact landings: the first step k at which v_k(kappa) = 1 has a root between grid rates.
    cross = err[:-1] * err[1:] < 0
    k_root = jnp.min(jnp.where(jnp.any(cross, axis=0), idx, n + 2))
    col = jnp.clip(k_root, 0, n)
    # Of several landings at that step, the flattest one has the widest window of rates.
    slope = jnp.abs(jnp.take(err, col, axis=1)[1:] - jnp.take(err, col, axis=1)[:-1])
    i = jnp.argmin(jnp.where(jnp.take(cross, col, axis=1), slope, jnp.inf))
    lo, hi = grid[i], grid[i + 1]
    f = lambda k: _error_after(k, v0, col, n)  # noqa: E731
    f_lo = f(lo)

    def newton(_, state):
        lo, hi, x = state
        fx, dfx = jax.jvp(f, (x,), (jnp.ones_like(x),))
        keep_lo = jnp.sign(fx) == jnp.sign(f_lo)
        lo, hi = jnp.where(keep_lo, x, lo), jnp.where(keep_lo, hi, x)
        xn = x - fx / jnp.where(dfx != 0, dfx, 1)
        inside = (dfx != 0) & (xn > jnp.minimum(lo, hi)) & (xn < jnp.maximum(lo, hi))
        return lo, hi, jnp.where(inside, xn, (lo + hi) / 2)

    _, _, kappa_root = jax.lax.fori_loop(0, 48, newton, (lo, hi, (lo + hi) / 2))

    # Otherwise the middle of the longest run of grid rates that reach the best count.
    best = counts == n_grid
    start = best & ~jnp.concatenate([jnp.zeros((1,), bool), best[:-1]])
    run = jnp.cumsum(start) * best
    length = jax.ops.segment_sum(best.astype(jnp.int32), run, num_segments=grid_size + 1).at[0].set(0)
    pick = run == jnp.argmax(length)
    g = jnp.arange(grid_size)
    first = jnp.min(jnp.where(pick, g, grid_size))
    last_g = jnp.max(jnp.where(pick, g, -1))
    kappa_grid = (grid[first] + grid[last_g]) / 2
    return jnp.where(k_root < n_grid, kappa_root, kappa_grid)


@functools.partial(jax.jit, static_argnames=("n", "grid_size"))
def _fewest_kappa_flat(v0, tol, kappa_max, n, grid_size):
    return jax.lax.map(lambda args: _fewest_kappa_one(*args, n, grid_size), (v0, tol, kappa_max))


def _fewest_kappa(v0, tol, kappa_max, n, grid_size):
    shape = v0.shape
    size = int(np.prod(shape, dtype=np.int64))
    if size == 0:
        return jnp.zeros(shape, v0.dtype)
    # Pad the batch to a power of two (with a harmless copy of the first point) so that new
    # batch sizes rarely recompile.
    padded = _next_pow2(size) if size > 1 else 1
    flat = [
        jnp.concatenate([x.ravel(), jnp.broadcast_to(x.ravel()[:1], (padded - size,))]) for x in (v0, tol, kappa_max)
    ]
    return _fewest_kappa_flat(*flat, n=n, grid_size=grid_size)[:size].reshape(shape)


def _fewest_horizon(v0, tol, kappa_max, max_steps):
    if max_steps is not None:
        if int(max_steps) != max_steps or max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
        return int(max_steps)
    v0, tol, kappa_max = (np.asarray(x, np.float64) for x in (v0, tol, kappa_max))
    est = _escape_estimate(v0, tol, 0.5 * kappa_max)
    n = _next_pow2(2 * float(np.max(est)) + 32) if np.size(est) else 64
    if n > _MAX_HORIZON:
        raise ValueError(
            f"the fewest-steps search needs a horizon of about {n} steps (a very slow mode: "
            f"lam - weight_decay is tiny next to weight_decay, or u0 is tiny); pass max_steps to allow it"
        )
    return max(n, 64)


def _fewest_rate(a, v0, tol, kappa_max, max_steps):
    """Rates `kappa*/a`, broadcasting; `a`, `v0`, `tol`, `kappa_max` already validated arrays."""
    a, v0, tol, kappa_max = jnp.broadcast_arrays(a, v0, tol, kappa_max)
    if _checks.is_traced(v0) or _checks.is_traced(kappa_max) or _checks.is_traced(tol):
        if max_steps is None:
            raise ValueError("criterion 'fewest_steps' with traced inputs needs max_steps, a static horizon in steps")
    n = _fewest_horizon(v0, tol, kappa_max, max_steps)
    grid = int(min(_GRID, max(64, _GRID_CELLS // (n + 1))))
    return _fewest_kappa(v0, tol, kappa_max, n=n, grid_size=grid) / a


# --------------------------------------------------------------------------- one mode


def optimal_learning_rate(
    lam,
    *,
    noise_var=0.0,
    weight_decay=0.0,
    criterion: str = "fewest_steps",
    u0=1e-6,
    tol=1e-2,
    max_steps=None,
):
    r"""The optimal learning rate of one mode under `criterion` (docs/derivations.md §9).

    Closed forms, with $\xi = \lambda+\sigma^2$ and $a = \lambda-\gamma$:

    - `"slides"`: $\alpha = 1/(2\lambda+3\sigma^2+\gamma)$, one over the largest Hessian eigenvalue
      of $\ell$ at $w_1 = w_2 = 1$ (the paper's rule; that point is the fixed point of neither
      the DAE nor the WDAE).
    - `"critical"`: $\alpha = 1/(2a)$, critical damping of the balanced map at $u^*$ (its
      derivative there is $1 - 2\alpha a$): one-step local convergence, and a monotone approach
      from below for every smaller rate. It is one over the Hessian's curvature along $(1,1)$ at
      the balanced minimum, and equals $1/\lambda_{max}$ there when $\gamma \le \lambda/2$.
      When $\gamma > 2\lambda/3$ it exceeds the 2-D stability limit: only an exactly balanced
      start converges.
    - `"stability"`: $\alpha = 2/\lambda_{max}(H(w^*)) = 1/\max(a, \gamma)$, the largest rate at which
      gradient descent can converge to the balanced minimum (eigenvalues $2a$ along $(1,1)$ and
      $2\gamma$ along $(1,-1)$). At this rate a balanced DAE converges only algebraically.
    - `"fewest_steps"` (default): the rate in $(0, 1/\max(a, \gamma))$ (where the minimum is stable)
      that minimises the number $n$ of full-batch steps after which the balanced discrete map
      started at `u0` stays within `tol` of the fixed point: $|u_k - u^*| \le$ `tol`$\,u^*$ for every
      $k \ge n$ (checked over the simulated horizon). In $v = u/u^*$ the map is
      $v \mapsto v(1+\kappa(1-v))^2$ with $\kappa = \alpha a$, so $\alpha = \kappa^*(u_0/u^*, \text{tol})/a$.

    **How `"fewest_steps"` is found.** The step count is integer-valued and its minima are often
    narrow: the fastest rates land the iterate *on* $u^*$ after the first overshoot. So the
    smooth function that is searched is the error $e_k(\kappa) = v_k(\kappa) - 1$ itself, a
    polynomial in $\kappa$ simulated with `lax.scan`: (1) a grid of 512 rates over the stable
    range gives each rate's exact step count and brackets every root of every $e_k$; (2) the
    search over the integer step count takes the smallest $k$ whose $e_k$ has a bracketed root
    (at such a root $v_k = 1$ exactly, so the count there is at most $k$) and refines that root
    by bracket-safeguarded Newton iterations, the derivative $\partial e_k/\partial\kappa$ coming
    from `jax.jvp` through the scan; (3) if no root beats the grid's best count, the result is the
    middle of the longest run of grid rates that reach it. The count at the returned rate is
    never worse than on the grid (`steps_to_converge` gives it); for small `tol` the window of
    rates that achieve it is narrow (its width scales like `tol`), so treat such rates as an
    upper target, not a tolerance-free recipe.

    **Arguments** (`lam`, `noise_var`, `weight_decay`, `u0`, `tol` broadcast together):

    - `lam`: eigenvalue $\lambda$ of $C = X^\top X/N$, `>= 0`.
    - `noise_var`: input-noise variance $\sigma^2$, `>= 0`.
    - `weight_decay`: $\gamma$, `>= 0`.
    - `criterion`: one of `CRITERIA`.
    - `u0`: balanced initial strength $w_1 w_2$, in $(0, u^*)$; used by `"fewest_steps"` only.
      Default `1e-6` (the paper's Figure 2).
    - `tol`: relative tolerance around $u^*$, in $(0, 1)$; `"fewest_steps"` only. Default
      `1e-2` (99 % of the fixed point).
    - `max_steps`: static simulation horizon for `"fewest_steps"`; by default estimated from the
      concrete inputs (required under `jit`).

    **Returns:** the learning rate $\alpha$, with the broadcast shape, in the inputs' floating dtype.

    **Raises:** `ValueError` for negative or non-finite parameters, an unknown `criterion`,
    `lam <= weight_decay` for `"critical"`, `"stability"` and `"fewest_steps"` (no learning
    mode), `lam = noise_var = weight_decay = 0` for `"slides"`, `tol` outside $(0, 1)$ or `u0`
    outside $(0, u^*)$; under `jit` the same checks raise at run time.

    ```python
    >>> import jaxdae.lr as L
    >>> float(L.optimal_learning_rate(1.0, noise_var=1.0, criterion="slides"))
    0.2
    ```
    """
    _criterion(criterion)
    lam, noise_var, weight_decay = _validate_modes(lam, noise_var, weight_decay)
    if criterion == "slides":
        lam, noise_var, weight_decay = _checks.as_float(lam, noise_var, weight_decay)
        curv = 2 * lam + 3 * noise_var + weight_decay
        curv = _checks.check(
            "2 lam + 3 noise_var + weight_decay", curv, lambda v: v > 0,
            "> 0 (lam, noise_var and weight_decay cannot all be 0)",
        )
        return 1 / curv
    lam = _require_learning(lam, weight_decay, f"criterion {criterion!r}")
    if criterion == "critical":
        lam, noise_var, weight_decay = _checks.as_float(lam, noise_var, weight_decay)
        shape = jnp.broadcast_shapes(lam.shape, noise_var.shape, weight_decay.shape)
        return jnp.broadcast_to(1 / (2 * (lam - weight_decay)), shape)
    if criterion == "stability":
        lam, noise_var, weight_decay = _checks.as_float(lam, noise_var, weight_decay)
        shape = jnp.broadcast_shapes(lam.shape, noise_var.shape, weight_decay.shape)
        return jnp.broadcast_to(1 / jnp.maximum(lam - weight_decay, weight_decay), shape)
    _checks.broadcast_shapes(lam=lam, noise_var=noise_var, weight_decay=weight_decay, u0=u0, tol=tol)
    tol = _validate_tol(tol)
    u0 = _validate_u0(u0, lam, noise_var, weight_decay)
    lam, noise_var, weight_decay, u0, tol = _checks.as_float(lam, noise_var, weight_decay, u0, tol)
    a = lam - weight_decay
    v0 = u0 * (lam + noise_var) / a
    kappa_max = a / jnp.maximum(a, weight_decay)
    return _fewest_rate(a, v0, tol, kappa_max, max_steps)


def _steps_horizon(kappa, v0, tol):
    kappa = np.asarray(kappa, np.float64)
    v0 = np.asarray(v0, np.float64)
    tol = np.asarray(tol, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = _escape_estimate(v0, tol, kappa)
        osc = (kappa > 0.5) & (kappa <= 1)
        rate = np.abs(2 * np.clip(kappa, 0.5, 1) - 1)
        settle = np.where(osc & (rate < 1), np.log(1 / tol) / -np.log(np.where(rate < 1, rate, 0.5)), np.inf)
        # Near kappa = 1 the error shrinks only algebraically, e -> e - 4 e^3 per two steps.
        settle = np.where(osc, np.minimum(settle, 1 / (2 * tol**2)), 0)
        est = np.where(kappa > 1, 16.0, est + settle)
    top = float(np.max(est)) if np.size(est) else 16.0
    return int(min(max(_next_pow2(2 * top + 32), 64), _MAX_HORIZON))


def steps_to_converge(lr, lam, *, noise_var=0.0, weight_decay=0.0, u0=1e-6, tol=1e-2, max_steps=None):
    r"""Full-batch steps after which a balanced mode stays within `tol` of its fixed point.

    The smallest $n$ with $|u_k - u^*| \le$ `tol`$\,u^*$ for every $n \le k \le$ `max_steps`,
    for the exact balanced gradient-descent map $u \mapsto u(1+\alpha(a-\xi u))^2$ from $u_0$
    (simulated with `lax.scan` in $v = u/u^*$): the objective that `"fewest_steps"` minimises.

    **Arguments** broadcast together: `lr` ($\alpha > 0$), `lam`, `noise_var`, `weight_decay`,
    `u0` (in $(0, u^*)$) and `tol` (in $(0, 1)$) as in `optimal_learning_rate`; `max_steps`: the
    horizon, by default long enough for any rate that converges (up to $2^{20}$ steps; at
    $\alpha a = 1$ the approach is algebraic and needs about $1/(2\,\text{tol}^2)$ steps).

    **Returns:** the step count as a floating array (`inf` where the mode is still outside the
    band at the end of the horizon: too slow, oscillating or divergent).

    **Raises:** `ValueError` as `optimal_learning_rate` with `"fewest_steps"`, and for `lr <= 0`.
    """
    _checks.broadcast_shapes(lr=lr, lam=lam, noise_var=noise_var, weight_decay=weight_decay, u0=u0, tol=tol)
    lr = _checks.positive("lr", lr)
    lam, noise_var, weight_decay = _validate_modes(lam, noise_var, weight_decay)
    lam = _require_learning(lam, weight_decay, "steps_to_converge")
    tol = _validate_tol(tol)
    u0 = _validate_u0(u0, lam, noise_var, weight_decay)
    lr, lam, noise_var, weight_decay, u0, tol = _checks.as_float(lr, lam, noise_var, weight_decay, u0, tol)
    a = lam - weight_decay
    kappa, v0, tol = jnp.broadcast_arrays(lr * a, u0 * (lam + noise_var) / a, tol)
    if max_steps is None:
        if any(_checks.is_traced(x) for x in (kappa, v0, tol)):
            raise ValueError("steps_to_converge with traced inputs needs max_steps, a static horizon")
        max_steps = _steps_horizon(kappa, v0, tol)
    elif int(max_steps) != max_steps or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    return _count_jit(kappa, v0, tol, n=int(max_steps))


def lr_ratio(lam, noise_var, *, weight_decay=None):
    r"""The slides' ratio $R = \alpha_{DAE}/\alpha_{WDAE} = (2\lambda+\gamma)/(2\lambda+3\sigma^2)$.

    It compares the `"slides"` rates $1/(2\lambda+3\sigma^2)$ of a DAE with noise $\sigma^2$ and
    $1/(2\lambda+\gamma)$ of a WDAE with weight decay $\gamma$. With the default
    $\gamma = \gamma_{eq} = \lambda\sigma^2/(\lambda+\sigma^2)$ (same fixed point)
    $R = \lambda/(\lambda+\sigma^2) = u^*$ exactly, the factor that maps the DAE's balanced dynamics
    onto the WDAE's (see `equivalent_wdae_lr`): at their slides rates the two train identically.

    **Arguments** broadcast: `lam > 0`, `noise_var >= 0`, `weight_decay >= 0` or `None`
    ($\gamma_{eq}$). **Returns:** $R$ in the inputs' dtype.
    """
    _checks.broadcast_shapes(lam=lam, noise_var=noise_var, weight_decay=0.0 if weight_decay is None else weight_decay)
    lam = _checks.positive("lam", lam)
    noise_var = _checks.nonnegative("noise_var", noise_var)
    if weight_decay is None:
        lam, noise_var = _checks.as_float(lam, noise_var)
        weight_decay = lam * noise_var / (lam + noise_var)
    else:
        weight_decay = _checks.nonnegative("weight_decay", weight_decay)
        lam, noise_var, weight_decay = _checks.as_float(lam, noise_var, weight_decay)
    return (2 * lam + weight_decay) / (2 * lam + 3 * noise_var)


def equivalent_wdae_lr(lr, lam, noise_var):
    r"""The WDAE rate whose balanced trajectory equals the DAE's at rate `lr`.

    A DAE $(\lambda, \sigma^2, \gamma = 0)$ at rate $\alpha$ and the WDAE $(\lambda, 0,
    \gamma_{eq} = \lambda\sigma^2/(\lambda+\sigma^2))$ at rate $\alpha(\lambda+\sigma^2)/\lambda$ have the
    same $\alpha a$ and $\alpha\xi$, hence the same balanced trajectory $u(\text{step})$, in
    continuous time and step by step under gradient descent. Every DAE rate of
    `optimal_learning_rate` maps this way onto the WDAE's rate for `"slides"`, `"critical"` and
    `"fewest_steps"` (for `"stability"` while $\sigma^2 \le \lambda$).

    **Arguments** broadcast: `lr > 0`, `lam > 0`, `noise_var >= 0`. **Returns:** the WDAE rate.
    """
    _checks.broadcast_shapes(lr=lr, lam=lam, noise_var=noise_var)
    lr = _checks.positive("lr", lr)
    lam = _checks.positive("lam", lam)
    noise_var = _checks.nonnegative("noise_var", noise_var)
    lr, lam, noise_var = _checks.as_float(lr, lam, noise_var)
    return lr * (lam + noise_var) / lam


# --------------------------------------------------------------------------- Hessians


def _lanczos_top(matvec, v0, max_iter, tol, chunk):
    r"""Top eigenvalue by the Lanczos three-term recurrence, checked every `chunk` steps.

    No reorthogonalisation: for the largest eigenvalue it is not needed. The top eigenvalue of
    the tridiagonal $T_j$ never decreases with $j$ ($T_j$ is a leading block of $T_{j+1}$), stays
    below $\lambda_{max}$ up to rounding (Paige), and once it has converged the lost
    orthogonality only adds harmless copies of it. Memory is a few vectors of the parameter
    size. Stops when the residual bound $\beta_j |s_j| \le$ `tol` $|\theta|$ holds.
    """
    n = v0.shape[0]
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps

    def step(i, state):
        j, q, q_prev, b_prev, alpha, beta, live, scale = state
        go = live & (j < max_iter)
        w = matvec(q)
        scale = jnp.maximum(scale, jnp.linalg.norm(w))
        a = jnp.vdot(q, w)
        w = w - a * q - b_prev * q_prev
        b = jnp.linalg.norm(w)
        # An invariant Krylov space: its Ritz values are exact, so the iteration may stop.
        still = go & (b > 16 * jnp.sqrt(n) * eps * scale)
        alpha = jnp.where(go, alpha.at[j].set(a), alpha)
        beta = jnp.where(go, beta.at[j].set(jnp.where(still, b, 0)), beta)
        q_new = jnp.where(still, w / jnp.where(still, b, 1), q)
        return (
            jnp.where(go, j + 1, j),
            q_new,
            jnp.where(still, q, q_prev),
            jnp.where(still, b, b_prev),
            alpha,
            beta,
            # Running out of iterations is not convergence: only a breakdown ends `live`.
            jnp.where(go, still, live),
            scale,
        )

    def ritz(j, alpha, beta, live):
        k = jnp.arange(max_iter)
        # Entries past j decouple (zero off-diagonals); alpha_0, a Rayleigh quotient inside the
        # spectrum, on their diagonal cannot become the top Ritz value.
        diag = jnp.where(k < j, alpha, alpha[0])
        off = jnp.where(k[:-1] < j - 1, beta[:-1], 0)
        theta = jax.scipy.linalg.eigh_tridiagonal(
            diag, off, eigvals_only=True, select="i", select_range=(max_iter - 1, max_iter - 1)
        )[0]
        # Its eigenvector by two steps of inverse iteration (O(max_iter) each, unlike a full eigh).
        lower = jnp.concatenate([jnp.zeros((1,), dtype), off])
        upper = jnp.concatenate([off, jnp.zeros((1,), dtype)])
        x = jnp.ones((max_iter, 1), dtype)
        for _ in range(2):
            x = jax.lax.linalg.tridiagonal_solve(lower, diag - theta, upper, x, perturb_singular=True)
            x = x / jnp.linalg.norm(x)
        last = jnp.maximum(j - 1, 0)
        res = jnp.abs(beta[last] * x[last, 0])
        return theta, jnp.where(live, res, 0)

    def cond(state):
        inner, top, res = state
        j, live = inner[0], inner[6]
        return live & (j < max_iter) & ((j == 0) | (res > tol * jnp.abs(top)))

    def body(state):
        inner, _, _ = state
        inner = jax.lax.fori_loop(0, chunk, step, inner)
        top, res = ritz(inner[0], inner[4], inner[5], inner[6])
        return inner, top, res

    zero = jnp.zeros((), dtype)
    q0 = v0 / jnp.linalg.norm(v0)
    tri = jnp.zeros(max_iter, dtype)
    inner = (0, q0, jnp.zeros_like(q0), zero, tri, tri, jnp.array(True), zero)
    inner, top, res = jax.lax.while_loop(cond, body, (inner, zero, jnp.asarray(jnp.inf, dtype)))
    return top, res <= tol * jnp.abs(top), inner[0], res


@eqx.filter_jit
def _top_eig_lanczos(loss_fn, params, args, key, max_iter, tol, chunk):
    flat, unravel = ravel_pytree(params)
    grad = jax.grad(lambda x: loss_fn(unravel(x), *args))
    _, matvec = jax.linearize(grad, flat)
    v0 = jax.random.normal(key, flat.shape, flat.dtype)
    return _lanczos_top(matvec, v0, max_iter, tol, chunk)[:2]


@eqx.filter_jit
def _top_eig_dense(loss_fn, params, args):
    flat, unravel = ravel_pytree(params)
    h = jax.hessian(lambda x: loss_fn(unravel(x), *args))(flat)
    return jnp.linalg.eigvalsh((h + h.T) / 2)[-1]


def hessian_max_eigenvalue(loss_fn, params, *args, method: str = "auto", max_iter: int = 512, tol=None, key=None):
    r"""Largest eigenvalue $\lambda_{max}$ of the Hessian of `loss_fn` at `params` (any pytree).

    The gradient-descent stability limit at a minimum is $2/\lambda_{max}$.

    - `method="dense"`: forms the Hessian with `jax.hessian` on the flattened parameters and takes
      `eigvalsh`; $O(P^2)$ memory and $O(P^3)$ time for $P$ parameters.
    - `method="lanczos"`: the Lanczos recurrence on Hessian-vector products (`jax.linearize` of
      `jax.grad`, forward-over-reverse; the Hessian is never formed), without
      reorthogonalisation (not needed for the top eigenvalue, whose Ritz value rises
      monotonically to it), until the residual bound $\|Hy - \theta y\| \le$ `tol`$\,|\theta|$
      holds; that bounds the error of $\theta$ by the same amount, and in practice by its square
      over the spectral gap. Memory: a few vectors of size $P$; cost: one Hessian-vector product
      (about twice a gradient) per step.
    - `method="auto"`: dense for $P \le 1024$, Lanczos above.

    **Arguments:**

    - `loss_fn`: `loss_fn(params, *args) -> scalar`, twice differentiable in `params`.
    - `params`: the point, a pytree of floating arrays of one dtype.
    - `*args`: further arguments of `loss_fn`, held fixed (arrays are traced, so new values do
      not recompile).
    - `max_iter`, `tol` (default $\sqrt{\epsilon}$ of the dtype): Lanczos step limit and relative
      residual tolerance.
    - `key`: `jax.random` key of the Lanczos start vector (default `jax.random.key(0)`: the result
      is deterministic).

    **Returns:** $\lambda_{max}$ (the largest algebraic eigenvalue) as a 0-d array.

    **Raises:** `ValueError` for an unknown `method` or bad settings; `RuntimeError` if Lanczos
    has not converged in `max_iter` steps (under `jit`: an `equinox` run-time error).
    """
    if method not in ("auto", "dense", "lanczos"):
        raise ValueError(f"method must be 'auto', 'dense' or 'lanczos', got {method!r}")
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    flat, _ = ravel_pytree(params)
    if flat.size == 0:
        raise ValueError("params must contain at least one parameter")
    if not jnp.issubdtype(flat.dtype, jnp.floating):
        raise ValueError(f"params must be floating, got dtype {flat.dtype}")
    if method == "auto":
        method = "dense" if flat.size <= 1024 else "lanczos"
    if method == "dense":
        return _top_eig_dense(loss_fn, params, args)
    if tol is None:
        tol = float(np.sqrt(np.finfo(flat.dtype).eps))
    _checks.check("tol", tol, lambda v: (v > 0) & (v < 1), "in (0, 1)")
    key = jax.random.key(0) if key is None else key
    top, converged = _top_eig_lanczos(loss_fn, params, args, key, int(max_iter), float(tol), 8)
    if _checks.is_traced(top):
        return eqx.error_if(top, ~converged, "Lanczos did not converge: raise max_iter")
    if not bool(converged):
        raise RuntimeError(
            f"Lanczos did not converge to tol={tol} in {max_iter} steps (last estimate {float(top)!r}); raise max_iter"
        )
    return top


# --------------------------------------------------------------------------- whole network


def _network_loss(params, lam, noise_var, weight_decay):
    r"""Noise-averaged loss of $W = W_2 W_1$ in the eigenbasis of $C$ ($C = \operatorname{diag}(\lambda)$).

    $\tfrac12\operatorname{tr}\Lambda - \operatorname{tr}(W\Lambda)
    + \tfrac12\operatorname{tr}(W(\Lambda+\sigma^2)W^\top) + \tfrac{\gamma}{2}(\|W_1\|^2+\|W_2\|^2)$,
    written with $H \times H$ products so a Hessian-vector product costs $O(H^2 D)$, not $O(H D^2)$.
    """
    w1, w2 = params
    a = (w1 * (lam + noise_var)) @ w1.T
    b = w2.T @ w2
    fit = 0.5 * jnp.sum(lam) - jnp.sum(lam * jnp.sum(w2 * w1.T, axis=1)) + 0.5 * jnp.sum(a * b)
    return fit + 0.5 * weight_decay * (jnp.sum(w1 * w1) + jnp.sum(w2 * w2))


def _aligned_point(u, hidden, dim, dtype):
    """Balanced aligned weights in the eigenbasis with strengths `u` on the first modes."""
    k = min(hidden, dim)
    s = jnp.sqrt(jnp.asarray(u[:k], dtype))
    w1 = jnp.zeros((hidden, dim), dtype).at[jnp.arange(k), jnp.arange(k)].set(s)
    return w1, w1.T


def optimal_learning_rate_for(
    data,
    *,
    hidden: int,
    noise_var=0.0,
    weight_decay=0.0,
    criterion: str = "fewest_steps",
    u0=1e-6,
    tol=1e-2,
    method: str = "auto",
    max_steps=None,
):
    r"""The optimal learning rate of a whole linear network $W_2 W_1$ with `hidden` units.

    The loss is the noise-averaged per-sample loss (docs/theory.md),
    $\tfrac12\operatorname{tr}((I-W)C(I-W)^\top) + \tfrac{\sigma^2}{2}\|W\|_F^2 +
    \tfrac{\gamma}{2}(\|W_1\|^2+\|W_2\|^2)$. Its Hessian is evaluated in the eigenbasis of $C$
    (the change of variables $W_1 \to W_1 V$, $W_2 \to V^\top W_2$ is orthogonal, so the
    spectrum is unchanged) by `hessian_max_eigenvalue` (dense `jax.hessian` for at most 1024
    parameters, Lanczos on Hessian-vector products above: $D = 784$, $H = 256$ takes seconds).

    - `"stability"`: $2/\lambda_{max}$ of the Hessian at the balanced aligned global minimum
      ($u_k = \max(\lambda_k-\gamma, 0)/(\lambda_k+\sigma^2)$ on the top $H$ modes). Without
      weight decay $\lambda_{max} = 2\lambda_1$ and the rate is the top mode's $1/\lambda_1$; with
      weight decay the directions that rotate one learned mode into another can be stiffer
      (about $\lambda_1+\lambda_2$ when $\gamma$ is a sizeable fraction of $\lambda_1$), and the
      network's limit is below the top mode's.
    - `"critical"`: $1/\lambda_{max}$ there: every direction of the local quadratic model is
      approached without overshoot; the top mode's $1/(2(\lambda_1-\gamma))$ when it is the stiffest.
    - `"slides"`: $1/\lambda_{max}$ at $u_k = 1$ on the top $H$ modes, i.e. $1/(2\lambda_1+3\sigma^2+\gamma)$.
    - `"fewest_steps"`: the largest-curvature mode governs: the fewest-steps rate of the top mode
      (balanced start `u0`, band `tol`), searched below the network's stability limit. Smaller
      modes are slower at any stable rate; their time is set by their eigenvalues, not by this
      choice.

    **Arguments:**

    - `data`: samples `X` `(N, D)` (uncentred second moment) or a `Spectrum`.
    - `hidden`: $H \ge 1$.
    - `noise_var`, `weight_decay`: scalars, `>= 0`.
    - `criterion`, `u0`, `tol`, `max_steps`: as in `optimal_learning_rate` (`u0` must lie below
      the top mode's fixed point).
    - `method`: `"auto"`, `"dense"` or `"lanczos"` for the Hessian eigenvalue.

    **Returns:** the rate as a 0-d array in the spectrum's dtype.

    **Raises:** `ValueError` for bad arguments, or when `weight_decay >= lam_1` (no mode learns)
    for a criterion that needs a learning mode.
    """
    _criterion(criterion)
    spectrum = data if isinstance(data, Spectrum) else Spectrum.from_data(data)
    if isinstance(hidden, bool) or int(hidden) != hidden or hidden < 1:
        raise ValueError(f"hidden must be a positive integer, got {hidden!r}")
    hidden = int(hidden)
    for name, value in (("noise_var", noise_var), ("weight_decay", weight_decay)):
        if np.ndim(value) != 0:
            raise ValueError(f"{name} must be a scalar, got shape {np.shape(value)}")
        _checks.nonnegative(name, value)
    lam = spectrum.lam
    dtype = lam.dtype
    noise_var = jnp.asarray(noise_var, dtype)
    weight_decay = jnp.asarray(weight_decay, dtype)
    lam1 = float(lam[0])
    top = functools.partial(hessian_max_eigenvalue, _network_loss, method=method)
    if criterion == "slides":
        point = _aligned_point(jnp.ones_like(lam), hidden, spectrum.dim, dtype)
        return 1 / top(point, lam, noise_var, weight_decay)
    if not lam1 > float(weight_decay):
        raise ValueError(
            f"weight_decay must be < the top eigenvalue {lam1!r} (a learning mode) for criterion "
            f"{criterion!r}, got weight_decay={float(weight_decay)!r}"
        )
    ustar = jnp.where(lam > weight_decay, (lam - weight_decay) / (lam + noise_var), 0)
    curvature = top(_aligned_point(ustar, hidden, spectrum.dim, dtype), lam, noise_var, weight_decay)
    if criterion == "critical":
        return 1 / curvature
    if criterion == "stability":
        return 2 / curvature
    tol = _validate_tol(tol)
    u0 = _validate_u0(u0, lam1, noise_var, weight_decay)
    a1 = lam[0] - weight_decay
    v0 = jnp.asarray(u0, dtype) * (lam[0] + noise_var) / a1
    # The top mode's balanced limit is 1/a1 >= 2/curvature, so kappa_max <= 1.
    kappa_max = jnp.minimum(2 * a1 / curvature, 1)
    return _fewest_rate(a1, v0, jnp.asarray(tol, dtype), kappa_max, max_steps)
