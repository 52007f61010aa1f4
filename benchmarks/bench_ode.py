"""Benchmark: `jaxdae.ode.solve` against SciPy's `solve_ivp(RK45)` on the flattened matrix ODE.

Protocol (what a user would otherwise run, same machine, same run, same tolerance):

- problem: the digits spectrum (D = 64), H = 32, small random initialisation (Gaussian entries of
  standard deviation 1e-3), lr = 1, integrated until the 8 leading modes have converged (the
  balanced theory's time for mode 8 to reach 99 % of its fixed point); 50 save times; float64;
  rtol 1e-6, atol 1e-9 on both sides (both measure the error per entry, RMS-like: SciPy over the
  flattened state, jaxdae per mode in the eigenbasis, see `ode.solve`);
- jaxdae: one `ode.solve` (default `Tsit5`, eigenbasis), and
  `jax.jit(jax.vmap(lambda v: ode.solve(..., noise_var=v)))` over 64 noise levels in [0, 1]
  (the batching rule of `solve` integrates the points one after another on a CPU);
- SciPy: `solve_ivp(method="RK45")` on the literal equations with the full C, flattened to one
  vector (4096 entries), one solve, and the 64 levels in a Python loop;
- timing (`benchmarks._timing`): compile first (compile time = first call minus the median warm
  call, in this fresh process), then interleaved medians with `block_until_ready`;
- per step: wall time over solver steps (`Trajectory.stats["num_steps"]`; SciPy: nfev / 6);
- agreement: max |u_jax - u_scipy| over all times and modes, and both against a tight DOP853
  reference (rtol 1e-10) for the single solve.

    python -m benchmarks.bench_ode            # writes benchmarks/results/ode.json
    python -m benchmarks.bench_ode --quick    # 8 levels, one repeat, writes nothing
"""

from __future__ import annotations

import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

from benchmarks._timing import bench_main, interleaved_medians, machine_info, median_time, row  # noqa: E402
from jaxdae import Spectrum, data, exact, ode  # noqa: E402
from jaxdae.initialise import random_init  # noqa: E402

NAME = "ode"
H = 32
SCALE = 1e-3
LR = 1.0
RTOL, ATOL = 1e-6, 1e-9
N_SAVE = 50
TARGETS = {"single_speedup": 3.0, "vmap_speedup": 3.0, "compile_s": 1.5}


def scipy_rhs(c, h, noise_var, weight_decay=0.0, lr=LR):
    d = c.shape[0]

    def f(t, y):
        w1 = y[: h * d].reshape(h, d)
        w2 = y[h * d:].reshape(d, h)
        w = w2 @ w1
        r = c - w @ c
        d1 = w2.T @ r - noise_var * (w2.T @ w2) @ w1 - weight_decay * w1
        d2 = r @ w1.T - noise_var * w @ w1.T - weight_decay * w2
        return lr * np.concatenate([d1.ravel(), d2.ravel()])

    return f


def scipy_solve(c, w1, w2, ts, noise_var, method="RK45", rtol=RTOL, atol=ATOL):
    h, d = w1.shape
    y0 = np.concatenate([w1.ravel(), w2.ravel()])
    sol = solve_ivp(scipy_rhs(c, h, noise_var), (0.0, ts[-1]), y0, method=method, t_eval=ts, rtol=rtol, atol=atol)
    assert sol.success, sol.message
    return sol


def mode_strengths(sol, vecs, h):
    d = vecs.shape[0]
    w1s = sol.y[: h * d].T.reshape(-1, h, d)
    w2s = sol.y[h * d:].T.reshape(-1, d, h)
    return np.einsum("dk,tde,ek->tk", vecs, w2s @ w1s, vecs)


def _problem(quick):
    spec = Spectrum.from_data(data.digits(np.float64))
    lam = np.asarray(spec.lam)
    w1, w2 = (np.asarray(w) for w in random_init(jax.random.key(0), spec.dim, H, scale=SCALE))
    horizon = float(exact.time_to_fraction(0.99, lam[7], lr=LR, u0=SCALE**2))
    return spec, (w1, w2), np.linspace(0.0, horizon, N_SAVE), np.linspace(0.0, 1.0, 8 if quick else 64)


def _first_and_warm(fn, repeats):
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - start
    return out, first - median_time(lambda: jax.block_until_ready(fn()), repeats)


def run(*, quick: bool = False) -> dict:
    """Time one solve and the 64-level vmap against SciPy; returns the suite's result dict."""
    spec, init, ts, levels = _problem(quick)
    c, vecs = np.asarray(spec.moment), np.asarray(spec.vecs)
    repeats = 1 if quick else 3
    kw = dict(lr=LR, t=ts, rtol=RTOL, atol=ATOL)

    def single():
        return ode.solve(spec, init, **kw)

    grid = jax.jit(jax.vmap(lambda v: ode.solve(spec, init, noise_var=v, throw=False, **kw)))
    traj, compile_single = _first_and_warm(single, repeats)  # first: this process compiles it here
    sweep, compile_vmap = _first_and_warm(lambda: grid(levels), repeats)
    sols = {}
    seconds = interleaved_medians({
        "single": lambda: jax.block_until_ready(single()),
        "single_scipy": lambda: sols.__setitem__("single", scipy_solve(c, *init, ts, 0.0)),
        "vmap": lambda: jax.block_until_ready(grid(levels)),
        "vmap_scipy": lambda: sols.__setitem__("loop", [scipy_solve(c, *init, ts, s) for s in levels]),
    }, repeats)
    steps, sweep_steps = int(traj.stats["num_steps"]), np.asarray(sweep.stats["num_steps"])
    scipy_steps = sols["single"].nfev / 6
    u_jax, u_sp = np.asarray(traj.mode_strength), mode_strengths(sols["single"], vecs, H)
    tight = mode_strengths(scipy_solve(c, *init, ts, 0.0, method="DOP853", rtol=1e-10, atol=1e-13), vecs, H)
    u_loop = np.stack([mode_strengths(s, vecs, H) for s in sols["loop"]])
    n = len(levels)
    rows = [
        row("one solve", seconds["single"], "scipy RK45", seconds["single_scipy"], "s"),
        row(f"jax.vmap over {n} noise levels", seconds["vmap"], f"scipy RK45 loop of {n}", seconds["vmap_scipy"], "s"),
        row("time per solver step, one solve", 1e6 * seconds["single"] / steps, "scipy RK45 (nfev/6)",
            1e6 * seconds["single_scipy"] / scipy_steps, "us"),
        row("compile, one solve (first - warm)", compile_single, "target", TARGETS["compile_s"], "s"),
        row(f"compile, vmap of {n} (first - warm)", compile_vmap, "target", TARGETS["compile_s"], "s"),
    ]
    return {
        "name": NAME, "machine": machine_info(), "rows": rows, "roofline": {},
        "notes": [
            f"one solve: {steps} steps (SciPy ~{scipy_steps:.0f}); vmap: {sweep_steps.min()}-{sweep_steps.max()} "
            f"steps per point, all status {np.unique(np.asarray(sweep.status)).tolist()}",
            f"max |du| jaxdae vs SciPy: one solve {np.max(np.abs(u_jax - u_sp)):.1e}, vmap "
            f"{np.max(np.abs(np.asarray(sweep.mode_strength) - u_loop)):.1e}; against DOP853 rtol 1e-10: "
            f"jaxdae {np.max(np.abs(u_jax - tight)):.1e}, SciPy RK45 {np.max(np.abs(u_sp - tight)):.1e}",
        ],
        "problem": {"data": "digits, C = X^T X / N", "D": spec.dim, "H": H, "init": f"N(0, {SCALE:g}^2)", "lr": LR,
                    "horizon_steps": float(ts[-1]), "n_save": N_SAVE, "rtol": RTOL, "atol": ATOL,
                    "noise_levels": n, "dtype": "float64"},
        "seconds": seconds, "compile_s": {"single": compile_single, "vmap": compile_vmap},
        "num_steps": {"single": steps, "vmap_min": int(sweep_steps.min()), "vmap_max": int(sweep_steps.max())},
        "targets": TARGETS,
        "targets_met": {"single_speedup": rows[0]["ratio"] >= TARGETS["single_speedup"],
                        "vmap_speedup": rows[1]["ratio"] >= TARGETS["vmap_speedup"],
                        "compile_s": compile_single <= TARGETS["compile_s"]},
        "quick": quick,
    }


def main(argv=None) -> dict:
    return bench_main(NAME, run, argv)


if __name__ == "__main__":
    main()
