r"""Initial weights $(W_1, W_2)$, $W_1$ `(H, D)` and $W_2$ `(D, H)`, for `ode` and `train`.

Two forms of the same three starts:

- **strategies** `Random(scale)`, `Orthogonal(scale)` and `Aligned(u0)` (or `Aligned(w1=, w2=)`):
  small `equinox.Module`s, validated at construction, whose numeric fields are traced array
  leaves, so `jax.vmap` (or `jaxdae.sweep`) can sweep an initial scale without recompiling.
  Each has `weights(key, spectrum, hidden, dtype) -> (W1, W2)`; this is what `train.fit(init=...)`
  takes (the strings `"random"`, `"orthogonal"` and `"aligned"` mean the defaults).
- **functions** `random_init`, `orthogonal_init` and `aligned_init`, for building weights
  directly (e.g. for `ode.solve`).

All randomness comes from an explicit `jax.random` key. A random strategy draws a unit pattern
from the key and multiplies it by `scale`: the same key gives the same pattern at every scale
(common random numbers across a sweep of scales).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .spectrum import Spectrum

__all__ = ["Random", "Orthogonal", "Aligned", "random_init", "aligned_init", "orthogonal_init", "as_strategy"]


def _dims(dim, hidden):
    return _checks.integer("dim", dim), _checks.integer("hidden", hidden)


def _dtype(dtype):
    return jnp.dtype(dtype or jnp.result_type(float))


def _normal_pair(key, dim, hidden, dtype):
    """`normal(k1, (hidden, dim))`, `normal(k2, (dim, hidden))` with `k1, k2 = split(key)`.

    Drawn flat and reshaped (the same values; a 1-D draw compiles in half the time of a 2-D one on CPU).
    """
    k1, k2 = jax.random.split(key)
    n = hidden * dim
    return jax.random.normal(k1, (n,), dtype).reshape(hidden, dim), jax.random.normal(k2, (n,), dtype).reshape(dim, hidden)


def _orthonormal(key, dim, hidden, dtype):
    if hidden > dim:
        raise ValueError(f"hidden must be <= dim for an orthogonal init, got hidden={hidden}, dim={dim}")
    q, r = jnp.linalg.qr(jax.random.normal(key, (dim * hidden,), dtype).reshape(dim, hidden))
    return q * jnp.sign(jnp.diagonal(r))


def random_init(key, dim: int, hidden: int, scale: float = 1e-3, dtype=None):
    r"""Independent $\mathcal N(0, s^2)$ entries in both layers, $s$ = `scale` $> 0$.

    **Returns:** `(W1, W2)` with shapes `(hidden, dim)` and `(dim, hidden)`.

    **Raises:** `ValueError` for a `dim` or `hidden` that is not a positive integer or a
    `scale` that is not positive and finite.

    ```python
    >>> import jax
    >>> from jaxdae.initialise import random_init
    >>> W1, W2 = random_init(jax.random.key(0), 5, 2, scale=1e-3)
    >>> W1.shape, W2.shape
    ((2, 5), (5, 2))

    ```
    """
    dim, hidden = _dims(dim, hidden)
    scale = _checks.positive("scale", scale)
    w1, w2 = _normal_pair(key, dim, hidden, _dtype(dtype))
    return scale * w1, scale * w2


def orthogonal_init(key, dim: int, hidden: int, scale: float = 1e-3, dtype=None):
    r"""Random orthonormal directions, not aligned with the data: $W_1 = s Q^\top$, $W_2 = s Q$.

    $Q$ `(dim, hidden)` has orthonormal columns (QR of a Gaussian matrix, signs fixed so that
    $R$ has a positive diagonal), so $W = s^2 QQ^\top$ is a scaled random projection.

    **Raises:** `ValueError` when `hidden > dim` or `scale` is not positive.
    """
    dim, hidden = _dims(dim, hidden)
    scale = _checks.positive("scale", scale)
    q = _orthonormal(key, dim, hidden, _dtype(dtype))
    return scale * q.T, scale * q


def aligned_init(spectrum: Spectrum, hidden: int, u0=1e-6, *, w1=None, w2=None, rotation=None):
    r"""Weights aligned with the eigenvectors of $C$: $W_1 = R D_1 V_H^\top$, $W_2 = V_H D_2 R^\top$.

    Mode $k < H$ then evolves exactly as the scalar model with $(w_1, w_2) = (d_{1k}, d_{2k})$,
    so `jaxdae.exact` is its theory (modes $k \ge H$ stay 0).

    **Arguments:**

    - `spectrum`: the data's `Spectrum` (its eigenvectors give $V$).
    - `hidden`: $H \le D$.
    - `u0`: balanced start $d_{1k} = d_{2k} = \sqrt{u_0}$ (scalar or `(H,)`), `>= 0`; ignored
      when `w1` and `w2` are given.
    - `w1`, `w2`: per-mode diagonal entries (scalar or `(H,)`) for an unbalanced start.
    - `rotation`: $R$ `(H, H)` orthogonal (default identity); the dynamics do not depend on it.

    **Returns:** `(W1, W2)`, `(H, D)` and `(D, H)`, in the spectrum's dtype. Traced `u0`,
    `w1`, `w2` are allowed (checked at run time).

    **Raises:** `ValueError` for `hidden > D`, a negative `u0`, only one of `w1`/`w2`, or a
    `rotation` of the wrong shape.

    ```python
    >>> import jaxdae
    >>> spec = jaxdae.Spectrum.from_eigenvalues([3.0, 2.0, 1.0])
    >>> W1, W2 = jaxdae.initialise.aligned_init(spec, 2, u0=0.01)
    >>> [round(float(u), 6) for u in spec.mode_strength(W2 @ W1)]
    [0.01, 0.01, 0.0]

    ```
    """
    dim, hidden = _dims(spectrum.dim, hidden)
    if hidden > dim:
        raise ValueError(f"hidden must be <= the data dimension {dim}, got {hidden}")
    dtype = spectrum.vecs.dtype
    if (w1 is None) != (w2 is None):
        raise ValueError("give both w1 and w2 for an unbalanced aligned start, or neither")
    if w1 is None:
        u0 = _checks.nonnegative("u0", u0)
        d1 = d2 = jnp.broadcast_to(jnp.sqrt(jnp.asarray(u0, dtype)), (hidden,))
    else:
        d1 = jnp.broadcast_to(jnp.asarray(_checks.finite("w1", w1), dtype), (hidden,))
        d2 = jnp.broadcast_to(jnp.asarray(_checks.finite("w2", w2), dtype), (hidden,))
    v = spectrum.vecs[:, :hidden]
    r = jnp.eye(hidden, dtype=dtype) if rotation is None else jnp.asarray(rotation, dtype)
    if r.shape != (hidden, hidden):
        raise ValueError(f"rotation must have shape {(hidden, hidden)}, got {r.shape}")
    return (r * d1) @ v.T, (v * d2) @ r.T


# --------------------------------------------------------------------------- strategies


def _leaf(value):
    """A numeric field as a JAX array (a traced leaf under `jit`/`vmap`), float for Python numbers."""
    if _checks.is_traced(value) or isinstance(value, jax.Array):
        return value
    arr = np.asarray(value)
    dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64
    return jnp.asarray(arr, jax.dtypes.canonicalize_dtype(dtype))


class Random(eqx.Module):
    r"""Independent $\mathcal N(0, s^2)$ entries, $s$ = `scale` $> 0$ (default `1e-3`); `random_init`.

    ```python
    >>> import jax, jaxdae
    >>> spec = jaxdae.Spectrum.from_eigenvalues([2.0, 1.0, 0.5])
    >>> W1, W2 = jaxdae.initialise.Random(scale=0.1).weights(jax.random.key(0), spec, 2)
    >>> W1.shape, W2.shape
    ((2, 3), (3, 2))

    ```
    """

    scale: jax.Array

    def __init__(self, scale=1e-3):
        self.scale = _leaf(_checks.positive("scale", scale))

    def weights(self, key, spectrum: Spectrum, hidden: int, dtype=None):
        """`(W1, W2)` `(H, D)`, `(D, H)`: a unit Gaussian pattern from `key` times `scale`."""
        w1, w2 = _normal_pair(key, spectrum.dim, hidden, _dtype(dtype or spectrum.vecs.dtype))
        s = self.scale.astype(w1.dtype)
        return s * w1, s * w2


class Orthogonal(eqx.Module):
    r"""$W_1 = sQ^\top$, $W_2 = sQ$ with random orthonormal $Q$ `(D, H)` (needs $H \le D$); `orthogonal_init`."""

    scale: jax.Array

    def __init__(self, scale=1e-3):
        self.scale = _leaf(_checks.positive("scale", scale))

    def weights(self, key, spectrum: Spectrum, hidden: int, dtype=None):
        """`(W1, W2)` `(H, D)`, `(D, H)`."""
        q = _orthonormal(key, spectrum.dim, hidden, _dtype(dtype or spectrum.vecs.dtype))
        s = self.scale.astype(q.dtype)
        return s * q.T, s * q


class Aligned(eqx.Module):
    r"""Aligned with the top $H$ eigenvectors, every mode $k < H$ at $u_0$ (default `1e-6`); `aligned_init`.

    `Aligned(u0)` is balanced ($w_1 = w_2 = \sqrt{u_0}$); `Aligned(w1=..., w2=...)` gives
    per-mode diagonal entries (scalars or `(H,)`) of an unbalanced start. Needs $H \le D$.
    No randomness: the key is unused.

    **Raises:** `ValueError` for a negative `u0`, or only one of `w1`, `w2`.
    """

    u0: jax.Array | None
    w1: jax.Array | None
    w2: jax.Array | None

    def __init__(self, u0=1e-6, *, w1=None, w2=None):
        if (w1 is None) != (w2 is None):
            raise ValueError("give both w1 and w2 for an unbalanced aligned start, or neither")
        balanced = w1 is None
        self.u0 = _leaf(_checks.nonnegative("u0", u0)) if balanced else None
        self.w1 = None if balanced else _leaf(_checks.finite("w1", w1))
        self.w2 = None if balanced else _leaf(_checks.finite("w2", w2))

    def weights(self, key, spectrum: Spectrum, hidden: int, dtype=None):
        """`(W1, W2)` `(H, D)`, `(D, H)`, in `dtype` (default the spectrum's)."""
        del key
        if self.u0 is not None:
            w1, w2 = aligned_init(spectrum, hidden, self.u0)
        else:
            w1, w2 = aligned_init(spectrum, hidden, w1=self.w1, w2=self.w2)
        dtype = _dtype(dtype or spectrum.vecs.dtype)
        return w1.astype(dtype), w2.astype(dtype)


_DEFAULTS = {"random": Random, "orthogonal": Orthogonal, "aligned": Aligned}


def as_strategy(init):
    """`init` as a strategy: a strategy as is, or a string name's default strategy.

    **Raises:** `ValueError` naming `init` for any other string.
    """
    if isinstance(init, str):
        return _DEFAULTS[_checks.choice("init", init, tuple(_DEFAULTS))]()
    return init
