"""Benchmark: `jaxdae.ode.solve` against SciPy's `solve_ivp(RK45)` on the flattened matrix ODE.

Protocol (what a user would otherwise run, same machine, same run, same tolerance):

- problem: the digits spectrum (D = 64), H = 32, small random initialisation (Gaussian entries of
  standard deviation 1e-3), lr = 1, integrated until the 8 leading modes have converged (the
  balanced theory's time for mode 8 to reach 99 % of its fixed point); 50 save times;
  float64; rtol 1e-6, atol 1e-9 on both sides;
- jaxdae: `ode.solve` with the default `Tsit5` (eigenbasis, O(D H^2) per right-hand side),
  one solve, and one call with 64 noise levels in [0, 1] (the built-in grid);
- devices: `solve` spreads a grid over all JAX devices. XLA exposes one CPU device per process
  unless `XLA_FLAGS=--xla_force_host_platform_device_count=N` is set before jax is imported, so
  this script sets N = `--devices` (default: the number of CPU cores) for itself, unless
  XLA_FLAGS already sets it. The sweep is timed both on one device (the plain single-device loop,
  what a user gets without the flag) and on all devices; the single solve is not affected;
- SciPy: `solve_ivp(method="RK45")` on the literal equations with the full C, flattened to one
  vector (4096 entries), one solve, and the 64 levels one after the other;
- timing: compile first (compile time = first call minus the median steady call), then the
  median of repeated wall times with `block_until_ready`, JAX and SciPy interleaved so that
  load from other processes hits both alike;
- agreement: max |u_jax - u_scipy| over all times and modes, and both against a tight DOP853
  reference (rtol 1e-10) for the single solve.

Writes `benchmarks/results/ode.json` and prints the ratios. `--quick`: 8 levels, one repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

_DEVICE_FLAG = "--xla_force_host_platform_device_count"


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 noise levels, one repeat (smoke run)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--devices", type=int, default=os.cpu_count() or 1,
                        help="CPU devices to expose to XLA (set before jax is imported; default: all cores)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ode.json")
    return parser


if __name__ == "__main__" and _DEVICE_FLAG not in os.environ.get("XLA_FLAGS", ""):
    _n = _parser().parse_known_args(sys.argv[1:])[0].devices
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_DEVICE_FLAG}={_n}".strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

from jaxdae import Spectrum, data, exact, ode  # noqa: E402
from jaxdae.initialise import random_init  # noqa: E402

H = 32
SCALE = 1e-3
LR = 1.0
RTOL, ATOL = 1e-6, 1e-9
N_SAVE = 50
TARGETS = {"single_speedup": 3.0, "sweep_speedup": 3.0, "compile_s": 5.0}


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


def timed(fn):
    start = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return time.perf_counter() - start, out


def main(argv=None) -> dict:
    args = _parser().parse_args(argv)
    n_levels = 8 if args.quick else 64
    repeats = 1 if args.quick else args.repeats

    X = data.digits(np.float64)
    spec = Spectrum.from_data(X)
    c = np.asarray(spec.moment)
    vecs = np.asarray(spec.vecs)
    d = c.shape[0]
    lam = np.asarray(spec.lam)
    w1, w2 = (np.asarray(w) for w in random_init(jax.random.key(0), d, H, scale=SCALE))
    horizon = float(exact.time_to_fraction(0.99, lam[7], lr=LR, u0=SCALE**2))
    ts = np.linspace(0.0, horizon, N_SAVE)
    levels = np.linspace(0.0, 1.0, n_levels)

    def jax_single():
        return ode._solve(spec, w1, w2, 0.0, 0.0, LR, ts, None, RTOL, ATOL, 16384, False, True, None, "eigen")

    devices = jax.devices()

    def jax_sweep(devs=devices):
        return ode._solve(spec, w1, w2, levels, 0.0, LR, ts, None, RTOL, ATOL, 16384, False, True, None, "eigen",
                          devs)

    first_single, (traj, steps) = timed(jax_single)
    first_sweep, (sweep, sweep_steps) = timed(jax_sweep)
    first_sweep_1, (sweep_1, _) = timed(lambda: jax_sweep(devices[:1]))

    single_jax, single_sp, sweep_jax, sweep_jax_1, sweep_sp = [], [], [], [], []
    for _ in range(repeats):
        single_jax.append(timed(jax_single)[0])
        t, sol = timed(lambda: scipy_solve(c, w1, w2, ts, 0.0))
        single_sp.append(t)
        sweep_jax.append(timed(jax_sweep)[0])
        sweep_jax_1.append(timed(lambda: jax_sweep(devices[:1]))[0])
        t, sols = timed(lambda: [scipy_solve(c, w1, w2, ts, s) for s in levels])
        sweep_sp.append(t)
    med = lambda xs: float(np.median(xs))  # noqa: E731

    u_jax = np.asarray(traj.mode_strength)
    u_sp = mode_strengths(sol, vecs, H)
    tight = mode_strengths(scipy_solve(c, w1, w2, ts, 0.0, method="DOP853", rtol=1e-10, atol=1e-13), vecs, H)
    u_sweep_sp = np.stack([mode_strengths(s, vecs, H) for s in sols])
    leading_final = u_jax[-1, :8] / np.asarray(exact.fixed_point(lam[:8]))

    result = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0],
            "jax": jax.__version__,
            "backend": jax.default_backend(),
            "jax_devices": len(devices),
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
        },
        "problem": {
            "data": "digits spectrum, C = X^T X / N", "D": d, "H": H, "init": f"N(0, {SCALE:g}^2)",
            "lr": LR, "horizon_steps": horizon, "n_save": N_SAVE, "rtol": RTOL, "atol": ATOL,
            "noise_levels": [float(levels[0]), float(levels[-1]), n_levels], "dtype": "float64",
            "leading_8_modes_final_over_fixed_point": [round(float(v), 6) for v in leading_final],
        },
        "single": {
            "jaxdae_s": med(single_jax), "scipy_rk45_s": med(single_sp),
            "speedup": med(single_sp) / med(single_jax),
            "jaxdae_steps": int(steps), "scipy_nfev": int(sol.nfev), "scipy_steps_approx": int(sol.nfev) // 6,
            "max_abs_diff_u_jaxdae_vs_scipy": float(np.max(np.abs(u_jax - u_sp))),
            "max_abs_err_u_jaxdae_vs_dop853_1e-10": float(np.max(np.abs(u_jax - tight))),
            "max_abs_err_u_scipy_vs_dop853_1e-10": float(np.max(np.abs(u_sp - tight))),
            "compile_s": first_single - med(single_jax),
        },
        "sweep": {
            "levels": n_levels,
            "devices": len(devices),
            "jaxdae_s": med(sweep_jax), "scipy_rk45_sequential_s": med(sweep_sp),
            "speedup": med(sweep_sp) / med(sweep_jax),
            "jaxdae_1device_s": med(sweep_jax_1),
            "speedup_1device": med(sweep_sp) / med(sweep_jax_1),
            "max_abs_diff_u_all_devices_vs_1device": float(
                np.max(np.abs(np.asarray(sweep.mode_strength) - np.asarray(sweep_1.mode_strength)))),
            "jaxdae_steps_min_max": [int(np.min(sweep_steps)), int(np.max(sweep_steps))],
            "max_abs_diff_u_jaxdae_vs_scipy": float(np.max(np.abs(np.asarray(sweep.mode_strength) - u_sweep_sp))),
            "compile_s": first_sweep - med(sweep_jax),
            "compile_1device_s": first_sweep_1 - med(sweep_jax_1),
        },
        "repeats": repeats,
        "targets": TARGETS,
    }
    result["targets_met"] = {
        "single_speedup": result["single"]["speedup"] >= TARGETS["single_speedup"],
        "sweep_speedup": result["sweep"]["speedup"] >= TARGETS["sweep_speedup"],
        "compile_s": max(result["single"]["compile_s"], result["sweep"]["compile_s"],
                         result["sweep"]["compile_1device_s"]) < TARGETS["compile_s"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not args.quick:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    s, w = result["single"], result["sweep"]
    print(f"digits D={d}, H={H}, horizon {horizon:.1f} steps at lr {LR}, rtol {RTOL:g}, atol {ATOL:g}, "
          f"load average {result['machine']['load_average_1min']:.2f} on {os.cpu_count()} cores")
    print(f"single solve : jaxdae {s['jaxdae_s'] * 1e3:8.1f} ms ({s['jaxdae_steps']} steps)   "
          f"SciPy RK45 {s['scipy_rk45_s'] * 1e3:8.1f} ms (~{s['scipy_steps_approx']} steps)   "
          f"speedup {s['speedup']:.2f}x   max |du| {s['max_abs_diff_u_jaxdae_vs_scipy']:.1e}")
    print(f"{n_levels} levels    : jaxdae {w['jaxdae_s']:8.2f} s on {len(devices)} device(s), "
          f"{w['jaxdae_1device_s']:.2f} s on 1   SciPy sequential {w['scipy_rk45_sequential_s']:8.2f} s   "
          f"speedup {w['speedup']:.2f}x ({w['speedup_1device']:.2f}x on 1 device)   "
          f"max |du| {w['max_abs_diff_u_jaxdae_vs_scipy']:.1e}, devices vs 1: "
          f"{w['max_abs_diff_u_all_devices_vs_1device']:.1e}")
    print(f"compile      : single {s['compile_s']:.2f} s, grid {w['compile_s']:.2f} s "
          f"(1 device {w['compile_1device_s']:.2f} s)")
    print(f"accuracy vs DOP853 rtol 1e-10: jaxdae {s['max_abs_err_u_jaxdae_vs_dop853_1e-10']:.1e}, "
          f"SciPy RK45 {s['max_abs_err_u_scipy_vs_dop853_1e-10']:.1e}")
    print("targets met:", result["targets_met"], "" if args.quick else f"-> {args.out}")
    return result


if __name__ == "__main__":
    main()
