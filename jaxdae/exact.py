r"""Closed-form learning dynamics of one eigen-mode of a linear DAE / WDAE.

Conventions (per-sample mean loss, see `docs/theory.md`): for an eigenvalue `lam` of
$C = X^\top X / N$, input-noise variance `noise_var` $=\sigma^2$, weight decay `weight_decay`
$=\gamma$ (penalty $\tfrac{\gamma}{2}(\|W_1\|^2+\|W_2\|^2)$) and learning rate `lr` $=\alpha$, one
mode with weights $(w_1, w_2)$ and strength $u = w_1 w_2$ follows the gradient flow of

$$\ell = \tfrac{\lambda}{2}(1-u)^2 + \tfrac{\sigma^2}{2}u^2 + \tfrac{\gamma}{2}(w_1^2 + w_2^2)$$

in time `t` counted in full-batch gradient steps: $\dot w = -\alpha\,\partial\ell/\partial w$.
Write $a = \lambda-\gamma$ (growth rate), $\xi = \lambda+\sigma^2$ (curvature) and $s = \alpha t$.

Every function here broadcasts over all its array arguments, works under `jit`, `vmap` and
`grad`, keeps the inputs' floating dtype, and is written so that no exponential has a positive
argument: nothing overflows and nothing turns NaN in float32 for valid input.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks

__all__ = [
    "mode_strength",
    "mode_strength_unbalanced",
    "mode_strength_discrete",
    "fixed_point",
    "equivalent_weight_decay",
    "time_to_fraction",
    "dae_speedup",
]


# --------------------------------------------------------------------------- helpers


def _phi(k):
    r"""$\varphi(K) = (1-e^{-K})/K$ for $K \ge 0$, with $\varphi(0)=1$; safe under `grad`."""
    pos = k > 0
    k_safe = jnp.where(pos, k, 1)
    return jnp.where(pos, -jnp.expm1(-k_safe) / k_safe, 1 - k / 2)


def _riccati(s, y0, c, a, xi):
    r"""Exact solution of $dY/ds = -\tfrac{\xi}{2}Y^2 + 2aY + \tfrac{\xi}{2}C$ with $Y, C \ge 0$.

    Möbius form of $\exp(sA)$, $A = [[a, \xi C/2], [\xi/2, -a]]$, $h = \sqrt{4a^2+\xi^2 C}$:

    $$Y(s) = \frac{(A_+ + A_- D) Y_0 + \xi C q}{\xi q Y_0 + A_- + A_+ D},\quad D = e^{-hs},
    \quad q = s\,\varphi(hs), \quad A_\pm = 1 \pm 2a/h,$$

    with the cancelling coefficient written as $\xi^2 C / (h(h+2|a|))$. Every term is
    non-negative and bounded, so the form neither overflows nor cancels.
    """
    h2 = 4 * a * a + xi * xi * c
    pos = h2 > 0
    h = jnp.sqrt(jnp.where(pos, h2, 1))
    b = jnp.abs(a)
    small = xi * xi * c / (h * (h + 2 * b))
    big = 1 + 2 * b / h
    a_plus = jnp.where(pos, jnp.where(a >= 0, big, small), 1)
    a_minus = jnp.where(pos, jnp.where(a >= 0, small, big), 1)
    hs = jnp.where(pos, h, 0) * s
    d = jnp.exp(-hs)
    q = s * _phi(hs)
    num = (a_plus + a_minus * d) * y0 + xi * c * q
    den = xi * q * y0 + a_minus + a_plus * d
    zero = (y0 == 0) & (c == 0)
    den = jnp.where(zero | (den <= 0), 1, den)
    return jnp.where(zero, 0, num / den)


def _concrete(*xs) -> bool:
    return not any(_checks.is_traced(x) for x in xs)


# --------------------------------------------------------------------------- balanced


def _balanced_coefficients(lam, noise_var, weight_decay, lr, u0):
    r"""Per-mode constants of the balanced solution, written as a Möbius map of one `expm1`.

    With $K = 2|a|\alpha t$, $w = \operatorname{expm1}(z)$, $z = c \mp K$ and $g = \xi u_0/|a|$,
    every case of the stable form is $u = P / (R + S w + S_t t)$, and each sum in it has
    terms of one sign, so nothing cancels:

    - $a > 0$, $u_0 < u^*$ ($g < 1$): $z = \log(1/g - 1) - K$, $u = u^*/(2 + w)
      = u^*/(1 + e^{z})$, the logistic.
    - $a > 0$, $u_0 > u^*$: $z = \log(1 - 1/g) - K$, $u = u^*/(-w) = u^*/(1 - e^{z})$; `-expm1`
      is exact near 0, where a start far above $u^*$ decays like $u_0/(1+2\xi u_0 s)$.
      ($u_0 = u^*$ exactly stays there: $u = u^*$.)
    - $a < 0$: $z = +K$, $u = u_0/(1 + (1+g) w) = u_0 e^{-K}/(1 + 2 s \xi u_0 \varphi(K))$.
      This is the one positive exponent: $z$ is capped (`_Z_MAX`) where $u/u_0 < 10^{-34}$
      (float32) or $10^{-304}$ (float64), so it never overflows and the gradient stays finite.
    - $|a| < 10^{-30}$: $u = u_0/(1 + 2\xi u_0 \alpha t)$ (the $a \to 0$ limit, exact to rounding
      there since $K < 2\cdot10^{-30} s$).

    Only one transcendental remains per time point; everything else depends on the mode and
    is computed once per mode, outside the time loop.
    """
    a = lam - weight_decay
    xi = lam + noise_var
    b = jnp.abs(a)
    flat = b < 1e-30
    b_safe = jnp.where(flat, 1, b)
    grow = (a > 0) & ~flat
    decay = (a < 0) & ~flat
    kappa = jnp.where(grow, 2 * b_safe * lr, jnp.where(decay, -2 * b_safe * lr, 0))
    ustar = jnp.where(grow, b_safe / jnp.where(xi > 0, xi, 1), 0)
    g = u0 * xi / b_safe
    below = g < 1
    lo = grow & below & (g > 0)  # start below u*: the logistic
    hi = grow & (g > 1)  # start above u*
    at = grow & (g == 1)  # start at u*: u = u* for all t
    empty = grow & (g == 0)  # u0 = 0 stays 0
    # Every branch gets a safe argument, so masked-out branches have finite gradients too.
    g_lo = jnp.where(lo, g, 0.5)
    g_hi = jnp.where(hi, g, 2.0)
    c = jnp.where(lo, jnp.log1p(-g_lo) - jnp.log(g_lo), jnp.where(hi, jnp.log1p(-1 / g_hi), 0))
    p = jnp.where(grow, jnp.where(empty, 0, ustar), u0)
    r = jnp.where(grow, jnp.where(below, 2, jnp.where(at, 1, 0)), 1)
    s = jnp.where(grow, jnp.where(below, 1, jnp.where(at, 0, -1)), jnp.where(decay, 1 + g, 0))
    s_t = jnp.where(flat, 2 * xi * u0 * lr, 0)
    return c, kappa, p, r, s, s_t


# Cap on the exponent of the decaying branch: e^80 and e^700 are finite in float32 / float64.
_Z_MAX = {jnp.dtype("float32"): 80.0, jnp.dtype("float64"): 700.0, jnp.dtype("float16"): 11.0, jnp.dtype("bfloat16"): 80.0}


def _balanced(t, lam, noise_var, weight_decay, lr, u0):
    c, kappa, p, r, s, s_t = _balanced_coefficients(lam, noise_var, weight_decay, lr, u0)
    z = jnp.minimum(c - kappa * t, _Z_MAX[jnp.result_type(c, t)])
    w = jnp.expm1(z)
    return p / (r + s * w + s_t * t)


_balanced_jit = jax.jit(_balanced)


def _validate_common(t, lam, noise_var, weight_decay, lr):
    t = _checks.nonnegative("t", t)
    lam = _checks.nonnegative("lam", lam)
    noise_var = _checks.nonnegative("noise_var", noise_var)
    weight_decay = _checks.nonnegative("weight_decay", weight_decay)
    lr = _checks.positive("lr", lr)
    return t, lam, noise_var, weight_decay, lr


def mode_strength(t, lam, *, noise_var=0.0, weight_decay=0.0, lr=1e-2, u0=1e-6):
    r"""Mode strength $u(t)$ from a balanced start $w_1 = w_2 = \sqrt{u_0}$ (exact).

    Solves $\dot u = 2\alpha u(a - \xi u)$ in the stable form (no positive exponent), with
    $K = 2|a|\alpha t$ and $\varphi(K) = (1-e^{-K})/K$:

    $$u(t) = \begin{cases} u_0 / (e^{-K} + 2\alpha t\,\xi u_0\,\varphi(K)) & a \ge 0 \\
    u_0 e^{-K} / (1 + 2\alpha t\,\xi u_0\,\varphi(K)) & a < 0. \end{cases}$$

    It tends to the fixed point $a/\xi$ when $\lambda > \gamma$, decays algebraically as
    $u_0/(1+2\xi u_0 \alpha t)$ when $\lambda = \gamma$ and exponentially to 0 when $\lambda < \gamma$.

    **Arguments** (all broadcast together; the result has their broadcast shape):

    - `t`: time in full-batch gradient steps, `>= 0`.
    - `lam`: eigenvalue $\lambda$ of $C = X^\top X/N$, `>= 0`.
    - `noise_var`: input-noise variance $\sigma^2$, `>= 0`.
    - `weight_decay`: $\gamma$, `>= 0`.
    - `lr`: learning rate $\alpha$, `> 0`, default `1e-2`.
    - `u0`: initial strength $w_1 w_2$, `>= 0` (anti-balanced starts $w_2 = -w_1$ belong to
      `mode_strength_unbalanced`). Default `1e-6`, as in the paper's Figure 2.

    **Returns:** $u(t)$, floating, in the inputs' dtype.

    **Raises:** `ValueError` naming the parameter and value for negative or NaN inputs,
    `lr <= 0` or shapes that do not broadcast; under `jit` the same checks raise at run time.

    ```python
    >>> import jaxdae
    >>> float(jaxdae.exact.mode_strength(1e4, 1.0, noise_var=0.25, lr=1e-2))
    0.8

    ```
    """
    _checks.broadcast_shapes(t=t, lam=lam, noise_var=noise_var, weight_decay=weight_decay, lr=lr, u0=u0)
    t, lam, noise_var, weight_decay, lr = _validate_common(t, lam, noise_var, weight_decay, lr)
    u0 = _checks.check("u0", u0, lambda v: (v >= 0) & (v < np.inf), ">= 0 and finite")
    return _balanced_jit(*_checks.as_float(t, lam, noise_var, weight_decay, lr, u0))


# --------------------------------------------------------------------------- unbalanced


def _decay_split_log_p(s, lam, noise_var, weight_decay, p0, c2, n, decades):
    r"""$\log P(s)$ for $\gamma > 0$, $c_0 \ne 0$ by an exponential splitting (one scalar point).

    With $P = (w_1+w_2)^2$ and the imbalance $c(s)^2 = c_0^2 e^{-4\gamma s}$ known exactly,
    $\dot P = -\tfrac{\xi}{2}P^2 + 2(\lambda-\gamma)P + \tfrac{\xi}{2}c(s)^2$. Over each of `n`
    steps the decaying $c^2$ is frozen at its mid-step value and the Riccati equation is
    advanced by its exact closed form (`_riccati`), so stiffness costs nothing and nothing can
    overflow. The steps follow a cosine grid, fine at both ends: at the start for the fast
    transient, at the end because a relaxed $P$ tracks $c^2$ with a lag of half a step. One
    Richardson extrapolation (`n` and `2n` steps) cancels the leading error. The steps cover
    the first `decades` e-folds of $c^2$; past them $c^2$ is frozen at its last value, which
    moves $P$ by less than $e^{-\text{decades}}$ relatively.
    """
    a = lam - weight_decay
    xi = lam + noise_var
    need = (weight_decay > 0) & (c2 > 0)
    gam = jnp.where(need, weight_decay, 1)
    c2 = jnp.where(need, c2, 0)
    s_end = jnp.minimum(jnp.where(need, s, 0), decades / (4 * gam))

    def advance(m):
        nodes = s_end * (1 - jnp.cos(jnp.pi * jnp.arange(m + 1, dtype=s.dtype) / m)) / 2

        def body(p, k):
            lo, hi = nodes[k], nodes[k + 1]
            return _riccati(hi - lo, p, c2 * jnp.exp(-2 * gam * (lo + hi)), a, xi), None

        p, _ = jax.lax.scan(body, jnp.where(need, p0, 1), jnp.arange(m))
        return p

    coarse, fine = advance(n), advance(2 * n)
    p = jnp.maximum(fine + (fine - coarse) / 3, jnp.minimum(coarse, fine) / 2)
    p = _riccati(s - s_end, p, c2 * jnp.exp(-4 * gam * s_end), a, xi)
    lp = jnp.log(jnp.where(p > 0, p, jnp.finfo(p.dtype).tiny))
    # Points that do not need this path get a harmless 0, so masked branches stay finite.
    return jnp.where(need, lp, 0), need


@functools.partial(jax.jit, static_argnames=("use_ode",))
def _unbalanced(t, lam, noise_var, weight_decay, lr, w1, w2, use_ode):
    s = lr * t
    p = w1 + w2
    m = w1 - w2
    p0 = p * p
    m0 = m * m
    c2 = (p * m) ** 2
    xi = lam + noise_var
    # Exact whenever c^2 is constant: weight_decay == 0, or c0 == 0 (|w1| == |w2|).
    big_p = _riccati(s, p0, c2, lam - weight_decay, xi)
    big_m = _riccati(s, m0, c2, -(lam + weight_decay), xi)
    u = (big_p - big_m) / 4
    if not use_ode:
        return u
    shape = jnp.broadcast_shapes(*(jnp.shape(x) for x in (s, lam, noise_var, weight_decay, p0, c2)))
    args = [jnp.broadcast_to(x, shape).ravel() for x in (s, lam, noise_var, weight_decay, p0, c2)]
    n, decades = (2048, 80.0) if u.dtype == jnp.float64 else (256, 40.0)
    solve = functools.partial(_decay_split_log_p, n=n, decades=decades)
    lp, need = jax.vmap(solve)(*args)
    lp = lp.reshape(shape)
    need = need.reshape(shape)
    c2_s = jnp.broadcast_to(c2, shape) * jnp.exp(-4 * weight_decay * s)
    # u = (P - c(s)^2 / P)/4, written with exp(log c^2 - log P) so nothing overflows.
    lc2 = jnp.log(jnp.where(need, c2_s, 1))
    u_ode = (jnp.exp(lp) - jnp.where(need, jnp.exp(lc2 - lp), 0)) / 4
    return jnp.where(need, u_ode, u)


def mode_strength_unbalanced(t, lam, init, *, noise_var=0.0, weight_decay=0.0, lr=1e-2):
    r"""Mode strength $u(t) = w_1(t) w_2(t)$ from any scalar initialisation $(w_1, w_2)$.

    With $P = (w_1+w_2)^2$, $M = (w_1-w_2)^2$ and the imbalance $c = w_1^2 - w_2^2$
    ($PM = c^2$, $c(t) = c_0 e^{-2\gamma\alpha t}$), $u = (P - M)/4$ and

    $$\dot P = \alpha[-\tfrac{\xi}{2}P^2 + 2(\lambda-\gamma)P + \tfrac{\xi}{2}c^2],\qquad
    \dot M = \alpha[-\tfrac{\xi}{2}M^2 - 2(\lambda+\gamma)M + \tfrac{\xi}{2}c^2].$$

    **Which parts are exact.**

    - `weight_decay == 0`, or $|w_1| = |w_2|$ (balanced $w_1 = w_2$ or anti-balanced
      $w_1 = -w_2$, any weight decay): $c^2$ is constant and both equations are Riccati
      equations with constant coefficients, solved in closed form (cancellation-free Möbius
      form). Exact to rounding; it includes $w_1 w_2 < 0$ and the balanced limit, where it equals
      `mode_strength`.
    - `weight_decay > 0` with $|w_1| \ne |w_2|$: $c^2$ decays and no elementary closed form
      exists (the exact solution involves modified Bessel functions of general order, which
      JAX lacks). Here $P$ is advanced by an exponential splitting: exact Riccati steps with
      $c^2$ frozen at each step's middle, on a cosine grid, Richardson-extrapolated (3 x 2048
      steps in float64, 3 x 256 in float32). Stiffness costs nothing and every step is
      bounded, so no horizon or start overflows; $M = c(t)^2 / P$ is exact throughout.
      Accurate to about 1e-9 (float64) and 1e-6 (float32) relative to the scale
      $\max(|u_0|, u^*)$, not to rounding. (Implicit ODE solvers were tried first: they cannot
      meet float32 tolerances on this stiff equation and run out of steps in float64 for large
      imbalances with small weight decay.) Compiled only when a concrete input needs it, so
      a concrete call switching `weight_decay` between 0 and > 0 compiles a second variant
      once; under tracing it is always compiled.

    **Arguments** broadcast together: `t` (steps, `>= 0`), `lam` (`>= 0`), `init = (w1, w2)`
    the initial weights of the mode (finite, any sign), `noise_var` (`>= 0`), `weight_decay`
    (`>= 0`), `lr` (`> 0`, default `1e-2`).

    **Returns:** $u(t)$ with the broadcast shape, in the inputs' floating dtype.
    """
    w1_0, w2_0 = _init_pair(init)
    _checks.broadcast_shapes(
        t=t, lam=lam, **{"init[0]": w1_0, "init[1]": w2_0}, noise_var=noise_var, weight_decay=weight_decay, lr=lr
    )
    t, lam, noise_var, weight_decay, lr = _validate_common(t, lam, noise_var, weight_decay, lr)
    w1_0 = _checks.finite("init[0]", w1_0)
    w2_0 = _checks.finite("init[1]", w2_0)
    if _concrete(weight_decay, w1_0, w2_0):
        imbalance = np.abs(np.asarray(w1_0)) != np.abs(np.asarray(w2_0))
        use_ode = bool(np.any((np.asarray(weight_decay) > 0) & imbalance))
    else:
        use_ode = True
    args = _checks.as_float(t, lam, noise_var, weight_decay, lr, w1_0, w2_0)
    return _unbalanced(*args, use_ode=use_ode)


# --------------------------------------------------------------------------- discrete


def _gd_step(w1, w2, lam, noise_var, weight_decay, lr):
    """One full-batch gradient step on the scalar per-mode loss."""
    g = (lam + noise_var) * w1 * w2 - lam
    return w1 - lr * (w2 * g + weight_decay * w1), w2 - lr * (w1 * g + weight_decay * w2)


@functools.partial(jax.jit, static_argnames=("n", "gather"))
def _discrete(step, lam, noise_var, weight_decay, lr, w1, w2, n, gather):
    pshape = jnp.broadcast_shapes(*(jnp.shape(x) for x in (lam, noise_var, weight_decay, lr, w1, w2)))
    w1 = jnp.broadcast_to(w1, pshape)
    w2 = jnp.broadcast_to(w2, pshape)
    if gather:
        # `step` adds axes: keep the whole trajectory once, then pick the requested step.
        def body(w, _):
            w = _gd_step(*w, lam, noise_var, weight_decay, lr)
            return w, w[0] * w[1]

        _, us = jax.lax.scan(body, (w1, w2), None, length=n)
        us = jnp.concatenate([(w1 * w2)[None], us])
        shape = jnp.broadcast_shapes(jnp.shape(step), pshape)
        idx = jnp.broadcast_to(step, shape)[None]
        us = us.reshape((n + 1,) + (1,) * (len(shape) - len(pshape)) + pshape)
        us = jnp.broadcast_to(us, (n + 1,) + shape)
        return jnp.take_along_axis(us, idx, axis=0)[0]

    # `step` adds no axes: every point stops after its own number of steps.
    def body(w, k):
        new = _gd_step(*w, lam, noise_var, weight_decay, lr)
        live = k < step
        return tuple(jnp.where(live, b, a) for a, b in zip(w, new)), None

    (w1, w2), _ = jax.lax.scan(body, (w1, w2), jnp.arange(n))
    return w1 * w2


def _init_pair(init):
    """`init` as the pair `(w1, w2)` of a mode's initial weights, or a `ValueError` naming it."""
    if not isinstance(init, (tuple, list)) or len(init) != 2:
        raise ValueError(f"init must be a pair (w1, w2) of a mode's initial weights, got {init!r}")
    return init[0], init[1]


def mode_strength_discrete(
    step, lam, *, init=None, u0=1e-6, noise_var=0.0, weight_decay=0.0, lr=1e-2, steps=None
):
    r"""Mode strength after `step` full-batch gradient-descent steps (exact discrete map).

    Iterates, with `lax.scan`, the exact gradient step of the per-mode loss:

    $$w_1' = w_1 - \alpha[w_2(\xi u - \lambda) + \gamma w_1],\qquad
    w_2' = w_2 - \alpha[w_1(\xi u - \lambda) + \gamma w_2],$$

    which is what aligned full-batch training on the noise-averaged loss follows to rounding.
    Unlike the continuous forms it shows the finite-`lr` effects: the escape lag of
    $\approx \log(u^*/u_0)/4$ steps, oscillation for $\alpha > 1/(2a)$ and divergence beyond
    $\alpha > 1/\max(a, \gamma)$ (where the iterates grow without bound and may overflow).

    **Arguments** (broadcast together):

    - `step`: non-negative integer step counts at which $u$ is reported.
    - `lam`, `noise_var`, `weight_decay`, `lr` as in `mode_strength_unbalanced` (`lr`
      default `1e-2`).
    - `init`: `(w1, w2)`, the mode's initial weights; default the balanced start
      $w_1 = w_2 = \sqrt{u_0}$.
    - `u0`: initial mode strength of the balanced start (used when `init` is `None`).
    - `steps`: the horizon, a static upper bound on `step` (the scan length); needed only when
      `step` is traced, otherwise the next power of two above `max(step)` (few recompilations).

    **Returns:** $u$ after `step` updates, with the broadcast shape of all arguments. Cost:
    `steps` sequential updates of the broadcast parameter shape.

    ```python
    >>> import jaxdae
    >>> round(float(jaxdae.exact.mode_strength_discrete(2000, 1.0, noise_var=0.25, lr=0.05)), 4)
    0.8

    ```
    """
    if init is None:
        u0 = _checks.check("u0", u0, lambda v: (v >= 0) & (v < np.inf), ">= 0 and finite")
        init = (jnp.sqrt(u0),) * 2
    w1_0, w2_0 = _init_pair(init)
    _checks.broadcast_shapes(
        step=step, lam=lam, **{"init[0]": w1_0, "init[1]": w2_0},
        noise_var=noise_var, weight_decay=weight_decay, lr=lr,
    )
    step, steps = _check_step(step, steps)
    _, lam, noise_var, weight_decay, lr = _validate_common(0.0, lam, noise_var, weight_decay, lr)
    w1_0 = _checks.finite("init[0]", w1_0)
    w2_0 = _checks.finite("init[1]", w2_0)
    lam, noise_var, weight_decay, lr, w1_0, w2_0 = _checks.as_float(lam, noise_var, weight_decay, lr, w1_0, w2_0)
    pshape = jnp.broadcast_shapes(*(jnp.shape(x) for x in (lam, noise_var, weight_decay, lr, w1_0, w2_0)))
    gather = jnp.broadcast_shapes(jnp.shape(step), pshape) != pshape
    step = jnp.asarray(step, dtype=jnp.int32)
    return _discrete(step, lam, noise_var, weight_decay, lr, w1_0, w2_0, n=steps, gather=gather)


def _check_step(step, steps):
    """Validate the step counts `step` and the horizon `steps`; returns `(step, steps)`."""
    traced = _checks.is_traced(step)
    if not traced:
        arr = np.asarray(step)
        if not (np.issubdtype(arr.dtype, np.integer) or np.all(np.mod(arr, 1) == 0)):
            raise ValueError(f"step must be whole numbers, got {arr.ravel()[np.mod(arr.ravel(), 1) != 0][0]!r}")
    step = _checks.nonnegative("step", step)
    if steps is None:
        if traced:
            raise ValueError("step is traced: pass steps, a static upper bound on the number of steps")
        top = int(np.max(step)) if np.size(step) else 0
        return step, (1 << max(top - 1, 0).bit_length() if top > 0 else 0)
    steps = _checks.integer("steps", steps, low=0)
    if not traced and np.size(step) and int(np.max(step)) > steps:
        raise ValueError(f"steps must be >= max(step) = {int(np.max(step))}, got {steps}")
    if traced:
        if not jnp.issubdtype(jnp.result_type(step), jnp.integer):
            raise TypeError(f"step must have an integer dtype when traced, got {jnp.result_type(step)}")
        step = _checks.check("step", step, lambda v: v <= steps, f"<= steps = {steps}")
    return step, steps


# --------------------------------------------------------------------------- closed forms


def fixed_point(lam, noise_var=0.0, weight_decay=0.0):
    r"""Stable fixed point $u^* = \max(\lambda-\gamma, 0)/(\lambda+\sigma^2)$ of a mode.

    It is $\lambda/(\lambda+\sigma^2)$ for a DAE, $(\lambda-\gamma)/\lambda$ for a WDAE, and 0 for a
    mode with $\lambda \le \gamma$ (weight decay wins).
    """
    _checks.broadcast_shapes(lam=lam, noise_var=noise_var, weight_decay=weight_decay)
    lam = _checks.nonnegative("lam", lam)
    noise_var = _checks.nonnegative("noise_var", noise_var)
    weight_decay = _checks.nonnegative("weight_decay", weight_decay)
    lam, noise_var, weight_decay = _checks.as_float(lam, noise_var, weight_decay)
    a = lam - weight_decay
    xi = lam + noise_var
    return jnp.where(a > 0, a / jnp.where(xi > 0, xi, 1), 0)


def equivalent_weight_decay(lam, noise_var):
    r"""Weight decay $\gamma_{eq} = \lambda\sigma^2/(\lambda+\sigma^2)$ with the DAE's fixed point.

    Because it depends on $\lambda$, one noise level acts like a different weight decay on every
    mode: noise suppresses the low-variance modes relatively more.
    """
    _checks.broadcast_shapes(lam=lam, noise_var=noise_var)
    lam = _checks.nonnegative("lam", lam)
    noise_var = _checks.nonnegative("noise_var", noise_var)
    lam, noise_var = _checks.as_float(lam, noise_var)
    xi = lam + noise_var
    return lam * noise_var / jnp.where(xi > 0, xi, 1)


def time_to_fraction(frac, lam, *, noise_var=0.0, weight_decay=0.0, lr=1e-2, u0=1e-6):
    r"""Steps for a balanced mode to reach `frac` of its fixed point (continuous time).

    $$t_f = \frac{1}{2\alpha(\lambda-\gamma)}\Big[\operatorname{logit} f -
    \operatorname{logit}(u_0/u^*)\Big],$$

    evaluated with `log1p` so that $f$ near 1 stays accurate; 0 when the start is already at
    or above $f u^*$. Requires a learning mode, `lam > weight_decay`, `0 < frac < 1`, `u0 > 0`.
    """
    _checks.broadcast_shapes(frac=frac, lam=lam, noise_var=noise_var, weight_decay=weight_decay, lr=lr, u0=u0)
    frac = _checks.check("frac", frac, lambda v: (v > 0) & (v < 1), "in (0, 1)")
    _, lam, noise_var, weight_decay, lr = _validate_common(0.0, lam, noise_var, weight_decay, lr)
    u0 = _checks.positive("u0", u0)
    frac, lam, noise_var, weight_decay, lr, u0 = _checks.as_float(frac, lam, noise_var, weight_decay, lr, u0)
    a = lam - weight_decay
    # One check for concrete and traced values alike: time_to_fraction needs a learning mode.
    a = _checks.check("lam - weight_decay", a, lambda v: v > 0, "> 0 (a learning mode, lam > weight_decay)")
    rho = u0 * (lam + noise_var) / a
    rho_c = jnp.minimum(rho, frac)
    logit = lambda x: jnp.log(x) - jnp.log1p(-x)  # noqa: E731
    return (logit(frac) - logit(rho_c)) / (2 * lr * a)


def dae_speedup(lam, noise_var):
    r"""How many times faster a DAE learns a mode than the WDAE with the same fixed point.

    At equal learning rate and equal start, the WDAE with $\gamma_{eq}$ needs
    $(\lambda+\sigma^2)/\lambda$ times the DAE's time to reach any fraction of the common fixed
    point (the two growth rates are $\lambda$ and $\lambda^2/(\lambda+\sigma^2)$). At the two
    models' own "optimal" learning rates the advantage vanishes exactly (see `jaxdae.lr`).
    """
    _checks.broadcast_shapes(lam=lam, noise_var=noise_var)
    lam = _checks.positive("lam", lam)
    noise_var = _checks.nonnegative("noise_var", noise_var)
    lam, noise_var = _checks.as_float(lam, noise_var)
    return (lam + noise_var) / lam
