r"""Typed configuration of a training run: noise model, engine, optimiser, and the whole `Config`.

These objects are static (hashable): they choose the compiled program. Numbers that may be
swept (noise variance, weight decay, learning rate, initial scale, key) are never in them.
Strings are the user-facing shorthand, converted once by `configure`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import optax

from .. import _checks
from ..loss import expected_loss, mode_strength_eigen, noise_penalty, weight_penalty

__all__ = ["Sampled", "Expected", "NoNoise", "MomentEngine", "DataEngine", "Optimizer", "Config"]

_DEFAULT_LR = 1e-2


# --------------------------------------------------------------------------- noise models


@dataclasses.dataclass(frozen=True)
class Sampled:
    r"""Fresh Gaussian input noise every step, $\tilde x = x + \sigma z$ (`noise="sampled"`)."""

    draws = True

    def moment_grad(self, params, draw, lam, sd, var):
        r"""Data gradient in the eigenbasis: $G = \bar W_2\bar W_1\bar S_{tt} - \bar S_{xt}$, then $(\bar W_2^\top G, G\bar W_1^\top)$."""
        w1, w2 = params
        e, f = draw
        s_xt = jnp.diag(lam) + sd * e
        s_tt = jnp.diag(lam) + sd * (e + e.T) + var * f
        g = w2 @ (w1 @ s_tt) - s_xt
        return w2.T @ g, g @ w1.T

    def moment_loss(self, params, draw, lam, sd, var):
        r"""$\tfrac12\sum\lambda - \langle\bar S_{xt}, \bar W\rangle + \tfrac12\langle\bar W\bar S_{tt}, \bar W\rangle$ of this draw.

        Without forming $\bar W$: $\langle\bar E, \bar W\rangle = \langle\bar W_2^\top\bar E, \bar W_1\rangle$ and
        $\langle\bar W\bar S_{tt}, \bar W\rangle = \langle(\bar W_2^\top\bar W_2)(\bar W_1\bar S_{tt}), \bar W_1\rangle$, $O(D^2H)$.
        """
        w1, w2 = params
        e, f = draw
        s_tt = jnp.diag(lam) + sd * (e + e.T) + var * f
        fit = 0.5 * jnp.sum(lam) - jnp.sum(lam * mode_strength_eigen(w1, w2)) - sd * jnp.sum((w2.T @ e) * w1)
        return fit + 0.5 * jnp.sum(((w2.T @ w2) @ (w1 @ s_tt)) * w1)

    def corrupt(self, xb, z, sd):
        return xb + sd * z

    def data_penalty(self, params, var):
        return 0.0


@dataclasses.dataclass(frozen=True)
class Expected:
    r"""The noise average of a linear net's loss, exact (`noise="expected"`): $+\tfrac{\sigma^2}{2}\|W_2W_1\|_F^2$."""

    draws = False

    def effective_var(self, var):
        return var

    def moment_grad(self, params, draw, lam, sd, var):
        r"""$\bar S_{tt} = \Lambda + \sigma^2 I$ is diagonal: $\bar W_1\bar S_{tt}$ is a column scaling."""
        w1, w2 = params
        v = self.effective_var(var)
        g = w2 @ (w1 * (lam + v)) - jnp.diag(lam)
        return w2.T @ g, g @ w1.T

    def moment_loss(self, params, draw, lam, sd, var):
        return expected_loss(lam, params[0], params[1], self.effective_var(var))

    def corrupt(self, xb, z, sd):
        return xb

    def data_penalty(self, params, var):
        return 0.5 * self.effective_var(var) * noise_penalty(*params)


@dataclasses.dataclass(frozen=True)
class NoNoise(Expected):
    """A plain autoencoder: the noise variance is ignored (`noise="none"`)."""

    def effective_var(self, var):
        return jnp.zeros_like(var)


_NOISES = {"sampled": Sampled, "expected": Expected, "none": NoNoise}


# --------------------------------------------------------------------------- engines


@dataclasses.dataclass(frozen=True)
class MomentEngine:
    r"""A linear net on the full batch from exact second-moment draws, in the eigenbasis (`engine="moments"`)."""

    eigenbasis = True


@dataclasses.dataclass(frozen=True)
class DataEngine:
    """The corrupted (mini)batch itself, differentiated with `jax.grad` (`engine="data"`)."""

    batch_size: Optional[int] = None
    eigenbasis = False


# --------------------------------------------------------------------------- optimiser


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """An optax optimiser: a factory `lr -> GradientTransformation` (learning rate traced) or a fixed one."""

    factory: Optional[Callable] = None
    fixed: Optional[optax.GradientTransformation] = None

    def make(self, lr) -> optax.GradientTransformation:
        return self.fixed if self.fixed is not None else self.factory(lr)

    @classmethod
    def from_argument(cls, optimizer) -> "Optimizer":
        """`None` (SGD), an `optax.GradientTransformation` or a factory such as `optax.adam`."""
        if optimizer is None:
            return cls(factory=optax.sgd)
        if isinstance(optimizer, optax.GradientTransformation):
            return cls(fixed=optimizer)
        if callable(optimizer) and not isinstance(optimizer, type):
            try:
                made = optimizer(jnp.asarray(_DEFAULT_LR))
            except Exception:  # noqa: BLE001 - any failure means it is not a factory
                made = None
            if isinstance(made, optax.GradientTransformation):
                return cls(factory=optimizer)
        raise ValueError(
            "optimizer must be an optax.GradientTransformation or a factory lr -> GradientTransformation "
            f"(such as optax.adam), got {optimizer!r}"
        )


# --------------------------------------------------------------------------- the whole configuration

_ACTIVATIONS = {"linear": None, "relu": jax.nn.relu, "tanh": jnp.tanh}


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that shapes the compiled program of one run."""

    hidden: int
    steps: int
    record_every: int
    noise: object
    engine: object
    activation: Optional[Callable]  # None: linear
    optimizer: Optimizer
    record_weights: bool

    @property
    def linear(self) -> bool:
        return self.activation is None

    def act(self, h):
        return h if self.activation is None else self.activation(h)

    @property
    def n_records(self) -> int:
        return len(range(0, self.steps, self.record_every)) + 1


def _noise(noise):
    if isinstance(noise, (Sampled, Expected)):
        return noise
    return _NOISES[_checks.choice("noise", noise, tuple(_NOISES))]()


def _engine(engine, linear: bool, batch_size, n_samples: int):
    if batch_size is not None:
        batch_size = _checks.integer("batch_size", batch_size)
        if batch_size > n_samples:
            raise ValueError(f"batch_size must be <= the number of samples N = {n_samples}, got {batch_size}")
    if isinstance(engine, (MomentEngine, DataEngine)):
        if isinstance(engine, DataEngine) and batch_size is not None:
            raise ValueError("give batch_size either to fit or to DataEngine, not both")
        kind = "moments" if isinstance(engine, MomentEngine) else "data"
        batch_size = batch_size if kind == "moments" else engine.batch_size
    else:
        kind = _checks.choice("engine", engine, ("auto", "moments", "data"))
    full_linear = linear and batch_size is None
    if kind == "auto":
        kind = "moments" if full_linear else "data"
    if kind == "moments" and not full_linear:
        raise ValueError("engine='moments' needs activation='linear' and batch_size=None (the full batch)")
    return MomentEngine() if kind == "moments" else DataEngine(batch_size)


def configure(*, hidden, steps, noise, activation, engine, batch_size, record_every, optimizer, record_weights,
              n_samples: int) -> Config:
    """Validate the static arguments of `fit` and convert the strings to typed objects.

    **Raises:** `ValueError` naming the argument and the bad value.
    """
    hidden = _checks.integer("hidden", hidden)
    steps = _checks.integer("steps", steps)
    act = _ACTIVATIONS[_checks.choice("activation", activation, tuple(_ACTIVATIONS))]
    noise = _noise(noise)
    if isinstance(noise, Expected) and not isinstance(noise, NoNoise) and act is not None:
        raise ValueError(f"noise='expected' needs activation='linear' (the noise-averaged loss has no closed form "
                         f"for a {activation} net); use noise='sampled'")
    engine = _engine(engine, act is None, batch_size, n_samples)
    every = max(1, steps // 100) if record_every is None else _checks.integer("record_every", record_every)
    return Config(hidden, steps, every, noise, engine, act, Optimizer.from_argument(optimizer), bool(record_weights))


def penalty(params):
    """$\\|W_1\\|_F^2 + \\|W_2\\|_F^2$ of a pair (any basis: the rotation is orthogonal)."""
    return weight_penalty(*params)
