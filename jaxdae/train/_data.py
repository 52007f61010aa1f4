"""`Data`: a data set prepared once for training (the array, its spectrum, the sampling factors)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..spectrum import Spectrum, check_data

__all__ = ["Data"]


class Data(eqx.Module):
    r"""`X` with everything `train.fit` derives from it, computed once on the host and reused.

    **Fields:**

    - `X`: `(N, D)` data in the dtype of the runs (a float dtype; integers become the default float).
    - `spectrum`: its `jaxdae.Spectrum`, $C = X^\top X/N = V\operatorname{diag}(\lambda)V^\top$.
    - `live`: `(D,)` modes inside the numerical rank of `X`
      ($\lambda_k > \lambda_1(\max(N, D)\,\epsilon)^2$, numpy's `matrix_rank` tolerance); a
      nonlinear net reports 0 for the others.
    - `draw_scale`: `(m,)` $\sqrt{\lambda_k/N}$, $k < m = \min(N, D)$: the singular values of
      $X/N$, which scale the moment draw (module docstring of `jaxdae.train`).

    A pytree: pass it to `fit` in place of `X` so that a loop or a sweep over many calls does
    the eigendecomposition once, and so that `fit` can run inside a user's `jit`.

    ```python
    >>> import jaxdae
    >>> data = jaxdae.train.Data.from_array(jaxdae.data.digits())
    >>> data.n_samples, data.dim
    (1797, 64)

    ```
    """

    X: jax.Array
    spectrum: Spectrum
    live: jax.Array
    draw_scale: jax.Array

    @classmethod
    def from_array(cls, X) -> "Data":
        """Check `X` (real, finite, 2-D, concrete) and prepare it; $O(ND^2 + D^3)$ on the host.

        **Raises:** `ValueError` naming the problem with `X` (see `jaxdae.spectrum.check_data`),
        or for a traced `X`.
        """
        if isinstance(X, jax.core.Tracer):
            raise ValueError("X must be a concrete array (its spectrum is computed on the host), got a traced "
                             "value; prepare it outside with jaxdae.train.Data.from_array(X)")
        Xn = check_data(X)
        dtype = jnp.dtype(jax.dtypes.canonicalize_dtype(Xn.dtype if np.issubdtype(Xn.dtype, np.floating) else float))
        Xn = Xn.astype(dtype)
        with jax.ensure_compile_time_eval():
            spec = Spectrum.from_data(Xn)
        n, d = Xn.shape
        lam = np.asarray(spec.lam, np.float64)
        live = lam > lam[0] * (max(n, d) * np.finfo(dtype).eps) ** 2
        scale = np.sqrt(lam[: min(n, d)] / n)
        return cls(jnp.asarray(Xn), spec, jnp.asarray(live), jnp.asarray(scale, dtype))

    @property
    def n_samples(self) -> int:
        """$N$."""
        return int(self.X.shape[0])

    @property
    def dim(self) -> int:
        """$D$."""
        return int(self.X.shape[1])

    @property
    def dtype(self):
        """The floating dtype of the runs."""
        return self.X.dtype
