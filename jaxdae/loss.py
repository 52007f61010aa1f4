r"""The loss of a linear DAE / WDAE and its pieces, written once for every solver.

With $C = X^\top X/N = V\Lambda V^\top$ and weights rotated into the eigenbasis,
$\bar W_1 = W_1 V$ `(H, D)` and $\bar W_2 = V^\top W_2$ `(D, H)` (`Spectrum.rotate`), the
noise-averaged per-sample loss (docs/derivations.md §1) is

$$L = \tfrac12\operatorname{tr}\Lambda - \operatorname{tr}(\bar W\Lambda)
 + \tfrac12\operatorname{tr}\big(\bar W(\Lambda+\sigma^2)\bar W^\top\big)
 + \tfrac{\gamma}{2}\big(\|W_1\|_F^2 + \|W_2\|_F^2\big),\qquad \bar W = \bar W_2\bar W_1,$$

and, written with the $H\times H$ Gram matrices $G_1 = \bar W_1(\Lambda+\sigma^2)\bar W_1^\top$ and
$G_2 = \bar W_2^\top\bar W_2$, costs $O(DH^2)$ (no $D\times D$ product), so do its gradient and
Hessian-vector products. The orthogonal rotation changes neither the loss nor the norms.
"""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["expected_loss", "weight_penalty", "noise_penalty", "mode_strength_eigen"]


def weight_penalty(W1, W2):
    r"""$\|W_1\|_F^2 + \|W_2\|_F^2$ over the last two axes, `(...)`: the weight decay's sum of squares."""
    return jnp.sum(W1 * W1, axis=(-2, -1)) + jnp.sum(W2 * W2, axis=(-2, -1))


def noise_penalty(W1, W2):
    r"""$\|W_2 W_1\|_F^2 = \langle W_2^\top W_2, W_1 W_1^\top\rangle$, `(...)`, in $O(DH^2)$, any basis."""
    g2 = jnp.swapaxes(W2, -1, -2) @ W2
    g1 = W1 @ jnp.swapaxes(W1, -1, -2)
    return jnp.sum(g1 * g2, axis=(-2, -1))


def mode_strength_eigen(W1bar, W2bar):
    r"""Mode strengths $u_k = (\bar W_2\bar W_1)_{kk}$ `(..., D)` from eigenbasis weights, $O(DH)$."""
    return jnp.sum(W2bar * jnp.swapaxes(W1bar, -1, -2), axis=-1)


def expected_loss(lam, W1bar, W2bar, noise_var=0.0, weight_decay=0.0):
    r"""The noise-averaged loss $L$ (module docstring) of eigenbasis weights, `(...)`.

    **Arguments:**

    - `lam`: `(D,)` eigenvalues of $C$ (the order of the columns of `W1bar`).
    - `W1bar`: `(..., H, D)` $= W_1 V$; `W2bar`: `(..., D, H)` $= V^\top W_2$.
    - `noise_var`: $\sigma^2 \ge 0$; `weight_decay`: $\gamma \ge 0$ (scalars or `(...)`).

    **Returns:** $L$ with the batch shape `(...)`; cost $O(DH^2)$ per point.
    """
    noise_var = jnp.asarray(noise_var)[..., None, None]
    g1 = (W1bar * (lam + noise_var)) @ jnp.swapaxes(W1bar, -1, -2)
    g2 = jnp.swapaxes(W2bar, -1, -2) @ W2bar
    fit = 0.5 * jnp.sum(lam) - jnp.sum(lam * mode_strength_eigen(W1bar, W2bar), axis=-1)
    fit = fit + 0.5 * jnp.sum(g1 * g2, axis=(-2, -1))
    return fit + 0.5 * jnp.asarray(weight_decay) * weight_penalty(W1bar, W2bar)
