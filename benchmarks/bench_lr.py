r"""Benchmark: `jaxdae.lr` against the brute-force NumPy searches a user would write.

Workloads (float64, the digits spectrum, D = 64; `--quick`: smaller):

- `fewest_steps`, every mode at once: `lr.optimal_learning_rate(lam, noise_var=0.1,
  criterion="fewest_steps", u0=1e-6, tol=1e-2)` over the 64 eigenvalues, against NumPy
  simulating the balanced gradient-descent map $u \mapsto u(1+\alpha(a-\xi u))^2$ on a grid of
  4096 rates per mode over the stable range and taking the rate with the fewest steps into the
  band (the same band, the same horizon). Agreement: jaxdae's step count (`lr.steps_to_converge`)
  is at most the grid's best.
- the network's Hessian top eigenvalue: `hessian.max_eigenvalue(..., method="lanczos")` on
  the noise-averaged matrix loss at a random point ($P = 2DH$ parameters), against forming the
  dense Hessian (`jax.hessian`) and NumPy's `eigvalsh`. Agreement: relative difference.
- `final_loss` (when `lr` provides it): `lr.optimal_learning_rate_for(X, hidden=H,
  criterion="final_loss", steps=T, init="aligned")` against NumPy evaluating the loss after
  `T` steps of every mode's discrete map on a grid of 256 rates. Agreement: the loss at jaxdae's
  rate relative to the grid's best. The row is the warm call (the search is one compiled
  program per `hidden`, `steps` and shapes); the first call's compile time is a note.

Protocol (`benchmarks._timing`): every jitted function is compiled by a first call, then the
sides are timed interleaved and the median is reported.

    python -m benchmarks.bench_lr [--quick]    # full runs write benchmarks/results/lr.json
"""

from __future__ import annotations

import time

import jax
import jax.flatten_util

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxdae  # noqa: E402
from benchmarks._timing import bench_main, interleaved_medians, machine_info, row  # noqa: E402
from jaxdae import hessian, lr  # noqa: E402

NAME = "lr"
NOISE, U0, TOL = 0.1, 1e-6, 1e-2


def numpy_fewest_steps(lam, noise_var, u0, tol, rates, horizon):
    """Brute force: for each mode the grid rate whose balanced map enters and stays in the band first."""
    xi = lam + noise_var
    ustar = lam / xi
    alpha = rates[None, :] / lam[:, None]  # rates are kappa = alpha * a, a = lam (no weight decay)
    u = np.full(alpha.shape, u0)
    last_out = np.zeros(alpha.shape)
    for k in range(1, horizon + 1):
        u = u * (1 + alpha * (lam[:, None] - xi[:, None] * u)) ** 2
        out = ~(np.abs(u - ustar[:, None]) <= tol * ustar[:, None])
        last_out = np.where(out, k, last_out)
    steps = np.where(np.isfinite(u), last_out + 1, np.inf)
    best = np.argmin(steps, axis=1)
    return alpha[np.arange(len(lam)), best], steps[np.arange(len(lam)), best]


def _fewest_rows(lam, quick):
    rates = np.linspace(1e-3, 1.0 - 1e-3, 4096 if not quick else 512)
    horizon = 400 if not quick else 100
    lam_j = jnp.asarray(lam)
    f = jax.jit(lambda v: lr.optimal_learning_rate(v, noise_var=NOISE, criterion="fewest_steps", u0=U0, tol=TOL,
                                                   steps=horizon))
    f(lam_j).block_until_ready()
    secs = interleaved_medians({"jaxdae": lambda: f(lam_j).block_until_ready(),
                                "numpy": lambda: numpy_fewest_steps(lam, NOISE, U0, TOL, rates, horizon)},
                               3 if not quick else 2)
    ours = np.asarray(lr.steps_to_converge(f(lam_j), lam_j, noise_var=NOISE, u0=U0, tol=TOL, steps=horizon))
    _, brute = numpy_fewest_steps(lam, NOISE, U0, TOL, rates, horizon)
    worse = int(np.sum(ours > brute))
    note = f"fewest_steps: jaxdae's count exceeds the {len(rates)}-rate grid's best for {worse} of {len(lam)} modes"
    return [row(f"fewest_steps rate, {len(lam)} modes", secs["jaxdae"], f"numpy grid of {len(rates)} rates",
                secs["numpy"], "s")], [note]


def matrix_loss(params, c, noise_var):
    """The noise-averaged per-sample loss of a linear DAE, written directly (the user's side)."""
    w1, w2 = params
    r = jnp.eye(c.shape[0]) - w2 @ w1
    return 0.5 * jnp.trace(r @ c @ r.T) + 0.5 * noise_var * jnp.sum((w2 @ w1) ** 2)


def _hessian_rows(X, quick):
    dim, hidden = (64, 16) if not quick else (16, 4)
    Xd = np.asarray(X[:, :dim], np.float64)
    c = jnp.asarray(Xd.T @ Xd / len(Xd))
    k1, k2 = jax.random.split(jax.random.key(1))
    params = (0.3 * jax.random.normal(k1, (hidden, dim)), 0.3 * jax.random.normal(k2, (dim, hidden)))
    ours = lambda: hessian.max_eigenvalue(matrix_loss, params, c, NOISE, method="lanczos").block_until_ready()
    dense_h = jax.jit(lambda p: jax.flatten_util.ravel_pytree(jax.hessian(lambda q: matrix_loss(
        jax.flatten_util.ravel_pytree(p)[1](q), c, NOISE))(jax.flatten_util.ravel_pytree(p)[0]))[0])

    def dense():
        h = np.asarray(dense_h(params)).reshape(2 * dim * hidden, 2 * dim * hidden)
        return np.linalg.eigvalsh(h)[-1]

    a, b = float(ours()), float(dense())
    secs = interleaved_medians({"jaxdae": ours, "dense": dense}, 3 if not quick else 2)
    note = f"hessian: Lanczos and dense top eigenvalues differ by {abs(a - b) / abs(b):.1e} (relative)"
    return [row(f"Hessian top eigenvalue, P = {2 * dim * hidden}", secs["jaxdae"], "jax.hessian + numpy eigvalsh",
                secs["dense"], "s")], [note]


def numpy_final_loss(alpha, lam, hidden, noise_var, u0, steps):
    """Loss after `steps` of every mode's balanced map (top `hidden` modes learn from `u0`)."""
    lam_h = lam[:hidden, None]
    u = np.full((hidden, len(alpha)), u0)
    for _ in range(steps):
        u = u * (1 + alpha[None, :] * (lam_h - (lam_h + noise_var) * u)) ** 2
    learned = np.sum(0.5 * lam_h * (1 - u) ** 2 + 0.5 * noise_var * u**2, axis=0)
    return learned + 0.5 * np.sum(lam[hidden:])


def _final_loss_rows(X, lam, quick):
    hidden, steps = (16, 200) if not quick else (4, 50)
    alphas = np.geomspace(1e-3, 0.999 / lam[0], 256)
    spectrum = jaxdae.Spectrum.from_data(X)

    def call(noise_var=NOISE):
        return lr.optimal_learning_rate_for(spectrum, hidden=hidden, noise_var=noise_var, criterion="final_loss",
                                            steps=steps, init="aligned", u0=U0)

    t0 = time.perf_counter()
    jax.block_until_ready(call(0.5 * NOISE))  # compiles; the timed calls below reuse the program
    cold = time.perf_counter() - t0
    ours = float(call())
    secs = interleaved_medians({"jaxdae": lambda: jax.block_until_ready(call()),
                                "numpy": lambda: numpy_final_loss(alphas, lam, hidden, NOISE, U0, steps)},
                               5 if not quick else 3)
    grid = numpy_final_loss(alphas, lam, hidden, NOISE, U0, steps)
    at_ours = numpy_final_loss(np.array([ours]), lam, hidden, NOISE, U0, steps)[0]
    notes = [f"final_loss: loss at jaxdae's rate {ours:.4g} is {at_ours / grid.min() - 1:+.1e} relative to the "
             "grid's best",
             f"final_loss: first call (compile included, another noise level) {cold:.3g} s; the row is the warm call"]
    return [row(f"final_loss rate, H = {hidden}, T = {steps} (warm)", secs["jaxdae"], "numpy grid of 256 rates",
                secs["numpy"], "s")], notes


def run(*, quick: bool = False) -> dict:
    """The three comparisons; one that the current `lr` API cannot run is a note, not an error."""
    X = np.asarray(jaxdae.data.digits(), np.float64)
    lam = np.sort(np.linalg.eigvalsh(X.T @ X / len(X)))[::-1]
    lam_learn = lam[lam > 1e-6 * lam[0]][: (64 if not quick else 8)]
    rows, notes = [], []
    for label, make in (("fewest_steps", lambda: _fewest_rows(lam_learn, quick)),
                        ("hessian", lambda: _hessian_rows(X, quick)),
                        ("final_loss", lambda: _final_loss_rows(X, lam, quick))):
        try:
            r, n = make()
            rows, notes = rows + r, notes + n
        except Exception as err:  # noqa: BLE001 - report and go on
            notes.append(f"{label} failed: {type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}")
    return {"name": NAME, "machine": machine_info(), "rows": rows, "notes": notes, "quick": quick}


def main(argv=None) -> dict:
    return bench_main(NAME, run, argv)


if __name__ == "__main__":
    main()
