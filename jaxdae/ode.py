r"""Matrix gradient flow of a linear DAE / WDAE, integrated with diffrax from any initialisation.

The closed forms of `jaxdae.exact` hold for aligned (or scalar) initialisation. `solve`
integrates the full matrix dynamics instead (docs/derivations.md §2, per-sample mean convention): with
$C = X^\top X / N$, noise variance $\sigma^2$, weight decay $\gamma$ and learning rate $\alpha$,

$$\dot W_1 = \alpha\big[W_2^\top (C - W_2 W_1 C) - \sigma^2 W_2^\top W_2 W_1 - \gamma W_1\big],$$
$$\dot W_2 = \alpha\big[(C - W_2 W_1 C) W_1^\top - \sigma^2 W_2 W_1 W_1^\top - \gamma W_2\big],$$

with $W_1$ `(H, D)`, $W_2$ `(D, H)` and time $t$ counted in full-batch gradient steps. This is
the gradient flow $\dot W = -\alpha \nabla L$ of the expected (noise-averaged) loss

$$L = \tfrac12 \operatorname{tr}\big((I-W) C (I-W)^\top\big) + \tfrac{\sigma^2}{2}\|W\|_F^2
+ \tfrac{\gamma}{2}\big(\|W_1\|_F^2 + \|W_2\|_F^2\big),\qquad W = W_2 W_1 .$$

**Eigenbasis.** With $C = V\Lambda V^\top$ the rotated weights $\bar W_1 = W_1 V$,
$\bar W_2 = V^\top W_2$ obey the same equations with $C \to \Lambda$ diagonal, and after
reassociating the products,

$$\dot{\bar W}_1 = \alpha\big[\bar W_2^\top \Lambda - G_2\,\bar W_1(\Lambda + \sigma^2) - \gamma \bar W_1\big],
\qquad \dot{\bar W}_2 = \alpha\big[\Lambda \bar W_1^\top - \bar W_2\,G_1 - \gamma \bar W_2\big],$$

with the $H \times H$ Gram matrices $G_2 = \bar W_2^\top \bar W_2$ and
$G_1 = \bar W_1 (\Lambda+\sigma^2) \bar W_1^\top$: a right-hand side costs $O(DH^2)$ instead of
the $O(D^2 H)$ of the literal form, and the mode strengths $u_k = v_k^\top W v_k$ are the
diagonal of $\bar W_2 \bar W_1$, read off in $O(DH)$. The eigenbasis state is one `(2, H, D)`
array, $\bar W_1$ stacked on $\bar W_2^\top$ (both `(H, D)`): the solver's per-step updates
then run as one fused loop each, not one per matrix; the input basis keeps the `(W1, W2)` pytree.
"""

from __future__ import annotations

import math
from typing import Optional

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from . import _checks
from .spectrum import Spectrum
from .trajectory import Trajectory

__all__ = ["solve", "SUCCESS", "MAX_STEPS_REACHED", "FAILED", "describe_result"]

#: `Trajectory.result` codes of `solve`.
SUCCESS = 0
MAX_STEPS_REACHED = 1
FAILED = 2

_RESULT_TEXT = {
    SUCCESS: "successful",
    MAX_STEPS_REACHED: "max_steps reached before the last requested time",
    FAILED: "the solver failed (step size collapsed, non-finite state or implicit solve diverged)",
}

# Relative tolerance allowed on the asymmetry of C (rounding of X^T X / N in float32 is ~1e-7).
_SYMMETRY_TOL = 1e-5


def describe_result(code) -> str:
    """The meaning of a `Trajectory.result` code of `solve`, in words."""
    return _RESULT_TEXT.get(int(code), f"unknown result code {int(code)}")


# --------------------------------------------------------------------------- dynamics


def _rhs_eigen(t, y, args):
    # y = stack([W1bar, W2bar^T]), (2, H, D): one array, so each of the solver's per-step
    # updates (stages, error estimate, norm, interpolation) is one fused loop instead of two, and
    # no transposes. Measured: 18 % less time per step than the (W1bar, W2bar) pytree.
    w1, w2t = y[0], y[1]
    lam, noise_var, weight_decay, lr = args
    m1 = w1 * (lam + noise_var)
    g2 = w2t @ w2t.T
    g1 = w1 @ m1.T
    fit = jnp.stack([w2t * lam - g2 @ m1, w1 * lam - g1 @ w2t])
    return lr * (fit - weight_decay * y)


def _rhs_input(t, y, args):
    # The literal docs/derivations.md §2 form, O(D^2 H): the reference the eigenbasis must agree with.
    w1, w2 = y
    c, noise_var, weight_decay, lr = args
    w = w2 @ w1
    r = c - w @ c
    d1 = w2.T @ r - noise_var * (w2.T @ w2) @ w1 - weight_decay * w1
    d2 = r @ w1.T - noise_var * w @ w1.T - weight_decay * w2
    return lr * d1, lr * d2


def _safe_sqrt(x):
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1)), 0)


def _observe(a, b, lam, noise_var, weight_decay):
    """Mode strengths, expected loss and weight norm from eigenbasis weights, all O(D H^2)."""
    u = jnp.einsum("kh,hk->k", b, a)
    g1 = a @ a.T
    g1_lam = (a * lam) @ a.T
    g2 = b.T @ b
    sq1 = jnp.trace(g1)
    sq2 = jnp.trace(g2)
    # tr((I-W) L (I-W)^T) = tr L - 2 sum_k lam_k u_k + tr(W L W^T); tr(W L W^T) = <G1_lam, G2>.
    fit = 0.5 * (jnp.sum(lam) - 2 * jnp.dot(lam, u) + jnp.sum(g1_lam * g2))
    loss = fit + 0.5 * noise_var * jnp.sum(g1 * g2) + 0.5 * weight_decay * (sq1 + sq2)
    return u, loss, _safe_sqrt(sq1 + sq2)


def _mode_norm(y):
    """Error norm in the eigenbasis: RMS over each mode's entries, then the worst mode."""
    # A learned mode's error sits in its own column of W1bar and row of W2bar, 1/D of the
    # state, which diffrax's RMS norm over the whole state averages away: on the digits spectrum
    # it left 8x the error of SciPy's RK45 (input basis) at the same rtol. A max norm over the
    # entries matches SciPy but in float32 it chases rounding noise (4x the steps at rtol 1e-5);
    # the per-mode RMS does both for 5 % more steps than the plain RMS.
    # y = stack([W1bar, W2bar^T]): mode k is y[:, :, k].
    per_mode = jnp.sum(y * y, axis=(0, 1)) / (2 * y.shape[1])
    return _safe_sqrt(jnp.max(per_mode))


def _solve_one(lam, vecs, mat, w1, w2, noise_var, weight_decay, lr, ts, rtol, atol,
               solver, adjoint, max_steps, save_weights, basis):
    if basis == "eigen":
        y0 = jnp.stack([w1 @ vecs, w2.T @ vecs])  # (W1bar, W2bar^T)
        term = diffrax.ODETerm(_rhs_eigen)
        args = (lam, noise_var, weight_decay, lr)

        def to_eigen(y):
            return y[0], y[1].T

        def to_input(y):
            return y[0] @ vecs.T, (y[1] @ vecs.T).T

        error_norm = _mode_norm
    else:
        y0 = (w1, w2)
        term = diffrax.ODETerm(_rhs_input)
        args = (mat, noise_var, weight_decay, lr)

        def to_eigen(y):
            return y[0] @ vecs, vecs.T @ y[1]

        def to_input(y):
            return y

        error_norm = optx.rms_norm  # as SciPy's solve_ivp

    def save(t, y, args):
        u, loss, norm = _observe(*to_eigen(y), lam, noise_var, weight_decay)
        return (u, loss, norm, to_input(y) if save_weights else None)

    sol = diffrax.diffeqsolve(
        term,
        solver,
        t0=jnp.zeros((), ts.dtype),
        t1=ts[-1],
        dt0=None,
        y0=y0,
        args=args,
        saveat=diffrax.SaveAt(ts=ts, fn=save),
        # PI coefficients: an explicit solver runs at the stability limit set by the top
        # eigenvalue, where a pure I-controller rejects ~20 % of its steps (digits: 74 of 367,
        # against 26 of 325 with these).
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol, pcoeff=0.3, icoeff=0.4, norm=error_norm),
        adjoint=adjoint,
        max_steps=max_steps,
        throw=False,
    )
    # Times the solver never reached come back as inf from diffrax; NaN says "not computed".
    reached = jnp.isfinite(sol.ts)

    def mask(x):
        shape = reached.shape + (1,) * (x.ndim - 1)
        return jnp.where(reached.reshape(shape), x, jnp.nan)

    u, loss, norm, weights = jax.tree.map(mask, sol.ys)
    code = jnp.where(
        sol.result == diffrax.RESULTS.successful,
        SUCCESS,
        jnp.where(sol.result == diffrax.RESULTS.max_steps_reached, MAX_STEPS_REACHED, FAILED),
    ).astype(jnp.int32)
    return u, loss, norm, weights, code, sol.stats["num_steps"]


@eqx.filter_jit
def _solve_core(lam, vecs, mat, w1, w2, noise_var, weight_decay, lr, ts, rtol, atol,
                solver, adjoint, max_steps, save_weights, basis, devices):
    if basis == "input" and mat is None:
        mat = (vecs * lam) @ vecs.T
    shared = (lam, vecs, mat, ts, rtol, atol)

    def one(shared, point):
        lam, vecs, mat, ts, rtol, atol = shared
        return _solve_one(lam, vecs, mat, *point, ts, rtol, atol, solver, adjoint, max_steps, save_weights, basis)

    grid = (w1, w2, noise_var, weight_decay, lr)
    if w1.ndim == 3:
        # A loop, not a vmap: each point keeps its own step sizes, status and step count, and a
        # (D, H) state stays in cache. Measured on 2 CPU cores, vmapping the adaptive solve over
        # 64 points ran 2-3x slower than this loop (every point pays for the slowest point's
        # steps, and the stacked stages no longer fit in cache); one shared step size for the
        # stacked grid gained nothing over the loop either.
        if len(devices) == 1:
            return _map(one, shared, grid)
        return _sharded_map(one, shared, grid, devices)  # results equal the loop above
    return one(shared, grid)


def _map(one, shared, grid):
    return jax.lax.map(lambda point: one(shared, point), grid)


def _sharded_map(one, shared, grid, devices):
    """The grid loop spread over several devices: each runs `lax.map` over its share of the points.

    XLA runs one `lax.map` on one device (on a CPU, one core); with several devices (GPUs, or
    CPU cores exposed by `XLA_FLAGS=--xla_force_host_platform_device_count=N`) the points are
    split into equal contiguous chunks along a 1-D mesh. The grid is padded to a multiple of the
    device count with copies of its first point, whose results are dropped, so every point is
    computed exactly as in the single-device loop.

    Reverse mode: equinox's checkpointed while loop (diffrax's default adjoint) cannot be
    differentiated inside `shard_map`, so the backward pass differentiates the single-device
    loop instead (same values; the forward solve is recomputed on one device).
    """

    @jax.custom_vjp
    def run(shared, grid):
        return _sharded_forward(one, shared, grid, devices)

    def run_fwd(shared, grid):
        return _sharded_forward(one, shared, grid, devices), (shared, grid)

    def run_bwd(residuals, cotangents):
        _, pullback = jax.vjp(lambda s, g: _map(one, s, g), *residuals)
        return pullback(cotangents)

    run.defvjp(run_fwd, run_bwd)
    return run(shared, grid)


def _sharded_forward(one, shared, grid, devices):
    n = len(devices)
    size = grid[0].shape[0]
    pad = -size % n
    if pad:
        grid = jax.tree.map(lambda x: jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad,) + x.shape[1:])]), grid)
    mesh = jax.sharding.Mesh(np.asarray(devices), ("grid",))
    split, replicated = jax.sharding.PartitionSpec("grid"), jax.sharding.PartitionSpec()
    chunk = jax.shard_map(
        lambda shared, grid: _map(one, shared, grid), mesh=mesh, in_specs=(replicated, split), out_specs=split,
        check_vma=False,
    )
    out = chunk(shared, grid)
    return jax.tree.map(lambda x: x[:size], out) if pad else out


@jax.jit
def _eigh_descending(c):
    lam, vecs = jnp.linalg.eigh((c + c.T) / 2)
    return lam[::-1], vecs[:, ::-1]


# --------------------------------------------------------------------------- validation


def _check_moment(C):
    """Shape, finiteness and symmetry of a second-moment matrix (host or run-time checks)."""
    shape = np.shape(C)
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
        raise ValueError(f"C must be a square D x D matrix or a jaxdae.Spectrum, got shape {shape}")
    C = _checks.finite("C", C)
    if _checks.is_traced(C):
        c = jnp.asarray(C)
        scale = jnp.maximum(jnp.max(jnp.abs(c)), jnp.finfo(c.dtype).tiny)
        asym = jnp.max(jnp.abs(c - c.T)) / scale
        return eqx.error_if(C, asym > _SYMMETRY_TOL, "C must be symmetric (checked at run time)")
    c = np.asarray(C, dtype=np.float64)
    scale = max(float(np.max(np.abs(c))), np.finfo(np.float64).tiny)
    asym = float(np.max(np.abs(c - c.T))) / scale
    if asym > _SYMMETRY_TOL:
        raise ValueError(f"C must be symmetric, got max |C - C^T| / max |C| = {asym:.3g}")
    return C


def _check_weights(W1_0, W2_0, dim):
    s1, s2 = np.shape(W1_0), np.shape(W2_0)
    if len(s1) < 2:
        raise ValueError(f"W1_0 must have shape (..., H, D), got {s1}")
    if len(s2) < 2:
        raise ValueError(f"W2_0 must have shape (..., D, H), got {s2}")
    if s1[-1] != dim:
        raise ValueError(f"W1_0 must have shape (..., H, D) with D = {dim} (the size of C), got {s1}")
    if s2[-2] != dim:
        raise ValueError(f"W2_0 must have shape (..., D, H) with D = {dim} (the size of C), got {s2}")
    if s1[-2] != s2[-1] or s1[-2] < 1:
        raise ValueError(f"W1_0 (..., H, D) and W2_0 (..., D, H) must share H >= 1, got shapes {s1} and {s2}")
    return _checks.finite("W1_0", W1_0), _checks.finite("W2_0", W2_0)


def _check_ts(ts):
    shape = np.shape(ts)
    if len(shape) != 1 or shape[0] < 1:
        raise ValueError(f"ts must be a non-empty 1-D array of times, got shape {shape}")
    ts = _checks.nonnegative("ts", ts)
    if _checks.is_traced(ts):
        return eqx.error_if(ts, jnp.any(jnp.diff(jnp.asarray(ts)) < 0),
                            "ts must be non-decreasing (checked at run time)")
    d = np.diff(np.asarray(ts))
    if np.any(d < 0):
        i = int(np.flatnonzero(d < 0)[0])
        raise ValueError(f"ts must be non-decreasing, got ts[{i}] = {np.asarray(ts)[i].item()!r} > ts[{i + 1}] = "
                         f"{np.asarray(ts)[i + 1].item()!r}")
    return ts


def _check_options(solver, adjoint, max_steps, basis):
    if not isinstance(solver, diffrax.AbstractAdaptiveSolver):
        raise ValueError(
            "solver must be an adaptive diffrax solver (e.g. diffrax.Tsit5(), diffrax.Dopri5(), "
            f"diffrax.Kvaerno5()), got {solver!r}"
        )
    if not isinstance(adjoint, diffrax.AbstractAdjoint):
        raise ValueError(
            f"adjoint must be a diffrax adjoint (e.g. diffrax.RecursiveCheckpointAdjoint()), got {adjoint!r}"
        )
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    if basis not in ("eigen", "input"):
        raise ValueError(f"basis must be 'eigen' or 'input', got {basis!r}")


# --------------------------------------------------------------------------- public


def solve(
    C,
    W1_0,
    W2_0,
    *,
    noise_var=0.0,
    weight_decay=0.0,
    lr=1.0,
    ts,
    solver: Optional[diffrax.AbstractAdaptiveSolver] = None,
    rtol=None,
    atol=None,
    max_steps: int = 16384,
    save_weights: bool = False,
    throw: bool = True,
    adjoint: Optional[diffrax.AbstractAdjoint] = None,
    basis: str = "eigen",
) -> Trajectory:
    r"""Integrate the matrix gradient flow of a linear DAE / WDAE from $(W_1, W_2)$ at $t=0$.

    Solves (see the module docstring; docs/derivations.md §2)
    $\dot W_1 = \alpha[W_2^\top(C - WC) - \sigma^2 W_2^\top W_2 W_1 - \gamma W_1]$,
    $\dot W_2 = \alpha[(C - WC)W_1^\top - \sigma^2 W W_1^\top - \gamma W_2]$, $W = W_2W_1$,
    with the state $(W_1, W_2)$ (a pytree in the input basis, stacked as $(\bar W_1, \bar W_2^\top)$
    in the eigenbasis), by default in the eigenbasis of $C$ at $O(DH^2)$
    per right-hand side, and returns the mode strengths $u_k(t) = v_k^\top W(t) v_k$ at `ts`.

    **Grids.** `noise_var`, `weight_decay` and `lr` may be arrays and `W1_0`, `W2_0` may carry
    leading batch axes (e.g. one initialisation per PRNG key); they broadcast together to a
    batch shape `B` and the whole grid runs as one compiled loop over the points, each with its
    own step sizes and status (results equal separate solves). With several JAX devices the
    grid is split into equal chunks, one loop per device (`jax.shard_map` over a 1-D mesh of
    `jax.devices()`), with the same results; on a CPU, set
    `XLA_FLAGS=--xla_force_host_platform_device_count=N` before importing jax to get N devices
    (e.g. one per core). `jax.vmap(solve)` also works,
    with the same per-point statuses; on CPU it is slower, since a vmapped adaptive solve
    steps every point until the slowest one is done. New values of the same shapes and dtypes
    never recompile.

    **Arguments:**

    - `C`: the second moment $X^\top X/N$ `(D, D)`, symmetric and finite, or a
      `jaxdae.Spectrum` (then its eigenvalues and eigenvectors are used as they are). A matrix
      is decomposed with `jnp.linalg.eigh`, so gradients with respect to `C` flow (they are
      undefined at repeated eigenvalues, where the eigenvectors are).
    - `W1_0`: `(..., H, D)` initial encoder; `W2_0`: `(..., D, H)` initial decoder (any `H`).
    - `noise_var`: $\sigma^2$, `>= 0`; `weight_decay`: $\gamma$, `>= 0`; `lr`: $\alpha$, `> 0`.
    - `ts`: `(T,)` save times in gradient steps, `>= 0`, non-decreasing; the integration runs
      from $t = 0$ to `ts[-1]`.
    - `solver`: an adaptive diffrax solver, default `diffrax.Tsit5()`. For spectra spanning
      many decades integrated to the slow modes' time scale, an implicit solver
      (`diffrax.Kvaerno5()`) takes far fewer steps, at the price of a dense Jacobian of size
      $(2DH)^2$ per step: worthwhile for small $DH$ only.
    - `rtol`, `atol`: tolerances of the step-size controller (PI, on the weights); default
      `1e-7`, `1e-10` in float64 and `1e-5`, `1e-8` in float32. In the eigenbasis the error
      is measured per mode (RMS over a mode's column of $\bar W_1$ and row of $\bar W_2$, worst
      mode), so a tolerance means what it means for SciPy's `solve_ivp` on the flattened
      system. In float32, `rtol` much below `1e-5` chases rounding noise and costs steps.
    - `max_steps`: the most solver steps per run (static).
    - `save_weights`: also return $(W_1, W_2)$ at `ts`, in the input basis.
    - `throw`: raise when any run fails (below). With `False` the failures are reported only
      through `Trajectory.result`, so one bad grid point does not hide the others.
    - `adjoint`: a diffrax adjoint for reverse-mode gradients, default
      `diffrax.RecursiveCheckpointAdjoint()`.
    - `basis`: `"eigen"` (default) integrates the rotated weights at $O(DH^2)$ per step;
      `"input"` integrates the literal equations with the full $C$ at $O(D^2H)$. The result
      does not depend on the choice beyond the solver tolerance.

    **Returns:** a `jaxdae.Trajectory` with batch shape `B`:

    - `t` `(B..., T)`; `mode_strength` `(B..., T, D)`, modes in descending eigenvalue order;
    - `loss` `(B..., T)`, the expected loss $L$ above (per-sample mean convention);
    - `weight_norm` `(B..., T)`, $\sqrt{\|W_1\|_F^2 + \|W_2\|_F^2}$;
    - `weights` `((B..., T, H, D), (B..., T, D, H))` when `save_weights`, else `None`;
    - `result` `(B...)` int32: `SUCCESS` (0), `MAX_STEPS_REACHED` (1) or `FAILED` (2). A run
      that stopped early has NaN at every time it did not reach.

    **Raises:**

    - `ValueError` naming the parameter and value for shapes that do not fit, a non-symmetric
      or non-finite `C`, non-finite weights, negative `noise_var` / `weight_decay`,
      `lr <= 0`, negative or decreasing `ts`, or a bad option.
    - `RuntimeError` when `throw=True` and any run did not reach `ts[-1]` (it says how many
      and where). Under `jit` / `vmap` / `grad` the checks run inside the program
      (`equinox.error_if`) and raise at run time instead.

    ```python
    >>> import jax, jax.numpy as jnp
    >>> from jaxdae import Spectrum, ode
    >>> from jaxdae.initialise import random_init
    >>> spec = Spectrum.from_eigenvalues(jnp.array([2.0, 1.0, 0.5]))
    >>> W1, W2 = random_init(jax.random.key(0), 3, 2, scale=1e-3)
    >>> traj = ode.solve(spec, W1, W2, noise_var=0.5, lr=0.1, ts=jnp.linspace(0, 400, 5))
    >>> traj.mode_strength.shape
    (5, 3)

    ```
    """
    return _solve(
        C, W1_0, W2_0, noise_var, weight_decay, lr, ts, solver, rtol, atol, max_steps, save_weights, throw,
        adjoint, basis,
    )[0]


def _solve(C, W1_0, W2_0, noise_var, weight_decay, lr, ts, solver, rtol, atol, max_steps, save_weights, throw,
           adjoint, basis, devices=None):
    """`solve`'s body; also returns the number of solver steps per run (for the benchmarks).

    `devices`: the devices a grid is spread over, default all of `jax.devices()` (the
    benchmark passes one device to time the single-device loop in the same process).
    """
    devices = tuple(jax.devices()) if devices is None else tuple(devices)
    solver = diffrax.Tsit5() if solver is None else solver
    adjoint = diffrax.RecursiveCheckpointAdjoint() if adjoint is None else adjoint
    _check_options(solver, adjoint, max_steps, basis)

    if isinstance(C, Spectrum):
        lam, vecs, mat = C.lam, C.vecs, None
        lam = _checks.finite("C.lam", lam)
        dim = int(np.shape(lam)[0])
    else:
        mat = _check_moment(C)
        dim = int(np.shape(mat)[0])
    W1_0, W2_0 = _check_weights(W1_0, W2_0, dim)
    batch = _checks.broadcast_shapes(
        noise_var=noise_var, weight_decay=weight_decay, lr=lr,
        **{
            "W1_0 batch axes": np.broadcast_to(0.0, np.shape(W1_0)[:-2]),
            "W2_0 batch axes": np.broadcast_to(0.0, np.shape(W2_0)[:-2]),
        },
    )
    noise_var = _checks.nonnegative("noise_var", noise_var)
    weight_decay = _checks.nonnegative("weight_decay", weight_decay)
    lr = _checks.positive("lr", lr)
    ts = _check_ts(ts)

    source = (lam, vecs) if mat is None else (mat,)
    dtype = jnp.result_type(*source, W1_0, W2_0, noise_var, weight_decay, lr, float)
    f64 = dtype == jnp.float64
    rtol = (1e-7 if f64 else 1e-5) if rtol is None else rtol
    atol = (1e-10 if f64 else 1e-8) if atol is None else atol
    rtol = _checks.positive("rtol", rtol)
    atol = _checks.positive("atol", atol)

    cast = lambda x: jnp.asarray(x, dtype)  # noqa: E731
    if mat is None:
        lam, vecs = cast(lam), cast(vecs)
    else:
        mat = cast(mat)
        lam, vecs = _eigh_descending(mat)
        if basis == "eigen":
            mat = None  # the eigenbasis needs only (lam, vecs)

    h = int(np.shape(W1_0)[-2])
    size = math.prod(batch)
    if batch:
        if size == 0:
            raise ValueError(f"the batch shape {batch} is empty")
        flat = lambda x, tail: jnp.broadcast_to(cast(x), batch + tail).reshape((size,) + tail)  # noqa: E731
        w1, w2 = flat(W1_0, (h, dim)), flat(W2_0, (dim, h))
        nv, wd, al = flat(noise_var, ()), flat(weight_decay, ()), flat(lr, ())
    else:
        w1, w2, nv, wd, al = map(cast, (W1_0, W2_0, noise_var, weight_decay, lr))

    ts = cast(ts)
    u, loss, norm, weights, code, steps = _solve_core(
        lam, vecs, mat, w1, w2, nv, wd, al, ts, cast(rtol), cast(atol),
        solver, adjoint, int(max_steps), bool(save_weights), basis, devices,
    )
    unflat = lambda x: x.reshape(batch + x.shape[1:]) if batch else x  # noqa: E731
    traj = Trajectory(
        t=jnp.broadcast_to(ts, batch + ts.shape),
        mode_strength=unflat(u),
        loss=unflat(loss),
        weight_norm=unflat(norm),
        weights=None if weights is None else tuple(unflat(w) for w in weights),
        result=unflat(code),
    )
    if throw:
        traj = _raise_on_failure(traj, max_steps)
    return traj, unflat(steps)


def _raise_on_failure(traj: Trajectory, max_steps: int) -> Trajectory:
    hint = (
        f"raise max_steps (now {max_steps}), loosen rtol/atol, use an implicit solver such as "
        "diffrax.Kvaerno5() for a stiff spectrum, or pass throw=False to keep the other runs and "
        "read Trajectory.result"
    )
    if _checks.is_traced(traj.result):
        return eqx.error_if(traj, traj.result != SUCCESS, f"jaxdae.ode.solve: a run did not reach ts[-1]; {hint}")
    codes = np.asarray(traj.result)
    bad = codes != SUCCESS
    if np.any(bad):
        first = tuple(int(i) for i in np.argwhere(bad)[0]) if codes.ndim else ()
        where = f" (first at batch index {first})" if codes.ndim else ""
        raise RuntimeError(
            f"jaxdae.ode.solve: {int(bad.sum())} of {codes.size} run(s) stopped before ts[-1]{where}: "
            f"{describe_result(codes[bad].flat[0])}; {hint}"
        )
    return traj

