r"""The randomness of one training step: the noise moments $(\bar E, \bar F)$ or a corrupted batch.

Every draw depends on the run's key and the step only, never on its hyper-parameters: under a
`jax.vmap` over noise levels (inside one over keys) it is drawn once per key and shared.

The moment engine makes **one** generator call per step (and round of the chi-square's
rejection loop, almost always one): `jax.random.bits` of the whole step's words, transformed
here into normals and uniforms. Each generator call site is a threefry kernel that XLA
compiles separately (about 0.3 s each on CPU); one site per step keeps the program's compile
time small.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._data import Data

_CANDIDATES = 2  # Marsaglia-Tsang candidates per chi-square entry and round (acceptance > 95 % each)


def _uniform_open(bits, dtype):
    r"""Uniforms in the open interval $(0, 1)$ from unsigned words: $(m + \tfrac12)\,2^{-p}$, $m$ the top $p$ bits.

    $p$ is the dtype's mantissa width (23 or 52): every value is exact, never 0 or 1.
    """
    p = jnp.finfo(dtype).nmant
    m = (bits >> (8 * bits.dtype.itemsize - p)).astype(dtype)
    return (m + 0.5) * jnp.asarray(2.0**-p, dtype)


def _normal(bits, dtype):
    r"""Standard normals $\sqrt2\,\operatorname{erf}^{-1}(2u - 1)$ of open uniforms $u$ (finite: $|2u-1| < 1$)."""
    return jnp.sqrt(jnp.asarray(2.0, dtype)) * jax.lax.erf_inv(2 * _uniform_open(bits, dtype) - 1)


def _bits(key, n: int, dtype):
    """`n` words as wide as `dtype` (32 or 64 bits) from one generator call."""
    return jax.random.bits(key, (n,), _word(dtype))


def moment_draw(key, data: Data):
    r"""$(\bar E, \bar F) = (V^\top X^\top Z_0 V/N,\ V^\top Z_0^\top Z_0 V/N)$ exactly in distribution.

    With the thin SVD $X = U S V_m^\top$ and $Q = Z_0 V$ (i.i.d. normal, like $Z_0$),
    $\bar G = U^\top Q$ `(m, D)` is i.i.d. normal, the rows $k < m$ of $\bar E$ are
    $\sqrt{\lambda_k/N}\,\bar G_k$ (the others 0), and
    $N\bar F = \bar G^\top\bar G + R$ with $R = Q^\top(I - UU^\top)Q \sim \mathrm{Wishart}_D(N - m, I)$
    independent of $\bar G$, drawn by Bartlett's decomposition $R = AA^\top$ ($A$ lower
    triangular, $A_{ii}^2 \sim \chi^2_{N-m-i}$, $A_{ij} \sim \mathcal N(0, 1)$ below the
    diagonal) when $N - m \ge D$, directly as $Y^\top Y$ otherwise.

    Cost: $mD + D(D-1)/2$ normals and $4D$ words for the chi-squares, all from one generator
    call (`_draw_words`), and one $(m + D) \times D$ Gram product, $O(D^3)$, nothing of size
    $N$. **Returns:** `(E, F)`, each `(D, D)`, in the data's dtype.
    """
    n, d = data.n_samples, data.dim
    m = data.draw_scale.shape[0]
    rest = n - m
    dtype = data.dtype
    n_low = d * (d - 1) // 2 if rest >= d else max(rest, 0) * d
    df = (rest - np.arange(d)) if rest >= d else np.zeros(0, int)
    z, chi = _draw_words(key, m * d + n_low, df, dtype)
    g = z[: m * d].reshape(m, d)
    e = jnp.zeros((d, d), dtype).at[:m].set(data.draw_scale[:, None] * g)
    if rest >= d:
        a = jnp.append(z[m * d:], 0)[_packed_lower(d)] + jnp.diag(jnp.sqrt(chi))
        g = jnp.concatenate([g, a.T])
    elif rest > 0:
        g = jnp.concatenate([g, z[m * d:].reshape(rest, d)])
    return e, (g.T @ g) / n


def _draw_words(key, n_normal: int, df: np.ndarray, dtype):
    r"""`n_normal` standard normals and exact $\chi^2_{\nu}$ draws for the integers $\nu \ge 1$ of `df`.

    One generator call per round $r$: `bits(fold_in(key, r))`, $n_{normal} + 4\,|\nu|$ words.
    Round 0's first words are the normals; each round gives every chi-square entry
    `_CANDIDATES` Marsaglia–Tsang candidates ($2\,\Gamma(\nu/2)$; $\chi^2_1 = z^2$ directly),
    an entry keeps its first accepted one, and the rounds end when all have one (acceptance is
    above 95 % per candidate for $\nu \ge 2$: almost always one round). Exact; a value depends
    on the key only, also under `vmap`.
    """
    k, nd = _CANDIDATES, df.shape[0]
    one = jnp.asarray(df == 1)
    a = jnp.asarray(np.where(df == 1, 1.0, df / 2) - 1 / 3, dtype)
    c = 1 / jnp.sqrt(9 * a)

    def body(state):
        r, done, value, z = state
        w = _bits(jax.random.fold_in(key, r), n_normal + 2 * k * nd, dtype)
        normals = _normal(w[: n_normal + k * nd], dtype)  # one transform of the round's normals
        x = normals[n_normal:].reshape(k, nd)
        u = _uniform_open(w[n_normal + k * nd:], dtype).reshape(k, nd)
        v = (1 + c * x) ** 3
        safe_v = jnp.where(v > 0, v, 1)
        ok = one | ((v > 0) & (jnp.log(u) < 0.5 * x * x + a - a * safe_v + a * jnp.log(safe_v)))
        cand = jnp.where(one, 0.5 * x * x, a * safe_v)
        first = jnp.argmax(ok, axis=0)
        new = jnp.take_along_axis(cand, first[None], 0)[0]
        take = ~done & jnp.any(ok, axis=0)
        return r + 1, done | take, jnp.where(take, new, value), jnp.where(r == 0, normals[:n_normal], z)

    start = (jnp.int32(0), jnp.zeros(nd, bool), jnp.zeros(nd, dtype), jnp.zeros(n_normal, dtype))
    _, _, value, z = jax.lax.while_loop(lambda s: (s[0] == 0) | ~jnp.all(s[1]), body, start)
    return z, 2 * value


def _word(dtype):
    return jnp.dtype(f"uint{8 * jnp.dtype(dtype).itemsize}")


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
