r"""The randomness of one training step: the noise moments $(\bar E, \bar F)$ or a corrupted batch.

Every draw depends on the run's key and the step only, never on its hyper-parameters: under a
`jax.vmap` over noise levels (inside one over keys) it is drawn once per key and shared.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._data import Data


def moment_draw(key, data: Data):
    r"""$(\bar E, \bar F) = (V^\top X^\top Z_0 V/N,\ V^\top Z_0^\top Z_0 V/N)$ exactly in distribution.

    With the thin SVD $X = U S V_m^\top$ and $Q = Z_0 V$ (i.i.d. normal, like $Z_0$),
    $\bar G = U^\top Q$ `(m, D)` is i.i.d. normal, the rows $k < m$ of $\bar E$ are
    $\sqrt{\lambda_k/N}\,\bar G_k$ (the others 0), and
    $N\bar F = \bar G^\top\bar G + R$ with $R = Q^\top(I - UU^\top)Q \sim \mathrm{Wishart}_D(N - m, I)$
    independent of $\bar G$, drawn by Bartlett's decomposition $R = AA^\top$ ($A$ lower
    triangular, $A_{ii}^2 \sim \chi^2_{N-m-i}$, $A_{ij} \sim \mathcal N(0, 1)$ below the
    diagonal) when $N - m \ge D$, directly as $Y^\top Y$ otherwise.

    Cost: $mD + D(D-1)/2$ normals (one generator call), $D$ chi-squares and one $(m + D) \times D$ Gram product,
    $O(D^3)$, nothing of size $N$. **Returns:** `(E, F)`, each `(D, D)`, in the data's dtype.
    """
    n, d = data.n_samples, data.dim
    m = data.draw_scale.shape[0]
    rest = n - m
    dtype = data.dtype
    k_normal, k_chi = jax.random.split(key)
    n_low = d * (d - 1) // 2 if rest >= d else max(rest, 0) * d
    z = jax.random.normal(k_normal, (m * d + n_low,), dtype)  # one draw: fewer generator calls
    g = z[: m * d].reshape(m, d)
    e = jnp.zeros((d, d), dtype).at[:m].set(data.draw_scale[:, None] * g)
    if rest >= d:
        df = (rest - jnp.arange(d)).astype(dtype)
        diag = jnp.sqrt(chisquare(k_chi, df))
        a = jnp.append(z[m * d:], 0)[_packed_lower(d)] + jnp.diag(diag)
        g = jnp.concatenate([g, a.T])
    elif rest > 0:
        g = jnp.concatenate([g, z[m * d:].reshape(rest, d)])
    return e, (g.T @ g) / n


def chisquare(key, df):
    r"""Exact $\chi^2_{\nu}$ draws for every entry of `df` (integers $\nu \ge 1$), as $2\,\Gamma(\nu/2)$.

    Marsaglia and Tsang's rejection sampler, vectorised: round $i$ draws one uniform pair per
    entry from `fold_in(key, i)` (the normal through the inverse error function, as
    `jax.random.normal` does), an entry keeps its first accepted candidate, and the loop ends
    when all have one (acceptance is above 95 % for $\nu \ge 2$: one or two rounds);
    $\chi^2_1 = z^2$ directly. An entry's value depends on its key only, also under `vmap`.
    Two generator calls in one small loop: a fraction of the compile time of
    `jax.random.chisquare`, whose gamma sampler loops per entry.
    """
    dtype = df.dtype
    one = df == 1
    d = jnp.where(one, 1.0, df / 2) - 1 / 3
    c = 1 / jnp.sqrt(9 * d)

    def body(state):
        i, done, value = state
        u = jax.random.uniform(jax.random.fold_in(key, i), (2,) + df.shape, dtype)
        x = jnp.sqrt(2).astype(dtype) * jax.lax.erf_inv(2 * u[0] - 1)
        v = (1 + c * x) ** 3
        safe_v = jnp.where(v > 0, v, 1)
        ok = one | ((v > 0) & (jnp.log(u[1]) < 0.5 * x * x + d - d * safe_v + d * jnp.log(safe_v)))
        new = jnp.where(one, 0.5 * x * x, d * safe_v)
        return i + 1, done | ok, jnp.where(~done & ok, new, value)

    start = (jnp.int32(0), jnp.zeros(df.shape, bool), jnp.zeros(df.shape, dtype))
    return 2 * jax.lax.while_loop(lambda s: ~jnp.all(s[1]), body, start)[2]


def _packed_lower(d: int) -> np.ndarray:
    """`(d, d)` indices into a packed strict lower triangle (row-major), `d(d-1)/2` elsewhere (a 0)."""
    i, j = np.indices((d, d))
    return np.where(i > j, i * (i - 1) // 2 + j, d * (d - 1) // 2)


def batch_draw(key_noise, key_shuffle, t, data: Data, batch_size, with_noise: bool):
    r"""The rows $X_B$ of step `t` and a standard normal $Z_0$ of their shape (or `None`).

    `batch_size=None` is the full batch. Otherwise epoch $e = \lfloor t/(N/B)\rfloor$ is the
    permutation `permutation(fold_in(key_shuffle, e), N)` cut into $\lfloor N/B\rfloor$
    consecutive batches (the last $N \bmod B$ rows of each permutation are skipped).
    """
    x = data.X
    n = x.shape[0]
    if batch_size is None:
        xb = x
    else:
        per_epoch = n // batch_size
        perm = jax.random.permutation(jax.random.fold_in(key_shuffle, t // per_epoch), n)
        idx = jax.lax.dynamic_slice_in_dim(perm, (t % per_epoch) * batch_size, batch_size)
        xb = x[idx]
    z = jax.random.normal(jax.random.fold_in(key_noise, t), xb.shape, x.dtype) if with_noise else None
    return xb, z
