"""Benchmark: exact mode dynamics over a large grid, jaxdae versus the NumPy a user would write.

Workload: a 784-mode spectrum (MNIST-sized, geometric decay) x 5000 steps x 64 noise levels, float32,
balanced start u0 = 1e-6, lr = 0.01. Every point's mode strength is evaluated and reduced to the
expected loss curve L[noise, t] = sum_k lam_k/2 (1 - u)^2 + noise/2 u^2 (what a sweep plots), so no
side has to hold the 250M-point grid.

- jaxdae: `exact.mode_strength` inside one `jit` (evaluate and reduce in one compiled program).
- baseline (a), the style of the paper's original code: a Python loop over steps, NumPy vectorised
  over modes, one noise level at a time, float64 (as the original ran), with the same stable formula.
- baseline (b): fully broadcast NumPy at the same dtype (float32), chunked over noise levels to fit
  memory.

Protocol: compile first (compile time reported), then the median of repeated `block_until_ready`
timings. The baselines run on a subset of noise levels (their cost is linear in it) and are compared
by throughput, in mode-evaluations per second. The loss curves are checked against each other.

    python benchmarks/bench_exact.py            # full size, writes benchmarks/results/exact.json
    python benchmarks/bench_exact.py --quick    # small smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxdae
from _timing import median_time

LR = 0.01
U0 = 1e-6


def numpy_stable(t, lam, noise_var, lr, u0):
    """docs/derivations.md section 7, balanced stable form (no weight decay: a = lam >= 0)."""
    s = lr * t
    xi = lam + noise_var
    k = 2 * lam * s
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(k > 0, -np.expm1(-k) / np.where(k > 0, k, 1), 1.0)
    return u0 / (np.exp(-k) + 2 * s * xi * u0 * phi)


def numpy_loss(u, lam, noise_var):
    return np.sum(0.5 * lam * (1 - u) ** 2 + 0.5 * noise_var * u**2, axis=-1)


def baseline_loop(t, lam, sigmas):
    """(a) Python loop over steps, vectorised over modes, one noise level at a time (float64)."""
    out = np.empty((len(sigmas), len(t)))
    for i, sig in enumerate(sigmas):
        for j, tj in enumerate(t):
            out[i, j] = numpy_loss(numpy_stable(tj, lam, sig, LR, U0), lam, sig)
    return out


def baseline_broadcast(t, lam, sigmas, chunk):
    """(b) fully broadcast NumPy, `chunk` noise levels at a time."""
    out = []
    for i in range(0, len(sigmas), chunk):
        sig = sigmas[i : i + chunk, None, None]
        u = numpy_stable(t[None, :, None], lam[None, None, :], sig, np.float32(LR), np.float32(U0))
        out.append(numpy_loss(u, lam, sig))
    return np.concatenate(out)


@jax.jit
def jaxdae_loss_curves(t, lam, sigmas):
    u = jaxdae.mode_strength(t[None, :, None], lam, noise_var=sigmas[:, None, None], lr=LR, u0=U0)
    return jnp.sum(0.5 * lam * (1 - u) ** 2 + 0.5 * sigmas[:, None, None] * u**2, axis=-1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "exact.json")
    args = parser.parse_args(argv)

    modes, steps, levels = (784, 5000, 64) if not args.quick else (128, 500, 8)
    loop_levels, bcast_levels = (2, 16) if not args.quick else (1, 4)
    repeats = 5 if not args.quick else 2
    lam64 = jaxdae.data.synthetic_spectrum(modes, top=30.0, decay=0.98)
    t64 = np.arange(steps, dtype=np.float64)
    sig64 = np.linspace(0.0, 2.0, levels)
    lam, t, sig = (jnp.asarray(x, jnp.float32) for x in (lam64, t64, sig64))

    start = time.perf_counter()
    compiled = jaxdae_loss_curves.lower(t, lam, sig).compile()
    compile_s = time.perf_counter() - start
    jax_s = median_time(lambda: compiled(t, lam, sig).block_until_ready(), repeats)
    curves = np.asarray(compiled(t, lam, sig))
    n_jax = modes * steps * levels

    loop_sig = sig64[:loop_levels]
    loop_s = median_time(lambda: baseline_loop(t64, lam64, loop_sig), 1 if not args.quick else 2)
    loop_curves = baseline_loop(t64, lam64, loop_sig)
    n_loop = modes * steps * loop_levels

    b_sig = np.asarray(sig64[:bcast_levels], np.float32)
    lam32, t32 = lam64.astype(np.float32), t64.astype(np.float32)
    bcast_s = median_time(lambda: baseline_broadcast(t32, lam32, b_sig, chunk=4), max(2, repeats // 2))
    bcast_curves = baseline_broadcast(t32, lam32, b_sig, chunk=4)
    n_bcast = modes * steps * bcast_levels

    rate = {"jaxdae": n_jax / jax_s, "numpy_loop_f64": n_loop / loop_s, "numpy_broadcast_f32": n_bcast / bcast_s}
    ratio_loop = rate["jaxdae"] / rate["numpy_loop_f64"]
    ratio_bcast = rate["jaxdae"] / rate["numpy_broadcast_f32"]
    # Relative to the curve's scale: float32 rounding of (1 - u) near u = 1 limits any float32 code.
    agree_loop = float(np.max(np.abs(curves[:loop_levels] - loop_curves)) / np.max(np.abs(loop_curves)))
    agree_bcast = float(np.max(np.abs(curves[:bcast_levels] - bcast_curves)) / np.max(np.abs(bcast_curves)))

    result = {
        "workload": {"modes": modes, "steps": steps, "noise_levels": levels, "dtype": "float32", "lr": LR, "u0": U0},
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "jax": jax.__version__,
            "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()],
        },
        "compile_s": compile_s,
        "seconds": {"jaxdae": jax_s, "numpy_loop_f64": loop_s, "numpy_broadcast_f32": bcast_s},
        "mode_evaluations_per_s": rate,
        "speedup_vs_numpy_loop_f64": ratio_loop,
        "speedup_vs_numpy_broadcast_f32": ratio_bcast,
        "targets": {"vs_loop": 30.0, "vs_broadcast": 8.0},
        "max_diff_of_loss_curves_over_max_loss": {"vs_loop_f64": agree_loop, "vs_broadcast_f32": agree_bcast},
        "quick": args.quick,
    }
    print(f"workload: {modes} modes x {steps} steps x {levels} noise levels (float32)")
    print(f"compile: {compile_s:.2f} s")
    for k, v in rate.items():
        print(f"{k:22s} {v / 1e9:8.3f} G mode-evaluations/s")
    print(f"speed-up vs (a) NumPy loop, float64:      {ratio_loop:7.1f}x (target >= 30x)")
    print(f"speed-up vs (b) NumPy broadcast, float32: {ratio_bcast:7.1f}x (target >= 8x)")
    print(f"loss curves agree: {agree_loop:.1e} (vs float64 loop), {agree_bcast:.1e} (vs float32 broadcast)")
    if not args.quick:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
