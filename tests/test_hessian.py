"""Tests of `jaxdae.hessian`: the top Hessian eigenvalue against NumPy's dense `eigvalsh`.

References: `jax.hessian` of the loss, flattened, and `numpy.linalg.eigvalsh`; exact quadratics
with a known spectrum.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxdae import hessian


def _dense_top(loss, params, *args):
    """NumPy's top eigenvalue of the Hessian formed as the Jacobian of the gradient."""
    flat, unravel = ravel_pytree(params)
    return np.linalg.eigvalsh(np.asarray(jax.jacfwd(jax.grad(lambda x: loss(unravel(x), *args)))(flat)))[-1]


def matrix_loss(params, c, noise_var, weight_decay):
    """Expected DAE loss in the data's own basis, as a trace of the residual's second moment."""
    w1, w2 = params
    w = w2 @ w1
    resid = jnp.einsum("ij,jk,lk->il", jnp.eye(c.shape[0]) - w, c, jnp.eye(c.shape[0]) - w)
    penalty = noise_var * jnp.vdot(w, w) + weight_decay * (jnp.vdot(w1, w1) + jnp.vdot(w2, w2))
    return 0.5 * (jnp.trace(resid) + penalty)


def _random_moment(rng, lam):
    q, _ = np.linalg.qr(rng.normal(size=(lam.size, lam.size)))
    return (q * lam) @ q.T


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lanczos_matches_dense_eigvalsh(seed):
    rng = np.random.default_rng(seed)
    d, h = 9, 6
    c = jnp.asarray(_random_moment(rng, np.sort(rng.uniform(0, 2, d))[::-1]))
    params = (jnp.asarray(rng.normal(size=(h, d))), jnp.asarray(rng.normal(size=(d, h))))
    args = (c, jnp.asarray(rng.uniform(0, 1)), jnp.asarray(rng.uniform(0, 0.5)))
    ref = _dense_top(matrix_loss, params, *args)
    lanczos = hessian.max_eigenvalue(matrix_loss, params, *args, method="lanczos")
    dense = hessian.max_eigenvalue(matrix_loss, params, *args, method="dense")
    np.testing.assert_allclose(lanczos, ref, rtol=1e-6)
    np.testing.assert_allclose(dense, ref, rtol=1e-12)


def test_lanczos_on_a_pytree_with_a_dominant_negative_eigenvalue():
    # A quadratic over a dict of arrays whose most negative eigenvalue is 4x the top one:
    # power iteration would return it; the largest algebraic eigenvalue is 2.5.
    rng = np.random.default_rng(3)
    eig = np.concatenate([[-10.0, -3.0], rng.uniform(-1, 2, 38), [2.5]])
    a = jnp.asarray(_random_moment(rng, eig))
    params = {"w": jnp.asarray(rng.normal(size=(5, 4))), "b": jnp.asarray(rng.normal(size=(21,)))}

    def quad(p, a):
        x, _ = ravel_pytree(p)
        return 0.5 * x @ a @ x + jnp.sum(jnp.sin(x)) * 0  # exactly quadratic

    got = hessian.max_eigenvalue(quad, params, a, method="lanczos")
    np.testing.assert_allclose(got, 2.5, rtol=1e-6)
    np.testing.assert_allclose(hessian.max_eigenvalue(quad, params, a), 2.5, rtol=1e-12)


def test_lanczos_float32():
    rng = np.random.default_rng(4)
    d, h = 12, 5
    c = jnp.asarray(_random_moment(rng, np.sort(rng.uniform(0, 2, d))[::-1]), jnp.float32)
    params = (jnp.asarray(rng.normal(size=(h, d)), jnp.float32), jnp.asarray(rng.normal(size=(d, h)), jnp.float32))
    args = (c, jnp.float32(0.3), jnp.float32(0.1))
    got = hessian.max_eigenvalue(matrix_loss, params, *args, method="lanczos")
    assert got.dtype == jnp.float32
    params64 = jax.tree.map(lambda x: x.astype(jnp.float64), params)
    ref = _dense_top(matrix_loss, params64, *(jnp.asarray(x, jnp.float64) for x in args))
    np.testing.assert_allclose(float(got), ref, rtol=1e-4)




def test_lanczos_running_out_of_iterations_is_not_convergence():
    """A slowly converging spectrum: max_iter below what tol needs raises instead of returning."""
    d = jnp.linspace(1.0, 2.0, 2000)
    quad = lambda x: 0.5 * jnp.sum(d * x * x)  # noqa: E731
    for max_iter in (10, 13):
        with pytest.raises(RuntimeError, match="did not converge"):
            hessian.max_eigenvalue(quad, jnp.ones(2000), method="lanczos", max_iter=max_iter, tol=1e-12)
    top = hessian.max_eigenvalue(quad, jnp.ones(2000), method="lanczos", max_iter=512, tol=1e-6)
    assert float(top) == pytest.approx(2.0, rel=1e-5)


def test_bad_input_is_named():
    params = (jnp.ones((2, 3)), jnp.ones((3, 2)))
    with pytest.raises(ValueError, match="method must be one of"):
        hessian.max_eigenvalue(matrix_loss, params, jnp.eye(3), 0.0, 0.0, method="power")
    with pytest.raises(ValueError, match="max_iter must be an integer >= 1"):
        hessian.max_eigenvalue(matrix_loss, params, jnp.eye(3), 0.0, 0.0, method="lanczos", max_iter=0)
    with pytest.raises(ValueError, match="tol must be in"):
        hessian.max_eigenvalue(matrix_loss, params, jnp.eye(3), 0.0, 0.0, method="lanczos", tol=2.0)
    with pytest.raises(ValueError, match="at least one parameter"):
        hessian.max_eigenvalue(lambda p: 0.0, jnp.zeros((0,)))


@pytest.mark.parametrize("dim, hidden", [(6, 4), (5, 5), (7, 1)])
def test_aligned_blocks_match_dense_eigvalsh(dim, hidden):
    """The exact block form at balanced aligned points (any strengths) against the dense Hessian."""
    rng = np.random.default_rng(dim + hidden)
    lam = np.sort(rng.uniform(0, 2, dim))[::-1]
    c = jnp.asarray(_random_moment(rng, lam))
    vecs = np.linalg.eigh(np.asarray(c))[1][:, ::-1]
    for sig, gam in ((0.0, 0.0), (0.5, 0.3), (0.1, 0.9)):
        u = rng.uniform(0, 1.2, hidden)
        u[-1] = 0.0  # a mode that has not learned
        w1 = np.sqrt(u)[:, None] * vecs[:, :hidden].T
        ref = _dense_top(matrix_loss, (jnp.asarray(w1), jnp.asarray(w1.T)), c, sig, gam)
        got = hessian.aligned_max_eigenvalue(lam, u, noise_var=sig, weight_decay=gam)
        np.testing.assert_allclose(float(got), ref, rtol=1e-12)
    # Differentiable where a mode sits at u = 0: the derivative is finite and matches differences.
    f = lambda g: hessian.aligned_max_eigenvalue(lam, u, noise_var=0.2, weight_decay=g)  # noqa: E731
    fd = (float(f(0.3 + 1e-6)) - float(f(0.3 - 1e-6))) / 2e-6
    np.testing.assert_allclose(float(jax.grad(f)(0.3)), fd, rtol=1e-6)


def test_aligned_bad_input_is_named():
    with pytest.raises(ValueError, match="strength \\(H,\\) with 1 <= H <= D"):
        hessian.aligned_max_eigenvalue([1.0, 0.5], [0.1, 0.1, 0.1])
    with pytest.raises(ValueError, match="strength must be >= 0"):
        hessian.aligned_max_eigenvalue([1.0, 0.5], [-0.1])
