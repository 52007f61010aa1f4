"""Spectrum: the one eigendecomposition, its sign convention and the mode-strength forms."""

from __future__ import annotations

import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxdae
from jaxdae import Spectrum


def test_from_data_matches_second_moment():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6)) @ rng.normal(size=(6, 6))
    spec = Spectrum.from_data(X)
    C = X.T @ X / X.shape[0]
    lam, V = np.asarray(spec.lam), np.asarray(spec.vecs)
    np.testing.assert_allclose((V * lam) @ V.T, C, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(V.T @ V, np.eye(6), atol=1e-12)
    assert np.all(np.diff(lam) <= 0)
    np.testing.assert_allclose(np.sort(lam)[::-1], np.sort(np.linalg.eigvalsh(C))[::-1], rtol=1e-12)
    assert spec.n_samples == 50 and spec.dim == 6


def test_centering_and_moment_and_mode_strength():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 5)) + 3.0
    spec = Spectrum.from_data(X, center=True)
    Xc = X - X.mean(axis=0)
    np.testing.assert_allclose(np.asarray(spec.moment), Xc.T @ Xc / 40, atol=1e-12)
    W = np.asarray(spec.vecs) @ np.diag([0.5, 0.4, 0.3, 0.2, 0.1]) @ np.asarray(spec.vecs).T
    np.testing.assert_allclose(np.asarray(spec.mode_strength(W)), [0.5, 0.4, 0.3, 0.2, 0.1], atol=1e-12)
    s2 = Spectrum.from_eigenvalues(np.array([0.1, 2.0, 1.0]))
    np.testing.assert_allclose(np.asarray(s2.lam), [2.0, 1.0, 0.1])
    np.testing.assert_allclose(np.asarray(s2.moment), np.diag([0.1, 2.0, 1.0]))


def test_digits_spectrum_dtype():
    X = jaxdae.data.digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    spec = Spectrum.from_data(X)
    assert spec.lam.dtype == np.float32 and float(spec.lam[-1]) >= 0.0


@pytest.mark.parametrize(
    "X,match",
    [
        (np.ones(5), "X must be 2-D"),
        (np.ones((0, 3)), "at least one row"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), r"X must be finite, got nan at index \(0, 1\)"),
    ],
)
def test_from_data_errors(X, match):
    with pytest.raises(ValueError, match=match):
        Spectrum.from_data(X)


def test_from_moment_and_eigenvalue_errors():
    with pytest.raises(ValueError, match="C must be symmetric"):
        Spectrum.from_moment(np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="square"):
        Spectrum.from_moment(np.ones((2, 3)))
    with pytest.raises(ValueError, match="lam must be >= 0"):
        Spectrum.from_eigenvalues(np.array([1.0, -0.1]))


def test_not_positive_semidefinite_and_float64_without_x64_warnings():
    with pytest.raises(ValueError, match="C must be positive semi-definite"):
        Spectrum.from_moment(np.array([[1.0, 0.0], [0.0, -0.5]]))
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c",
         "import numpy as np, jaxdae; s = jaxdae.Spectrum.from_data(np.random.default_rng(0).normal(size=(9, 3))); print(s.lam.dtype)"],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.strip() == "float32"


def test_sign_convention_and_traced_decomposition_agree():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 5))
    host = Spectrum.from_data(X)
    traced = jax.jit(lambda C: Spectrum.from_moment_traced(C))(X.T @ X / 30)
    np.testing.assert_allclose(np.asarray(traced.lam), np.asarray(host.lam), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(traced.vecs), np.asarray(host.vecs), atol=1e-10)
    V = np.asarray(host.vecs)
    top = V[np.argmax(np.abs(V), axis=0), np.arange(5)]
    assert np.all(top > 0)


def test_mode_strength_forms_agree_with_the_dense_product():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 6))
    spec = Spectrum.from_data(X)
    W1, W2 = rng.normal(size=(3, 6)), rng.normal(size=(6, 3))
    V = np.asarray(spec.vecs)
    dense = np.diag(V.T @ W2 @ W1 @ V)
    np.testing.assert_allclose(np.asarray(spec.mode_strength_of_weights(W1, W2)), dense, rtol=1e-12, atol=1e-12)
    Xhat = X @ (W2 @ W1).T
    np.testing.assert_allclose(np.asarray(spec.mode_strength_of_reconstruction(Xhat, X)), dense, rtol=1e-10, atol=1e-12)
    w1bar, w2bar = spec.rotate(W1, W2)
    np.testing.assert_allclose(np.asarray(w2bar @ w1bar), V.T @ W2 @ W1 @ V, atol=1e-12)
