"""Data sets: the embedded default (scikit-learn's handwritten digits) and synthetic spectra.

Nothing here touches the network: the digits ship inside scikit-learn's wheel.
"""

from __future__ import annotations

import numpy as np

__all__ = ["digits", "synthetic_spectrum"]


def digits(dtype=np.float32) -> np.ndarray:
    """scikit-learn's bundled handwritten digits, `(1797, 64)`, scaled to `[0, 1]`.

    The raw pixels are integers in `0..16`; they are divided by 16. The rows are the samples
    in scikit-learn's order (no shuffling), so results are reproducible.
    """
    from sklearn.datasets import load_digits

    return (load_digits().data / 16.0).astype(dtype)


def synthetic_spectrum(dim: int, *, top: float = 1.0, decay: float = 0.9) -> np.ndarray:
    """Geometric eigenvalue spectrum `top * decay**k`, `k = 0..dim-1` (descending), float64."""
    if int(dim) != dim or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    if not (top > 0 and np.isfinite(top)):
        raise ValueError(f"top must be > 0 and finite, got {top!r}")
    if not (0 < decay <= 1):
        raise ValueError(f"decay must be in (0, 1], got {decay!r}")
    return top * decay ** np.arange(int(dim), dtype=np.float64)
