r"""The eigen-decomposition of the data's second moment, the input of every solver.

$C = X^\top X / N = V \operatorname{diag}(\lambda) V^\top$ with $\lambda$ in descending order.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import _checks

__all__ = ["Spectrum", "check_data"]


def check_data(X) -> np.ndarray:
    """`X` as a NumPy array after checking it is a real, finite `(N, D)` matrix, `N, D >= 1`.

    **Raises:** `ValueError` naming the problem (shape, dtype, or the first non-finite entry).
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples x features), got shape {X.shape}")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"X must be real and numeric, got dtype {X.dtype}")
    if not np.all(np.isfinite(X)):
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"X must be finite, got {X[tuple(bad)].item()!r} at index {tuple(int(i) for i in bad)}")
    return X


def _fix_signs(vecs, xp):
    """Each eigenvector's largest-magnitude entry made positive: the one sign convention."""
    top = xp.take_along_axis(vecs, xp.argmax(xp.abs(vecs), axis=0)[None, :], axis=0)[0]
    return vecs * xp.where(top < 0, -1, 1).astype(vecs.dtype)


class Spectrum(eqx.Module):
    r"""Eigenvalues and eigenvectors of $C = X^\top X/N$ (uncentred by default, as in the paper).

    **Fields:**

    - `lam`: `(D,)` eigenvalues, descending. Rounding can make the smallest eigenvalues of a
      rank-deficient $C$ slightly negative; those (down to $-10^{-6}$ of the largest) are set to
      0, and a more negative one is an error (`C` is not positive semi-definite).
    - `vecs`: `(D, D)` orthonormal eigenvectors as columns, `vecs[:, k]` for `lam[k]`.
    - `n_samples`: $N$ (static), needed to convert to the paper's sum convention.

    Build it with `Spectrum.from_data(X)`, `Spectrum.from_moment(C)` or
    `Spectrum.from_eigenvalues(lam)`.
    """

    lam: jnp.ndarray
    vecs: jnp.ndarray
    n_samples: int = eqx.field(static=True, default=1)

    @classmethod
    def from_data(cls, X, center: bool = False) -> "Spectrum":
        """Spectrum of `X`, `(N, D)`, rows are samples; `center=True` subtracts the mean first."""
        X = check_data(X)
        dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
        Xd = X.astype(np.float64)
        if center:
            Xd = Xd - Xd.mean(axis=0)
        C = Xd.T @ Xd / Xd.shape[0]
        return cls._from_symmetric(C, X.shape[0], dtype)

    @classmethod
    def from_moment(cls, C, n_samples: int = 1) -> "Spectrum":
        """Spectrum of a given symmetric positive semi-definite second-moment matrix `C`."""
        C = np.asarray(_checks.symmetric("C", np.asarray(C)))
        dtype = C.dtype if np.issubdtype(C.dtype, np.floating) else np.float64
        return cls._from_symmetric(C.astype(np.float64), n_samples, dtype)

    @classmethod
    def from_eigenvalues(cls, lam, n_samples: int = 1) -> "Spectrum":
        """A diagonal `C` with the given eigenvalues (sorted descending); eigenvectors = identity."""
        lam = np.asarray(lam)
        if lam.ndim != 1 or lam.size < 1:
            raise ValueError(f"lam must be a non-empty 1-D array, got shape {lam.shape}")
        if not np.all(np.isfinite(lam)) or np.any(lam < 0):
            bad = lam[~(np.isfinite(lam) & (lam >= 0))][0]
            raise ValueError(f"lam must be >= 0 and finite, got {bad.item()!r}")
        dtype = lam.dtype if np.issubdtype(lam.dtype, np.floating) else np.float64
        order = np.argsort(-lam, kind="stable")
        vecs = np.eye(lam.size)[:, order]
        dtype = jax.dtypes.canonicalize_dtype(dtype)
        return cls(jnp.asarray(lam[order], dtype), jnp.asarray(vecs, dtype), int(n_samples))

    @classmethod
    def _from_symmetric(cls, C: np.ndarray, n_samples: int, dtype) -> "Spectrum":
        dtype = jax.dtypes.canonicalize_dtype(dtype)
        lam, vecs = np.linalg.eigh((C + C.T) / 2)
        scale = max(float(np.max(np.abs(lam))), np.finfo(np.float64).tiny)
        if lam[0] < -1e-6 * scale:
            raise ValueError(f"C must be positive semi-definite, got eigenvalue {lam[0]:.3g} (largest |eigenvalue| {scale:.3g})")
        order = np.argsort(-lam, kind="stable")
        lam = np.clip(lam[order], 0.0, None)
        vecs = _fix_signs(vecs[:, order], np)
        return cls(jnp.asarray(lam, dtype), jnp.asarray(vecs, dtype), int(n_samples))

    @classmethod
    def from_moment_traced(cls, C, n_samples: int = 1) -> "Spectrum":
        """The same decomposition as `from_moment`, in JAX (`jnp.linalg.eigh`), for a traced `C`.

        Gradients with respect to `C` flow through it (they are undefined at repeated
        eigenvalues, where the eigenvectors are). Same order and sign convention as
        `from_moment`; the caller validates `C`.
        """
        C = jnp.asarray(C)
        lam, vecs = jnp.linalg.eigh((C + C.T) / 2)
        lam, vecs = lam[::-1], _fix_signs(vecs[:, ::-1], jnp)
        return cls(jnp.maximum(lam, 0), vecs, int(n_samples))

    @property
    def dim(self) -> int:
        """The data dimension D."""
        return int(self.lam.shape[0])

    @property
    def moment(self) -> jnp.ndarray:
        r"""$C = V \operatorname{diag}(\lambda) V^\top$, `(D, D)`."""
        return (self.vecs * self.lam) @ self.vecs.T

    def mode_strength(self, W) -> jnp.ndarray:
        r"""Mode strengths $u_k = v_k^\top W v_k$ of a linear map `W` `(..., D, D)` -> `(..., D)`."""
        return jnp.einsum("dk,...de,ek->...k", self.vecs, W, self.vecs)

    def rotate(self, W1, W2):
        r"""Weights in the eigenbasis: $(\bar W_1, \bar W_2) = (W_1 V, V^\top W_2)$, $O(D^2H)$."""
        return W1 @ self.vecs, self.vecs.T @ W2

    def mode_strength_of_weights(self, W1, W2) -> jnp.ndarray:
        r"""$u_k = v_k^\top W_2 W_1 v_k$ `(..., D)` of `W1` `(..., H, D)`, `W2` `(..., D, H)`.

        $O(D^2H)$; the `(D, D)` product $W_2W_1$ is never formed.
        """
        w1bar, w2bar = self.rotate(W1, W2)
        return jnp.sum(w2bar * jnp.swapaxes(w1bar, -1, -2), axis=-1)

    def mode_strength_of_reconstruction(self, Xhat, X, live=None) -> jnp.ndarray:
        r"""$u_k = v_k^\top(\hat X^\top X/N)v_k/\lambda_k$ `(D,)` from reconstructions `Xhat` of `X` `(N, D)`.

        Equals `mode_strength_of_weights` for a linear net ($\hat X = X W^\top$). Modes where
        `live` is False (default: $\lambda_k = 0$) carry no data and are reported as 0.
        $O(ND^2)$.
        """
        live = self.lam > 0 if live is None else live
        num = jnp.sum((Xhat @ self.vecs) * (X @ self.vecs), axis=0) / X.shape[0]
        return jnp.where(live, num / jnp.where(live, self.lam, 1), 0)
