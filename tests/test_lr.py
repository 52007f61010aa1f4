"""Tests of `jaxdae.lr`: every rate against an independent reference.

References: `jax.hessian` of the scalar loss written out here; dense `eigvalsh` of full Hessians;
the exact discrete gradient-descent map `jaxdae.exact.mode_strength_discrete` (w-space, not the
v-space map `lr` iterates) searched by brute force over a grid of rates; full-batch gradient
descent of the matrix network on the expected loss, written here in the data's own basis.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy.optimize import brentq

import jaxdae
from jaxdae import exact
from jaxdae import lr as L
from jaxdae.spectrum import Spectrum
from tests.helpers import compiles

# (lam, noise_var, weight_decay): DAE, WDAE, both; gamma < lam/2 and gamma > lam/2.
POINTS = np.array(
    [
        [1.0, 0.0, 0.0],
        [1.0, 0.2, 0.0],
        [1.0, 5.0, 0.0],
        [2.5, 0.0, 0.4],
        [0.7, 1.3, 0.2],
        [1.0, 0.0, 0.6],
        [0.3, 2.0, 0.25],
    ]
)


def scalar_loss(w, lam, noise_var, weight_decay):
    u = w[0] * w[1]
    return lam / 2 * (1 - u) ** 2 + noise_var / 2 * u**2 + weight_decay / 2 * (w[0] ** 2 + w[1] ** 2)


scalar_hessian = jax.jit(jax.vmap(jax.hessian(scalar_loss)))


def columns(points=POINTS):
    return (jnp.asarray(points[:, i]) for i in range(3))


# --------------------------------------------------------------------------- closed forms vs jax.hessian


def test_slides_is_inverse_top_eigenvalue_at_one():
    lam, sig, gam = columns()
    h = scalar_hessian(jnp.ones((len(POINTS), 2)), lam, sig, gam)
    ref = 1 / np.linalg.eigvalsh(np.asarray(h))[:, -1]
    got = L.optimal_learning_rate(lam, noise_var=sig, weight_decay=gam, criterion="slides")
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)


def _fixed_point_hessians():
    lam, sig, gam = columns()
    ustar = (lam - gam) / (lam + sig)
    w = jnp.stack([jnp.sqrt(ustar)] * 2, axis=-1)
    return np.asarray(scalar_hessian(w, lam, sig, gam)), (lam, sig, gam)


def test_stability_is_two_over_top_eigenvalue_at_fixed_point():
    h, (lam, sig, gam) = _fixed_point_hessians()
    ref = 2 / np.linalg.eigvalsh(h)[:, -1]
    got = L.optimal_learning_rate(lam, noise_var=sig, weight_decay=gam, criterion="stability")
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)


def test_critical_is_inverse_balanced_curvature_and_kills_the_map_derivative():
    h, (lam, sig, gam) = _fixed_point_hessians()
    ones = np.array([1.0, 1.0]) / np.sqrt(2)
    curv = np.einsum("i,nij,j->n", ones, h, ones)
    got = np.asarray(L.optimal_learning_rate(lam, noise_var=sig, weight_decay=gam, criterion="critical"))
    np.testing.assert_allclose(got, 1 / curv, rtol=1e-12, atol=0)
    # Where the balanced direction is the stiffest one, it is also 1/lam_max.
    stiff = np.asarray(gam) <= np.asarray(lam) / 2
    np.testing.assert_allclose(got[stiff], 1 / np.linalg.eigvalsh(h[stiff])[:, -1], rtol=1e-12, atol=0)

    # Critical damping: the balanced GD map u -> u (1 + lr (a - xi u))^2 has zero slope at u*.
    def gd_map(u, rate, lam, sig, gam):
        return u * (1 + rate * (lam - gam - (lam + sig) * u)) ** 2

    ustar = (lam - gam) / (lam + sig)
    slope = jax.vmap(jax.grad(gd_map))(ustar, jnp.asarray(got), lam, sig, gam)
    np.testing.assert_allclose(slope, 0, atol=1e-12)


# --------------------------------------------------------------------------- discrete training


STEPS = 4096


@pytest.mark.parametrize("start", ["balanced", "unbalanced"])
def test_stability_limit_separates_convergence_from_divergence(start):
    lam, sig, gam = (np.asarray(c)[:, None] for c in columns())
    ustar = (lam - gam) / (lam + sig)
    w1, w2 = np.sqrt(1e-6), np.sqrt(1e-6)
    if start == "unbalanced":
        # A small imbalance: the only way to see the (1, -1) limit 1/gamma when gamma > lam/2.
        w1, w2 = w1 * 1.2, w2 / 1.1
    rate = np.asarray(L.optimal_learning_rate(lam, noise_var=sig, weight_decay=gam, criterion="stability"))
    rates = rate * np.array([0.97, 1.03])  # (points, 2)
    steps = np.array([STEPS - 1, STEPS])[:, None, None]
    u = np.asarray(exact.mode_strength_discrete(steps, lam, init=(w1, w2), noise_var=sig, weight_decay=gam, lr=rates))
    err = np.abs(u - ustar) / ustar  # (2 steps, points, 2 rates)
    assert np.all(err[:, :, 0] < 1e-9), err[:, :, 0]
    diverged = ~np.all(err[:, :, 1] < 1e-3, axis=0)
    limited_by_imbalance = (gam > lam - gam)[:, 0]
    assert limited_by_imbalance.sum() == 2
    if start == "balanced":
        # An exactly balanced start never sees the imbalance direction.
        assert np.all(diverged[~limited_by_imbalance])
        assert not np.any(diverged[limited_by_imbalance])
    else:
        assert np.all(diverged), err[:, :, 1]


# --------------------------------------------------------------------------- fewest steps vs brute force

BRUTE_CASES = [
    # lam, noise_var, weight_decay, u0, tol
    (1.0, 0.2, 0.0, 1e-6, 1e-2),
    (1.0, 1.0, 0.0, 1e-6, 1e-3),
    (2.5, 0.5, 0.3, 1e-4, 1e-2),
    (0.5, 0.0, 0.3, 1e-8, 5e-3),
    (1.0, 5.0, 0.0, 1e-3, 1e-4),
    (0.3, 2.0, 0.05, 1e-6, 2e-2),
]
HORIZON = 511
GRID = 2000


def _last_exit_counts(u, ustar, tol):
    """Steps after which |u_k - u*| <= tol u* holds up to the horizon (inf if not even then)."""
    out = ~(np.abs(u - ustar) <= tol * ustar)
    k = np.arange(u.shape[0])[:, None]
    last = np.max(np.where(out, k, -1), axis=0)
    return np.where(last >= u.shape[0] - 1, np.inf, last + 1)


@pytest.mark.parametrize("case", BRUTE_CASES)
def test_fewest_steps_matches_brute_force_grid(case):
    lam, sig, gam, u0, tol = case
    ustar = (lam - gam) / (lam + sig)
    stable = 1 / max(lam - gam, gam)
    grid = stable * (np.arange(GRID) + 0.5) / GRID
    rate = float(L.optimal_learning_rate(lam, noise_var=sig, weight_decay=gam, u0=u0, tol=tol, steps=HORIZON))
    assert 0 < rate < stable
    rates = np.append(grid, rate)
    w = np.sqrt(u0)
    u = np.asarray(
        exact.mode_strength_discrete(
            np.arange(HORIZON + 1)[:, None], lam, init=(w, w), noise_var=sig, weight_decay=gam, lr=rates
        )
    )
    counts = _last_exit_counts(u, ustar, tol)
    best_grid, ours = counts[:-1].min(), counts[-1]
    assert np.isfinite(best_grid)
    assert ours <= best_grid + 1, (ours, best_grid)
    # The library's own count at its rate agrees with the w-space simulation.
    own = float(L.steps_to_converge(rate, lam, noise_var=sig, weight_decay=gam, u0=u0, tol=tol, steps=HORIZON))
    assert own == ours


def test_fewest_steps_broadcasts_and_beats_the_other_criteria():
    lam = np.array([[1.0], [0.4]])
    sig = np.array([0.2, 1.0, 5.0])
    rates = L.optimal_learning_rate(lam, noise_var=sig)
    assert rates.shape == (2, 3)
    # The rate depends only on u0/u* and tol: kappa = rate * lam is a function of u0 (lam + sig)/lam.
    single = L.optimal_learning_rate(0.4, noise_var=5.0)
    np.testing.assert_allclose(rates[1, 2], single, rtol=1e-12)
    steps = {
        c: np.asarray(L.steps_to_converge(L.optimal_learning_rate(lam, noise_var=sig, criterion=c), lam, noise_var=sig))
        for c in L.CRITERIA
    }
    for c in ("slides", "critical", "stability"):
        assert np.all(steps["fewest_steps"] <= steps[c]), c
    # docs/derivations.md §9: the slides' rate needs about twice to ten times the steps at this u0.
    assert np.all(steps["slides"] >= 2 * steps["fewest_steps"])


def test_steps_to_converge_matches_continuous_time_for_small_rates():
    # For small kappa = lr (lam - gamma) the logit z of v = u/u* gains 2 kappa + kappa^2 (3 v - 1)
    # per step (second-order expansion of the map), against 2 kappa per unit time for the ODE. So
    # the count is the logit formula plus the lag (1/4) int (1 - 3 sigmoid(z)) dz from logit(v0) to
    # logit(1 - tol) = [log(1/v0) + logit(1 - tol) - 3 log(1/tol)] / 4 (+ O(kappa)), rounded up.
    lam, sig, u0, tol, rate = 1.0, 1.0, 1e-6, 1e-2, 1e-3
    t = float(exact.time_to_fraction(1 - tol, lam, noise_var=sig, lr=rate, u0=u0))
    v0 = u0 * (lam + sig) / lam
    lag = (np.log(1 / v0) + np.log((1 - tol) / tol) - 3 * np.log(1 / tol)) / 4
    n = float(L.steps_to_converge(rate, lam, noise_var=sig, u0=u0, tol=tol))
    assert t + lag - 0.01 <= n <= t + lag + 1.01, (n, t, lag)


# --------------------------------------------------------------------------- Hessian eigenvalue


def _dense_top(loss, params, *args):
    flat, unravel = ravel_pytree(params)
    h = jax.hessian(lambda x: loss(unravel(x), *args))(flat)
    return np.linalg.eigvalsh(np.asarray(h))[-1]


def matrix_loss(params, c, noise_var, weight_decay):
    """Expected DAE loss in the data's own basis (independent of lr's eigenbasis form)."""
    w1, w2 = params
    e = jnp.eye(c.shape[0]) - w2 @ w1
    w = w2 @ w1
    decay = 0.5 * weight_decay * (jnp.sum(w1 * w1) + jnp.sum(w2 * w2))
    return 0.5 * jnp.trace(e @ c @ e.T) + 0.5 * noise_var * jnp.sum(w * w) + decay


def _random_moment(rng, lam):
    q, _ = np.linalg.qr(rng.normal(size=(lam.size, lam.size)))
    return (q * lam) @ q.T


# --------------------------------------------------------------------------- whole network


def _aligned_minimum(vecs, lam, hidden, noise_var, weight_decay):
    ustar = np.where(lam > weight_decay, (lam - weight_decay) / (lam + noise_var), 0.0)[:hidden]
    w1 = np.sqrt(ustar)[:, None] * vecs[:, :hidden].T
    return jnp.asarray(w1), jnp.asarray(w1.T)


@pytest.mark.parametrize("method", ["blocks", "dense", pytest.param("lanczos", marks=pytest.mark.slow)])
def test_network_rates_against_closed_forms_and_dense_hessian(method):
    rng = np.random.default_rng(5)
    lam = np.array([1.0, 0.93, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02])
    c = _random_moment(rng, lam)
    spectrum = Spectrum.from_moment(c)
    hidden = 5
    # No weight decay: the top mode governs, lam_max = 2 lam_1 at the minimum (any noise).
    for sig in (0.0, 0.7):
        def rate(crit, sig=sig):
            kw = dict(hidden=hidden, noise_var=sig, criterion=crit, method=method)
            return float(L.optimal_learning_rate_for(spectrum, **kw))

        np.testing.assert_allclose(rate("stability"), 1 / lam[0], rtol=1e-8)
        np.testing.assert_allclose(rate("critical"), 1 / (2 * lam[0]), rtol=1e-8)
        np.testing.assert_allclose(rate("slides"), 1 / (2 * lam[0] + 3 * sig), rtol=1e-8)
        np.testing.assert_allclose(rate("fewest_steps"), L.optimal_learning_rate(lam[0], noise_var=sig), rtol=1e-8)
    # With weight decay, mixing modes 1 and 2 is stiffer than either mode alone.
    sig, gam = 0.2, 0.3
    kw = dict(hidden=hidden, noise_var=sig, weight_decay=gam, criterion="stability")
    got = float(L.optimal_learning_rate_for(spectrum, method=method, **kw))
    params = _aligned_minimum(np.asarray(spectrum.vecs), lam, hidden, sig, gam)
    ref = 2 / _dense_top(matrix_loss, params, jnp.asarray(c), sig, gam)
    np.testing.assert_allclose(got, ref, rtol=1e-8)
    per_mode = float(L.optimal_learning_rate(lam[0], noise_var=sig, weight_decay=gam, criterion="stability"))
    assert got < 0.85 * per_mode


def test_network_hessian_large_synthetic():
    # D = 784, H = 256 through Lanczos (no dense Hessian): the top mode governs without decay.
    lam = jaxdae.data.synthetic_spectrum(784, top=3.0, decay=0.99)
    spectrum = Spectrum.from_eigenvalues(lam.astype(np.float32))
    rate = L.optimal_learning_rate_for(spectrum, hidden=256, noise_var=0.5, criterion="stability")
    assert rate.dtype == jnp.float32
    np.testing.assert_allclose(float(rate), 1 / 3.0, rtol=1e-4)


@jax.jit
def _gd_final_losses(rate, c, noise_var, weight_decay, params):
    grad = jax.grad(matrix_loss)

    def body(p, _):
        p = jax.tree.map(lambda w, g: w - rate * g, p, grad(p, c, noise_var, weight_decay))
        return p, None

    params, _ = jax.lax.scan(body, params, None, length=1500)
    l1 = matrix_loss(params, c, noise_var, weight_decay)
    params = jax.tree.map(lambda w, g: w - rate * g, params, grad(params, c, noise_var, weight_decay))
    return l1, matrix_loss(params, c, noise_var, weight_decay)


def _divergence_threshold(c, hidden, noise_var, weight_decay, guess):
    """Bisection for the smallest rate at which full-batch GD from a small random start fails
    to settle (a 2-cycle, chaos or overflow after 1500 steps)."""
    d = c.shape[0]
    k1, k2 = jax.random.split(jax.random.key(7))
    params = (1e-3 * jax.random.normal(k1, (hidden, d)), 1e-3 * jax.random.normal(k2, (d, hidden)))
    c = jnp.asarray(c)

    def fails(rate):
        a, b = (float(x) for x in _gd_final_losses(rate, c, noise_var, weight_decay, params))
        return not (np.isfinite(a) and np.isfinite(b) and abs(a - b) <= 1e-5 * abs(a))

    lo, hi = 0.8 * guess, 1.2 * guess
    assert not fails(lo) and fails(hi)
    for _ in range(8):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if fails(mid) else (mid, hi)
    return (lo + hi) / 2


@pytest.mark.parametrize("noise_var, weight_decay", [(0.5, 0.0), (0.0, 6.0)])
def test_network_stability_matches_gradient_descent_on_digits(noise_var, weight_decay):
    x = jaxdae.data.digits(np.float64)
    c = x.T @ x / x.shape[0]
    kw = dict(hidden=32, noise_var=noise_var, weight_decay=weight_decay, criterion="stability")
    pred = float(L.optimal_learning_rate_for(x, **kw))
    measured = _divergence_threshold(c, 32, noise_var, weight_decay, pred)
    assert abs(measured / pred - 1) < 0.05, (measured, pred)


def test_network_stability_matches_gradient_descent_when_modes_mix():
    # Close top eigenvalues and weight decay: the limit is set by the mode-mixing directions,
    # about 20 % below the top mode's own limit, and training follows the network's prediction.
    rng = np.random.default_rng(8)
    lam = np.array([1.0, 0.93, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005])
    c = _random_moment(rng, lam)
    sig, gam = 0.2, 0.3
    kw = dict(hidden=6, noise_var=sig, weight_decay=gam, criterion="stability")
    pred = float(L.optimal_learning_rate_for(Spectrum.from_moment(c), **kw))
    per_mode = float(L.optimal_learning_rate(lam[0], noise_var=sig, weight_decay=gam, criterion="stability"))
    measured = _divergence_threshold(c, 6, sig, gam, pred)
    assert abs(measured / pred - 1) < 0.05, (measured, pred)
    assert measured < 0.9 * per_mode


# --------------------------------------------------------------------------- DAE versus WDAE

PAIRS = [(1.0, 0.2), (1.0, 1.0), (1.0, 5.0), (0.3, 2.0), (2.5, 0.5)]


def test_dae_and_wdae_identical_at_consistent_slides_rates():
    lam = np.array([p[0] for p in PAIRS])
    sig = np.array([p[1] for p in PAIRS])
    g_eq = np.asarray(exact.equivalent_weight_decay(lam, sig))
    a_dae = L.optimal_learning_rate(lam, noise_var=sig, criterion="slides")
    a_wdae = L.optimal_learning_rate(lam, weight_decay=g_eq, criterion="slides")
    np.testing.assert_allclose(L.lr_ratio(lam, sig), lam / (lam + sig), rtol=1e-14)
    np.testing.assert_allclose(L.lr_ratio(lam, sig), a_dae / a_wdae, rtol=1e-14)
    np.testing.assert_allclose(L.equivalent_wdae_lr(a_dae, lam, sig), a_wdae, rtol=1e-14)
    w = np.sqrt(1e-6)
    steps = np.arange(3001)[:, None]
    u_dae = exact.mode_strength_discrete(steps, lam, init=(w, w), noise_var=sig, lr=a_dae)
    u_wdae = exact.mode_strength_discrete(steps, lam, init=(w, w), weight_decay=g_eq, lr=a_wdae)
    assert float(jnp.max(jnp.abs(u_dae - u_wdae))) <= 1e-12
    t = np.linspace(0, 200, 401)[:, None]
    c_dae = exact.mode_strength(t, lam, noise_var=sig, lr=a_dae)
    c_wdae = exact.mode_strength(t, lam, weight_decay=g_eq, lr=a_wdae)
    assert float(jnp.max(jnp.abs(c_dae - c_wdae))) <= 1e-12
    # The original notebook's WDAE rate 1/(2 (lam + gamma_eq)) is slower: an apparent DAE advantage.
    u_nb = exact.mode_strength_discrete(steps, lam, init=(w, w), weight_decay=g_eq, lr=1 / (2 * (lam + g_eq)))
    gap = np.asarray(u_dae - u_nb)
    assert np.all(gap >= -1e-12)
    assert np.all(gap.max(axis=0) > 0.02 * lam / (lam + sig))


@pytest.mark.parametrize("criterion", ["critical", "fewest_steps"])
def test_dae_wdae_rate_ratio_for_other_criteria(criterion):
    pairs = np.array([p for p in PAIRS if p[1] <= p[0]])  # gamma_eq <= lam/2: the same stable range
    lam, sig = pairs[:, 0], pairs[:, 1]
    g_eq = np.asarray(exact.equivalent_weight_decay(lam, sig))
    a_dae = L.optimal_learning_rate(lam, noise_var=sig, criterion=criterion)
    a_wdae = L.optimal_learning_rate(lam, weight_decay=g_eq, criterion=criterion)
    np.testing.assert_allclose(a_dae / a_wdae, lam / (lam + sig), rtol=1e-9)


def test_wdae_takes_lam_plus_noise_over_lam_longer_at_equal_rates():
    for lam, sig in PAIRS:
        g_eq = float(exact.equivalent_weight_decay(lam, sig))
        ustar = lam / (lam + sig)

        def t90(**kw):
            f = lambda t: float(exact.mode_strength(t, lam, lr=0.01, u0=1e-6, **kw)) - 0.9 * ustar  # noqa: E731
            return brentq(f, 0.0, 1e6, xtol=1e-12, rtol=1e-14)

        ratio = t90(weight_decay=g_eq) / t90(noise_var=sig)
        np.testing.assert_allclose(ratio, (lam + sig) / lam, rtol=1e-9)


# --------------------------------------------------------------------------- dtype, jit, errors


def test_float32_in_float32_out():
    lam, sig = np.float32(1.0), np.float32([0.2, 1.0, 5.0])
    for c in L.CRITERIA:
        r = L.optimal_learning_rate(lam, noise_var=sig, criterion=c)
        assert r.dtype == jnp.float32 and np.all(np.isfinite(r)), c
    r32 = L.optimal_learning_rate(lam, noise_var=sig)
    r64 = L.optimal_learning_rate(1.0, noise_var=np.array([0.2, 1.0, 5.0]))
    n32 = np.asarray(L.steps_to_converge(np.asarray(r32, np.float64), 1.0, noise_var=np.array([0.2, 1.0, 5.0])))
    n64 = np.asarray(L.steps_to_converge(r64, 1.0, noise_var=np.array([0.2, 1.0, 5.0])))
    assert np.all(np.abs(n32 - n64) <= 1)


def test_closed_forms_jit_and_grad():
    f = jax.jit(lambda lam: L.optimal_learning_rate(lam, noise_var=0.5, weight_decay=0.1, criterion="slides"))
    np.testing.assert_allclose(f(1.0), 1 / 3.6, rtol=1e-14)
    d = jax.grad(lambda lam: L.optimal_learning_rate(lam, weight_decay=0.1, criterion="critical"))(1.0)
    np.testing.assert_allclose(d, -1 / (2 * 0.9**2), rtol=1e-12)
    g = jax.jit(lambda lam: L.optimal_learning_rate(lam, weight_decay=0.5, criterion="critical"))
    with pytest.raises(Exception, match="lam must be > weight_decay"):
        g(0.3).block_until_ready()


def test_fewest_steps_under_jit():
    f = jax.jit(lambda sig, u0: L.optimal_learning_rate(1.0, noise_var=sig, u0=u0, steps=512))
    eager = L.optimal_learning_rate(1.0, noise_var=np.array([0.2, 1.0, 5.0]), steps=512)
    np.testing.assert_allclose(f(jnp.array([0.2, 1.0, 5.0]), 1e-6), eager, rtol=1e-12)
    with pytest.raises(Exception, match="u0 must be in"):
        f(jnp.array([0.2, 1.0, 5.0]), 0.5).block_until_ready()
    with pytest.raises(ValueError, match="needs steps"):
        jax.jit(lambda sig: L.optimal_learning_rate(1.0, noise_var=sig))(1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lam=-1.0), "lam must be >= 0"),
        (dict(lam=1.0, noise_var=-0.1), "noise_var must be >= 0"),
        (dict(lam=1.0, weight_decay=-0.1), "weight_decay must be >= 0"),
        (dict(lam=1.0, noise_var=np.nan), "noise_var must be >= 0"),
        (dict(lam=1.0, criterion="fastest"), "criterion must be one of"),
        (dict(lam=0.5, weight_decay=0.5, criterion="critical"), "lam must be > weight_decay"),
        (dict(lam=0.5, weight_decay=0.7, criterion="stability"), "lam must be > weight_decay"),
        (dict(lam=np.array([1.0, 0.2]), weight_decay=0.3), "got lam=0.2, weight_decay=0.3"),
        (dict(lam=0.0, criterion="slides"), "cannot all be 0"),
        (dict(lam=1.0, tol=0.0), "tol must be in \\(0, 1\\)"),
        (dict(lam=1.0, tol=1.0), "tol must be in \\(0, 1\\)"),
        (dict(lam=1.0, tol=-0.1), "tol must be in \\(0, 1\\)"),
        (dict(lam=1.0, u0=0.0), "u0 must be > 0"),
        (dict(lam=1.0, u0=-1e-6), "u0 must be > 0"),
        (dict(lam=1.0, noise_var=1.0, u0=0.5), "u0 must be in \\(0, fixed point\\)"),
        (dict(lam=1.0, noise_var=1.0, u0=0.9), "fixed point 0.5"),
    ],
)
def test_bad_input_is_named(kwargs, match):
    lam = kwargs.pop("lam")
    with pytest.raises(ValueError, match=match):
        L.optimal_learning_rate(lam, **kwargs)


def test_bad_input_other_functions():
    with pytest.raises(ValueError, match="lr must be > 0"):
        L.steps_to_converge(0.0, 1.0)
    with pytest.raises(ValueError, match="lam must be > weight_decay"):
        L.steps_to_converge(0.1, 1.0, weight_decay=1.0)
    with pytest.raises(ValueError, match="lam must be > 0"):
        L.lr_ratio(0.0, 1.0)
    with pytest.raises(ValueError, match="noise_var must be >= 0"):
        L.equivalent_wdae_lr(0.1, 1.0, -1.0)
    spectrum = Spectrum.from_eigenvalues(np.array([1.0, 0.5, 0.1]))
    with pytest.raises(ValueError, match="hidden must be an integer >= 1"):
        L.optimal_learning_rate_for(spectrum, hidden=0)
    with pytest.raises(ValueError, match="weight_decay must be < the top eigenvalue"):
        L.optimal_learning_rate_for(spectrum, hidden=2, weight_decay=1.0, criterion="stability")
    with pytest.raises(ValueError, match="noise_var must be >= 0"):
        L.optimal_learning_rate_for(spectrum, hidden=2, noise_var=-1.0)


# --------------------------------------------------------------------------- final_loss: autodiff through the solution

FL_LAM = np.array([1.0, 0.6, 0.45, 0.3, 0.1])
FL_HIDDEN = 3
FL_CASES = [
    # noise_var, weight_decay, steps, start
    (0.2, 0.0, 8, "aligned"),
    (0.3, 0.05, 8, "aligned"),
    (0.0, 0.1, 8, "aligned"),  # its optimum is the stability limit itself
    (0.2, 0.0, 10, "random"),
    (0.0, 0.08, 10, "random"),
]
FL_GRID = 241
FL_U0 = 1e-2


@pytest.fixture(scope="module")
def fl_data():
    """Samples whose second moment is exactly Q diag(FL_LAM) Q^T, Q a random rotation."""
    rng = np.random.default_rng(11)
    d = FL_LAM.size
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    X = np.sqrt(d) * (np.sqrt(FL_LAM)[:, None] * q.T)
    w1 = 0.1 * rng.normal(size=(FL_HIDDEN, d))
    w2 = 0.1 * rng.normal(size=(d, FL_HIDDEN))
    return X, X.T @ X / d, (w1, w2)


def _start(fl_data, start):
    X, c, pair = fl_data
    if start == "random":
        return pair, pair
    vecs = np.asarray(Spectrum.from_data(X).vecs)[:, :FL_HIDDEN]
    return "aligned", (np.sqrt(FL_U0) * vecs.T, np.sqrt(FL_U0) * vecs)


@functools.partial(jax.jit, static_argnames="steps")
def _gd_losses(rates, c, noise_var, weight_decay, params, steps):
    """Reference: full-batch GD of the matrix loss in the data's basis, one run per rate (vmap)."""
    grad = jax.grad(matrix_loss)

    def one(rate):
        def body(p, _):
            return jax.tree.map(lambda w, g: w - rate * g, p, grad(p, c, noise_var, weight_decay)), None

        final, _ = jax.lax.scan(body, params, None, length=steps)
        return matrix_loss(final, c, noise_var, weight_decay)

    return jax.vmap(one)(rates)


@pytest.mark.parametrize("case", FL_CASES)
def test_final_loss_rate_matches_brute_force_grid(fl_data, case):
    sig, gam, steps, start = case
    X, c, _ = fl_data
    init, params = _start(fl_data, start)
    kw = dict(hidden=FL_HIDDEN, noise_var=sig, weight_decay=gam)
    limit = float(L.optimal_learning_rate_for(X, criterion="stability", **kw))
    rate = float(L.optimal_learning_rate_for(X, criterion="final_loss", steps=steps, init=init, u0=FL_U0, **kw))
    assert 0 < rate <= limit
    grid = limit * np.linspace(0.4, 1.0, FL_GRID)
    params = tuple(jnp.asarray(w) for w in params)
    losses = np.asarray(_gd_losses(jnp.asarray(np.append(grid, rate)), jnp.asarray(c), sig, gam, params, steps))
    best = int(np.argmin(losses[:-1]))
    cell = grid[1] - grid[0]
    assert abs(rate - grid[best]) <= cell, (rate, grid[best], cell)
    assert losses[-1] <= losses[best] * (1 + 1e-3), (losses[-1], losses[best])
    # The library's loss at its rate is the reference's (matrix GD in the data's basis).
    ours = float(L.final_loss(X, rate, steps=steps, init=init, u0=FL_U0, **kw))
    np.testing.assert_allclose(ours, losses[-1], rtol=1e-9)


def test_aligned_final_loss_is_the_expected_loss_of_the_aligned_weights():
    # Per-mode strengths through the exact map, then jaxdae.loss.expected_loss of the balanced
    # aligned weights with those strengths: the decay term of a balanced mode is gamma * u.
    spectrum = Spectrum.from_eigenvalues(FL_LAM)
    rates = np.array([0.3, 0.7, 0.95])
    kw = dict(noise_var=0.3, weight_decay=0.05, lr=rates[:, None], steps=12)
    u = np.asarray(exact.mode_strength_discrete(12, FL_LAM[:FL_HIDDEN], u0=FL_U0, **kw))
    w1 = np.zeros((3, FL_HIDDEN, FL_LAM.size))
    w1[:, np.arange(FL_HIDDEN), np.arange(FL_HIDDEN)] = np.sqrt(u)
    ref = jaxdae.loss.expected_loss(jnp.asarray(FL_LAM), w1, np.swapaxes(w1, -1, -2), 0.3, 0.05)
    got = L.final_loss(spectrum, rates, hidden=FL_HIDDEN, steps=12, noise_var=0.3, weight_decay=0.05, u0=FL_U0)
    np.testing.assert_allclose(got, ref, rtol=1e-12)


@pytest.mark.parametrize("start", ["aligned", "random"])
def test_final_loss_gradient_matches_central_differences(fl_data, start):
    X, _, _ = fl_data
    init, _ = _start(fl_data, start)
    f = lambda r: L.final_loss(X, r, hidden=FL_HIDDEN, steps=10, noise_var=0.2, weight_decay=0.05,  # noqa: E731
                               init=init, u0=FL_U0)
    for rate in (0.3, 0.9):
        _, slope = jax.jvp(f, (jnp.asarray(rate),), (jnp.asarray(1.0),))
        h = 1e-5 * rate
        fd = (float(f(rate + h)) - float(f(rate - h))) / (2 * h)
        np.testing.assert_allclose(float(slope), fd, rtol=1e-6)
        np.testing.assert_allclose(float(jax.grad(f)(rate)), fd, rtol=1e-6)


def test_final_loss_rate_never_exceeds_the_stability_limit():
    # Digits-like: one dominant mode, so the loss keeps falling up to the network's limit.
    spectrum = Spectrum.from_eigenvalues(np.array([10.0, 0.7, 0.6, 0.5, 0.2, 0.1]))
    for steps, sig in ((30, 0.0), (300, 0.5)):
        kw = dict(hidden=4, noise_var=sig)
        limit = float(L.optimal_learning_rate_for(spectrum, criterion="stability", **kw))
        rate = float(L.optimal_learning_rate_for(spectrum, criterion="final_loss", steps=steps, **kw))
        assert 0 < rate <= limit
        grid = limit * np.linspace(0.5, 1.0, 101)
        losses = np.asarray(L.final_loss(spectrum, grid, steps=steps, **kw))
        assert float(L.final_loss(spectrum, rate, steps=steps, **kw)) <= losses.min() * (1 + 1e-9)


def test_final_loss_bad_input_is_named(fl_data):
    X, _, pair = fl_data
    spectrum = Spectrum.from_data(X)
    kw = dict(hidden=FL_HIDDEN, criterion="final_loss")
    with pytest.raises(ValueError, match="needs steps"):
        L.optimal_learning_rate_for(X, **kw)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        L.optimal_learning_rate_for(X, steps=0, **kw)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        L.final_loss(X, 0.1, hidden=2, steps=2.5)
    with pytest.raises(ValueError, match="criterion must be one of"):
        L.optimal_learning_rate_for(X, hidden=2, criterion="final")
    with pytest.raises(ValueError, match="not a Spectrum"):
        L.final_loss(spectrum, 0.1, hidden=2, steps=5, init=pair)
    with pytest.raises(ValueError, match="lr must be > 0"):
        L.final_loss(X, -0.1, hidden=2, steps=5)
    with pytest.raises(ValueError, match="hidden must be <= the data dimension"):
        L.final_loss(X, 0.1, hidden=9, steps=5)
    with pytest.raises(ValueError, match="hidden must be <= the data dimension"):
        L.optimal_learning_rate_for(X, hidden=9, criterion="stability")


# --------------------------------------------------------------------------- command line


def test_cli_prints_the_final_loss_rate_next_to_the_closed_forms(capsys):
    from jaxdae.cli import main

    X = jaxdae.data.digits(np.float64)
    assert main(["lr", "--data", "digits", "--hidden", "4", "--steps", "60", "--criterion", "final_loss"]) == 0
    out = capsys.readouterr().out
    rate = float(L.optimal_learning_rate_for(X, hidden=4, criterion="final_loss", steps=60))
    loss = float(L.final_loss(X, rate, hidden=4, steps=60))
    assert f"answer (final_loss): rate {rate:.6g}, loss after 60 steps {loss:.6g}" in out
    for c in L.CRITERIA:
        assert c in out
    assert main(["lr", "--data", "digits", "--hidden", "4", "--criterion", "final_loss"]) == 2
    assert "needs --steps" in capsys.readouterr().out



@pytest.mark.parametrize("start", ["aligned", "random"])
def test_final_loss_rate_second_call_does_not_recompile(fl_data, start):
    X, _, _ = fl_data
    init, _ = _start(fl_data, start)

    def call(sig, gam):
        return L.optimal_learning_rate_for(X, hidden=FL_HIDDEN, noise_var=sig, weight_decay=gam, criterion="final_loss",
                                           steps=10, init=init, u0=FL_U0)

    first = call(0.2, 0.0)
    assert compiles(lambda: call(0.35, 0.05)) == []
    assert float(call(0.2, 0.0)) == float(first)
