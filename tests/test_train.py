"""Tests of `jaxdae.train`: discrete training against the exact theory, statistics and engineering.

References are independent of the code under test: the exact discrete per-mode map
(`exact.mode_strength_discrete`), the continuous closed forms with a first-order (modified
equation) correction integrated by scipy, closed-form fixed points, naive input-noise sampling
versus the exact moment sampler, and separate runs versus the grid. Shapes are small and
configurations shared so that every program compiles once.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.integrate import solve_ivp

import jaxdae
from jaxdae import exact
from jaxdae import train

DIGITS = jaxdae.data.digits(np.float64)
SPEC = jaxdae.Spectrum.from_data(DIGITS)
LAM = np.asarray(SPEC.lam)
VECS = np.asarray(SPEC.vecs)
KEY = jax.random.key(0)

# One configuration for every aligned, expected-noise digits run (one compile per engine).
H_AL = 8
S0 = 1e-2
ALIGNED = dict(hidden=H_AL, steps=2000, init="aligned", init_scale=S0, record_every=20, key=KEY)


def _small_data(n=40, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.linspace(1.5, 0.3, d)


SMALL = _small_data()
SMALL_INIT = tuple(np.asarray(w) for w in jaxdae.initialise.random_init(jax.random.key(5), 6, 3, 0.3))


def test_record_every_not_dividing_steps_keeps_every_record():
    """Records at 0, 3, 6, 9 and the final step 10, each equal to the exact discrete map."""
    spec = jaxdae.Spectrum.from_data(SMALL)
    tr = train.fit(SMALL, hidden=3, steps=10, lr=0.1, noise="expected", noise_var=0.1, init="aligned",
                   init_scale=0.1, record_every=3, key=KEY)
    t = np.asarray(tr.t)
    np.testing.assert_array_equal(t, [0, 3, 6, 9, 10])
    ref = np.asarray(exact.mode_strength_discrete(t[:, None], np.asarray(spec.lam)[:3], init=(0.1, 0.1), noise_var=0.1, lr=0.1))
    np.testing.assert_allclose(np.asarray(tr.mode_strength)[:, :3], ref, rtol=1e-9)
    assert np.all(np.asarray(tr.loss) > 0) and np.all(np.asarray(tr.weight_norm) > 0)


# --------------------------------------------------------------------------- exact discrete map


@pytest.mark.parametrize("engine", ["moments", "data"])
@pytest.mark.parametrize(
    "lr, noise_var, weight_decay",
    [(0.005, 0.3, 0.0), (0.9 / LAM[0], 0.3, 0.0), (0.005, 0.0, 0.1), (0.9 / LAM[0], 0.2, 0.05)],
)
def test_aligned_expected_noise_equals_exact_discrete_map(engine, lr, noise_var, weight_decay):
    """Every recorded mode < H equals the exact per-mode GD map to 1e-9 relative (measured ~4e-14)."""
    tr = train.fit(DIGITS, noise_var=noise_var, weight_decay=weight_decay, lr=lr, noise="expected",
                   engine=engine, **ALIGNED)
    assert int(tr.result) == 0
    t = np.asarray(tr.t)
    assert t[0] == 0 and t[-1] == 2000 and len(t) == 101
    u = np.asarray(tr.mode_strength)[:, :H_AL]
    ref = np.asarray(exact.mode_strength_discrete(t.astype(int)[:, None], LAM[:H_AL], init=(S0, S0),
                                                  noise_var=noise_var, weight_decay=weight_decay, lr=lr))
    np.testing.assert_allclose(u, ref, rtol=1e-9, atol=0)
    # Modes beyond the width are never touched by an aligned start.
    assert np.max(np.abs(np.asarray(tr.mode_strength)[:, H_AL:])) < 1e-14


def _first_order_correction(t, lam, noise_var, weight_decay, lr, u0):
    r"""$u_{GD}(t) \approx u(t)(1 + \alpha\delta(\alpha t))$ with the modified-equation correction.

    Per step the GD map multiplies u by $(1+\alpha g)^2$, $g = a - \xi u$, while the flow gives
    $\exp(2\alpha g - 2\alpha^2\xi u g + O(\alpha^3))$; the difference $\alpha^2 g(3\xi u - a)$
    drives $d\delta/ds = -2\xi u\,\delta + g(3\xi u - a)$, $\delta(0) = 0$.
    """
    a = lam - weight_decay
    xi = lam + noise_var

    def rhs(s, d):
        u = np.asarray(exact.mode_strength(s / lr, lam, noise_var=noise_var, weight_decay=weight_decay, lr=lr, u0=u0))
        g = a - xi * u
        return -2 * xi * u * d + g * (3 * xi * u - a)

    sol = solve_ivp(rhs, (0, lr * t[-1]), np.zeros(lam.shape), t_eval=lr * t, rtol=1e-10, atol=1e-13)
    return sol.y.T


def test_small_lr_is_within_first_order_bound_of_continuous_theory():
    lr, nv = 0.005, 0.3
    tr = train.fit(DIGITS, noise_var=nv, lr=lr, noise="expected", **ALIGNED)
    t = np.asarray(tr.t)
    u = np.asarray(tr.mode_strength)[:, :H_AL]
    lam = LAM[:H_AL]
    uc = np.asarray(exact.mode_strength(t[:, None], lam, noise_var=nv, lr=lr, u0=S0**2))
    delta = _first_order_correction(t, lam, nv, 0.0, lr, S0**2)
    err = np.max(np.abs(u - uc), axis=0)
    bound = lr * np.max(np.abs(uc * delta), axis=0)
    # O(lr): the deviation is the first-order term (to 10 %), and the rest is O(lr^2).
    assert np.all(err <= 1.1 * bound + 1e-12), (err, bound)
    resid = np.max(np.abs(u - uc * (1 + lr * delta)), axis=0)
    assert np.all(resid <= 0.1 * err + 1e-12), (resid, err)
    assert err[0] > 1e-2  # a visible discrete-time lag, so the check has teeth


# --------------------------------------------------------------------------- random init on digits


def test_random_init_on_digits_approaches_theory_late():
    """Leading 8 modes from small random weights: far from the decoupled theory early, on it late.

    Theory per mode: the hidden-space vectors $a_k = W_1 v_k$, $b_k = W_2^\\top v_k$ give
    $P_0 = \\|a_k+b_k\\|^2$, $M_0 = \\|a_k-b_k\\|^2$, i.e. the scalar start
    $w_{1,2} = (\\sqrt{P_0} \\pm \\sqrt{M_0})/2$ of `exact.mode_strength_unbalanced`.
    """
    lr, steps, h = 0.05, 1500, 16
    tr = train.fit(DIGITS, hidden=h, steps=steps, lr=lr, init_scale=1e-2, noise="none", record_every=15,
                   key=jax.random.key(1), record_weights=True)
    w1, w2 = (np.asarray(w[0]) for w in tr.weights)
    a, b = (w1 @ VECS).T, VECS.T @ w2
    p0, m0 = np.sum((a + b) ** 2, axis=1), np.sum((a - b) ** 2, axis=1)
    w1k, w2k = (np.sqrt(p0) + np.sqrt(m0)) / 2, (np.sqrt(p0) - np.sqrt(m0)) / 2
    t = np.asarray(tr.t)
    theory = np.asarray(exact.mode_strength_unbalanced(t[:, None], LAM[:8], (w1k[:8], w2k[:8]), lr=lr))
    dev = np.abs(np.asarray(tr.mode_strength)[:, :8] - theory)
    third = len(t) // 3
    early, late = dev[:third].max(axis=0), dev[2 * third:].max(axis=0)
    print("\nper-mode |u - theory|, first third:", np.round(early, 4))
    print("per-mode |u - theory|, last third: ", np.round(late, 6))
    assert np.all(late < 2e-3), late
    assert np.max(early[1:]) > 10 * np.max(late[1:])  # the alignment phase is visible early
    np.testing.assert_allclose(np.asarray(tr.final)[:8], 1.0, atol=1e-3)  # AE fixed point u* = 1


# --------------------------------------------------------------------------- fixed points


def test_wdae_fixed_point():
    gam = 0.3
    tr = train.fit(DIGITS, weight_decay=gam, lr=0.05, noise="expected", **ALIGNED)
    fp = (LAM[:4] - gam) / LAM[:4]
    np.testing.assert_allclose(np.asarray(tr.final)[:4], fp, rtol=1e-6)
    # Modes weaker than the decay die out: lambda_k < gamma gives u -> 0.
    low = LAM[:H_AL] < gam
    assert np.any(low) and np.all(np.asarray(tr.final)[:H_AL][low] < S0**2)


def test_sampled_noise_matches_expected_within_statistical_error():
    nv, n_seeds = 0.3, 24
    common = dict(lr=0.05, noise_var=nv, **{k: v for k, v in ALIGNED.items() if k != "key"})
    common["steps"], common["record_every"] = 400, 4
    grid = train.fit_grid(DIGITS, {"seed": np.arange(n_seeds)}, key=KEY, **common)
    ref = train.fit(DIGITS, noise="expected", key=KEY, **common)
    u = np.asarray(grid.trajectory.mode_strength)[..., :H_AL]
    mean, se = u.mean(0), u.std(0, ddof=1) / np.sqrt(n_seeds)
    assert np.max(se) < 5e-3  # the comparison is sharp enough to fail
    z = (mean - np.asarray(ref.mode_strength)[:, :H_AL]) / np.maximum(se, 1e-12)
    assert np.max(np.abs(z[1:])) < 5, np.max(np.abs(z[1:]))
    # DAE fixed point lam / (lam + sigma2) for the leading modes: per-seed late averages.
    late = u[:, -25:, :4].mean(axis=1)
    z_fp = (late.mean(0) - LAM[:4] / (LAM[:4] + nv)) / (late.std(0, ddof=1) / np.sqrt(n_seeds))
    assert np.all(np.abs(z_fp) < 5), z_fp


def test_sampled_noise_data_engine_matches_expected():
    """The same statistical check for naive input-noise sampling (small data)."""
    X = _small_data(n=200, d=8, seed=3)
    n_seeds = 32
    kw = dict(hidden=4, steps=300, lr=0.05, noise_var=0.2, init="aligned", init_scale=0.1, record_every=10,
              engine="data")
    grid = train.fit_grid(X, {"seed": np.arange(n_seeds)}, key=KEY, **kw)
    ref = train.fit(X, noise="expected", key=KEY, **kw)
    u = np.asarray(grid.trajectory.mode_strength)[..., :4]
    mean, se = u.mean(0), u.std(0, ddof=1) / np.sqrt(n_seeds)
    assert np.max(se) < 2e-2
    z = (mean - np.asarray(ref.mode_strength)[:, :4]) / np.maximum(se, 1e-12)
    assert np.max(np.abs(z[1:])) < 5


# --------------------------------------------------------------------------- the moment sampler


def _one_step_updates(X, init, n_seeds, **kw):
    """The first update `-lr * grad` of every seed, flattened: `(n_seeds, 2 H D)`."""
    res = train.fit_grid(X, {"seed": np.arange(n_seeds)}, hidden=3, steps=1, lr=1.0, noise_var=0.5, init=init,
                         record_every=1, record_weights=True, key=KEY, **kw)
    w = res.trajectory.weights
    return np.concatenate([np.asarray(w[i][:, 1] - w[i][:, 0]).reshape(n_seeds, -1) for i in range(2)], axis=1)


def _cov_z(a, b):
    """z-scores of the difference of two samples' covariance matrices (delta-method errors)."""
    def cov_and_se(g):
        c = g - g.mean(0)
        prod = c[:, :, None] * c[:, None, :]
        return prod.mean(0), prod.std(0, ddof=1) / np.sqrt(len(g))

    c1, s1 = cov_and_se(a)
    c2, s2 = cov_and_se(b)
    return (c1 - c2) / np.sqrt(s1**2 + s2**2 + 1e-300), c1


@pytest.mark.parametrize("n", [30, 8, 4])  # Bartlett Wishart, direct small Wishart, N < D
def test_moment_draw_matches_naive_moments_in_distribution(n):
    """$(E, F)$ drawn without $Z_0$ has the joint law of $(X^T Z_0/N, Z_0^T Z_0/N)$: means and covariances."""
    d, n_draws = 4, 4000
    X = _small_data(n=n, d=d, seed=n)
    spec = jaxdae.Spectrum.from_data(X)
    m = min(n, d)
    ev = jnp.asarray(np.asarray(spec.vecs)[:, :m] * np.sqrt(np.asarray(spec.lam)[:m] / n))
    iu = np.triu_indices(d)
    keys = jax.random.split(jax.random.key(n), n_draws)

    def flat(e, f):
        return jnp.concatenate([e.ravel(), f[iu]])

    fast = jax.jit(jax.vmap(lambda k: flat(*train._moment_draw(k, ev, n - m, n, d))))(keys)

    def naive(k):
        z = jax.random.normal(k, (n, d))
        return flat(jnp.asarray(X).T @ z / n, z.T @ z / n)

    slow = jax.jit(jax.vmap(naive))(jax.random.split(jax.random.key(100 + n), n_draws))
    fast, slow = np.asarray(fast), np.asarray(slow)
    exact_mean = np.concatenate([np.zeros(d * d), np.eye(d)[iu]])
    for g in (fast, slow):
        z = (g.mean(0) - exact_mean) / (g.std(0, ddof=1) / np.sqrt(n_draws))
        assert np.max(np.abs(z)) < 5
    z, cov = _cov_z(fast, slow)
    assert np.max(np.abs(z)) < 5.5, np.max(np.abs(z))
    assert np.min(np.diag(cov)) > 1e-3


def test_moment_engine_updates_match_data_engine_in_distribution():
    """End to end: the first SGD update under the two engines, over 3000 seeds."""
    X = _small_data(n=30, d=5, seed=2)
    init = tuple(np.asarray(w) for w in jaxdae.initialise.random_init(jax.random.key(9), 5, 3, 0.5))
    n_seeds = 3000
    g_mom = _one_step_updates(X, init, n_seeds, engine="moments")
    g_dat = _one_step_updates(X, init, n_seeds, engine="data")
    # Mean: the gradient is linear in the moments, so its mean is the expected-loss gradient.
    g_exp = _one_step_updates(X, init, 1, noise="expected")[0]
    for g in (g_mom, g_dat):
        z = (g.mean(0) - g_exp) / (g.std(0, ddof=1) / np.sqrt(n_seeds))
        assert np.max(np.abs(z)) < 5
    z, cov = _cov_z(g_mom, g_dat)
    assert np.max(np.abs(z)) < 5.5, np.max(np.abs(z))
    assert np.max(np.abs(np.diag(cov))) > 1e-3  # the noise is there


# --------------------------------------------------------------------------- seeds and grids

GRID_KW = dict(hidden=3, steps=20, lr=0.1, record_every=1, record_weights=True, init=SMALL_INIT)
NOISES = [0.0, 0.1, 0.3, 0.6]


@pytest.mark.parametrize("engine, activation", [("moments", "linear"), ("data", "tanh")])
def test_grid_equals_separate_runs_bit_for_bit(engine, activation):
    kw = dict(GRID_KW, engine=engine, activation=activation)
    res = train.fit_grid(SMALL, {"noise_var": NOISES, "seed": [0, 1, 2, 3]}, key=KEY, **kw)
    assert res.names == ("noise_var", "seed") and res.shape == (4, 4)
    assert res.trajectory.mode_strength.shape == (4, 4, 21, 6)
    for i, nv in enumerate(NOISES):
        for j in range(4):
            one = train.fit(SMALL, noise_var=nv, key=jax.random.fold_in(KEY, j), **kw)
            picked = res.sel(noise_var=nv, seed=j)
            for a, b in zip(jax.tree.leaves(picked), jax.tree.leaves(one)):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # Grid order follows the dict: the transposed grid holds the same runs.
    flipped = train.fit_grid(SMALL, {"seed": [0, 1, 2, 3], "noise_var": NOISES}, key=KEY, **kw)
    np.testing.assert_array_equal(np.asarray(flipped.trajectory.mode_strength),
                                  np.asarray(res.trajectory.mode_strength).swapaxes(0, 1))


def test_second_grid_call_does_not_recompile():
    kw = dict(key=KEY, engine="moments", **GRID_KW)
    train.fit_grid(SMALL, {"noise_var": NOISES, "seed": [0, 1, 2, 3]}, **kw)
    before = train._simulate._cache_size()
    res = train.fit_grid(SMALL, {"noise_var": [0.05, 0.2, 0.4, 0.9], "seed": [7, 8, 9, 10]}, **kw)
    res.trajectory.mode_strength.block_until_ready()
    assert train._simulate._cache_size() == before
    # Neither does a lone run with new hyper-parameter values.
    train.fit(SMALL, noise_var=0.1, **kw)
    before = train._simulate._cache_size()
    train.fit(SMALL, noise_var=0.7, weight_decay=0.01, **kw)
    assert train._simulate._cache_size() == before


def test_seeds_fix_the_noise_and_noise_levels_scale_one_pattern():
    res = train.fit_grid(SMALL, {"noise_var": NOISES, "seed": [0, 1, 2, 3]}, key=KEY, engine="moments", **GRID_KW)
    w1 = np.asarray(res.trajectory.weights[0])
    step1 = (w1[:, :, 1] - w1[:, :, 0]).reshape(4, 4, -1)  # (noise, seed, H*D) = -lr * grad
    # Same seed, same result; different seeds, different noise.
    again = train.fit(SMALL, noise_var=0.3, key=jax.random.fold_in(KEY, 2), engine="moments", **GRID_KW)
    np.testing.assert_array_equal(np.asarray(again.weights[0][1] - again.weights[0][0]).ravel(), step1[2, 2])
    assert np.max(np.abs(step1[2, 0] - step1[2, 1])) > 1e-3
    # Common random numbers: for one seed the first update is a quadratic in sigma (the noise is
    # sigma * Z0 with one Z0), so three levels predict the fourth; mixing seeds breaks it.
    sig = np.sqrt(NOISES)

    def predict(rows):
        coef = np.polyfit(sig[:3], rows[:3], 2)
        return np.polyval(coef, sig[3])

    for j in range(4):
        np.testing.assert_allclose(predict(step1[:, j]), step1[3, j], atol=1e-12)
    mixed = np.stack([step1[k, k] for k in range(4)])
    assert np.max(np.abs(predict(mixed) - mixed[3])) > 1e-3


# --------------------------------------------------------------------------- nonlinear nets


@pytest.mark.parametrize("activation, batch_size", [("relu", None), ("tanh", None), ("relu", 256)])
def test_nonlinear_autoencoders_train(activation, batch_size):
    tr = train.fit(DIGITS, hidden=16, steps=300, noise_var=0.1, lr=0.05, init_scale=0.1, activation=activation,
                   batch_size=batch_size, record_every=30, key=KEY)
    loss = np.asarray(tr.loss)
    u = np.asarray(tr.mode_strength)
    assert int(tr.result) == 0 and np.all(np.isfinite(u)) and np.all(np.isfinite(loss))
    assert loss[-1] < 0.5 * loss[0]
    # The leading mode is learned, a sane range, and modes outside the rank of X are 0.
    assert 0.5 < u[-1, 0] < 1.1
    assert np.all(np.abs(u[-1, :40]) < 2)
    assert np.all(u[:, -1] == 0)


def test_reconstruction_strength_equals_linear_strength_for_a_linear_map():
    rng = np.random.default_rng(1)
    w1, w2 = rng.normal(size=(5, 64)), rng.normal(size=(64, 5))
    xhat = DIGITS @ (w2 @ w1).T
    live = LAM > LAM[0] * (max(DIGITS.shape) * np.finfo(np.float64).eps) ** 2
    u_rec = train._recon_strength(xhat @ VECS, DIGITS @ VECS, LAM, live)
    u_lin = train._linear_strength(w1, w2, VECS)
    # Agreement is to rounding relative to lam_0 / lam_k (the division amplifies it).
    np.testing.assert_allclose(np.asarray(u_rec)[:40], np.asarray(u_lin)[:40], rtol=1e-8, atol=1e-8)


def test_minibatches_cover_each_epoch_once_and_reach_the_fixed_point():
    n, b = 40, 8
    X = np.arange(n, dtype=np.float64)[:, None] * np.ones((1, 3))
    cfg = train._Config(2, "linear", "none", "data", 10, 1, b, "random", "sgd", None, False)
    consts = {"X": jnp.asarray(X)}
    ks = jax.random.key(3)
    seen = [np.asarray(train._draw(cfg, consts, ks, ks, t)[0][:, 0]).astype(int) for t in range(10)]
    np.testing.assert_array_equal(np.sort(np.concatenate(seen[:5])), np.arange(n))
    np.testing.assert_array_equal(np.sort(np.concatenate(seen[5:])), np.arange(n))
    assert not np.array_equal(np.concatenate(seen[:5]), np.concatenate(seen[5:]))
    # Minibatch SGD on the plain AE: the leading modes reach u* = 1 (closed form).
    tr = train.fit(SMALL, hidden=3, steps=600, lr=0.05, batch_size=10, noise="none", init_scale=0.1, key=KEY)
    np.testing.assert_allclose(np.asarray(tr.final)[:3], 1.0, atol=1e-2)
    # batch_size = N is the full batch (up to the order of the sum).
    full = train.fit(SMALL, hidden=3, steps=50, lr=0.05, noise="none", init_scale=0.1, key=KEY, engine="data")
    one = train.fit(SMALL, hidden=3, steps=50, lr=0.05, noise="none", init_scale=0.1, key=KEY, batch_size=40)
    np.testing.assert_allclose(np.asarray(one.mode_strength), np.asarray(full.mode_strength), rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------- optimisers and dtypes


def test_optax_factory_sweeps_lr_and_transformation_is_used_as_is():
    kw = dict(hidden=3, steps=60, noise="expected", noise_var=0.1, init=SMALL_INIT, record_every=10, key=KEY)
    res = train.fit_grid(SMALL, {"lr": [0.01, 0.03]}, optimizer=optax.adam, **kw)
    for lr in (0.01, 0.03):
        one = train.fit(SMALL, lr=lr, optimizer=optax.adam, **kw)
        np.testing.assert_array_equal(np.asarray(res.sel(lr=lr).mode_strength), np.asarray(one.mode_strength))
        assert float(one.loss[-1]) < 0.9 * float(one.loss[0])
    # A ready-made transformation: optax.sgd(0.05) is the default SGD at lr = 0.05.
    a = train.fit(SMALL, optimizer=optax.sgd(0.05), **kw)
    b = train.fit(SMALL, lr=0.05, **kw)
    np.testing.assert_allclose(np.asarray(a.mode_strength), np.asarray(b.mode_strength), rtol=1e-12, atol=1e-15)


def test_float32_follows_input_and_stays_finite():
    X32 = DIGITS.astype(np.float32)
    tr = train.fit(X32, hidden=8, steps=400, noise_var=0.3, lr=0.05, init="aligned", init_scale=S0,
                   record_every=4, noise="expected", key=KEY)
    assert tr.mode_strength.dtype == jnp.float32 and tr.loss.dtype == jnp.float32 and tr.t.dtype == jnp.float32
    ref = np.asarray(exact.mode_strength_discrete(np.asarray(tr.t).astype(int)[:, None], LAM[:8], init=(S0, S0),
                                                  noise_var=0.3, lr=0.05))
    np.testing.assert_allclose(np.asarray(tr.mode_strength)[:, :8], ref, rtol=2e-4, atol=1e-7)


def test_divergence_is_flagged_not_hidden():
    tr = train.fit(SMALL, hidden=3, steps=200, lr=5.0, noise="none", init=SMALL_INIT, key=KEY)
    assert int(tr.result) == 1


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(X=np.ones(5)), "X must be 2-D"),
        (dict(X=np.array([[1.0, np.nan], [0.0, 1.0]])), "X must be finite, got nan at index \\(0, 1\\)"),
        (dict(hidden=0), "hidden must be an integer >= 1, got 0"),
        (dict(hidden=2.5), "hidden must be an integer"),
        (dict(steps=0), "steps must be an integer >= 1, got 0"),
        (dict(noise_var=-0.1), "noise_var must be >= 0 and finite, got -0.1"),
        (dict(weight_decay=-1.0), "weight_decay must be >= 0"),
        (dict(lr=0.0), "lr must be > 0"),
        (dict(init_scale=-1.0), "init_scale must be > 0"),
        (dict(activation="sigmoid"), "activation must be one of 'linear', 'relu', 'tanh', got 'sigmoid'"),
        (dict(noise="uniform"), "noise must be one of 'gaussian', 'expected', 'none', got 'uniform'"),
        (dict(noise="expected", activation="relu"), "noise='expected' needs activation='linear'"),
        (dict(batch_size=41), "batch_size must be <= the number of samples N = 40, got 41"),
        (dict(batch_size=0), "batch_size must be an integer >= 1"),
        (dict(optimizer="adam"), "optimizer must be an optax.GradientTransformation"),
        (dict(optimizer=lambda: 1), "optimizer must be an optax.GradientTransformation"),
        (dict(optimizer=optax.sgd(0.1), lr=0.1), "lr cannot be combined with an optax.GradientTransformation"),
        (dict(init="orthogonal"), "init must be one of 'random', 'aligned'"),
        (dict(init=(np.zeros((2, 6)), np.zeros((6, 3)))), "init=\\(W1, W2\\) must have shapes"),
        (dict(hidden=7, init="aligned"), "hidden must be <= the data dimension 6"),
        (dict(engine="moments", activation="tanh"), "engine='moments' needs activation='linear'"),
        (dict(record_every=0), "record_every must be an integer >= 1"),
        (dict(key=0), "key must be a single JAX PRNG key"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, match):
    args = dict(X=SMALL, hidden=3, steps=5, key=KEY)
    args.update(kwargs)
    X = args.pop("X")
    with pytest.raises(ValueError, match=match):
        train.fit(X, **args)


@pytest.mark.parametrize(
    "grid, kwargs, match",
    [
        ({"noise": [0.1]}, {}, "unknown grid name"),
        ({}, {}, "grid must be a non-empty dict"),
        ({"noise_var": []}, {}, "grid\\['noise_var'\\] must be a non-empty 1-D sequence"),
        ({"noise_var": [0.1, -0.2]}, {}, "grid\\['noise_var'\\] must be >= 0 and finite, got -0.2 at index \\(1,\\)"),
        ({"seed": [0, 1.5]}, {}, "grid\\['seed'\\] must hold integers"),
        ({"noise_var": [0.1]}, {"noise_var": 0.2}, "noise_var is given both in grid and as a keyword"),
        ({"lr": [0.1]}, {"optimizer": optax.sgd(0.1)}, "lr cannot be combined"),
        ({"init_scale": [0.1]}, {"init": SMALL_INIT}, "init_scale cannot be swept"),
    ],
)
def test_bad_grid_is_a_clear_error(grid, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train.fit_grid(SMALL, grid, hidden=3, steps=5, key=KEY, **kwargs)
