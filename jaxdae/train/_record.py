r"""What a run records at its record times: mode strengths, weight norm, loss and (optionally) weights."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..loss import mode_strength_eigen
from ._config import Config, penalty
from ._data import Data


def record_times(steps: int, every: int) -> np.ndarray:
    """$0, r, 2r, \\dots$ below `steps`, and `steps` itself."""
    return np.append(np.arange(0, steps, every), steps)


def observe(cfg: Config, params, data: Data):
    r"""Mode strengths `(D,)` and weight norm `()` of one run's parameters.

    Moment engine (eigenbasis weights): $u_k = (\bar W_2\bar W_1)_{kk}$, $O(DH)$. Linear data
    engine: `Spectrum.mode_strength_of_weights`, $O(D^2H)$. Nonlinear: from the reconstructions
    of the clean data, `Spectrum.mode_strength_of_reconstruction`, $O(NDH + ND^2)$.
    """
    w1, w2 = params
    if cfg.engine.eigenbasis:
        u = mode_strength_eigen(w1, w2)
    elif cfg.linear:
        u = data.spectrum.mode_strength_of_weights(w1, w2)
    else:
        xhat = cfg.act(data.X @ w1.T) @ w2.T
        u = data.spectrum.mode_strength_of_reconstruction(xhat, data.X, data.live)
    return u, jnp.sqrt(penalty(params))


def weights_out(cfg: Config, params, data: Data):
    """The weights in the data's basis (the moment engine works in the eigenbasis)."""
    if not cfg.engine.eigenbasis:
        return params
    v = data.spectrum.vecs
    return params[0] @ v.T, v @ params[1]


def empty(cfg: Config, params, data: Data):
    """Zeroed buffers `(u, norm, loss, weights or None)`, one slot per record time."""
    u, norm = jax.eval_shape(lambda p: observe(cfg, p, data), params)
    w = jax.eval_shape(lambda p: weights_out(cfg, p, data), params) if cfg.record_weights else None
    return jax.tree.map(lambda a: jnp.zeros((cfg.n_records,) + a.shape, a.dtype), (u, norm, norm, w))


def write(cfg: Config, bufs, t, params, loss, data: Data):
    """`bufs` with the record of step `t` written in its slot."""
    u, norm = observe(cfg, params, data)
    new = (u, norm, loss, weights_out(cfg, params, data) if cfg.record_weights else None)
    i = jnp.where(t == cfg.steps, cfg.n_records - 1, t // cfg.record_every)
    return jax.tree.map(lambda b, v: jax.lax.dynamic_update_index_in_dim(b, v.astype(b.dtype), i, 0), bufs, new)
