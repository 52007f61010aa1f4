"""The expected loss and its pieces against the literal matrix formula with a dense C."""

from __future__ import annotations

import numpy as np
import pytest

from jaxdae import Spectrum, loss


@pytest.mark.parametrize("noise_var,weight_decay", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.2), (0.7, 0.05)])
def test_expected_loss_equals_the_input_basis_formula(noise_var, weight_decay):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 7)) @ rng.normal(size=(7, 7))
    spec = Spectrum.from_data(X)
    W1, W2 = rng.normal(size=(4, 7)), rng.normal(size=(7, 4))
    C = X.T @ X / 60
    W = W2 @ W1
    I = np.eye(7)
    # Independent reference: the per-sample mean of ||x - W x||^2 / 2 over the data, plus the
    # noise average sigma^2/2 ||W||_F^2 and the decay.
    recon = 0.5 * np.mean(np.sum((X - X @ W.T) ** 2, axis=1))
    ref = recon + 0.5 * noise_var * np.sum(W**2) + 0.5 * weight_decay * (np.sum(W1**2) + np.sum(W2**2))
    assert ref == pytest.approx(0.5 * np.trace((I - W) @ C @ (I - W).T) + 0.5 * noise_var * np.sum(W**2)
                                + 0.5 * weight_decay * (np.sum(W1**2) + np.sum(W2**2)), rel=1e-12)
    w1bar, w2bar = spec.rotate(W1, W2)
    got = float(loss.expected_loss(spec.lam, w1bar, w2bar, noise_var, weight_decay))
    assert got == pytest.approx(ref, rel=1e-11)
    assert float(loss.noise_penalty(W1, W2)) == pytest.approx(np.sum(W**2), rel=1e-12)
    assert float(loss.weight_penalty(W1, W2)) == pytest.approx(np.sum(W1**2) + np.sum(W2**2), rel=1e-12)


def test_expected_loss_broadcasts_over_batch_axes():
    rng = np.random.default_rng(1)
    lam = np.array([3.0, 1.0, 0.5])
    W1, W2 = rng.normal(size=(5, 2, 3)), rng.normal(size=(5, 3, 2))
    nv = np.linspace(0.0, 1.0, 5)
    batched = np.asarray(loss.expected_loss(lam, W1, W2, nv, 0.1))
    single = [float(loss.expected_loss(lam, W1[i], W2[i], nv[i], 0.1)) for i in range(5)]
    np.testing.assert_allclose(batched, single, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(loss.mode_strength_eigen(W1, W2)),
                               np.diagonal(W2 @ W1, axis1=-2, axis2=-1), rtol=1e-13)
