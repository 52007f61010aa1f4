"""One run: the initial weights, then a `lax.scan` over steps (draw, gradient, record, update)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from ._config import Config, penalty
from ._data import Data
from ._record import empty, write
from ._sampling import batch_draw, moment_draw


def _initial(cfg: Config, data: Data, key, init):
    k_init, k_noise, k_shuffle = jax.random.split(key, 3)
    w1, w2 = init.weights(k_init, data.spectrum, cfg.hidden, data.dtype)
    params = data.spectrum.rotate(w1, w2) if cfg.engine.eigenbasis else (w1, w2)
    return params, k_noise, k_shuffle


def _draw(cfg: Config, data: Data, k_noise, k_shuffle, t):
    if cfg.engine.eigenbasis:
        return moment_draw(jax.random.fold_in(k_noise, t), data) if cfg.noise.draws else None
    return batch_draw(k_noise, k_shuffle, t, data, cfg.engine.batch_size, cfg.noise.draws)


def _data_loss(params, draw, cfg: Config, hyper):
    w1, w2 = params
    xb, z = draw
    xt = cfg.noise.corrupt(xb, z, jnp.sqrt(hyper["noise_var"]))
    xhat = cfg.act(xt @ w1.T) @ w2.T
    fit = 0.5 * jnp.sum((xhat - xb) ** 2) / xb.shape[0] + cfg.noise.data_penalty(params, hyper["noise_var"])
    return fit + 0.5 * hyper["weight_decay"] * penalty(params)


def _gradient(cfg: Config, params, draw, hyper, data: Data):
    """`(grads, loss)` of one step; the moment engine's loss is `None` (computed only when recorded)."""
    if not cfg.engine.eigenbasis:
        loss, grads = jax.value_and_grad(_data_loss)(params, draw, cfg, hyper)
        return grads, loss
    var, gam = hyper["noise_var"], hyper["weight_decay"]
    g1, g2 = cfg.noise.moment_grad(params, draw, data.spectrum.lam, jnp.sqrt(var), var)
    return (g1 + gam * params[0], g2 + gam * params[1]), None


def _moment_loss(cfg: Config, params, draw, hyper, data: Data):
    var = hyper["noise_var"]
    fit = cfg.noise.moment_loss(params, draw, data.spectrum.lam, jnp.sqrt(var), var)
    return fit + 0.5 * hyper["weight_decay"] * penalty(params)


def simulate(cfg: Config, data: Data, hyper: dict, key, init):
    """Train one network; returns the record buffers `(u, norm, loss, weights or None)`.

    The scan runs `steps + 1` iterations so that the record at `t = steps` sees that step's
    draw (the loss is the one the optimiser would see next); the last update is discarded.
    """
    params, k_noise, k_shuffle = _initial(cfg, data, key, init)
    opt = cfg.optimizer.make(hyper["lr"])
    bufs = empty(cfg, params, data)

    def body(carry, t):
        params, state, bufs = carry
        draw = _draw(cfg, data, k_noise, k_shuffle, t)
        grads, loss = _gradient(cfg, params, draw, hyper, data)

        def record(b):
            rec_loss = _moment_loss(cfg, params, draw, hyper, data) if loss is None else loss
            return write(cfg, b, t, params, rec_loss, data)

        bufs = jax.lax.cond((t % cfg.record_every == 0) | (t == cfg.steps), record, lambda b: b, bufs)
        updates, state = opt.update(grads, state, params)
        return (optax.apply_updates(params, updates), state, bufs), None

    carry = (params, opt.init(params), bufs)
    (_, _, bufs), _ = jax.lax.scan(body, carry, jnp.arange(cfg.steps + 1))
    return bufs


simulate_jit = jax.jit(simulate, static_argnums=0)
