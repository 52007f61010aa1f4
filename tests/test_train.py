"""Tests of `jaxdae.train`: discrete training against the exact theory, statistics and engineering.

References are independent of the code under test: the exact discrete per-mode map
(`exact.mode_strength_discrete`), the continuous closed forms with a first-order (modified
equation) correction integrated by scipy, closed-form fixed points, naive input-noise sampling
(the data engine) versus the exact moment sampler, and single runs versus `jax.vmap` grids.
Shapes are small and configurations shared so that every program compiles once.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.integrate import solve_ivp

import jaxdae
from jaxdae import exact, train
from jaxdae.initialise import Aligned, Random
from tests.helpers import compiles

DIGITS = jaxdae.data.digits(np.float64)
DATA = train.Data.from_array(DIGITS)
LAM = np.asarray(DATA.spectrum.lam)
VECS = np.asarray(DATA.spectrum.vecs)
KEY = jax.random.key(0)

# One configuration for every aligned, expected-noise digits run (one compile per engine).
H_AL = 8
S0 = 1e-2
ALIGNED = dict(hidden=H_AL, steps=2000, init=Aligned(u0=S0**2), record_every=20, key=KEY)


def _small_data(n=40, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.linspace(1.5, 0.3, d)


SMALL = _small_data()
SMALL_INIT = tuple(np.asarray(w) for w in jaxdae.initialise.random_init(jax.random.key(5), 6, 3, 0.3))


def _keys(seeds):
    return jax.vmap(lambda s: jax.random.fold_in(KEY, s))(jnp.asarray(seeds, jnp.uint32))


def test_record_every_not_dividing_steps_keeps_every_record():
    """Records at 0, 3, 6, 9 and the final step 10, each equal to the exact discrete map."""
    spec = jaxdae.Spectrum.from_data(SMALL)
    tr = train.fit(SMALL, hidden=3, steps=10, lr=0.1, noise="expected", noise_var=0.1, init=Aligned(0.01),
                   record_every=3, key=KEY)
    t = np.asarray(tr.t)
    np.testing.assert_array_equal(t, [0, 3, 6, 9, 10])
    ref = np.asarray(exact.mode_strength_discrete(t[:, None], np.asarray(spec.lam)[:3], init=(0.1, 0.1), noise_var=0.1, lr=0.1))
    np.testing.assert_allclose(np.asarray(tr.mode_strength)[:, :3], ref, rtol=1e-9)
    assert np.all(np.asarray(tr.loss) > 0) and np.all(np.asarray(tr.weight_norm) > 0)
    assert int(tr.stats["num_steps"]) == 10


# --------------------------------------------------------------------------- exact discrete map


@pytest.mark.parametrize("engine", ["moments", "data"])
@pytest.mark.parametrize(
    "lr, noise_var, weight_decay",
    [(0.005, 0.3, 0.0), (0.9 / LAM[0], 0.3, 0.0), (0.005, 0.0, 0.1), (0.9 / LAM[0], 0.2, 0.05)],
)
def test_aligned_expected_noise_equals_exact_discrete_map(engine, lr, noise_var, weight_decay):
    """Every recorded mode < H equals the exact per-mode GD map to 1e-9 relative."""
    tr = train.fit(DATA, noise_var=noise_var, weight_decay=weight_decay, lr=lr, noise="expected",
                   engine=engine, **ALIGNED)
    assert int(tr.status) == jaxdae.Status.SUCCESSFUL
    t = np.asarray(tr.t)
    assert t[0] == 0 and t[-1] == 2000 and len(t) == 101
    u = np.asarray(tr.mode_strength)[:, :H_AL]
    ref = np.asarray(exact.mode_strength_discrete(t.astype(int)[:, None], LAM[:H_AL], init=(S0, S0),
                                                  noise_var=noise_var, weight_decay=weight_decay, lr=lr))
    np.testing.assert_allclose(u, ref, rtol=1e-9, atol=0)
    # The expected loss of the recorded weights (an independent formula in the data basis).
    w_err = np.max(np.abs(np.asarray(tr.mode_strength)[:, H_AL:]))
    assert w_err < 1e-14  # modes beyond the width are never touched by an aligned start


def _first_order_correction(t, lam, noise_var, weight_decay, lr, u0):
    r"""$u_{GD}(t) \approx u(t)(1 + \alpha\delta(\alpha t))$ with the modified-equation correction."""
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
    tr = train.fit(DATA, noise_var=nv, lr=lr, noise="expected", **ALIGNED)
    t = np.asarray(tr.t)
    u = np.asarray(tr.mode_strength)[:, :H_AL]
    lam = LAM[:H_AL]
    uc = np.asarray(exact.mode_strength(t[:, None], lam, noise_var=nv, lr=lr, u0=S0**2))
    delta = _first_order_correction(t, lam, nv, 0.0, lr, S0**2)
    err = np.max(np.abs(u - uc), axis=0)
    bound = lr * np.max(np.abs(uc * delta), axis=0)
    assert np.all(err <= 1.1 * bound + 1e-12), (err, bound)
    resid = np.max(np.abs(u - uc * (1 + lr * delta)), axis=0)
    assert np.all(resid <= 0.1 * err + 1e-12), (resid, err)
    assert err[0] > 1e-2  # a visible discrete-time lag, so the check has teeth


def test_recorded_loss_is_the_expected_loss_of_the_recorded_weights():
    """Moment engine (eigenbasis) against the loss written directly in the data basis."""
    tr = train.fit(SMALL, hidden=3, steps=20, lr=0.05, noise="expected", noise_var=0.2, weight_decay=0.03,
                   init=SMALL_INIT, record_every=5, record_weights=True, key=KEY)
    for i in range(len(tr.t)):
        w1, w2 = (np.asarray(w[i]) for w in tr.weights)
        w = w2 @ w1
        ref = (0.5 * np.mean(np.sum((SMALL - SMALL @ w.T) ** 2, axis=1)) + 0.1 * np.sum(w**2)
               + 0.015 * (np.sum(w1**2) + np.sum(w2**2)))
        np.testing.assert_allclose(float(tr.loss[i]), ref, rtol=1e-12)
        np.testing.assert_allclose(float(tr.weight_norm[i]), np.sqrt(np.sum(w1**2) + np.sum(w2**2)), rtol=1e-12)


def test_sampled_loss_averages_to_the_expected_loss():
    """The recorded loss is linear in the drawn moments, so its mean over keys is the expected loss."""
    kw = dict(hidden=3, steps=1, lr=0.05, noise_var=0.4, init=SMALL_INIT, record_every=1)
    loss = np.asarray(_over_seeds(SMALL, 400, **kw).loss)[:, 0]
    ref = float(train.fit(SMALL, noise="expected", key=KEY, **kw).loss[0])
    z = (loss.mean() - ref) / (loss.std(ddof=1) / np.sqrt(len(loss)))
    assert abs(z) < 5 and loss.std() > 1e-3 * ref, (z, loss.std())


# --------------------------------------------------------------------------- random init on digits


def test_random_init_on_digits_approaches_theory_late():
    """Leading 8 modes from small random weights: far from the decoupled theory early, on it late."""
    lr, steps, h = 0.05, 1500, 16
    tr = train.fit(DATA, hidden=h, steps=steps, lr=lr, init=Random(1e-2), noise="none", record_every=15,
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
    assert np.all(late < 2e-3), late
    assert np.max(early[1:]) > 10 * np.max(late[1:])  # the alignment phase is visible early
    np.testing.assert_allclose(np.asarray(tr.final)[:8], 1.0, atol=1e-3)  # AE fixed point u* = 1


# --------------------------------------------------------------------------- fixed points and statistics


def test_wdae_fixed_point():
    gam = 0.3
    tr = train.fit(DATA, weight_decay=gam, lr=0.05, noise="expected", **ALIGNED)
    fp = (LAM[:4] - gam) / LAM[:4]
    np.testing.assert_allclose(np.asarray(tr.final)[:4], fp, rtol=1e-6)
    low = LAM[:H_AL] < gam
    assert np.any(low) and np.all(np.asarray(tr.final)[:H_AL][low] < S0**2)


def _over_seeds(X, n_seeds, **kw):
    return jax.jit(jax.vmap(lambda k: train.fit(X, key=k, **kw)))(_keys(np.arange(n_seeds)))


def test_sampled_noise_matches_expected_within_statistical_error():
    nv, n_seeds = 0.3, 24
    kw = dict(ALIGNED, lr=0.05, noise_var=nv, steps=400, record_every=4)
    del kw["key"]
    u = np.asarray(_over_seeds(DATA, n_seeds, **kw).mode_strength)[..., :H_AL]
    ref = train.fit(DATA, noise="expected", key=KEY, **kw)
    mean, se = u.mean(0), u.std(0, ddof=1) / np.sqrt(n_seeds)
    assert np.max(se) < 5e-3  # the comparison is sharp enough to fail
    z = (mean - np.asarray(ref.mode_strength)[:, :H_AL]) / np.maximum(se, 1e-12)
    assert np.max(np.abs(z[1:])) < 5, np.max(np.abs(z[1:]))
    late = u[:, -25:, :4].mean(axis=1)  # DAE fixed point lam / (lam + sigma2), per-seed late averages
    z_fp = (late.mean(0) - LAM[:4] / (LAM[:4] + nv)) / (late.std(0, ddof=1) / np.sqrt(n_seeds))
    assert np.all(np.abs(z_fp) < 5), z_fp


def test_sampled_noise_data_engine_matches_expected():
    """The same statistical check for naive input-noise sampling (small data)."""
    X = _small_data(n=200, d=8, seed=3)
    kw = dict(hidden=4, steps=300, lr=0.05, noise_var=0.2, init=Aligned(0.01), record_every=10, engine="data")
    n_seeds = 32
    u = np.asarray(_over_seeds(X, n_seeds, **kw).mode_strength)[..., :4]
    ref = train.fit(X, noise="expected", key=KEY, **kw)
    mean, se = u.mean(0), u.std(0, ddof=1) / np.sqrt(n_seeds)
    assert np.max(se) < 2e-2
    z = (mean - np.asarray(ref.mode_strength)[:, :4]) / np.maximum(se, 1e-12)
    assert np.max(np.abs(z[1:])) < 5


# --------------------------------------------------------------------------- the moment sampler


def _revealed_moments(X, engine, n_draws):
    r"""$(E, F)$ in the data basis, read off first SGD updates (lr = 1, sigma = 1, H = D).

    From $W_1 = I$, $W_2 = 0$: $W_2' = S_{xt} = C + E$. From $W_1 = W_2 = I$:
    $W_2' = I - (S_{tt} - S_{xt}) = I - E^\top - F$.
    """
    d = X.shape[1]
    c = X.T @ X / X.shape[0]
    eye = np.eye(d)
    inits = (np.stack([eye, eye]), np.stack([np.zeros((d, d)), eye]))

    def one(key, w1, w2):
        tr = train.fit(X, hidden=d, steps=1, lr=1.0, noise_var=1.0, init=(w1, w2), engine=engine, record_every=1,
                       record_weights=True, key=key)
        return tr.weights[1][1]

    w2_next = jax.jit(jax.vmap(jax.vmap(one, (None, 0, 0)), (0, None, None)))(
        jax.random.split(jax.random.key(X.shape[0] + (engine == "data")), n_draws), *inits)
    w2_next = np.asarray(w2_next)
    e = w2_next[:, 0] - c
    f = eye - w2_next[:, 1] - np.swapaxes(e, 1, 2)
    iu = np.triu_indices(d)
    return np.concatenate([e.reshape(n_draws, -1), f[:, iu[0], iu[1]]], axis=1), np.concatenate(
        [np.zeros(d * d), eye[iu]])


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
    """The moment engine's $(E, F)$ has the joint law of $(X^T Z_0/N, Z_0^T Z_0/N)$: means and covariances."""
    n_draws = 3000
    X = _small_data(n=n, d=5, seed=n)
    fast, mean = _revealed_moments(X, "moments", n_draws)
    slow, _ = _revealed_moments(X, "data", n_draws)
    for g in (fast, slow):
        z = (g.mean(0) - mean) / (g.std(0, ddof=1) / np.sqrt(n_draws))
        assert np.max(np.abs(z)) < 5
    z, cov = _cov_z(fast, slow)
    assert np.max(np.abs(z)) < 5.5, np.max(np.abs(z))
    assert np.min(np.diag(cov)) > 1e-3


# --------------------------------------------------------------------------- seeds and grids

GRID_KW = dict(hidden=3, steps=20, lr=0.1, record_every=1, record_weights=True, init=SMALL_INIT)
NOISES = np.array([0.0, 0.1, 0.3, 0.6])
SEEDS = np.arange(4)


def _grid_fn(**kw):
    """`(noise levels, keys) -> Trajectory` with axes (seed, noise): nested vmap, keys outside."""
    run = lambda nv, key: train.fit(SMALL, noise_var=nv, key=key, **kw)  # noqa: E731
    return jax.jit(jax.vmap(jax.vmap(run, (0, None)), (None, 0)))


GRID_MOMENTS = _grid_fn(engine="moments", **GRID_KW)


@pytest.mark.parametrize("engine, activation", [("moments", "linear"), ("data", "tanh")])
def test_grid_equals_separate_runs(engine, activation):
    """A vmap grid equals the same runs one by one, to rounding (measured: <= 4e-13 relative, float64)."""
    kw = dict(GRID_KW, engine=engine, activation=activation)
    fn = GRID_MOMENTS if engine == "moments" else _grid_fn(**kw)
    res = fn(NOISES, _keys(SEEDS))
    assert res.mode_strength.shape == (4, 4, 21, 6) and res.status.shape == (4, 4)
    for i, nv in enumerate(NOISES):
        for j in SEEDS:
            one = train.fit(SMALL, noise_var=nv, key=jax.random.fold_in(KEY, j), **kw)
            picked = jax.tree.map(lambda a: a[j, i], res)
            for a, b in zip(jax.tree.leaves(picked), jax.tree.leaves(one)):
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-11, atol=1e-15)


def test_new_values_do_not_recompile():
    GRID_MOMENTS(NOISES, _keys(SEEDS)).mode_strength.block_until_ready()
    train.fit(SMALL, noise_var=0.1, key=KEY, **GRID_KW).mode_strength.block_until_ready()

    def again():
        GRID_MOMENTS(NOISES * 1.5 + 0.01, _keys(SEEDS + 7)).mode_strength.block_until_ready()
        train.fit(SMALL, noise_var=0.7, weight_decay=0.01, lr=0.2, key=jax.random.key(3),
                  **{k: v for k, v in GRID_KW.items() if k != "lr"}).mode_strength.block_until_ready()

    assert compiles(again) == []


def test_seeds_fix_the_noise_and_noise_levels_scale_one_pattern():
    res = GRID_MOMENTS(NOISES, _keys(SEEDS))
    w1 = np.asarray(res.weights[0])
    step1 = (w1[:, :, 1] - w1[:, :, 0]).reshape(4, 4, -1).swapaxes(0, 1)  # (noise, seed, H*D) = -lr * grad
    assert np.max(np.abs(step1[2, 0] - step1[2, 1])) > 1e-3  # different seeds, different noise
    # Common random numbers: for one seed the first update is a quadratic in sigma (the noise is
    # sigma * Z0 with one Z0), so three levels predict the fourth; mixing seeds breaks it.
    sig = np.sqrt(NOISES)

    def predict(rows):
        return np.polyval(np.polyfit(sig[:3], rows[:3], 2), sig[3])

    for j in range(4):
        np.testing.assert_allclose(predict(step1[:, j]), step1[3, j], atol=1e-12)
    mixed = np.stack([step1[k, k] for k in range(4)])
    assert np.max(np.abs(predict(mixed) - mixed[3])) > 1e-3
    # Reproducible from the key: the same call again is bit for bit the same.
    np.testing.assert_array_equal(np.asarray(GRID_MOMENTS(NOISES, _keys(SEEDS)).weights[0]), w1)


def test_initial_scale_is_vmappable_and_scales_one_pattern():
    run = jax.jit(jax.vmap(lambda s: train.fit(SMALL, hidden=3, steps=1, init=Random(s), noise="none",
                                               record_every=1, record_weights=True, key=KEY)))
    w1 = np.asarray(run(jnp.array([1e-3, 2e-3, 0.5])).weights[0][:, 0])
    np.testing.assert_allclose(w1[1], 2 * w1[0], rtol=1e-13)
    np.testing.assert_allclose(w1[2], 500 * w1[0], rtol=1e-13)


# --------------------------------------------------------------------------- nonlinear nets


@pytest.mark.parametrize("activation, batch_size", [("relu", None), ("tanh", None), ("relu", 256)])
def test_nonlinear_autoencoders_train(activation, batch_size):
    tr = train.fit(DATA, hidden=16, steps=300, noise_var=0.1, lr=0.05, init=Random(0.1), activation=activation,
                   batch_size=batch_size, record_every=30, key=KEY)
    loss = np.asarray(tr.loss)
    u = np.asarray(tr.mode_strength)
    assert int(tr.status) == 0 and np.all(np.isfinite(u)) and np.all(np.isfinite(loss))
    assert loss[-1] < 0.5 * loss[0]
    assert 0.5 < u[-1, 0] < 1.1
    assert np.all(np.abs(u[-1, :40]) < 2)
    assert np.all(u[:, -1] == 0)  # modes outside the rank of X


def test_tanh_net_in_its_linear_regime_reports_the_linear_mode_strengths():
    r"""Reconstruction-based strengths of a tiny tanh net equal the weight-based ones of the linear net.

    With pre-activations $h \sim 10^{-3}$, $\tanh h = h(1 + O(h^2))$: agreement to ~1e-6 relative.
    """
    kw = dict(hidden=3, steps=1, noise="none", init=tuple(1e-3 * w for w in SMALL_INIT), key=KEY, engine="data")
    lin = train.fit(SMALL, **kw)
    tanh = train.fit(SMALL, activation="tanh", **kw)
    np.testing.assert_allclose(np.asarray(tanh.mode_strength), np.asarray(lin.mode_strength), rtol=1e-5)
    assert np.min(np.abs(np.asarray(lin.mode_strength))) > 1e-9  # not trivially zero


def test_minibatches_cover_each_epoch_once_and_reach_the_fixed_point():
    r"""D = H = 1, x_i = i + 1: the batch's mean square s_t is read off each SGD update.

    $L = \tfrac{s}{2}(1 - ab)^2$, so $a' - a = \alpha b(1 - ab)s$.
    """
    n, b, lr = 40, 8, 1e-4
    X = np.arange(1.0, n + 1)[:, None]
    tr = train.fit(X, hidden=1, steps=10, lr=lr, batch_size=b, noise="none", init=(np.full((1, 1), 0.5),) * 2,
                   record_every=1, record_weights=True, key=jax.random.key(3))
    a, bb = np.asarray(tr.weights[0])[:, 0, 0], np.asarray(tr.weights[1])[:, 0, 0]
    s = (a[1:] - a[:-1]) / (lr * bb[:-1] * (1 - a[:-1] * bb[:-1]))
    total = np.sum(X**2) / b
    np.testing.assert_allclose([s[:5].sum(), s[5:].sum()], [total, total], rtol=1e-6)
    assert np.max(np.abs(s[:5] - s[5:])) > 1  # reshuffled between epochs
    # Minibatch SGD on the plain AE: the leading modes reach u* = 1 (closed form).
    tr = train.fit(SMALL, hidden=3, steps=600, lr=0.05, batch_size=10, noise="none", init=Random(0.1), key=KEY)
    np.testing.assert_allclose(np.asarray(tr.final)[:3], 1.0, atol=1e-2)
    # batch_size = N is the full batch (up to the order of the sum).
    kw = dict(hidden=3, steps=50, lr=0.05, noise="none", init=Random(0.1), key=KEY)
    full = train.fit(SMALL, engine="data", **kw)
    one = train.fit(SMALL, batch_size=40, **kw)
    np.testing.assert_allclose(np.asarray(one.mode_strength), np.asarray(full.mode_strength), rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------- optimisers and dtypes


def test_optax_factory_sweeps_lr_and_transformation_is_used_as_is():
    kw = dict(hidden=3, steps=60, noise="expected", noise_var=0.1, init=SMALL_INIT, record_every=10, key=KEY)
    lrs = jnp.array([0.01, 0.03])
    res = jax.jit(jax.vmap(lambda lr: train.fit(SMALL, lr=lr, optimizer=optax.adam, **kw)))(lrs)
    for i, lr in enumerate([0.01, 0.03]):
        one = train.fit(SMALL, lr=lr, optimizer=optax.adam, **kw)
        np.testing.assert_allclose(np.asarray(res.mode_strength[i]), np.asarray(one.mode_strength), rtol=1e-12)
        assert float(one.loss[-1]) < 0.9 * float(one.loss[0])
    a = train.fit(SMALL, optimizer=optax.sgd(0.05), **kw)  # a ready-made transformation
    b = train.fit(SMALL, lr=0.05, **kw)
    np.testing.assert_allclose(np.asarray(a.mode_strength), np.asarray(b.mode_strength), rtol=1e-12, atol=1e-15)


def test_float32_follows_input_and_stays_finite():
    X32 = DIGITS.astype(np.float32)
    tr = train.fit(X32, hidden=8, steps=400, noise_var=0.3, lr=0.05, init=Aligned(S0**2), record_every=4,
                   noise="expected", key=KEY)
    assert tr.mode_strength.dtype == jnp.float32 and tr.loss.dtype == jnp.float32 and tr.t.dtype == jnp.float32
    ref = np.asarray(exact.mode_strength_discrete(np.asarray(tr.t).astype(int)[:, None], LAM[:8], init=(S0, S0),
                                                  noise_var=0.3, lr=0.05))
    np.testing.assert_allclose(np.asarray(tr.mode_strength)[:, :8], ref, rtol=2e-4, atol=1e-7)
    sampled = train.fit(X32, hidden=8, steps=100, noise_var=1.0, lr=0.05, key=KEY, record_every=10)
    assert sampled.mode_strength.dtype == jnp.float32 and np.all(np.isfinite(np.asarray(sampled.mode_strength)))


def test_divergence_is_flagged_not_hidden():
    tr = train.fit(SMALL, hidden=3, steps=200, lr=5.0, noise="none", init=SMALL_INIT, key=KEY)
    assert int(tr.status) == jaxdae.Status.DIVERGED


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
        (dict(noise_var=[0.1, 0.2]), "noise_var must be a scalar"),
        (dict(weight_decay=-1.0), "weight_decay must be >= 0"),
        (dict(lr=0.0), "lr must be > 0"),
        (dict(activation="sigmoid"), "activation must be one of 'linear', 'relu', 'tanh', got 'sigmoid'"),
        (dict(noise="gaussian"), "noise must be one of 'sampled', 'expected', 'none', got 'gaussian'"),
        (dict(noise="expected", activation="relu"), "noise='expected' needs activation='linear'"),
        (dict(batch_size=41), "batch_size must be <= the number of samples N = 40, got 41"),
        (dict(batch_size=0), "batch_size must be an integer >= 1"),
        (dict(optimizer="adam"), "optimizer must be an optax.GradientTransformation"),
        (dict(optimizer=lambda: 1), "optimizer must be an optax.GradientTransformation"),
        (dict(optimizer=optax.sgd(0.1), lr=0.1), "lr cannot be combined with an optax.GradientTransformation"),
        (dict(init="glorot"), "init must be one of 'random', 'orthogonal', 'aligned'"),
        (dict(init=3), "init must be 'random', 'orthogonal', 'aligned', a jaxdae.initialise strategy"),
        (dict(init=(np.zeros((2, 6)), np.zeros((6, 3)))), "init=\\(W1, W2\\) must have shapes"),
        (dict(hidden=7, init="aligned"), "hidden must be <= the data dimension 6"),
        (dict(hidden=7, init="orthogonal"), "hidden must be <= the data dimension 6"),
        (dict(engine="moments", activation="tanh"), "engine='moments' needs activation='linear'"),
        (dict(engine="fast"), "engine must be one of 'auto', 'moments', 'data', got 'fast'"),
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
