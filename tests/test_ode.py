"""Tests of `jaxdae.ode.solve`, the matrix gradient flow, against independent references.

References: the closed form `exact.mode_strength` (aligned balanced start), SciPy's `solve_ivp`
(DOP853, rtol 1e-10) on the flattened literal equations, the conservation law of
W1 W1^T - W2^T W2, full-batch gradient descent written here with `jax.grad` of the expected
loss, and central finite differences.

Every solve at D = 16, H = 8 uses the same shapes (`TS` of length 41, weights saved) so the
whole file compiles the solver only a handful of times.
"""

import logging
import os
import subprocess
import sys

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from jaxdae import Spectrum, exact, ode
from jaxdae.initialise import aligned_init, random_init

D, H, T = 16, 8, 41
LAM = np.geomspace(2.0, 0.02, D)
TIGHT = dict(rtol=1e-10, atol=1e-13)


def _orthogonal(seed, n):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return q * np.sign(np.diag(r))


V = _orthogonal(0, D)
C = (V * LAM) @ V.T
C = (C + C.T) / 2
SPEC = Spectrum.from_moment(C)
W1_0, W2_0 = (np.asarray(w) for w in random_init(jax.random.key(1), D, H, scale=0.2))
TS = np.linspace(0.0, 30.0, T)


def solve(c=C, w1=W1_0, w2=W2_0, ts=TS, **kw):
    """The file's standard call: fixed shapes, weights saved, tight tolerances."""
    return ode.solve(c, w1, w2, ts=ts, save_weights=True, **{**TIGHT, **kw})


def _literal_loss(w1, w2, c, noise_var, weight_decay):
    w = w2 @ w1
    r = np.eye(c.shape[0]) - w
    return (0.5 * np.trace(r @ c @ r.T) + 0.5 * noise_var * np.sum(w * w)
            + 0.5 * weight_decay * (np.sum(w1 * w1) + np.sum(w2 * w2)))


def _scipy_reference(noise_var, weight_decay, lr, ts=TS):
    """DOP853 on the flattened literal docs/derivations.md §2 equations (input basis, full C)."""

    def f(t, y):
        w1 = y[: H * D].reshape(H, D)
        w2 = y[H * D:].reshape(D, H)
        w = w2 @ w1
        r = C - w @ C
        d1 = w2.T @ r - noise_var * w2.T @ w2 @ w1 - weight_decay * w1
        d2 = r @ w1.T - noise_var * w @ w1.T - weight_decay * w2
        return lr * np.concatenate([d1.ravel(), d2.ravel()])

    y0 = np.concatenate([W1_0.ravel(), W2_0.ravel()])
    sol = solve_ivp(f, (0.0, ts[-1]), y0, method="DOP853", t_eval=ts, rtol=1e-10, atol=1e-12)
    assert sol.success
    w1s = sol.y[: H * D].T.reshape(-1, H, D)
    w2s = sol.y[H * D:].T.reshape(-1, D, H)
    return w1s, w2s


# --------------------------------------------------------------------------- accuracy


@pytest.mark.parametrize("noise_var,weight_decay,lr", [(0.0, 0.0, 0.5), (0.3, 0.0, 0.5), (0.0, 0.05, 1.5)])
def test_aligned_balanced_start_matches_exact(noise_var, weight_decay, lr):
    u0 = 1e-6
    w1, w2 = aligned_init(SPEC, H, u0)
    ts = np.linspace(0.0, 40.0 / lr, T)
    traj = solve(SPEC, np.asarray(w1), np.asarray(w2), ts=ts, noise_var=noise_var,
                 weight_decay=weight_decay, lr=lr, rtol=1e-11, atol=1e-15)
    ref = np.asarray(exact.mode_strength(ts[:, None], np.asarray(SPEC.lam[:H]), noise_var=noise_var,
                                         weight_decay=weight_decay, lr=lr, u0=u0))
    u = np.asarray(traj.mode_strength)
    assert int(traj.result) == ode.SUCCESS
    assert ref[-1, 0] > 0.5 * exact.fixed_point(LAM[0], noise_var, weight_decay)  # the modes were learned
    np.testing.assert_array_less(np.abs(u[:, :H] / ref - 1), 1e-7)
    # Modes beyond the hidden width never receive a unit.
    np.testing.assert_array_less(np.abs(u[:, H:]), 1e-12)


def test_random_start_matches_scipy():
    noise_var, weight_decay, lr = 0.2, 0.03, 0.8
    traj = solve(noise_var=noise_var, weight_decay=weight_decay, lr=lr)
    w1s, w2s = _scipy_reference(noise_var, weight_decay, lr)
    u_ref = np.einsum("dk,tde,ek->tk", V, w2s @ w1s, V)
    loss_ref = np.array([_literal_loss(a, b, C, noise_var, weight_decay) for a, b in zip(w1s, w2s)])
    norm_ref = np.sqrt(np.sum(w1s**2, axis=(1, 2)) + np.sum(w2s**2, axis=(1, 2)))
    # Not close to alignment: the off-diagonal part of V^T W V is of order one along the way.
    offdiag = np.einsum("dk,tde,ej->tkj", V, w2s @ w1s, V) * (1 - np.eye(D))
    assert np.max(np.abs(offdiag)) > 0.1
    np.testing.assert_allclose(traj.mode_strength, u_ref, rtol=0, atol=1e-6)
    np.testing.assert_allclose(traj.weights[0], w1s, rtol=0, atol=1e-6)
    np.testing.assert_allclose(traj.weights[1], w2s, rtol=0, atol=1e-6)
    np.testing.assert_allclose(traj.loss, loss_ref, rtol=1e-6)
    np.testing.assert_allclose(traj.weight_norm, norm_ref, rtol=1e-6)
    np.testing.assert_array_equal(traj.t, TS)


def test_basis_choice_does_not_change_the_result():
    kw = dict(noise_var=0.2, weight_decay=0.03, lr=0.8)
    eigen = solve(**kw)
    literal = solve(basis="input", **kw)
    np.testing.assert_allclose(eigen.mode_strength, literal.mode_strength, rtol=0, atol=1e-8)
    np.testing.assert_allclose(eigen.loss, literal.loss, rtol=1e-8)
    np.testing.assert_allclose(eigen.weights[0], literal.weights[0], rtol=0, atol=1e-8)
    # Rotating the data and the weights together changes no mode strength.
    q = _orthogonal(7, D)
    rotated = solve((q @ C @ q.T + (q @ C @ q.T).T) / 2, W1_0 @ q.T, q @ W2_0, **kw)
    np.testing.assert_allclose(rotated.mode_strength, eigen.mode_strength, rtol=0, atol=1e-8)
    np.testing.assert_allclose(rotated.loss, eigen.loss, rtol=1e-8)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_imbalance_is_conserved_or_decays(weight_decay):
    lr = 0.8
    traj = solve(noise_var=0.3, weight_decay=weight_decay, lr=lr)
    w1s, w2s = (np.asarray(w) for w in traj.weights)
    q = w1s @ np.swapaxes(w1s, 1, 2) - np.swapaxes(w2s, 1, 2) @ w2s
    expected = q[0] * np.exp(-2 * lr * weight_decay * TS)[:, None, None]
    assert np.max(np.abs(q[0])) > 0.1
    # The weights themselves move by O(1), so the law is not trivially satisfied.
    assert np.max(np.abs(w1s[-1] - w1s[0])) > 0.1
    np.testing.assert_array_less(np.abs(q - expected), 1e-8)


def _expected_loss(params, c, noise_var, weight_decay):
    w1, w2 = params
    w = w2 @ w1
    r = jnp.eye(c.shape[0]) - w
    return (0.5 * jnp.trace(r @ c @ r.T) + 0.5 * noise_var * jnp.sum(w * w)
            + 0.5 * weight_decay * (jnp.sum(w1 * w1) + jnp.sum(w2 * w2)))


@jax.jit
def _gd(params, n, lr, noise_var, weight_decay):
    """`n` full-batch gradient steps on the expected loss (independent of jaxdae)."""
    grad = jax.grad(_expected_loss)

    def step(_, p):
        g = grad(p, jnp.asarray(C), noise_var, weight_decay)
        return jax.tree.map(lambda a, b: a - lr * b, p, g)

    return jax.lax.fori_loop(0, n, step, params)


def test_gradient_descent_converges_to_the_flow_linearly_in_lr():
    noise_var, weight_decay = 0.2, 0.03
    span = np.linspace(0.0, 8.0, T)  # in units of lr * steps
    flow = solve(ts=span, noise_var=noise_var, weight_decay=weight_decay, lr=1.0)
    errors = []
    for lr in (0.04, 0.02, 0.01):
        steps = np.rint(span / lr).astype(int)
        params = (jnp.asarray(W1_0), jnp.asarray(W2_0))
        us = [np.diag(V.T @ W2_0 @ W1_0 @ V)]
        for n in np.diff(steps):
            params = _gd(params, int(n), lr, noise_var, weight_decay)
            us.append(np.diag(V.T @ np.asarray(params[1] @ params[0]) @ V))
        errors.append(np.max(np.abs(np.array(us) - np.asarray(flow.mode_strength))))
    errors = np.array(errors)
    ratios = errors[:-1] / errors[1:]
    assert errors[-1] < 5e-3
    np.testing.assert_allclose(ratios, 2.0, rtol=0.08)


def test_float32_inputs_give_float32_results():
    kw = dict(noise_var=0.2, weight_decay=0.03, lr=0.8)
    single = ode.solve(C.astype(np.float32), W1_0.astype(np.float32), W2_0.astype(np.float32),
                       ts=TS.astype(np.float32), **kw)
    double = solve(**kw)
    for leaf in (single.mode_strength, single.loss, single.weight_norm, single.t):
        assert leaf.dtype == jnp.float32
        assert np.all(np.isfinite(leaf))
    np.testing.assert_allclose(single.mode_strength, double.mode_strength, rtol=0, atol=2e-5)


def test_implicit_solver_matches_exact():
    # Small on purpose: an implicit step forms the dense (2DH)^2 Jacobian.
    small = Spectrum.from_eigenvalues(np.array([2.0, 0.6, 0.1, 0.01]))
    w1, w2 = aligned_init(small, 2, 1e-6)
    ts = np.linspace(0.0, 80.0, T)
    traj = ode.solve(small, w1, w2, ts=ts, noise_var=0.3, lr=0.5, solver=diffrax.Kvaerno5(), rtol=1e-8, atol=1e-12)
    ref = exact.mode_strength(ts[:, None], np.array([2.0, 0.6]), noise_var=0.3, lr=0.5, u0=1e-6)
    assert int(traj.result) == ode.SUCCESS
    np.testing.assert_allclose(traj.mode_strength[:, :2], ref, rtol=1e-5)


# --------------------------------------------------------------------------- grids and compilation

LEVELS = np.linspace(0.0, 1.0, 8)


def test_vmap_over_noise_equals_separate_solves():
    separate = np.stack([np.asarray(solve(noise_var=float(s), lr=0.8).mode_strength) for s in LEVELS])

    def one(nv, lr):
        return solve(noise_var=nv, lr=lr, throw=False)

    user = jax.vmap(one)(jnp.asarray(LEVELS), jnp.full(8, 0.8))
    grid = solve(noise_var=LEVELS, lr=0.8)
    assert grid.mode_strength.shape == (8, T, D)
    assert grid.t.shape == (8, T) and grid.result.shape == (8,)
    assert grid.weights[0].shape == (8, T, H, D)
    np.testing.assert_array_equal(user.result, 0)
    np.testing.assert_allclose(user.mode_strength, separate, rtol=0, atol=1e-9)
    np.testing.assert_allclose(grid.mode_strength, separate, rtol=0, atol=1e-9)
    # The noise matters: the levels' fixed points differ.
    assert np.ptp(separate[:, -1, 0]) > 0.1


def test_grid_broadcasts_parameters_and_init_batches():
    keys = jax.random.split(jax.random.key(3), 4)
    w1s, w2s = jax.vmap(lambda k: random_init(k, D, H, scale=0.2))(keys)
    noise = np.array([[0.1], [0.6]])
    grid = solve(w1=w1s, w2=w2s, noise_var=noise, lr=0.8)
    assert grid.mode_strength.shape == (2, 4, T, D)
    ref = solve(w1=np.asarray(w1s[2]), w2=np.asarray(w2s[2]), noise_var=0.6, lr=0.8)
    np.testing.assert_allclose(grid.mode_strength[1, 2], ref.mode_strength, rtol=0, atol=1e-9)


def test_failing_grid_point_does_not_hide_the_others():
    lr = np.full(8, 0.8)
    lr[5] = 1e4  # stiff: needs far more than max_steps explicit steps
    grid = solve(noise_var=LEVELS, lr=lr, throw=False)
    np.testing.assert_array_equal(grid.result, [0, 0, 0, 0, 0, ode.MAX_STEPS_REACHED, 0, 0])
    assert np.all(np.isnan(grid.mode_strength[5, -1]))
    good = np.delete(np.arange(8), 5)
    ok = solve(noise_var=LEVELS, lr=0.8)
    np.testing.assert_allclose(grid.mode_strength[good], ok.mode_strength[good], rtol=0, atol=1e-9)
    with pytest.raises(RuntimeError, match=r"1 of 8 run\(s\).*batch index \(5,\).*max_steps"):
        solve(noise_var=LEVELS, lr=lr)
    # Under the user's vmap the statuses are per point too, and throw=True still raises.
    user = jax.vmap(lambda nv, a: solve(noise_var=nv, lr=a, throw=False))(jnp.asarray(LEVELS), jnp.asarray(lr))
    np.testing.assert_array_equal(user.result, grid.result)
    with pytest.raises(Exception, match="did not reach"):
        jax.block_until_ready(jax.vmap(lambda nv, a: solve(noise_var=nv, lr=a))(jnp.asarray(LEVELS), jnp.asarray(lr)))


# The values and the gradient of the final losses of a grid, as one program (one compile).
_GRID_LOSS = """
def grid_loss(noise_var, c, w1, w2, lr, ts):
    traj, steps = ode._solve(c, w1, w2, noise_var, 0.0, lr, ts, None, 1e-10, 1e-13, 16384, True, False, None, "eigen")
    return traj.loss[:, -1].sum(), (traj, steps)
"""
exec(_GRID_LOSS)

_SEVERAL_DEVICES = """
import sys
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
from jaxdae import ode
assert jax.device_count() == 3, jax.devices()
z = np.load(sys.argv[1])
""" + _GRID_LOSS + """
grad, (traj, steps) = jax.jit(jax.grad(grid_loss, has_aux=True))(
    z["levels"], z["c"], z["w1"], z["w2"], z["lr"], z["ts"])
np.savez(sys.argv[2], u=traj.mode_strength, w1=traj.weights[0], loss=traj.loss, result=traj.result, steps=steps,
         grad=grad)
"""


def test_grid_spread_over_devices_equals_one_device(tmp_path):
    # 8 points over 3 forced host devices: one padding point, each device a lax.map chunk of 3.
    # The reference is this process's one-device loop (tests run with one CPU device). One
    # compiled program per process: the values and the gradient of the final losses together.
    levels, lr = LEVELS, 0.8
    inputs, outputs = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(inputs, c=C, w1=W1_0, w2=W2_0, levels=levels, lr=lr, ts=TS[:11])
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=3", "JAX_PLATFORMS": "cpu"}
    # The subprocess and this process's reference run side by side (on 2 cores, less wall time).
    proc = subprocess.Popen([sys.executable, "-c", _SEVERAL_DEVICES, str(inputs), str(outputs)], env=env)
    grad, (one, steps) = jax.jit(jax.grad(grid_loss, has_aux=True))(levels, C, W1_0, W2_0, lr, TS[:11])  # noqa: F821
    assert proc.wait(timeout=120) == 0
    several = np.load(outputs)
    np.testing.assert_array_equal(several["result"], 0)
    np.testing.assert_array_equal(several["steps"], steps)
    # Same program per point, so equal to rounding (observed: bit-identical).
    np.testing.assert_allclose(several["u"], one.mode_strength, rtol=0, atol=1e-13)
    np.testing.assert_allclose(several["w1"], one.weights[0], rtol=0, atol=1e-13)
    np.testing.assert_allclose(several["loss"], one.loss, rtol=1e-13, atol=0)
    # Reverse mode through the sharded grid (its backward pass runs the one-device loop).
    np.testing.assert_allclose(several["grad"], grad, rtol=1e-10, atol=0)
    assert np.all(np.abs(grad) > 0.1)


def test_new_values_do_not_recompile(caplog):
    solve(noise_var=0.1, weight_decay=0.01, lr=0.5)
    solve(noise_var=LEVELS, lr=0.7)
    w1, w2 = (np.asarray(w) for w in random_init(jax.random.key(9), D, H, scale=0.1))
    c2 = C + 0.1 * np.eye(D)
    with caplog.at_level(logging.WARNING), jax.log_compiles():
        solve(c2, w1, w2, noise_var=0.4, weight_decay=0.02, lr=0.9, ts=TS * 1.5, rtol=1e-9)
        solve(noise_var=LEVELS[::-1] * 0.5, weight_decay=0.01, lr=0.3)
    compiles = [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]
    assert compiles == []


# --------------------------------------------------------------------------- gradients


def test_gradients_match_finite_differences():
    ts = np.linspace(0.0, 10.0, T)

    def objective(noise_var, weight_decay, lr, c):
        traj = solve(c=c, ts=ts, noise_var=noise_var, weight_decay=weight_decay, lr=lr)
        return jnp.mean(traj.loss) + jnp.sum(traj.mode_strength[-1, :4]) + 0.1 * traj.weight_norm[-1]

    point = (0.2, 0.03, 0.8, jnp.asarray(C))
    grads = jax.grad(objective, argnums=(0, 1, 2, 3))(*point)
    direction = np.random.default_rng(5).normal(size=(D, D))
    direction = (direction + direction.T) / 2

    def fd(i, h):
        def at(step):
            args = list(point)
            args[i] = args[i] + step * (direction if i == 3 else 1.0)
            return float(objective(*args))

        return (at(h) - at(-h)) / (2 * h)

    checks = [(grads[0], fd(0, 1e-4)), (grads[1], fd(1, 1e-4)), (grads[2], fd(2, 1e-4)),
              (jnp.sum(grads[3] * direction), fd(3, 1e-4))]
    for g, ref in checks:
        assert abs(ref) > 1e-3
        assert abs(float(g) - ref) <= 1e-5 * abs(ref)


# --------------------------------------------------------------------------- bad input


BAD = [
    (dict(c=C[:, :-1]), ValueError, "C must be a square"),
    (dict(c=C + np.triu(np.full((D, D), 0.1), 1)), ValueError, "C must be symmetric"),
    (dict(c=np.where(np.eye(D) > 0, np.nan, C)), ValueError, "C must be finite"),
    (dict(c=np.where(np.eye(D) > 0, np.inf, C)), ValueError, "C must be finite"),
    (dict(w1=W1_0[:, :-1]), ValueError, r"W1_0 must have shape \(\.\.\., H, D\) with D = 16"),
    (dict(w2=W2_0[:-1]), ValueError, r"W2_0 must have shape \(\.\.\., D, H\) with D = 16"),
    (dict(w2=W2_0[:, :-1]), ValueError, "must share H"),
    (dict(w1=W1_0[0]), ValueError, "W1_0 must have shape"),
    (dict(w1=np.where(W1_0 > 0.3, np.nan, W1_0)), ValueError, "W1_0 must be finite"),
    (dict(noise_var=-0.1), ValueError, "noise_var must be >= 0 and finite, got -0.1"),
    (dict(noise_var=np.nan), ValueError, "noise_var must be >= 0"),
    (dict(weight_decay=-1.0), ValueError, "weight_decay must be >= 0 and finite, got -1.0"),
    (dict(lr=0.0), ValueError, "lr must be > 0 and finite, got 0.0"),
    (dict(lr=-0.5), ValueError, "lr must be > 0"),
    (dict(lr=np.inf), ValueError, "lr must be > 0"),
    (dict(noise_var=np.zeros(3), lr=np.ones(2)), ValueError, "do not broadcast"),
    (dict(ts=TS[::-1]), ValueError, r"ts must be non-decreasing, got ts\[0\] = 30.0 > ts\[1\]"),
    (dict(ts=TS - 1.0), ValueError, "ts must be >= 0 and finite, got -1.0"),
    (dict(ts=TS.reshape(1, -1)), ValueError, "ts must be a non-empty 1-D array"),
    (dict(ts=np.array([])), ValueError, "ts must be a non-empty 1-D array"),
    (dict(solver=diffrax.Euler()), ValueError, "solver must be an adaptive diffrax solver"),
    (dict(max_steps=0), ValueError, "max_steps must be a positive integer"),
    (dict(rtol=0.0), ValueError, "rtol must be > 0"),
    (dict(basis="rotated"), ValueError, "basis must be 'eigen' or 'input'"),
]


@pytest.mark.parametrize("kwargs,error,match", BAD, ids=[m for _, _, m in BAD])
def test_bad_input_is_a_clear_error(kwargs, error, match):
    with pytest.raises(error, match=match):
        solve(**kwargs)


def test_bad_traced_input_raises_at_run_time():
    levels = jnp.asarray(LEVELS).at[3].set(-0.1)
    with pytest.raises(Exception, match="noise_var must be >= 0"):
        jax.block_until_ready(jax.vmap(lambda nv, a: solve(noise_var=nv, lr=a, throw=False))(levels, jnp.full(8, 0.8)))
