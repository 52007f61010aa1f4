r"""The largest eigenvalue of a Hessian: dense, or Lanczos on Hessian-vector products.

`max_eigenvalue(loss_fn, params, *args)` gives $\lambda_{max}$ of $\nabla^2$ `loss_fn` at `params`
(any pytree of floating arrays); gradient descent at rate $\alpha$ is stable at a minimum only
for $\alpha < 2/\lambda_{max}$ (`jaxdae.lr` uses it for a whole network's limit).

**Why Lanczos and not `jax.experimental.sparse.linalg.lobpcg_standard`** (measured, float64):
on the Hessian of the digits network at its minimum ($D = 64$, $H = 32$, $P = 4096$) both reach
the top eigenvalue to rounding in 24 Hessian-vector products; on a spectrum without a gap (2000
eigenvalues uniform in $[1, 2]$) this Lanczos reaches a relative error of $5\times10^{-11}$ in 184
products, while LOBPCG with one vector is at $1.3\times10^{-7}$ after 400 (it stops at its
tolerance or after `m` iterations, and does not say which). The recurrence here keeps three
vectors of size $P$, stops on a residual bound and says when it has not converged.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from . import _checks

__all__ = ["max_eigenvalue", "aligned_max_eigenvalue"]


def _ritz(j, alpha, beta, live):
    """The top Ritz value of the first `j` Lanczos steps and its residual bound."""
    max_iter, dtype = alpha.shape[0], alpha.dtype
    k = jnp.arange(max_iter)
    # Entries past j decouple (zero off-diagonals); alpha_0, a Rayleigh quotient inside the
    # spectrum, on their diagonal cannot become the top Ritz value.
    diag = jnp.where(k < j, alpha, alpha[0])
    off = jnp.where(k[:-1] < j - 1, beta[:-1], 0)
    theta = jax.scipy.linalg.eigh_tridiagonal(
        diag, off, eigvals_only=True, select="i", select_range=(max_iter - 1, max_iter - 1)
    )[0]
    # Its eigenvector by two steps of inverse iteration (O(max_iter) each, unlike a full eigh).
    lower = jnp.concatenate([jnp.zeros((1,), dtype), off])
    upper = jnp.concatenate([off, jnp.zeros((1,), dtype)])
    x = jnp.ones((max_iter, 1), dtype)
    for _ in range(2):
        x = jax.lax.linalg.tridiagonal_solve(lower, diag - theta, upper, x, perturb_singular=True)
        x = x / jnp.linalg.norm(x)
    last = jnp.maximum(j - 1, 0)
    res = jnp.abs(beta[last] * x[last, 0])
    return theta, jnp.where(live, res, 0)


def _lanczos_top(matvec, v0, max_iter, tol, chunk):
    r"""Top eigenvalue by the Lanczos three-term recurrence, checked every `chunk` steps.

    No reorthogonalisation: for the largest eigenvalue it is not needed. The top eigenvalue of
    the tridiagonal $T_j$ never decreases with $j$ ($T_j$ is a leading block of $T_{j+1}$), stays
    below $\lambda_{max}$ up to rounding (Paige), and once it has converged the lost
    orthogonality only adds harmless copies of it. Memory is a few vectors of the parameter
    size. Stops when the residual bound $\beta_j |s_j| \le$ `tol` $|\theta|$ holds.
    """
    n = v0.shape[0]
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps

    def step(i, state):
        j, q, q_prev, b_prev, alpha, beta, live, scale = state
        go = live & (j < max_iter)
        w = matvec(q)
        scale = jnp.maximum(scale, jnp.linalg.norm(w))
        a = jnp.vdot(q, w)
        w = w - a * q - b_prev * q_prev
        b = jnp.linalg.norm(w)
        # An invariant Krylov space: its Ritz values are exact, so the iteration may stop.
        still = go & (b > 16 * jnp.sqrt(n) * eps * scale)
        alpha = jnp.where(go, alpha.at[j].set(a), alpha)
        beta = jnp.where(go, beta.at[j].set(jnp.where(still, b, 0)), beta)
        q_new = jnp.where(still, w / jnp.where(still, b, 1), q)
        return (
            jnp.where(go, j + 1, j),
            q_new,
            jnp.where(still, q, q_prev),
            jnp.where(still, b, b_prev),
            alpha,
            beta,
            # Running out of iterations is not convergence: only a breakdown ends `live`.
            jnp.where(go, still, live),
            scale,
        )

    def cond(state):
        inner, top, res = state
        j, live = inner[0], inner[6]
        return live & (j < max_iter) & ((j == 0) | (res > tol * jnp.abs(top)))

    def body(state):
        inner, _, _ = state
        inner = jax.lax.fori_loop(0, chunk, step, inner)
        top, res = _ritz(inner[0], inner[4], inner[5], inner[6])
        return inner, top, res

    zero = jnp.zeros((), dtype)
    q0 = v0 / jnp.linalg.norm(v0)
    tri = jnp.zeros(max_iter, dtype)
    inner = (0, q0, jnp.zeros_like(q0), zero, tri, tri, jnp.array(True), zero)
    inner, top, res = jax.lax.while_loop(cond, body, (inner, zero, jnp.asarray(jnp.inf, dtype)))
    return top, res <= tol * jnp.abs(top), inner[0], res


@eqx.filter_jit
def _top_eig_lanczos(loss_fn, params, args, key, max_iter, tol, chunk):
    flat, unravel = ravel_pytree(params)
    grad = jax.grad(lambda x: loss_fn(unravel(x), *args))
    _, matvec = jax.linearize(grad, flat)
    v0 = jax.random.normal(key, flat.shape, flat.dtype)
    return _lanczos_top(matvec, v0, max_iter, tol, chunk)[:2]


@eqx.filter_jit
def _top_eig_dense(loss_fn, params, args):
    flat, unravel = ravel_pytree(params)
    h = jax.hessian(lambda x: loss_fn(unravel(x), *args))(flat)
    return jnp.linalg.eigvalsh((h + h.T) / 2)[-1]


def max_eigenvalue(loss_fn, params, *args, method: str = "auto", max_iter: int = 512, tol=None, key=None):
    r"""Largest eigenvalue $\lambda_{max}$ of the Hessian of `loss_fn` at `params` (any pytree).

    The gradient-descent stability limit at a minimum is $2/\lambda_{max}$.

    - `method="dense"`: forms the Hessian with `jax.hessian` on the flattened parameters and takes
      `eigvalsh`; $O(P^2)$ memory and $O(P^3)$ time for $P$ parameters.
    - `method="lanczos"`: the Lanczos recurrence on Hessian-vector products (`jax.linearize` of
      `jax.grad`, forward-over-reverse; the Hessian is never formed), without
      reorthogonalisation (not needed for the top eigenvalue, whose Ritz value rises
      monotonically to it), until the residual bound $\|Hy - \theta y\| \le$ `tol`$\,|\theta|$
      holds; that bounds the error of $\theta$ by the same amount, and in practice by its square
      over the spectral gap. Memory: a few vectors of size $P$; cost: one Hessian-vector product
      (about twice a gradient) per step.
    - `method="auto"`: dense for $P \le 1024$, Lanczos above.

    **Arguments:**

    - `loss_fn`: `loss_fn(params, *args) -> scalar`, twice differentiable in `params`.
    - `params`: the point, a pytree of floating arrays of one dtype.
    - `*args`: further arguments of `loss_fn`, held fixed (arrays are traced, so new values do
      not recompile).
    - `max_iter`, `tol` (default $\sqrt{\epsilon}$ of the dtype): Lanczos step limit and relative
      residual tolerance.
    - `key`: `jax.random` key of the Lanczos start vector (default `jax.random.key(0)`: the result
      is deterministic).

    **Returns:** $\lambda_{max}$ (the largest algebraic eigenvalue) as a 0-d array.

    **Raises:** `ValueError` for an unknown `method` or bad settings; `RuntimeError` if Lanczos
    has not converged in `max_iter` steps (under `jit`: an `equinox` run-time error).

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxdae import hessian
    >>> quad = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 3.0, 2.0]) * x**2)
    >>> round(float(hessian.max_eigenvalue(quad, jnp.ones(3))), 6)
    3.0
    >>> round(float(hessian.max_eigenvalue(quad, jnp.ones(3), method="lanczos")), 6)
    3.0

    ```
    """
    _checks.choice("method", method, ("auto", "dense", "lanczos"))
    max_iter = _checks.integer("max_iter", max_iter)
    flat, _ = ravel_pytree(params)
    if flat.size == 0:
        raise ValueError("params must contain at least one parameter")
    if not jnp.issubdtype(flat.dtype, jnp.floating):
        raise ValueError(f"params must be floating, got dtype {flat.dtype}")
    if method == "auto":
        method = "dense" if flat.size <= 1024 else "lanczos"
    if method == "dense":
        return _top_eig_dense(loss_fn, params, args)
    if tol is None:
        tol = float(np.sqrt(np.finfo(flat.dtype).eps))
    _checks.check("tol", tol, lambda v: (v > 0) & (v < 1), "in (0, 1)")
    key = jax.random.key(0) if key is None else key
    top, converged = _top_eig_lanczos(loss_fn, params, args, key, int(max_iter), float(tol), 8)
    if _checks.is_traced(top):
        return eqx.error_if(top, ~converged, "Lanczos did not converge: raise max_iter")
    if not bool(converged):
        raise RuntimeError(
            f"Lanczos did not converge to tol={tol} in {max_iter} steps (last estimate {float(top)!r}); raise max_iter"
        )
    return top


# --------------------------------------------------------------------------- balanced aligned points, exactly


def _sym2_top(a, b, c):
    """Largest eigenvalue of the symmetric 2x2 matrix [[a, b], [b, c]]."""
    return 0.5 * (a + c) + jnp.hypot(0.5 * (a - c), b)


def _pair_blocks(s, xi, g, weight_decay):
    r"""The 4x4 blocks of the pairs $i < j < H$, variables $(dW_1^{ij}, dW_2^{ij}, dW_1^{ji}, dW_2^{ji})$."""
    i, j = np.triu_indices(s.shape[0], 1)
    si, sj, xi_i, xi_j, gi, gj = s[i], s[j], xi[i], xi[j], g[i], g[j]
    zero = jnp.zeros_like(si)
    v1 = jnp.stack([si, sj, zero, zero], -1)
    v2 = jnp.stack([zero, zero, sj, si], -1)
    outer = lambda v: v[:, :, None] * v[:, None, :]  # noqa: E731
    block = xi_j[:, None, None] * outer(v1) + xi_i[:, None, None] * outer(v2)
    block = block + weight_decay * jnp.eye(4, dtype=s.dtype)
    block = block.at[:, 1, 2].add(gi).at[:, 2, 1].add(gi).at[:, 0, 3].add(gj).at[:, 3, 0].add(gj)
    return jnp.linalg.eigvalsh(block)[:, -1]


def aligned_max_eigenvalue(lam, strength, *, noise_var=0.0, weight_decay=0.0):
    r"""$\lambda_{max}$ of the Hessian of the noise-averaged loss at a balanced aligned point, exactly.

    The loss is `jaxdae.loss.expected_loss` in the eigenbasis of $C$ (eigenvalues `lam`), at
    $W_1 = [\operatorname{diag}(s), 0]$ `(H, D)`, $W_2 = W_1^\top$, $s_k = \sqrt{u_k}$ for the
    first $H$ = `len(strength)` modes. With $\xi_k = \lambda_k + \sigma^2$ and
    $g_k = \xi_k u_k - \lambda_k$ ($u_k = 0$ for $k \ge H$) the Hessian is block diagonal:

    - per learned mode $k < H$, $(dW_1^{kk}, dW_2^{kk})$: $\xi_k u_k\,\mathbf 1\mathbf 1^\top +
      \gamma I + g_k\,(\mathbf 1\mathbf 1^\top - I)$, top eigenvalue $\xi_k u_k + \gamma + |\xi_k u_k + g_k|$
      ($2(\lambda_k - \gamma)$ at the fixed point, the one-mode result of `jaxdae.lr`);
    - per $i < H \le j$, $(dW_1^{ij}, dW_2^{ji})$: $[[\xi_j u_i + \gamma, -\lambda_j], [-\lambda_j, \xi_i u_i + \gamma]]$;
    - per pair $i < j < H$, $(dW_1^{ij}, dW_2^{ij}, dW_1^{ji}, dW_2^{ji})$: $\gamma I + \xi_j v v^\top +
      \xi_i w w^\top$ with $v = (s_i, s_j, 0, 0)$, $w = (0, 0, s_j, s_i)$, plus $g_i$ coupling
      $dW_2^{ij}$ with $dW_1^{ji}$ and $g_j$ coupling $dW_2^{ji}$ with $dW_1^{ij}$ (the mode-mixing
      directions, stiffer than any one mode under weight decay).

    **Cost:** $O(H^2 + HD)$ (no Hessian of the $2DH$ parameters is formed); traceable and
    differentiable in every argument (`jax.vmap` over `noise_var`, `weight_decay`, ...).

    **Arguments:** `lam` `(D,)` $\ge 0$; `strength` `(H,)` $u_k \ge 0$, $H \le D$; `noise_var`,
    `weight_decay` scalars $\ge 0$.

    **Returns:** $\lambda_{max}$, a 0-d array.

    **Raises:** `ValueError` for bad shapes or values (named).

    ```python
    >>> from jaxdae import hessian
    >>> float(hessian.aligned_max_eigenvalue([2.0, 1.0, 0.5], [1.0, 1.0]))   # the fixed point: 2 lam_1
    4.0

    ```
    """
    lam = _checks.nonnegative("lam", jnp.asarray(lam))
    strength = _checks.nonnegative("strength", jnp.asarray(strength))
    if np.ndim(lam) != 1 or np.ndim(strength) != 1 or not 1 <= np.shape(strength)[0] <= np.shape(lam)[0]:
        raise ValueError(f"lam must be (D,) and strength (H,) with 1 <= H <= D, got shapes {np.shape(lam)} "
                         f"and {np.shape(strength)}")
    noise_var = _checks.nonnegative("noise_var", noise_var)
    weight_decay = _checks.nonnegative("weight_decay", weight_decay)
    return _aligned_top(*_checks.as_float(lam, strength, noise_var, weight_decay))


@jax.jit
def _aligned_top(lam, strength, noise_var, weight_decay):
    hidden = strength.shape[0]
    xi = lam + noise_var
    u = jnp.zeros_like(lam).at[:hidden].set(strength)
    g = xi * u - lam
    p = xi[:hidden] * strength + weight_decay
    top = jnp.max(p + jnp.abs(xi[:hidden] * strength + g[:hidden]))
    if hidden < lam.shape[0]:
        cross = _sym2_top(xi[None, hidden:] * strength[:, None] + weight_decay, -lam[None, hidden:],
                          (xi[:hidden] * strength)[:, None] + weight_decay)
        top = jnp.maximum(top, jnp.max(cross))
    if hidden > 1:
        live = strength > 0  # sqrt with a finite derivative where a mode has not learned (u = 0)
        s = jnp.where(live, jnp.sqrt(jnp.where(live, strength, 1)), 0)
        top = jnp.maximum(top, jnp.max(_pair_blocks(s, xi[:hidden], g[:hidden], weight_decay)))
    return top
