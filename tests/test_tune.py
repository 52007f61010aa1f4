"""Tests of `jaxdae.tune`: the held-out error and the noise level against brute force.

Reference: full-batch gradient descent written here on the rows of the training data (the
per-sample noise-averaged loss, `jax.grad`, in the data's own basis), vmapped over a grid of
noise levels, and the held-out error of its final weights computed from the held-out rows.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

from jaxdae import lr, tune
from jaxdae.spectrum import Spectrum
from tests.helpers import compiles

D, H, LR, U0 = 5, 3, 0.3, 1e-2
SCALES = np.array([1.0, 0.8, 0.6, 0.4, 0.3])


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(3)
    X_train = rng.normal(size=(8, D)) * SCALES
    X_heldout = rng.normal(size=(400, D)) * SCALES
    pair = (0.1 * rng.normal(size=(H, D)), 0.1 * rng.normal(size=(D, H)))
    return X_train, X_heldout, pair


def _start(X_train, pair, start):
    if start == "random":
        return pair, pair
    vecs = np.asarray(Spectrum.from_data(X_train).vecs)[:, :H]
    return "aligned", (np.sqrt(U0) * vecs.T, np.sqrt(U0) * vecs)


def rows_loss(params, X, noise_var, weight_decay):
    w1, w2 = params
    resid = X - X @ (w2 @ w1).T
    decay = weight_decay * (jnp.sum(w1**2) + jnp.sum(w2**2))
    return 0.5 * jnp.mean(jnp.sum(resid**2, axis=1)) + 0.5 * (noise_var * jnp.sum((w2 @ w1) ** 2) + decay)


@functools.partial(jax.jit, static_argnames="steps")
def _reference(noise_vars, X, X_heldout, params, weight_decay, heldout_noise_var, steps):
    """Held-out error after `steps` GD steps on the rows of `X`, one run per noise level."""

    def one(noise_var):
        def body(p, _):
            g = jax.grad(rows_loss)(p, X, noise_var, weight_decay)
            return jax.tree.map(lambda w, d: w - LR * d, p, g), None

        final, _ = jax.lax.scan(body, params, None, length=steps)
        return rows_loss(final, X_heldout, heldout_noise_var, 0.0)

    return jax.vmap(one)(noise_vars)


CASES = [
    # start, steps, weight_decay, heldout_noise_var
    ("aligned", 60, 0.0, 0.2),
    ("aligned", 60, 0.02, 0.3),
    ("random", 40, 0.0, 0.2),
]


@pytest.mark.parametrize("case", CASES)
def test_noise_level_matches_brute_force_grid(split, case):
    start, steps, gam, sig_h = case
    X_train, X_heldout, pair = split
    init, params = _start(X_train, pair, start)
    kw = dict(hidden=H, steps=steps, lr=LR, weight_decay=gam, init=init, u0=U0, heldout_noise_var=sig_h)
    best, value = tune.noise_level(X_train, X_heldout, **kw)
    grid = np.linspace(0.0, 1.0, 201)
    params = tuple(jnp.asarray(w) for w in params)
    ref = np.asarray(_reference(jnp.asarray(np.append(grid, best)), X_train, X_heldout, params, gam, sig_h, steps))
    i = int(np.argmin(ref[:-1]))
    assert 0 < i < grid.size - 1  # an interior optimum: the test can fail
    assert abs(float(best) - grid[i]) <= grid[1] - grid[0], (float(best), grid[i])
    assert ref[-1] <= ref[i] * (1 + 1e-3)
    np.testing.assert_allclose(float(value), ref[-1], rtol=1e-9)
    got = tune.heldout_loss(X_train, X_heldout, noise_var=grid[::50], **kw)
    np.testing.assert_allclose(got, ref[:-1][::50], rtol=1e-9)


def test_clean_heldout_error_prefers_no_noise(split):
    # A linear net from the aligned start: E = 1/2 sum c_k (1 - u_k)^2 falls as every u_k rises
    # towards 1, and noise only lowers u_k, so sigma^2 = 0 is the answer for clean held-out data.
    X_train, X_heldout, _ = split
    best, value = tune.noise_level(X_train, X_heldout, hidden=H, steps=60, lr=LR, u0=U0)
    assert float(best) == 0.0
    plain = tune.heldout_loss(X_train, X_heldout, hidden=H, steps=60, lr=LR, u0=U0)
    np.testing.assert_allclose(float(value), float(plain), rtol=1e-12)


@pytest.mark.parametrize("start", ["aligned", "random"])
def test_heldout_gradient_matches_central_differences(split, start):
    X_train, X_heldout, pair = split
    init, _ = _start(X_train, pair, start)
    f = lambda s: tune.heldout_loss(X_train, X_heldout, hidden=H, steps=30, lr=LR, noise_var=s,  # noqa: E731
                                    weight_decay=0.01, init=init, u0=U0, heldout_noise_var=0.2)
    for s in (0.05, 0.4):
        h = 1e-6
        fd = (float(f(s + h)) - float(f(s - h))) / (2 * h)
        np.testing.assert_allclose(float(jax.grad(f)(s)), fd, rtol=1e-6)


def test_minimise_finds_the_global_grid_bracket_and_the_ends():
    # Two minima; the deeper one at x = 8 (narrow), a shallow one at x = 0.5.
    f = lambda x: -jnp.exp(-(jnp.log(x) - jnp.log(8.0)) ** 2 / 0.01) - 0.5 * jnp.exp(-(jnp.log(x / 0.5)) ** 2)  # noqa: E731
    x, fx = tune.minimise(f, 0.01, 100.0)
    # Reference: the zero of d f / d log x near 8, by SciPy's Brent method.
    slope = jax.grad(lambda y: f(jnp.exp(y)))
    ref = np.exp(brentq(lambda y: float(slope(y)), np.log(7.0), np.log(9.0), xtol=1e-14))
    np.testing.assert_allclose(float(x), ref, rtol=1e-9)
    np.testing.assert_allclose(float(fx), float(f(jnp.asarray(ref))), rtol=1e-12)
    # A minimum at the upper end; a minimum on a linear grid.
    x, _ = tune.minimise(lambda x: -x, 0.1, 2.0)
    assert float(x) == 2.0
    x, _ = tune.minimise(lambda x: (x - 0.3) ** 2 * (x + 2.0), -1.0, 1.0, log=False)
    np.testing.assert_allclose(float(x), 0.3, atol=1e-9)
    # Non-finite values (a divergence) count as worse than any finite one.
    x, _ = tune.minimise(lambda x: jnp.where(x > 1.0, jnp.nan, (x - 0.9) ** 2), 0.1, 10.0)
    np.testing.assert_allclose(float(x), 0.9, rtol=1e-6)


def test_bad_input_is_named(split):
    X_train, X_heldout, _ = split
    kw = dict(hidden=H, steps=10)
    with pytest.raises(ValueError, match="X_heldout must have the dimension of X_train, D = 5"):
        tune.heldout_loss(X_train, X_heldout[:, :4], **kw)
    with pytest.raises(ValueError, match="X_heldout must have the dimension"):
        tune.noise_level(X_train, X_heldout[:, :4], **kw)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        tune.noise_level(X_train, X_heldout, hidden=H, steps=0)
    with pytest.raises(ValueError, match="hidden must be <= the data dimension"):
        tune.heldout_loss(X_train, X_heldout, hidden=6, steps=10)
    with pytest.raises(ValueError, match="heldout_noise_var must be >= 0"):
        tune.heldout_loss(X_train, X_heldout, heldout_noise_var=-1.0, **kw)
    with pytest.raises(ValueError, match="noise_var must be >= 0"):
        tune.heldout_loss(X_train, X_heldout, noise_var=-1.0, **kw)
    with pytest.raises(ValueError, match="lr must be a scalar"):
        tune.noise_level(X_train, X_heldout, lr=[0.1, 0.2], **kw)
    with pytest.raises(ValueError, match="lo and hi must satisfy 0 < lo < hi"):
        tune.minimise(lambda x: x, 0.0, 1.0)
    with pytest.raises(ValueError, match="not finite anywhere"):
        tune.minimise(lambda x: jnp.inf * x, 0.1, 1.0)
    with pytest.raises(ValueError, match="num must be an integer >= 3"):
        tune.minimise(lambda x: x, 0.1, 1.0, num=2)


def test_cli_answers_the_noise_level_question(capsys):
    import jaxdae
    from jaxdae.cli import main

    args = ["tune", "--hidden", "4", "--steps", "80", "--train-size", "200", "--lr", "0.05",
            "--heldout-noise-var", "0.1", "--seed", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    X = np.asarray(jaxdae.data.digits(), np.float64)
    order = np.asarray(jax.random.permutation(jax.random.key(1), len(X)))
    best, err = tune.noise_level(X[order[:200]], X[order[200:]], hidden=4, steps=80, lr=0.05, heldout_noise_var=0.1)
    assert f"answer: noise_var {float(best):.6g}, held-out error {float(err):.6g}" in out
    with pytest.raises(SystemExit):
        main(["tune", "--train-size", "5000"])
    assert "train-size must be <" in capsys.readouterr().err


# --------------------------------------------------------------------------- several hyper-parameters jointly


@functools.partial(jax.jit, static_argnames="steps")
def _reference_joint(noise_vars, rates, X, X_heldout, params, heldout_noise_var, steps):
    """Held-out error after `steps` GD steps on the rows of `X`, one run per (noise level, rate)."""

    def one(noise_var, rate):
        def body(p, _):
            g = jax.grad(rows_loss)(p, X, noise_var, 0.0)
            return jax.tree.map(lambda w, d: w - rate * d, p, g), None

        final, _ = jax.lax.scan(body, params, None, length=steps)
        return rows_loss(final, X_heldout, heldout_noise_var, 0.0)

    return jax.vmap(one)(noise_vars, rates)


def test_joint_noise_level_and_rate_match_brute_force_grid(split):
    X_train, X_heldout, pair = split
    init, params = _start(X_train, pair, "aligned")
    steps, sig_h = 60, 0.2
    best, value = tune.hyperparameters(X_train, X_heldout, hidden=H, steps=steps, over=("noise_var", "lr"), u0=U0,
                                       heldout_noise_var=sig_h)
    assert float(best["weight_decay"]) == 0.0
    # Without weight decay the stability limit is 1/lam_1 at every noise level (jaxdae.lr).
    limit = float(lr.optimal_learning_rate_for(X_train, hidden=H, criterion="stability"))
    sig = np.linspace(0.0, 0.6, 61)
    rates = limit * np.linspace(0.1, 1.0, 61)
    s, r = (g.ravel() for g in np.meshgrid(sig, rates, indexing="ij"))
    s, r = np.append(s, float(best["noise_var"])), np.append(r, float(best["lr"]))
    params = tuple(jnp.asarray(w) for w in params)
    ref = np.asarray(_reference_joint(jnp.asarray(s), jnp.asarray(r), X_train, X_heldout, params, sig_h, steps))
    i = int(np.argmin(ref[:-1]))
    si, ri = np.unravel_index(i, (sig.size, rates.size))
    assert 0 < si < sig.size - 1 and 0 < ri < rates.size - 1  # an interior optimum: the test can fail
    assert abs(float(best["noise_var"]) - sig[si]) <= sig[1] - sig[0], (best, sig[si])
    assert abs(float(best["lr"]) - rates[ri]) <= rates[1] - rates[0], (best, rates[ri])
    assert ref[-1] <= ref[i] * (1 + 1e-3)
    np.testing.assert_allclose(float(value), ref[-1], rtol=1e-9)
    # Tuning the rate as well beats the noise level alone at a fixed rate.
    alone = tune.noise_level(X_train, X_heldout, hidden=H, steps=steps, lr=LR, u0=U0, heldout_noise_var=sig_h)[1]
    assert float(value) < float(alone)


def test_joint_rate_never_exceeds_the_stability_limit(split):
    X_train, X_heldout, _ = split
    # A long horizon with noisy held-out data pulls towards large rates and some weight decay.
    best, value = tune.hyperparameters(X_train, X_heldout, hidden=H, steps=30, over=("noise_var", "weight_decay", "lr"),
                                       u0=U0, heldout_noise_var=0.2, num=6)
    limit = lr.optimal_learning_rate_for(X_train, hidden=H, noise_var=best["noise_var"],
                                         weight_decay=best["weight_decay"], criterion="stability", method="dense")
    assert 0 < float(best["lr"]) <= float(limit)
    ref = tune.heldout_loss(X_train, X_heldout, hidden=H, steps=30, u0=U0, heldout_noise_var=0.2, **best)
    np.testing.assert_allclose(float(value), float(ref), rtol=1e-12)


def test_second_call_with_new_values_does_not_recompile(split):
    X_train, X_heldout, _ = split
    kw = dict(hidden=H, steps=20, u0=U0)
    calls = [
        lambda s: tune.noise_level(X_train, X_heldout, lr=0.1 + s, heldout_noise_var=s, **kw),
        lambda s: tune.hyperparameters(X_train, X_heldout, over=("noise_var", "lr"), heldout_noise_var=s, num=5, **kw),
        lambda s: tune.minimise(_shifted_square, 0.1, 10.0 + s, args=(s,)),
    ]
    for call in calls:
        call(0.1)
        assert compiles(lambda: call(0.3)) == []


def _shifted_square(x, centre):
    return (jnp.log(x) - centre) ** 2


def test_joint_bad_input_is_named(split):
    X_train, X_heldout, _ = split
    kw = dict(hidden=H, steps=10)
    with pytest.raises(ValueError, match="over must be one of"):
        tune.hyperparameters(X_train, X_heldout, over=("noise",), **kw)
    with pytest.raises(ValueError, match="over must name each"):
        tune.hyperparameters(X_train, X_heldout, over=("lr", "lr"), **kw)
    with pytest.raises(ValueError, match="bounds\\['lr'\\] must satisfy 0 < lo < hi <= 1"):
        tune.hyperparameters(X_train, X_heldout, over=("lr",), bounds={"lr": (0.1, 2.0)}, **kw)
    with pytest.raises(ValueError, match="bounds\\['weight_decay'\\] must satisfy"):
        tune.hyperparameters(X_train, X_heldout, over=("weight_decay",), bounds={"weight_decay": (0.1, 50.0)}, **kw)
    with pytest.raises(ValueError, match="X_heldout must have the dimension"):
        tune.hyperparameters(X_train, X_heldout[:, :4], **kw)
