"""`Trajectory`: the result type shared by `jaxdae.ode` and `jaxdae.train`."""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax.numpy as jnp

__all__ = ["Trajectory"]


class Trajectory(eqx.Module):
    r"""Mode strengths (and friends) of a network over time; a pytree, so it vmaps and stacks.

    Axes: batch (grid) axes first, then time, then mode.

    **Fields:**

    - `t`: `(..., T)` times in full-batch gradient steps.
    - `mode_strength`: `(..., T, K)` $u_k(t) = v_k^\top W(t) v_k$ (linear nets) or its
      reconstruction-based generalisation (nonlinear nets), modes in descending eigenvalue order.
    - `loss`: `(..., T)` training loss, or `None`.
    - `weight_norm`: `(..., T)` $\sqrt{\|W_1\|_F^2 + \|W_2\|_F^2}$, or `None`.
    - `weights`: `(W1, W2)` stacked over time, `(..., T, H, D)` and `(..., T, D, H)`, when asked for.
    - `status`: `(...)` `int32` `jaxdae.Status` code per run (0 = `SUCCESSFUL`), or `None`.
    - `stats`: `{name: (...) array}` per-run solver counters (e.g. `num_steps` of an ODE
      solve), possibly empty.
    """

    t: jnp.ndarray
    mode_strength: jnp.ndarray
    loss: Optional[jnp.ndarray] = None
    weight_norm: Optional[jnp.ndarray] = None
    weights: Optional[tuple] = None
    status: Optional[jnp.ndarray] = None
    stats: dict = eqx.field(default_factory=dict)

    @property
    def final(self) -> jnp.ndarray:
        """Mode strengths at the last saved time, `(..., K)`."""
        return self.mode_strength[..., -1, :]
