"""Spectrum, data, notation and the command line."""

from __future__ import annotations

import subprocess
import sys

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


def test_digits():
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


def test_paper_roundtrip():
    p = jaxdae.from_paper(n_samples=100, sigma_eig=50.0, eps=20.0, g=5.0, tau=1e4)
    assert p == pytest.approx((0.5, 0.2, 0.05, 0.01))
    q = jaxdae.to_paper(n_samples=100, **p._asdict())
    assert q == pytest.approx((50.0, 20.0, 5.0, 1e4))
    with pytest.raises(ValueError, match="n_samples must be a positive number"):
        jaxdae.from_paper(n_samples=0, sigma_eig=1.0, tau=1.0)


def test_command_line_help():
    out = subprocess.run([sys.executable, "-m", "jaxdae", "--help"], capture_output=True, text=True, check=True)
    assert "reproduce" in out.stdout
    out = subprocess.run([sys.executable, "-m", "jaxdae", "reproduce", "--list"], capture_output=True, text=True, check=True)
    assert "noise_vs_decay" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "jaxdae", "reproduce", "--parts", "nope"], capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown part" in bad.stderr


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
