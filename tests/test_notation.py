"""The paper's sum convention and jaxdae's per-sample convention."""

from __future__ import annotations

import pytest

import jaxdae


def test_paper_roundtrip():
    p = jaxdae.from_paper(n_samples=100, sigma_eig=50.0, eps=20.0, g=5.0, tau=1e4)
    assert p == pytest.approx((0.5, 0.2, 0.05, 0.01))
    q = jaxdae.to_paper(n_samples=100, **p._asdict())
    assert q == pytest.approx((50.0, 20.0, 5.0, 1e4))
    with pytest.raises(ValueError, match="n_samples must be a positive number"):
        jaxdae.from_paper(n_samples=0, sigma_eig=1.0, tau=1.0)
