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
full matrix loss at balanced aligned points, exactly from its $2\times2$ and $4\times4$ blocks
(`jaxdae.hessian.aligned_max_eigenvalue`, $O(H^2 + HD)$; `jax.hessian` or Lanczos on
Hessian-vector products with `method=`), and `"final_loss"` (`NETWORK_CRITERIA`) is the rate below the network's stability
limit that minimises the loss after $T$ steps (`final_loss`), found by differentiating through
the solution.
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from . import _checks, exact, hessian, initialise, loss, train, tune
from .spectrum import Spectrum

__all__ = [
    "CRITERIA",
    "optimal_learning_rate",
    "steps_to_converge",
    "lr_ratio",
    "equivalent_wdae_lr",
    "NETWORK_CRITERIA",
    "final_loss",
    "optimal_learning_rate_for",
]

CRITERIA = ("slides", "critical", "stability", "fewest_steps")
NETWORK_CRITERIA = CRITERIA + ("final_loss",)
# The "final_loss" search range, as a fraction of the stability limit.
_FINAL_LOSS_RANGE = 1e-3

# Longest horizon (in steps) simulated without an explicit `steps`.
_MAX_HORIZON = 1 << 20
# Rate-grid size for the fewest-steps search, and its cap on grid points x steps (memory).
_GRID = 512
_GRID_CELLS = 1 << 23


# --------------------------------------------------------------------------- validation


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
def _fewest_kappa(v0, tol, kappa_max, n, grid_size):
    # Elementwise over the broadcast shape (a vmap): grids of points belong to `sweep`.
    one = functools.partial(_fewest_kappa_one, n=n, grid_size=grid_size)
    return jnp.vectorize(one)(v0, tol, kappa_max)


def _fewest_horizon(v0, tol, kappa_max, steps):
    if steps is not None:
        return _checks.integer("steps", steps)
    v0, tol, kappa_max = (np.asarray(x, np.float64) for x in (v0, tol, kappa_max))
    est = _escape_estimate(v0, tol, 0.5 * kappa_max)
    n = _next_pow2(2 * float(np.max(est)) + 32) if np.size(est) else 64
    if n > _MAX_HORIZON:
        raise ValueError(
            f"the fewest-steps search needs a horizon of about {n} steps (a very slow mode: "
            f"lam - weight_decay is tiny next to weight_decay, or u0 is tiny); pass steps to allow it"
        )
    return max(n, 64)


def _fewest_rate(a, v0, tol, kappa_max, steps):
    """Rates `kappa*/a`, broadcasting; `a`, `v0`, `tol`, `kappa_max` already validated arrays."""
    a, v0, tol, kappa_max = jnp.broadcast_arrays(a, v0, tol, kappa_max)
    if _checks.is_traced(v0) or _checks.is_traced(kappa_max) or _checks.is_traced(tol):
        if steps is None:
            raise ValueError("criterion 'fewest_steps' with traced inputs needs steps, a static horizon")
    n = _fewest_horizon(v0, tol, kappa_max, steps)
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
    steps=None,
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
    - `steps`: the static search horizon of `"fewest_steps"` in steps; by default estimated from
      the concrete inputs (required under `jit`).

    **Returns:** the learning rate $\alpha$, with the broadcast shape, in the inputs' floating dtype.

    **Raises:** `ValueError` for negative or non-finite parameters, an unknown `criterion`,
    `lam <= weight_decay` for `"critical"`, `"stability"` and `"fewest_steps"` (no learning
    mode), `lam = noise_var = weight_decay = 0` for `"slides"`, `tol` outside $(0, 1)$ or `u0`
    outside $(0, u^*)$; under `jit` the same checks raise at run time.

    ```python
    >>> import jaxdae.lr as L
    >>> round(float(L.optimal_learning_rate(1.0, noise_var=1.0, criterion="slides")), 6)
    0.2

    ```
    """
    _checks.choice("criterion", criterion, CRITERIA)
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
    return _fewest_rate(a, v0, tol, kappa_max, steps)


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


def steps_to_converge(lr, lam, *, noise_var=0.0, weight_decay=0.0, u0=1e-6, tol=1e-2, steps=None):
    r"""Full-batch steps after which a balanced mode stays within `tol` of its fixed point.

    The smallest $n$ with $|u_k - u^*| \le$ `tol`$\,u^*$ for every $n \le k \le$ `steps`,
    for the exact balanced gradient-descent map $u \mapsto u(1+\alpha(a-\xi u))^2$ from $u_0$
    (simulated with `lax.scan` in $v = u/u^*$): the objective that `"fewest_steps"` minimises.

    **Arguments** broadcast together: `lr` ($\alpha > 0$), `lam`, `noise_var`, `weight_decay`,
    `u0` (in $(0, u^*)$) and `tol` (in $(0, 1)$) as in `optimal_learning_rate`; `steps`: the
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
    if steps is None:
        if any(_checks.is_traced(x) for x in (kappa, v0, tol)):
            raise ValueError("steps_to_converge with traced inputs needs steps, a static horizon")
        steps = _steps_horizon(kappa, v0, tol)
    return _count_jit(kappa, v0, tol, n=_checks.integer("steps", steps))


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


# --------------------------------------------------------------------------- whole network


def _network_spectrum(data) -> Spectrum:
    if isinstance(data, Spectrum):
        return data
    with jax.ensure_compile_time_eval():  # host-side, concrete even under a caller's jit or vmap
        return Spectrum.from_data(data)


def _scalar(name, value, check):
    if np.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, got shape {np.shape(value)}")
    return check(name, value)


def _eigenbasis_loss(params, lam, noise_var, weight_decay):
    # One function object, so that the compiled Hessian eigen-solver is reused across calls.
    return loss.expected_loss(lam, params[0], params[1], noise_var, weight_decay)


def _curvature(spectrum, hidden, noise_var, weight_decay, u, method):
    r"""$\lambda_{max}$ of the Hessian of `loss.expected_loss` at balanced aligned weights with strengths `u`."""
    lam = spectrum.lam
    if method in ("auto", "blocks"):
        return hessian.aligned_max_eigenvalue(lam, u[:hidden], noise_var=noise_var, weight_decay=weight_decay)
    # The eigenbasis itself: a diagonal spectrum, whose aligned weights are the eigenbasis weights.
    basis = Spectrum.from_eigenvalues(np.asarray(lam))
    point = initialise.Aligned(u[:hidden]).weights(None, basis, hidden, lam.dtype)
    return hessian.max_eigenvalue(_eigenbasis_loss, point, lam, noise_var, weight_decay, method=method)


def _stability_limit(spectrum, hidden, noise_var, weight_decay, method):
    lam = spectrum.lam
    ustar = jnp.where(lam > weight_decay, (lam - weight_decay) / (lam + noise_var), 0)
    return 2 / _curvature(spectrum, hidden, noise_var, weight_decay, ustar, method)


def _is_aligned(init) -> bool:
    return (isinstance(init, str) and init == "aligned") or isinstance(init, initialise.Aligned)


def _aligned_final_loss(noise_var, weight_decay, lr, lam, u0, *, hidden, steps):
    r"""Loss after `steps` steps of the balanced aligned net: every mode's exact discrete map at once."""
    lam_h = lam[:hidden]
    u = exact.mode_strength_discrete(
        steps, lam_h, u0=u0, noise_var=noise_var, weight_decay=weight_decay, lr=lr, steps=steps
    )
    # Balanced: w1 = w2 = sqrt(u) for every mode, so w1^2 + w2^2 = 2 u and the decay term is gamma u.
    # Written as a sum of non-negative terms (no cancellation near u = 1).
    per_mode = 0.5 * lam_h * (1 - u) ** 2 + 0.5 * noise_var * u * u + weight_decay * u
    return jnp.sum(per_mode) + 0.5 * jnp.sum(lam[hidden:])


def _trained_final_loss(noise_var, weight_decay, lr, data, init, key, *, hidden, steps):
    """Loss after `steps` steps of `train.fit` on the noise-averaged loss (one run)."""
    run = train.fit(data, hidden=hidden, steps=steps, noise_var=noise_var, weight_decay=weight_decay, lr=lr,
                    key=key, init=init, noise="expected", record_every=steps, record_weights=True)
    w1, w2 = (w[-1] for w in run.weights)
    return loss.expected_loss(data.spectrum.lam, *data.spectrum.rotate(w1, w2), noise_var, weight_decay)


def _final_loss_problem(data, hidden, steps, init, u0, key):
    """`(kernel, args, dtype)`: the final loss as `kernel(noise_var, weight_decay, lr, *args)`."""
    hidden = _checks.integer("hidden", hidden)
    steps = _checks.integer("steps", steps)
    if _is_aligned(init):
        spectrum = _network_spectrum(data)
        if hidden > spectrum.dim:
            raise ValueError(f"hidden must be <= the data dimension {spectrum.dim} for an aligned start, got {hidden}")
        u0 = init.u0 if isinstance(init, initialise.Aligned) else _checks.nonnegative("u0", u0)
        args = (spectrum.lam, jnp.asarray(u0, spectrum.lam.dtype))
        return Partial(_aligned_final_loss, hidden=hidden, steps=steps), args, spectrum.lam.dtype
    if isinstance(data, Spectrum):
        raise ValueError("data must be the samples X (not a Spectrum) for a start other than init='aligned'")
    key = jax.random.key(0) if key is None else _checks.prng_key("key", key)
    with jax.ensure_compile_time_eval():
        prepared = data if isinstance(data, train.Data) else train.Data.from_array(data)
    args = (prepared, tune._start(init, prepared, hidden), key)
    return Partial(_trained_final_loss, hidden=hidden, steps=steps), args, prepared.dtype


def final_loss(data, lr, *, hidden: int, steps: int, noise_var=0.0, weight_decay=0.0, init="aligned", u0=1e-6,
               key=None):
    r"""The noise-averaged training loss after `steps` full-batch gradient steps at rate `lr`.

    $L(T) = \tfrac12\operatorname{tr}((I-W)C(I-W)^\top) + \tfrac{\sigma^2}{2}\|W\|_F^2 +
    \tfrac{\gamma}{2}(\|W_1\|^2+\|W_2\|^2)$ at $W = W_2(T)W_1(T)$, the objective of
    `optimal_learning_rate_for(..., criterion="final_loss")`.

    - `init="aligned"` (or `jaxdae.initialise.Aligned(u0)`): every one of the top $H$ modes
      from the balanced start $w_1 = w_2 = \sqrt{u_0}$, through the exact discrete map of all
      modes at once (`exact.mode_strength_discrete`); a balanced mode keeps $w_1 = w_2$, so
      $w_1^2 + w_2^2 = 2u$ and
      $L = \sum_k[\tfrac{\lambda_k}{2}(1-u_k)^2 + \tfrac{\sigma^2}{2}u_k^2 + \gamma u_k]$ (modes
      $k \ge H$ at $u_k = 0$). Cost $O(HT)$ per point, elementwise over `lr`, `noise_var`,
      `weight_decay` (which broadcast together).
    - any other `init` (`"random"`, a `jaxdae.initialise` strategy or a pair `(W1, W2)`): one
      `jaxdae.train.fit(noise="expected")` run per point (vectorised with `jax.vmap`), and
      `jaxdae.loss.expected_loss` of its final weights. Cost $O(D^2HT)$ per point.

    Differentiable in `lr`, `noise_var` and `weight_decay` (forward mode keeps the memory of a
    derivative independent of `steps`).

    **Arguments:** `data`: `X` `(N, D)` or, for the aligned start only, its `Spectrum`;
    `lr` $> 0$; `hidden` $H \ge 1$ ($\le D$ for the aligned start); `steps` $T \ge 1$;
    `noise_var`, `weight_decay` $\ge 0$; `u0` $\ge 0$ (aligned start); `key`: the `jax.random`
    key of a random start (default `jax.random.key(0)`).

    **Returns:** $L(T)$ with the broadcast shape of `lr`, `noise_var`, `weight_decay`.

    **Raises:** `ValueError` for bad arguments (named), or a `Spectrum` with a non-aligned start.

    ```python
    >>> import jaxdae
    >>> spec = jaxdae.Spectrum.from_eigenvalues([1.0, 0.5])
    >>> round(float(jaxdae.lr.final_loss(spec, 0.5, hidden=2, steps=5000)), 6)  # W = I: no loss left
    0.0

    ```
    """
    kernel, args, dtype = _final_loss_problem(data, hidden, steps, init, u0, key)
    _checks.broadcast_shapes(lr=lr, noise_var=noise_var, weight_decay=weight_decay)
    lr = _checks.positive("lr", lr)
    noise_var = _checks.nonnegative("noise_var", noise_var)
    weight_decay = _checks.nonnegative("weight_decay", weight_decay)
    return tune._evaluate(kernel, tuple(jnp.asarray(x, dtype) for x in (noise_var, weight_decay, lr)), args)


def _final_loss_rate(data, limit, hidden, steps, noise_var, weight_decay, init, u0, key, num):
    if steps is None:
        raise ValueError("criterion 'final_loss' needs steps, the number of training steps T")
    kernel, args, dtype = _final_loss_problem(data, hidden, steps, init, u0, key)
    f = Partial(tune._along, kernel=kernel, which=2)
    hyper = (jnp.asarray(noise_var, dtype), jnp.asarray(weight_decay, dtype), jnp.zeros((), dtype))
    rate, _ = tune.minimise(f, limit * _FINAL_LOSS_RANGE, limit, args=(hyper, *args), num=num)
    return rate


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
    steps=None,
    init="aligned",
    key=None,
    num: int = 256,
):
    r"""The optimal learning rate of a whole linear network $W_2 W_1$ with `hidden` units.

    The loss is the noise-averaged per-sample loss (docs/theory.md),
    $\tfrac12\operatorname{tr}((I-W)C(I-W)^\top) + \tfrac{\sigma^2}{2}\|W\|_F^2 +
    \tfrac{\gamma}{2}(\|W_1\|^2+\|W_2\|^2)$ (`jaxdae.loss.expected_loss`). Its Hessian is
    evaluated in the eigenbasis of $C$ (the change of variables $W_1 \to W_1 V$,
    $W_2 \to V^\top W_2$ is orthogonal, so the spectrum is unchanged). At a balanced aligned
    point it is block diagonal, and `method="auto"` (or `"blocks"`) takes its top eigenvalue
    exactly from the blocks (`jaxdae.hessian.aligned_max_eigenvalue`, $O(H^2 + HD)$,
    milliseconds at $D = 784$, $H = 256$); `"dense"` (`jax.hessian`, at most a few thousand
    parameters) and `"lanczos"` (Hessian-vector products) go through
    `jaxdae.hessian.max_eigenvalue` instead, as checks.

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
      (balanced start `u0`, band `tol`, search horizon `steps`), searched below the network's
      stability limit. Smaller modes are slower at any stable rate; their time is set by their
      eigenvalues, not by this choice.
    - `"final_loss"`: the rate in $(0, \alpha_{stab}]$, $\alpha_{stab}$ the `"stability"` rate,
      that minimises the noise-averaged loss after `steps` full-batch steps from `init`
      (`final_loss`: every mode's exact discrete map for the aligned start, `jaxdae.train.fit`
      otherwise). **How:** `jaxdae.tune.minimise` in $\log\alpha$ over
      $[10^{-3}\alpha_{stab}, \alpha_{stab}]$: `num` rates as one vectorised evaluation (the loss
      is not convex in the rate near the edge of stability, where the top modes oscillate), then
      secant/bisection steps on $\partial L/\partial\log\alpha$ (forward-mode `jax.jvp` through
      the solution's `lax.scan`, so memory does not grow with `steps`) inside the bracket of the
      best grid rate; the best rate evaluated is returned, never above $\alpha_{stab}$. **Cost:**
      `num` + at most 42 loss evaluations: $O((\text{num}+84)HT)$ for the aligned start,
      $O((\text{num}+84)D^2HT)$ through training.

    **Arguments:**

    - `data`: samples `X` `(N, D)` (uncentred second moment) or a `Spectrum` (not for
      `"final_loss"` from a non-aligned start, which trains on `X`).
    - `hidden`: $H \ge 1$, at most $D$.
    - `noise_var`, `weight_decay`: scalars, `>= 0`.
    - `criterion`: one of `NETWORK_CRITERIA`.
    - `u0`, `tol`: as in `optimal_learning_rate` (`u0` must lie below the top mode's fixed point
      for `"fewest_steps"`); `u0` is also the aligned start of `"final_loss"`.
    - `steps`: the horizon $T$: the search horizon of `"fewest_steps"` (default estimated), the
      number of training steps of `"final_loss"` (required).
    - `init`: the start of `"final_loss"`: `"aligned"`, `"random"`, a `jaxdae.initialise`
      strategy or a pair `(W1, W2)`; `key`: its `jax.random` key (default `jax.random.key(0)`).
    - `method`: `"auto"` (= `"blocks"`), `"dense"` or `"lanczos"` for the Hessian eigenvalue.
    - `num`: rates on the `"final_loss"` grid, `>= 3`.

    **Returns:** the rate as a 0-d array in the spectrum's dtype.

    **Raises:** `ValueError` for bad arguments, or when `weight_decay >= lam_1` (no mode learns)
    for a criterion that needs a learning mode.

    ```python
    >>> import jaxdae
    >>> spec = jaxdae.Spectrum.from_eigenvalues([2.0, 1.0, 0.5])
    >>> float(jaxdae.lr.optimal_learning_rate_for(spec, hidden=2, criterion="stability"))
    0.5
    >>> rate = jaxdae.lr.optimal_learning_rate_for(spec, hidden=2, criterion="final_loss", steps=8, u0=0.01)
    >>> round(float(rate), 4), round(float(jaxdae.lr.final_loss(spec, rate, hidden=2, steps=8, u0=0.01)), 4)
    (0.4654, 0.2504)

    ```
    """
    _checks.choice("criterion", criterion, NETWORK_CRITERIA)
    _checks.choice("method", method, ("auto", "blocks", "dense", "lanczos"))
    spectrum = _network_spectrum(data)
    hidden = _checks.integer("hidden", hidden)
    if hidden > spectrum.dim:
        raise ValueError(f"hidden must be <= the data dimension {spectrum.dim}, got {hidden}")
    dtype = spectrum.lam.dtype
    noise_var = jnp.asarray(_scalar("noise_var", noise_var, _checks.nonnegative), dtype)
    weight_decay = jnp.asarray(_scalar("weight_decay", weight_decay, _checks.nonnegative), dtype)
    lam = spectrum.lam
    if criterion == "slides":
        return 1 / _curvature(spectrum, hidden, noise_var, weight_decay, jnp.ones_like(lam), method)
    if not float(lam[0]) > float(weight_decay):
        raise ValueError(
            f"weight_decay must be < the top eigenvalue {float(lam[0])!r} (a learning mode) for criterion "
            f"{criterion!r}, got weight_decay={float(weight_decay)!r}"
        )
    limit = _stability_limit(spectrum, hidden, noise_var, weight_decay, method)
    if criterion in ("critical", "stability"):
        return limit / 2 if criterion == "critical" else limit
    if criterion == "final_loss":
        return _final_loss_rate(data, limit, hidden, steps, noise_var, weight_decay, init, u0, key, num)
    tol = _validate_tol(tol)
    u0 = _validate_u0(u0, lam[0], noise_var, weight_decay)
    a1 = lam[0] - weight_decay
    v0 = jnp.asarray(u0, dtype) * (lam[0] + noise_var) / a1
    # The top mode's balanced limit is 1/a1 >= the network's limit, so kappa_max <= 1.
    kappa_max = jnp.minimum(a1 * limit, 1)
    return _fewest_rate(a1, v0, jnp.asarray(tol, dtype), kappa_max, steps)
