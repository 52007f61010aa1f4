"""`jaxdae.exact` against independent references: SciPy integration at rtol 1e-13, plain loops,
finite differences, and the paper's own formula in the sum convention (mpmath, 40 digits)."""

from __future__ import annotations

import functools

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from hypothesis import given, settings

import jaxdae
from tests.helpers import compiles
from jaxdae import exact

from . import reference

# (t, lam, noise_var, weight_decay, lr, u0): ordinary points and every hard regime of the issue.
BALANCED = [
    (10.0, 1.0, 0.0, 0.0, 0.1, 1e-6),
    (100.0, 1.0, 0.5, 0.0, 0.1, 1e-6),
    (1e3, 2.5, 1.8, 0.0, 0.01, 1e-6),
    (1e4, 0.5, 0.2, 0.0, 0.01, 1e-6),
    (1e12, 1.0, 0.5, 0.0, 1.0, 1e-6),  # huge horizon
    (1e12, 1e4, 1e4, 0.0, 1e-4, 1e-30),  # huge horizon, largest eigenvalue and noise, tiny start
    (50.0, 1.0, 0.0, 0.0, 1.0, 1e-30),  # tiny start, learned
    (30.0, 1.0, 0.25, 0.0, 1.0, 1e-30),  # tiny start, mid-transition
    (1e9, 1e-8, 0.0, 0.0, 1.0, 1e-6),  # smallest eigenvalue
    (1e6, 1e-8, 1e-8, 0.0, 1.0, 1e-6),
    (1e-3, 1e4, 0.0, 0.0, 1.0, 1e-6),  # largest eigenvalue
    (0.01, 1e4, 1e4, 0.0, 0.1, 0.3),
    (100.0, 1.0, 0.5, 1.0, 0.1, 0.3),  # lam == weight_decay: algebraic decay
    (1e6, 0.5, 0.0, 0.5, 1.0, 1e-6),
    (10.0, 0.5, 0.1, 1.0, 0.5, 0.2),  # lam < weight_decay: exponential decay
    (1e4, 1.0, 1e4, 1e4, 1e-4, 0.5),
    (1e3, 1.0, 1e4, 0.0, 1e-3, 1e-6),  # noise 1e4
    (20.0, 1.0, 1.0, 0.0, 0.1, 2.0),  # start above the fixed point
    (0.0, 1.0, 0.5, 0.1, 0.1, 1e-6),  # t = 0
    (500.0, 1.0, 0.0, 0.1, 0.01, 1e-4),  # WDAE
    (300.0, 0.7, 0.0, 0.7 * 0.4 / 1.1, 0.05, 1e-6),  # WDAE with gamma_eq
    (1e6, 1.0, 0.1, 1.0 - 2.0**-20, 1.0, 0.01),  # lam - weight_decay = 2^-20
    (10.0, 0.0, 0.5, 0.0, 1.0, 0.3),  # lam = 0: algebraic decay by noise
    (10.0, 0.0, 0.0, 0.0, 1.0, 0.3),  # nothing acts: constant
    (7.0, 1.0, 0.5, 0.1, 0.1, 0.0),  # u0 = 0 stays 0
]

# (t, lam, w1, w2 (the initial weights), noise_var, weight_decay, lr)
UNBALANCED = [
    (100.0, 1.0, 0.3, 0.9, 0.25, 0.0, 0.1),
    (100.0, 1.0, -0.5, 0.2, 0.25, 0.0, 0.1),  # u0 < 0 crosses zero
    (100.0, 1.0, 0.3, -0.3, 0.25, 0.0, 0.1),  # anti-balanced: decays to 0
    (1e12, 2.0, 0.3, 0.9, 0.5, 0.0, 1.0),  # the theta-form overflows here
    (50.0, 1.0, 1e-3, 1e-3 * (1 + 1e-6), 0.5, 0.0, 0.2),  # nearly balanced
    (20.0, 1.0, 0.3, 0.9, 0.25, 0.1, 0.1),  # weight decay, unbalanced (integrated)
    (1e3, 0.5, 0.05, 0.9, 0.1, 1.0, 0.01),  # lam < weight_decay, unbalanced
    (100.0, 1.0, 0.3, 0.9, 0.1, 1.0, 0.1),  # lam == weight_decay, unbalanced
    (1e12, 1.0, 0.3, 0.9, 0.25, 0.1, 1.0),  # weight decay, huge horizon
    (40.0, 1.0, 1e-15, 2e-15, 0.5, 0.05, 1.0),  # tiny unbalanced start with weight decay
    (100.0, 1.0, 0.3, 0.3, 0.25, 0.3, 0.1),  # balanced with weight decay (closed form)
    (1e3, 1e-3, 0.01, 0.04, 1e-3, 0.0, 1.0),
    (1.0, 1e4, 0.01, 0.02, 1e4, 0.0, 1e-3),
    (1000.0, 1.0, 3.0, 0.6, 1.0, 1e-3, 1.0),  # large imbalance, small weight decay, long horizon
    (1000.0, 1.0, 3.0, -9.0, 0.0, 1e-3, 1.0),
    (1.0, 1e4, 0.8, -0.6, 1.0, 0.5, 1.0),  # stiff: largest eigenvalue with weight decay
]


def _round(dtype, *xs):
    return tuple(float(np.asarray(x, dtype)) for x in xs)


@functools.lru_cache(maxsize=None)
def _ref_balanced(point):
    return reference.balanced(*point)


@functools.lru_cache(maxsize=None)
def _ref_unbalanced(point):
    t, lam, w1, w2, sig, gam, lr = point
    return reference.unbalanced(t, lam, w1, w2, sig, gam, lr)


TOL = {np.float64: (1e-9, 1e-15), np.float32: (1e-4, 1e-6)}  # (relative, absolute near 0)


def _assert_close(got, want, dtype, what):
    rtol, atol = TOL[dtype]
    err = abs(got - want)
    assert np.isfinite(got), what
    assert err <= rtol * abs(want) + atol, f"{what}: got {got!r}, reference {want!r}, rel err {err / max(abs(want), 1e-300):.2e}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_balanced_matches_integration(dtype):
    points = [_round(dtype, *p) for p in BALANCED]
    cols = [np.asarray(c, dtype) for c in zip(*points)]
    t, lam, sig, gam, lr, u0 = cols
    got = np.asarray(exact.mode_strength(t, lam, noise_var=sig, weight_decay=gam, lr=lr, u0=u0))
    assert got.dtype == dtype
    for g, p in zip(got, points):
        _assert_close(float(g), _ref_balanced(p), dtype, f"balanced {p}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unbalanced_matches_integration(dtype):
    points = [_round(dtype, *p) for p in UNBALANCED]
    cols = [np.asarray(c, dtype) for c in zip(*points)]
    t, lam, w1, w2, sig, gam, lr = cols
    got = np.asarray(exact.mode_strength_unbalanced(t, lam, (w1, w2), noise_var=sig, weight_decay=gam, lr=lr))
    assert got.dtype == dtype
    for g, p in zip(got, points):
        scale = max(abs(p[2] * p[3]), float(exact.fixed_point(p[1], p[4], p[5])))
        want = _ref_unbalanced(p)
        rtol, atol = TOL[dtype]
        # The weight-decay points are integrated by the library too (to rtol 1e-12 / 1e-5).
        if p[5] > 0 and abs(p[2]) != abs(p[3]) and dtype == np.float64:
            rtol = 1e-9
        assert abs(float(g) - want) <= rtol * abs(want) + atol * max(scale, 1.0), (p, float(g), want)


def test_reference_cases_cover_the_issue_regimes():
    """At least 30 points, spanning the ranges the issue names."""
    assert len(BALANCED) + len(UNBALANCED) >= 30
    t = [p[0] for p in BALANCED]
    assert max(t) >= 1e12 and min(t) == 0
    assert min(p[5] for p in BALANCED if p[5] > 0) <= 1e-30
    assert any(p[1] == p[3] for p in BALANCED) and any(p[1] < p[3] for p in BALANCED)


# --------------------------------------------------------------------------- float32 robustness


def _hard_grid(dtype):
    t = np.array([0, 1, 1e3, 1e6, 1e12], dtype)[:, None, None, None, None]
    u0 = np.array([1e-30, 1e-6, 0.5, 10.0], dtype)[None, :, None, None, None]
    lam = np.array([1e-8, 1e-3, 1.0, 1e4], dtype)[None, None, :, None, None]
    sig = np.array([0, 1.0, 1e4], dtype)[None, None, None, :, None]
    gam_rel = np.array([0, 1e-8, 1.0, 1e4], dtype)[None, None, None, None, :]
    return t, u0, lam, sig, gam_rel


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_nan_or_inf_on_hard_grid(dtype):
    t, u0, lam, sig, gam = _hard_grid(dtype)
    for weight_decay in (gam, np.broadcast_to(lam, np.broadcast_shapes(lam.shape, gam.shape))):
        u = np.asarray(exact.mode_strength(t, lam, noise_var=sig, weight_decay=weight_decay, lr=1.0, u0=u0))
        assert u.dtype == dtype
        assert np.all(np.isfinite(u))
        bound = np.maximum(u0, np.asarray(exact.fixed_point(lam, sig, weight_decay)))
        assert np.all(u >= 0) and np.all(u <= bound * (1 + 1e-5))
    w = np.sqrt(u0)
    u = np.asarray(exact.mode_strength_unbalanced(t, lam, (w, -0.5 * w), noise_var=sig, lr=1.0))
    assert np.all(np.isfinite(u))


def test_float32_unbalanced_hard_grid_is_finite():
    t = np.array([0, 1, 1e3, 1e12], np.float32)[:, None, None, None, None]
    lam = np.array([1e-8, 1.0, 1e4], np.float32)[None, :, None, None, None]
    sig = np.array([0.0, 1e4], np.float32)[None, None, :, None, None]
    gam = np.array([0.0, 1.0, 1e4], np.float32)[None, None, None, :, None]
    w1 = np.array([1e-15, 1e-3, 0.5], np.float32)[None, None, None, None, :]
    u = np.asarray(exact.mode_strength_unbalanced(t, lam, (w1, np.float32(-3.0) * w1), noise_var=sig, weight_decay=gam, lr=np.float32(1.0)))
    assert u.dtype == np.float32 and np.all(np.isfinite(u))
    bound = np.maximum(3 * w1 * w1, np.asarray(exact.fixed_point(lam, sig, gam)))
    assert np.all(np.abs(u) <= bound * (1 + 1e-4))


def test_float32_unbalanced_weight_decay_finite_at_huge_horizon():
    t = np.array([0, 1, 1e3, 1e6, 1e12], np.float32)
    lam = np.array([1e-3, 1.0, 1e4], np.float32)[:, None]
    u = np.asarray(exact.mode_strength_unbalanced(t, lam, (np.float32(0.1), np.float32(0.7)), noise_var=np.float32(1.0), weight_decay=np.float32(0.5), lr=np.float32(1.0)))
    assert u.dtype == np.float32 and np.all(np.isfinite(u))
    fp = np.asarray(exact.fixed_point(lam[:, 0], 1.0, 0.5))
    np.testing.assert_allclose(u[:, -1], fp, atol=1e-5)


# --------------------------------------------------------------------------- properties

_ts = jnp.linspace(0.0, 400.0, 64)


@settings(max_examples=60, deadline=None)
@given(
    lam=st.floats(1e-3, 10.0),
    sig=st.floats(0.0, 10.0),
    gam_frac=st.floats(0.0, 0.9),
    lr=st.floats(1e-3, 1.0),
    rho=st.floats(1e-12, 0.999),
)
def test_monotone_and_bounded_below_fixed_point(lam, sig, gam_frac, lr, rho):
    gam = gam_frac * lam
    fp = float(exact.fixed_point(lam, sig, gam))
    u0 = rho * fp
    u = np.asarray(exact.mode_strength(_ts, lam, noise_var=sig, weight_decay=gam, lr=lr, u0=u0))
    assert u[0] == pytest.approx(u0, rel=1e-14)
    assert np.all(np.diff(u) >= -1e-15 * fp)
    assert np.all(u > 0) and np.all(u <= fp * (1 + 1e-13))
    far = float(exact.mode_strength(1e15, lam, noise_var=sig, weight_decay=gam, lr=lr, u0=u0))
    assert far == pytest.approx(fp, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    lam=st.floats(1e-3, 10.0),
    sig=st.floats(0.0, 10.0),
    gam=st.floats(0.0, 10.0),
    lr=st.floats(1e-3, 1.0),
    w=st.floats(1e-6, 3.0),
)
def test_balanced_limit_of_unbalanced_form(lam, sig, gam, lr, w):
    kw = dict(noise_var=sig, weight_decay=gam, lr=lr)
    bal = np.asarray(exact.mode_strength(_ts, lam, u0=w * w, **kw))
    unb = np.asarray(exact.mode_strength_unbalanced(_ts, lam, (w, w), **kw))
    np.testing.assert_allclose(unb, bal, rtol=1e-11, atol=1e-300)


def test_nearly_balanced_unbalanced_form_is_continuous():
    kw = dict(noise_var=0.5, lr=0.1)
    bal = float(exact.mode_strength(50.0, 1.0, u0=1e-4, **kw))
    for eps in (1e-6, 1e-9, 1e-12):
        w = 1e-2
        near = float(exact.mode_strength_unbalanced(50.0, 1.0, (w * (1 + eps), w), **kw))
        assert abs(near - bal) <= 10 * eps * bal


# --------------------------------------------------------------------------- autodiff

_POINT = dict(t=40.0, lam=0.8, noise_var=0.3, weight_decay=0.1, lr=0.2, u0=1e-3)


def _central(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("name", list(_POINT))
def test_grad_balanced_matches_finite_differences(name):
    def f(x):
        kw = dict(_POINT, **{name: x})
        t, lam = kw.pop("t"), kw.pop("lam")
        return exact.mode_strength(t, lam, **kw)

    x0 = _POINT[name]
    g = float(jax.grad(f)(x0))
    fd = float(_central(f, x0, 1e-6 * max(abs(x0), 1e-3)))
    assert np.isfinite(g)
    assert g == pytest.approx(fd, rel=1e-6, abs=1e-10)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_grad_unbalanced_matches_finite_differences(weight_decay):
    args = np.array([30.0, 0.8, 0.1, 0.5, 0.3, weight_decay, 0.2])

    def f(v):
        t, lam, w1, w2, sig, gam, lr = v
        return exact.mode_strength_unbalanced(t, lam, (w1, w2), noise_var=sig, weight_decay=gam, lr=lr)

    g = np.asarray(jax.grad(f)(jnp.asarray(args)))
    for i in range(len(args)):
        if weight_decay == 0.0 and i == 5:
            continue  # the gamma = 0 point is the kink of the piecewise solver choice
        e = np.zeros_like(args)
        h = 1e-6 * max(abs(args[i]), 1e-2)
        e[i] = h
        fd = (float(f(jnp.asarray(args + e))) - float(f(jnp.asarray(args - e)))) / (2 * h)
        assert g[i] == pytest.approx(fd, rel=1e-5, abs=1e-8), i


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_finite_on_hard_grid(dtype):
    """Gradients with respect to every argument stay finite across the whole hard grid."""
    t, u0, lam, sig, gam = _hard_grid(dtype)
    args = [jnp.asarray(x) for x in (t, lam, sig, gam, np.asarray(1.0, dtype), u0)]

    def total(*a):
        return jnp.sum(exact.mode_strength(a[0], a[1], noise_var=a[2], weight_decay=a[3], lr=a[4], u0=a[5]))

    grads = jax.grad(total, argnums=range(6))(*args)
    for name, g in zip(("t", "lam", "noise_var", "weight_decay", "lr", "u0"), grads):
        assert g.dtype == dtype and np.all(np.isfinite(np.asarray(g))), name


def test_start_at_fixed_point_stays_there_with_finite_gradient():
    for dtype in (np.float32, np.float64):
        one, half = np.asarray(1.0, dtype), np.asarray(0.5, dtype)
        u = exact.mode_strength(jnp.asarray([0.0, 3.0, 1e6], dtype), one, noise_var=one, u0=half)
        np.testing.assert_array_equal(np.asarray(u), 0.5)
        g = jax.grad(lambda x: exact.mode_strength(3.0, one, noise_var=one, u0=x))(half)
        assert np.isfinite(float(g))


def test_grad_unbalanced_float32_finite_through_the_decay_path():
    for w1, w2, gam in ((0.1, -0.1, 0.0), (0.1, -0.1, 0.1), (0.0, 0.0, 0.0), (0.3, 0.9, 0.1)):
        f = lambda w: exact.mode_strength_unbalanced(np.float32(5.0), np.float32(1.0), (w, np.float32(w2)), noise_var=np.float32(0.5), weight_decay=np.float32(gam))  # noqa: E731
        g = jax.grad(f)(np.float32(w1))
        assert g.dtype == np.float32 and np.isfinite(float(g)), (w1, w2, gam)


def test_grad_finite_at_edge_cases():
    """Double-where guards: gradients at t = 0, lam == weight_decay and u0 = 0 are finite."""
    for kw in (dict(t=0.0), dict(weight_decay=0.8), dict(u0=0.0), dict(noise_var=0.0, lam=0.0, weight_decay=0.0)):
        p = dict(_POINT, **kw)
        t, lam = p.pop("t"), p.pop("lam")
        grads = jax.grad(lambda *a: exact.mode_strength(*a[:2], noise_var=a[2], weight_decay=a[3], lr=a[4], u0=a[5]), argnums=range(6))(
            t, lam, p["noise_var"], p["weight_decay"], p["lr"], p["u0"]
        )
        assert all(np.isfinite(float(g)) for g in grads), kw
    g = jax.grad(lambda w: exact.mode_strength_unbalanced(10.0, 1.0, (w, w), noise_var=0.5))(0.0)
    assert np.isfinite(float(g))


# --------------------------------------------------------------------------- transformations


def test_jit_vmap_broadcast_identical():
    t = jnp.linspace(0.0, 200.0, 17)
    lam = jnp.asarray([2.0, 1.0, 0.5, 0.1])
    sig = jnp.asarray([0.0, 0.3, 1.0])
    kw = dict(weight_decay=0.05, lr=0.1, u0=1e-4)
    direct = exact.mode_strength(t[:, None, None], lam[None, :, None], noise_var=sig, **kw)
    jitted = jax.jit(lambda t, l, s: exact.mode_strength(t, l, noise_var=s, **kw))(t[:, None, None], lam[None, :, None], sig)
    mapped = jax.vmap(
        jax.vmap(jax.vmap(lambda t, l, s: exact.mode_strength(t, l, noise_var=s, **kw), (None, None, 0)), (None, 0, None)),
        (0, None, None),
    )(t, lam, sig)
    assert direct.shape == (17, 4, 3)
    np.testing.assert_allclose(jitted, direct, rtol=4e-16, atol=0)
    np.testing.assert_allclose(mapped, direct, rtol=4e-16, atol=0)


def test_no_recompile_when_only_values_change():
    traces = []

    @jax.jit
    def f(t, lam, sig, gam, lr, u0):
        traces.append(1)
        return exact.mode_strength(t, lam, noise_var=sig, weight_decay=gam, lr=lr, u0=u0)

    args = [jnp.linspace(0, 10, 5), jnp.ones(3)[:, None], 0.1, 0.01, 0.1, 1e-3]
    f(*args).block_until_ready()
    new = [args[0] * 2, args[1] * 3, 0.7, 0.2, 0.05, 1e-5]
    assert compiles(lambda: f(*new)) == []
    assert len(traces) == 1
    # The concrete path reuses its compiled kernel too: no compilation for new values.
    exact.mode_strength(jnp.linspace(0, 10, 5), 1.0, noise_var=0.1, u0=1e-3)
    t2 = jnp.linspace(0, 20, 5)
    assert compiles(lambda: exact.mode_strength(t2, 3.0, noise_var=0.9, u0=1e-5)) == []


def test_dtype_follows_inputs():
    for dtype in (np.float32, np.float64):
        x = np.asarray(1.0, dtype)
        assert exact.mode_strength(x, x, noise_var=0.5).dtype == dtype
        assert exact.mode_strength_unbalanced(x, x, (x, x * 0.5)).dtype == dtype
        assert exact.fixed_point(x, 0.5).dtype == dtype
        assert exact.time_to_fraction(0.9, x, u0=1e-6).dtype == dtype


# --------------------------------------------------------------------------- discrete map


DISCRETE = [
    (1.0, 0.3, 0.9, 0.25, 0.0, 0.1),
    (1.0, -0.5, 0.2, 0.25, 0.1, 0.3),
    (0.5, 0.01, 0.01, 1.0, 0.0, 0.6),
    (2.0, 0.3, 0.3, 0.5, 0.4, 0.45),  # near the stability limit 1/max(lam - gamma, gamma)
    (0.3, 0.1, 0.7, 0.1, 0.6, 0.5),  # lam < weight_decay
]


def test_discrete_matches_plain_iteration():
    steps = np.array([0, 1, 7, 50, 300])
    for lam, w1, w2, sig, gam, lr in DISCRETE:
        got = np.asarray(exact.mode_strength_discrete(steps, lam, init=(w1, w2), noise_var=sig, weight_decay=gam, lr=lr))
        want = np.array([reference.gd_iterate(n, lam, w1, w2, sig, gam, lr) for n in steps])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_discrete_per_point_steps_and_broadcasting():
    steps = np.array([3, 40, 200])
    lam = np.array([1.0, 0.5, 0.2])
    got = np.asarray(exact.mode_strength_discrete(steps, lam, init=(0.1, 0.1), noise_var=0.2, lr=0.3))
    want = [reference.gd_iterate(n, l, 0.1, 0.1, 0.2, 0.0, 0.3) for n, l in zip(steps, lam)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    grid = np.asarray(exact.mode_strength_discrete(steps[:, None], lam, init=(0.1, 0.1), noise_var=0.2, lr=0.3))
    assert grid.shape == (3, 3)
    np.testing.assert_allclose(np.diagonal(grid), want, rtol=1e-12)


def test_discrete_converges_to_continuous_linearly_in_lr():
    lam, sig, gam, w1, w2, s = 1.0, 0.5, 0.1, 0.05, 0.2, 6.0
    errs = []
    for lr in (0.02, 0.01, 0.005, 0.0025):
        n = int(round(s / lr))
        d = float(exact.mode_strength_discrete(n, lam, init=(w1, w2), noise_var=sig, weight_decay=gam, lr=lr))
        c = reference.unbalanced(n, lam, w1, w2, sig, gam, lr)
        errs.append(abs(d - c))
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    assert np.all(np.abs(ratios - 2) < 0.1), ratios


def test_discrete_traced_step_needs_steps():
    f = jax.jit(lambda n: exact.mode_strength_discrete(n, 1.0, init=(0.1, 0.1), lr=0.1, steps=64))
    assert float(f(10)) == pytest.approx(reference.gd_iterate(10, 1.0, 0.1, 0.1, lr=0.1), rel=1e-13)
    with pytest.raises(ValueError, match="pass steps"):
        jax.jit(lambda n: exact.mode_strength_discrete(n, 1.0, init=(0.1, 0.1)))(10)
    with pytest.raises(Exception, match="step must be <= steps = 64"):
        f(65).block_until_ready()
    with pytest.raises(TypeError, match="integer dtype"):
        jax.jit(lambda n: exact.mode_strength_discrete(n, 1.0, init=(0.1, 0.1), steps=8))(2.7)
    g = jax.grad(lambda lam: exact.mode_strength_discrete(20, lam, init=(0.1, 0.1), lr=0.1))(1.0)
    fd = (reference.gd_iterate(20, 1 + 1e-6, 0.1, 0.1, lr=0.1) - reference.gd_iterate(20, 1 - 1e-6, 0.1, 0.1, lr=0.1)) / 2e-6
    assert float(g) == pytest.approx(fd, rel=1e-6)


# --------------------------------------------------------------------------- closed forms


def test_fixed_point_and_equivalent_weight_decay():
    lam = np.array([2.5, 1.0, 0.5, 0.3])
    sig = np.array([0.2, 1.0, 1.8, 0.0])
    fp_dae = np.asarray(exact.fixed_point(lam, sig))
    fp_ref = [reference.balanced(1e9, l, s, 0.0, 1.0, 0.1) for l, s in zip(lam, sig)]
    np.testing.assert_allclose(fp_dae, fp_ref, rtol=1e-12)
    gam = np.asarray(exact.equivalent_weight_decay(lam, sig))
    wdae_ref = [reference.balanced(1e9, l, 0.0, g, 1.0, 0.1) for l, g in zip(lam, gam)]
    np.testing.assert_allclose(wdae_ref, fp_ref, rtol=1e-12)
    assert float(exact.fixed_point(0.5, 0.1, 0.7)) == 0.0
    assert float(exact.fixed_point(0.0, 0.0, 0.0)) == 0.0


def _first_hitting_time(target, lam, sig, gam, lr, u0):
    """Bisection on the integrated trajectory: an independent time-to-target."""
    lo, hi = 0.0, 1.0
    while reference.balanced(hi, lam, sig, gam, lr, u0) < target:
        hi *= 2
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if reference.balanced(mid, lam, sig, gam, lr, u0) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@pytest.mark.parametrize("lam,sig,gam,frac,u0", [(1.0, 0.5, 0.0, 0.9, 1e-6), (0.5, 0.0, 0.2, 0.99, 1e-3), (2.5, 1.8, 0.3, 0.5, 1e-9)])
def test_time_to_fraction_matches_root_finding(lam, sig, gam, frac, u0):
    lr = 0.1
    got = float(exact.time_to_fraction(frac, lam, noise_var=sig, weight_decay=gam, lr=lr, u0=u0))
    target = frac * float(exact.fixed_point(lam, sig, gam))
    want = _first_hitting_time(target, lam, sig, gam, lr, u0)
    assert got == pytest.approx(want, rel=1e-8)


def test_dae_speedup_is_the_ratio_of_times():
    lam, sig = 0.7, 0.9
    gam = float(exact.equivalent_weight_decay(lam, sig))
    t_dae = _first_hitting_time(0.9 * lam / (lam + sig), lam, sig, 0.0, 0.1, 1e-6)
    t_wdae = _first_hitting_time(0.9 * (lam - gam) / lam, lam, 0.0, gam, 0.1, 1e-6)
    assert float(exact.dae_speedup(lam, sig)) == pytest.approx(t_wdae / t_dae, rel=1e-8)


def test_time_to_fraction_zero_when_already_there():
    assert float(exact.time_to_fraction(0.5, 1.0, u0=0.9)) == 0.0


# --------------------------------------------------------------------------- paper notation


def test_converter_reproduces_papers_formula():
    """docs/derivations.md section 4: u = a E / (xi (E - 1) + a / u0), E = exp(2 (lam - g) t / tau), sum convention."""
    mpmath.mp.dps = 40
    cases = [
        dict(n=1797, sigma_eig=1797 * 0.7, eps=1797 * 0.2, g=0.0, lr=0.01, t=600.0, u0=1e-6),
        dict(n=50000, sigma_eig=50000 * 1.3, eps=0.0, g=50000 * 0.5, lr=0.01, t=2000.0, u0=1e-4),
        dict(n=30000, sigma_eig=30000 * 2.0, eps=30000 * 0.5, g=30000 * 0.3, lr=0.001, t=3000.0, u0=1e-3),
    ]
    for c in cases:
        tau = c["n"] / c["lr"]
        p = jaxdae.from_paper(n_samples=c["n"], sigma_eig=c["sigma_eig"], eps=c["eps"], g=c["g"], tau=tau)
        got = float(exact.mode_strength(c["t"], p.lam, noise_var=p.noise_var, weight_decay=p.weight_decay, lr=p.lr, u0=c["u0"]))
        lam, eps, g, u0 = (mpmath.mpf(c[k]) for k in ("sigma_eig", "eps", "g", "u0"))
        a, xi = lam - g, lam + eps
        big_e = mpmath.exp(2 * a * c["t"] / mpmath.mpf(tau))
        want = a * big_e / (xi * (big_e - 1) + a / u0)
        assert got == pytest.approx(float(want), rel=1e-12)
        back = jaxdae.to_paper(n_samples=c["n"], **p._asdict())
        assert back.sigma_eig == pytest.approx(c["sigma_eig"]) and back.tau == pytest.approx(tau)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(noise_var=-0.1), "noise_var must be >= 0"),
        (dict(weight_decay=-1.0), "weight_decay must be >= 0"),
        (dict(lr=0.0), "lr must be > 0"),
        (dict(lr=-1.0), "lr must be > 0"),
        (dict(u0=-0.5), "u0 must be >= 0"),
        (dict(t=-1.0), "t must be >= 0"),
        (dict(lam=-2.0), "lam must be >= 0"),
        (dict(lam=float("nan")), "lam must be >= 0.*got nan"),
        (dict(t=np.ones(3), lam=np.ones(4)), "do not broadcast.*t \\(3,\\).*lam \\(4,\\)"),
    ],
)
def test_bad_input_raises_clear_error(kwargs, match):
    kw = dict(t=1.0, lam=1.0, noise_var=0.1, weight_decay=0.0, lr=0.1, u0=1e-3)
    kw.update(kwargs)
    t, lam = kw.pop("t"), kw.pop("lam")
    with pytest.raises(ValueError, match=match):
        exact.mode_strength(t, lam, **kw)


def test_bad_input_reports_index_of_array_value():
    with pytest.raises(ValueError, match=r"noise_var must be >= 0 and finite, got -0.5 at index \(2,\)"):
        exact.mode_strength(1.0, 1.0, noise_var=np.array([0.0, 0.1, -0.5]))


def test_bad_traced_input_raises_at_run_time():
    f = jax.jit(lambda s: exact.mode_strength(1.0, 1.0, noise_var=s))
    assert np.isfinite(float(f(0.2)))
    with pytest.raises(Exception, match="noise_var must be >= 0"):
        f(-0.2).block_until_ready()
    g = jax.jit(lambda lr: exact.mode_strength_unbalanced(1.0, 1.0, (0.1, 0.2), lr=lr))
    with pytest.raises(Exception, match="lr must be > 0"):
        g(0.0).block_until_ready()


def test_other_functions_validate():
    with pytest.raises(ValueError, match=r"init\[0\] must be finite"):
        exact.mode_strength_unbalanced(1.0, 1.0, (np.inf, 0.1))
    with pytest.raises(ValueError, match="step must be whole numbers"):
        exact.mode_strength_discrete(1.5, 1.0, init=(0.1, 0.1))
    with pytest.raises(ValueError, match="step must be >= 0"):
        exact.mode_strength_discrete(-3, 1.0, init=(0.1, 0.1))
    with pytest.raises(ValueError, match="frac must be in \\(0, 1\\)"):
        exact.time_to_fraction(1.0, 1.0)
    with pytest.raises(ValueError, match=r"lam - weight_decay must be > 0 \(a learning mode, lam > weight_decay\), got 0.0"):
        exact.time_to_fraction(0.9, 1.0, weight_decay=1.0)
    with pytest.raises(ValueError, match="noise_var must be >= 0"):
        exact.equivalent_weight_decay(1.0, -1.0)
    with pytest.raises(ValueError, match="lam must be > 0"):
        exact.dae_speedup(0.0, 1.0)
    with pytest.raises(ValueError, match="tau must be > 0"):
        jaxdae.from_paper(n_samples=10, sigma_eig=1.0, tau=0.0)
