"""Tests of `jaxdae.ode.solve`, the matrix gradient flow, against independent references.

References: the closed form `exact.mode_strength` (aligned balanced start), SciPy's `solve_ivp`
(DOP853, rtol 1e-10) on the flattened literal equations, the conservation law of
W1 W1^T - W2^T W2, full-batch gradient descent written here with `jax.grad` of the expected
loss, and central finite differences.

Every solve at D = 16, H = 8 uses the same shapes (`TS` of length 41, weights saved) so the
whole file compiles the solver only a handful of times. Grids are `jax.vmap` over `ode.solve`
(one point per call) and are checked against loops of single solves.
"""


import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from jaxdae import Spectrum, Status, exact, ode
from jaxdae.initialise import aligned_init, random_init
from tests.helpers import compiles

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
    return ode.solve(c, (w1, w2), t=ts, save_weights=True, **{**TIGHT, **kw})


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
    assert int(traj.status) == Status.SUCCESSFUL
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
    single = ode.solve(C.astype(np.float32), (W1_0.astype(np.float32), W2_0.astype(np.float32)),
                       t=TS.astype(np.float32), **kw)
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
    traj = ode.solve(small, (w1, w2), t=ts, noise_var=0.3, lr=0.5, solver=diffrax.Kvaerno5(), rtol=1e-8, atol=1e-12)
    ref = exact.mode_strength(ts[:, None], np.array([2.0, 0.6]), noise_var=0.3, lr=0.5, u0=1e-6)
    assert int(traj.status) == Status.SUCCESSFUL
    np.testing.assert_allclose(traj.mode_strength[:, :2], ref, rtol=1e-5)


# --------------------------------------------------------------------------- grids and compilation

LEVELS = np.linspace(0.0, 1.0, 8)


def _point(noise_var, lr, throw=False):
    return solve(noise_var=noise_var, lr=lr, throw=throw)


_GRID = jax.jit(jax.vmap(_point))  # one compiled program for every (noise_var, lr) grid of 8 points


def test_vmap_over_noise_equals_separate_solves():
    separate = [solve(noise_var=float(s), lr=0.8) for s in LEVELS]
    grid = _GRID(jnp.asarray(LEVELS), jnp.full(8, 0.8))
    assert grid.mode_strength.shape == (8, T, D)
    assert grid.t.shape == (8, T) and grid.status.shape == (8,) and grid.stats["num_steps"].shape == (8,)
    assert grid.weights[0].shape == (8, T, H, D)
    np.testing.assert_array_equal(grid.status, Status.SUCCESSFUL)
    # Each point keeps its own step sizes: the same steps and, to rounding, the same values.
    np.testing.assert_array_equal(grid.stats["num_steps"], [int(r.stats["num_steps"]) for r in separate])
    u = np.stack([np.asarray(r.mode_strength) for r in separate])
    np.testing.assert_allclose(grid.mode_strength, u, rtol=0, atol=1e-12)
    np.testing.assert_allclose(grid.weights[1], np.stack([r.weights[1] for r in separate]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(grid.loss, np.stack([r.loss for r in separate]), rtol=1e-12, atol=0)
    # The noise matters: the levels' fixed points differ.
    assert np.ptp(u[:, -1, 0]) > 0.1


def test_vmap_on_cpu_solves_point_by_point():
    # The documented CPU policy: under vmap the adaptive solve runs inside a loop over the points
    # (a scan around diffrax's while loop), not as one lockstep batched while loop.
    assert jax.default_backend() == "cpu"
    text = str(jax.make_jaxpr(jax.vmap(_point))(jnp.asarray(LEVELS), jnp.full(8, 0.8)))
    assert text.count("scan[") >= 1 and "while[" in text


def test_nested_vmap_over_init_and_noise():
    keys = jax.random.split(jax.random.key(3), 4)
    w1s, w2s = jax.vmap(lambda k: random_init(k, D, H, scale=0.2))(keys)
    inner = jax.vmap(lambda w1, w2, nv: solve(w1=w1, w2=w2, noise_var=nv, lr=0.8), in_axes=(0, 0, None))
    grid = jax.vmap(inner, in_axes=(None, None, 0))(w1s, w2s, jnp.array([0.1, 0.6]))
    assert grid.mode_strength.shape == (2, 4, T, D) and grid.status.shape == (2, 4)
    np.testing.assert_array_equal(grid.status, Status.SUCCESSFUL)
    ref = solve(w1=np.asarray(w1s[2]), w2=np.asarray(w2s[2]), noise_var=0.6, lr=0.8)
    np.testing.assert_allclose(grid.mode_strength[1, 2], ref.mode_strength, rtol=0, atol=1e-12)
    assert int(grid.stats["num_steps"][1, 2]) == int(ref.stats["num_steps"])


def test_failing_point_does_not_hide_the_others():
    lr = np.full(8, 0.8)
    lr[5] = 1e4  # stiff: needs far more than max_steps explicit steps
    grid = _GRID(jnp.asarray(LEVELS), jnp.asarray(lr))
    expected = [Status.SUCCESSFUL] * 8
    expected[5] = Status.MAX_STEPS_REACHED
    np.testing.assert_array_equal(grid.status, expected)
    assert int(grid.stats["num_steps"][5]) == 16384
    assert np.all(np.isnan(grid.mode_strength[5, -1])) and np.all(np.isnan(grid.loss[5, -1]))
    good = np.delete(np.arange(8), 5)
    ok = _GRID(jnp.asarray(LEVELS), jnp.full(8, 0.8))
    np.testing.assert_allclose(grid.mode_strength[good], ok.mode_strength[good], rtol=0, atol=1e-12)
    assert np.all(np.isfinite(grid.mode_strength[good]))
    # One point, concrete: a RuntimeError that says what happened and what to do.
    with pytest.raises(RuntimeError, match=r"jaxdae.ode.solve: 1 of 1 run\(s\) failed.*max_steps.*throw=False"):
        solve(noise_var=LEVELS[5], lr=1e4)
    # Under the user's vmap, throw=True raises at run time.
    with pytest.raises(Exception, match="jaxdae.ode.solve: a run did not succeed"):
        jax.block_until_ready(jax.vmap(lambda nv, a: _point(nv, a, throw=True))(jnp.asarray(LEVELS), jnp.asarray(lr)))


def test_new_values_do_not_recompile():
    solve(noise_var=0.1, weight_decay=0.01, lr=0.5)
    _GRID(jnp.asarray(LEVELS), jnp.full(8, 0.7))
    w1, w2 = (np.asarray(w) for w in random_init(jax.random.key(9), D, H, scale=0.1))
    c2 = C + 0.1 * np.eye(D)
    levels, lrs = jnp.asarray(LEVELS[::-1] * 0.5), jnp.full(8, 0.3)

    def again():
        solve(c2, w1, w2, noise_var=0.4, weight_decay=0.02, lr=0.9, ts=TS * 1.5, rtol=1e-9)
        _GRID(levels, lrs)

    assert compiles(again) == []


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


def _final_loss(noise_var, lr=0.8):
    return solve(ts=TS[:11], noise_var=noise_var, lr=lr).loss[-1]


def test_vmap_of_grad_equals_the_loop_of_grads():
    # The gradient itself is checked against finite differences above; here its batching.
    levels = jnp.asarray(LEVELS[:4])
    grad = jax.grad(_final_loss)
    batched = jax.jit(jax.vmap(grad))(levels)
    loop = np.array([float(grad(s)) for s in levels])
    assert np.all(np.abs(loop) > 1e-2) and np.ptp(loop) > 1e-2
    np.testing.assert_allclose(batched, loop, rtol=1e-12, atol=0)


def test_forward_mode_adjoint_gives_jvp():
    def loss(noise_var):
        return solve(ts=TS[:11], noise_var=noise_var, lr=0.8, adjoint=diffrax.ForwardMode()).loss[-1]

    # The reference: the reverse-mode gradient of the same loss (a scalar input, so jvp = grad).
    _, tangent = jax.jvp(loss, (LEVELS[2],), (1.0,))
    np.testing.assert_allclose(tangent, jax.grad(_final_loss)(LEVELS[2]), rtol=1e-9)


# --------------------------------------------------------------------------- bad input


BAD = [
    (dict(c=C[:, :-1]), ValueError, "C must be a square"),
    (dict(c=C + np.triu(np.full((D, D), 0.1), 1)), ValueError, "C must be symmetric"),
    (dict(c=np.where(np.eye(D) > 0, np.nan, C)), ValueError, "C must be finite"),
    (dict(c=np.where(np.eye(D) > 0, np.inf, C)), ValueError, "C must be finite"),
    (dict(w1=W1_0[:, :-1]), ValueError, r"init\[0\] \(W1\) must have shape \(H, D\) with D = 16"),
    (dict(w2=W2_0[:-1]), ValueError, r"init\[1\] \(W2\) must have shape \(D, H\) with D = 16"),
    (dict(w2=W2_0[:, :-1]), ValueError, "must share H"),
    (dict(w1=W1_0[0]), ValueError, r"init\[0\] \(W1\) must have shape"),
    (dict(w1=np.stack([W1_0, W1_0])), ValueError, r"init\[0\] \(W1\) must have shape \(H, D\)"),
    (dict(w1=np.where(W1_0 > 0.3, np.nan, W1_0)), ValueError, r"init\[0\] \(W1\) must be finite"),
    (dict(noise_var=-0.1), ValueError, "noise_var must be >= 0 and finite, got -0.1"),
    (dict(noise_var=np.nan), ValueError, "noise_var must be >= 0"),
    (dict(weight_decay=-1.0), ValueError, "weight_decay must be >= 0 and finite, got -1.0"),
    (dict(lr=0.0), ValueError, "lr must be > 0 and finite, got 0.0"),
    (dict(lr=-0.5), ValueError, "lr must be > 0"),
    (dict(lr=np.inf), ValueError, "lr must be > 0"),
    (dict(noise_var=np.zeros(3)), ValueError, r"noise_var must be a scalar .*jax.vmap.*got shape \(3,\)"),
    (dict(lr=np.ones(2)), ValueError, r"lr must be a scalar"),
    (dict(ts=TS[::-1]), ValueError, r"t must be non-decreasing, got t\[0\] = 30.0 > t\[1\]"),
    (dict(ts=TS - 1.0), ValueError, "t must be >= 0 and finite, got -1.0"),
    (dict(ts=TS.reshape(1, -1)), ValueError, "t must be a non-empty 1-D array"),
    (dict(ts=np.array([])), ValueError, "t must be a non-empty 1-D array"),
    (dict(solver=diffrax.Euler()), ValueError, "solver must be an adaptive diffrax solver"),
    (dict(adjoint="checkpoint"), ValueError, "adjoint must be a diffrax adjoint"),
    (dict(max_steps=0), ValueError, "max_steps must be an integer >= 1, got 0"),
    (dict(max_steps=2.5), ValueError, "max_steps must be an integer >= 1, got 2.5"),
    (dict(rtol=0.0), ValueError, "rtol must be > 0"),
    (dict(atol=-1e-9), ValueError, "atol must be > 0"),
    (dict(basis="rotated"), ValueError, "basis must be one of 'eigen', 'input', got 'rotated'"),
]


@pytest.mark.parametrize("kwargs,error,match", BAD, ids=[m for _, _, m in BAD])
def test_bad_input_is_a_clear_error(kwargs, error, match):
    with pytest.raises(error, match=match):
        solve(**kwargs)


def test_bad_traced_input_raises_at_run_time():
    levels = jnp.asarray(LEVELS).at[3].set(-0.1)
    with pytest.raises(Exception, match="noise_var must be >= 0"):
        jax.block_until_ready(jax.vmap(lambda nv, a: solve(noise_var=nv, lr=a, throw=False))(levels, jnp.full(8, 0.8)))


@pytest.mark.parametrize("init", [W1_0, (W1_0,), [W1_0, W2_0, W2_0]], ids=["array", "one", "three"])
def test_init_must_be_a_pair(init):
    with pytest.raises(ValueError, match=r"init must be a pair \(W1, W2\)"):
        ode.solve(C, init, t=TS)
