"""Tests of `jaxdae.initialise`: shapes, laws and the aligned start's mode strengths, checked directly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdae
from jaxdae.initialise import Aligned, Orthogonal, Random, aligned_init, as_strategy, orthogonal_init, random_init

RNG = np.random.default_rng(0)
SPEC = jaxdae.Spectrum.from_data(RNG.normal(size=(50, 6)) * np.linspace(2, 0.5, 6))
KEY = jax.random.key(1)


def test_random_is_scale_times_one_unit_pattern_with_unit_variance():
    w1, w2 = Random(1.0).weights(KEY, SPEC, 3)
    v1, v2 = Random(0.25).weights(KEY, SPEC, 3)
    assert w1.shape == (3, 6) and w2.shape == (6, 3)
    np.testing.assert_allclose(np.asarray(v1), 0.25 * np.asarray(w1), rtol=1e-15)
    np.testing.assert_allclose(np.asarray(v2), 0.25 * np.asarray(w2), rtol=1e-15)
    big = np.asarray(random_init(KEY, 200, 100, scale=0.5)[0])
    assert abs(big.std() - 0.5) < 0.01 and abs(big.mean()) < 0.01  # 20000 entries: SE ~ 0.0035


def test_orthogonal_has_orthonormal_columns():
    w1, w2 = Orthogonal(0.1).weights(KEY, SPEC, 4)
    q = np.asarray(w2) / 0.1
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(np.asarray(w1), np.asarray(w2).T, rtol=1e-15)
    a, b = orthogonal_init(KEY, 6, 4, scale=0.1)
    np.testing.assert_allclose(np.asarray(a), np.asarray(w1), rtol=1e-15)


def test_aligned_start_has_every_learned_mode_at_u0():
    w1, w2 = Aligned(u0=0.04).weights(None, SPEC, 4)
    vecs = np.asarray(SPEC.vecs)
    w = vecs.T @ np.asarray(w2) @ np.asarray(w1) @ vecs  # in the eigenbasis: diag(u0, ..., 0, ...)
    np.testing.assert_allclose(w, np.diag([0.04] * 4 + [0.0] * 2), atol=1e-14)
    u1, u2 = Aligned(w1=0.5, w2=[0.1, 0.2, 0.3, 0.4]).weights(None, SPEC, 4)
    w = vecs.T @ np.asarray(u2) @ np.asarray(u1) @ vecs
    np.testing.assert_allclose(np.diag(w)[:4], 0.5 * np.array([0.1, 0.2, 0.3, 0.4]), atol=1e-14)
    np.testing.assert_allclose(np.asarray(aligned_init(SPEC, 4, 0.04)[0]), np.asarray(Aligned(0.04).weights(None, SPEC, 4)[0]))


def test_scale_is_a_traced_leaf_under_vmap():
    scales = jnp.array([1e-3, 1e-2, 1.0])
    w1 = jax.jit(jax.vmap(lambda s: Random(s).weights(KEY, SPEC, 2)[0]))(scales)
    np.testing.assert_allclose(np.asarray(w1[2]) * 1e-2, np.asarray(w1[1]), rtol=1e-13)
    u = jax.vmap(lambda u0: Aligned(u0).weights(None, SPEC, 2)[0])(jnp.array([0.01, 0.04]))
    np.testing.assert_allclose(np.asarray(u[1]), 2 * np.asarray(u[0]), rtol=1e-13)


def test_strings_name_the_default_strategies():
    assert isinstance(as_strategy("random"), Random) and float(as_strategy("random").scale) == 1e-3
    assert isinstance(as_strategy("orthogonal"), Orthogonal)
    assert isinstance(as_strategy("aligned"), Aligned) and float(as_strategy("aligned").u0) == 1e-6


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Random(0.0), "scale must be > 0"),
        (lambda: Orthogonal(-1.0), "scale must be > 0"),
        (lambda: Aligned(-0.1), "u0 must be >= 0"),
        (lambda: Aligned(w1=0.1), "give both w1 and w2"),
        (lambda: as_strategy("glorot"), "init must be one of 'random', 'orthogonal', 'aligned', got 'glorot'"),
        (lambda: random_init(KEY, 0, 2), "dim must be an integer >= 1, got 0"),
        (lambda: orthogonal_init(KEY, 3, 4), "hidden must be <= dim"),
        (lambda: aligned_init(SPEC, 7), "hidden must be <= the data dimension 6, got 7"),
        (lambda: aligned_init(SPEC, 2, rotation=np.eye(3)), "rotation must have shape"),
    ],
)
def test_bad_input_is_a_clear_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()
