r"""Initial weights $(W_1, W_2)$, $W_1$ `(H, D)` and $W_2$ `(D, H)`, for `ode` and `train`.

All randomness comes from an explicit `jax.random` key.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .spectrum import Spectrum

__all__ = ["random_init", "aligned_init", "orthogonal_init"]


def _dims(dim, hidden):
    for name, v in (("dim", dim), ("hidden", hidden)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return int(dim), int(hidden)


def random_init(key, dim: int, hidden: int, scale: float = 1e-3, dtype=None):
    r"""Independent Gaussian entries of standard deviation `scale` in both layers.

    **Returns:** `(W1, W2)` with shapes `(hidden, dim)` and `(dim, hidden)`.
    """
    dim, hidden = _dims(dim, hidden)
    _checks.positive("scale", scale)
    dtype = dtype or jnp.result_type(float)
    k1, k2 = jax.random.split(key)
    w1 = scale * jax.random.normal(k1, (hidden, dim), dtype)
    w2 = scale * jax.random.normal(k2, (dim, hidden), dtype)
    return w1, w2


def orthogonal_init(key, dim: int, hidden: int, scale: float = 1e-3, dtype=None):
    r"""Random orthonormal directions, not aligned with the data: $W_1 = s Q^\top$, $W_2 = s Q$.

    $Q$ `(dim, hidden)` has orthonormal columns (QR of a Gaussian matrix), so $W = s^2 QQ^\top$
    is a scaled random projection. Requires `hidden <= dim`.
    """
    dim, hidden = _dims(dim, hidden)
    if hidden > dim:
        raise ValueError(f"hidden must be <= dim for an orthogonal init, got hidden={hidden}, dim={dim}")
    _checks.positive("scale", scale)
    dtype = dtype or jnp.result_type(float)
    q, r = jnp.linalg.qr(jax.random.normal(key, (dim, hidden), dtype))
    q = q * jnp.sign(jnp.diagonal(r))
    return scale * q.T, scale * q


def aligned_init(spectrum: Spectrum, hidden: int, u0=1e-6, *, w1=None, w2=None, rotation=None):
    r"""Weights aligned with the eigenvectors of $C$: $W_1 = R D_1 V^\top$, $W_2 = V D_2 R^\top$.

    Mode $k < H$ then evolves exactly as the scalar model with $(w_1, w_2) = (d_{1k}, d_{2k})$,
    so `jaxdae.exact` is its theory (modes $k \ge H$ stay 0).

    **Arguments:**

    - `spectrum`: the data's `Spectrum` (its eigenvectors give $V$).
    - `hidden`: $H \le D$.
    - `u0`: balanced start $d_{1k} = d_{2k} = \sqrt{u_0}$ (scalar or `(H,)`), `>= 0`; ignored
      when `w1` and `w2` are given.
    - `w1`, `w2`: per-mode diagonal entries (scalar or `(H,)`) for an unbalanced start.
    - `rotation`: $R$ `(H, H)` orthogonal (default identity); the dynamics do not depend on it.

    **Returns:** `(W1, W2)`, `(H, D)` and `(D, H)`, in the spectrum's dtype.
    """
    dim, hidden = _dims(spectrum.dim, hidden)
    if hidden > dim:
        raise ValueError(f"hidden must be <= the data dimension {dim}, got {hidden}")
    dtype = spectrum.vecs.dtype
    if (w1 is None) != (w2 is None):
        raise ValueError("give both w1 and w2 for an unbalanced aligned start, or neither")
    if w1 is None:
        _checks.check("u0", u0, lambda v: (v >= 0) & (v < np.inf), ">= 0 and finite")
        d1 = d2 = jnp.broadcast_to(jnp.sqrt(jnp.asarray(u0, dtype)), (hidden,))
    else:
        d1 = jnp.broadcast_to(jnp.asarray(_checks.finite("w1", w1), dtype), (hidden,))
        d2 = jnp.broadcast_to(jnp.asarray(_checks.finite("w2", w2), dtype), (hidden,))
    v = spectrum.vecs[:, :hidden]
    r = jnp.eye(hidden, dtype=dtype) if rotation is None else jnp.asarray(rotation, dtype)
    if r.shape != (hidden, hidden):
        raise ValueError(f"rotation must have shape {(hidden, hidden)}, got {r.shape}")
    return (r * d1) @ v.T, (v * d2) @ r.T
