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

Protocol (`benchmarks._timing`): compile first (compile time reported), then the median of
interleaved `block_until_ready` timings. The baselines run on a subset of noise levels (their cost
is linear in it) and are compared by throughput, in mode-evaluations per second. The loss curves
are checked against each other. Roofline: `fraction_of_bandwidth` is the kernel's compulsory traffic
(reading `t`, writing the curves) against the copy bandwidth measured in the same run; the fused
kernel is compute-bound, so `vs_writing_the_grid` (4 bytes per mode-evaluation over the bandwidth)
says how it compares with merely writing every float32 mode strength to memory once.

    python -m benchmarks.bench_exact            # full size, writes benchmarks/results/exact.json
    python -m benchmarks.bench_exact --quick    # small smoke run, writes nothing
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxdae
from benchmarks._timing import bench_main, interleaved_medians, machine_info, memory_bandwidth, row

NAME = "exact"
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


def baseline_broadcast(t, lam, sigmas, chunk=4):
    """(b) fully broadcast NumPy, `chunk` noise levels at a time."""
    out = []
    for i in range(0, len(sigmas), chunk):
        sig = sigmas[i : i + chunk, None, None]
        u = numpy_stable(t[None, :, None], lam[None, None, :], sig, np.float32(LR), np.float32(U0))
        out.append(numpy_loss(u, lam, sig))
    return np.concatenate(out)


@jax.jit
def loss_curves(t, lam, sigmas):
    """jaxdae: the expected-loss curves `(levels, T)` of every noise level, one compiled program."""
    u = jaxdae.mode_strength(t[None, :, None], lam, noise_var=sigmas[:, None, None], lr=LR, u0=U0)
    return jnp.sum(0.5 * lam * (1 - u) ** 2 + 0.5 * sigmas[:, None, None] * u**2, axis=-1)


def _workload(quick):
    modes, steps, levels = (784, 5000, 64) if not quick else (128, 500, 8)
    lam64 = np.asarray(jaxdae.data.synthetic_spectrum(modes, top=30.0, decay=0.98), np.float64)
    return lam64, np.arange(steps, dtype=np.float64), np.linspace(0.0, 2.0, levels)


def run(*, quick: bool = False) -> dict:
    """Time the three sides and check their loss curves agree; returns the suite's result dict."""
    lam64, t64, sig64 = _workload(quick)
    modes, steps, levels = len(lam64), len(t64), len(sig64)
    loop_levels, bcast_levels = (2, 16) if not quick else (1, 4)
    lam, t, sig = (jnp.asarray(x, jnp.float32) for x in (lam64, t64, sig64))
    lam32, t32 = lam64.astype(np.float32), t64.astype(np.float32)
    b_sig, loop_sig = np.asarray(sig64[:bcast_levels], np.float32), sig64[:loop_levels]

    start = time.perf_counter()
    compiled = loss_curves.lower(t, lam, sig).compile()
    compile_s = time.perf_counter() - start
    seconds = interleaved_medians({
        "jaxdae": lambda: compiled(t, lam, sig).block_until_ready(),
        "numpy_loop_f64": lambda: baseline_loop(t64, lam64, loop_sig),
        "numpy_broadcast_f32": lambda: baseline_broadcast(t32, lam32, b_sig),
    }, repeats=3 if not quick else 2)
    curves = np.asarray(compiled(t, lam, sig))
    loop_curves, bcast_curves = baseline_loop(t64, lam64, loop_sig), baseline_broadcast(t32, lam32, b_sig)
    n = {"jaxdae": modes * steps * levels, "numpy_loop_f64": modes * steps * loop_levels,
         "numpy_broadcast_f32": modes * steps * bcast_levels}
    rate = {k: n[k] / seconds[k] for k in n}
    # Relative to the curve's scale: float32 rounding of (1 - u) near u = 1 limits any float32 code.
    agree_loop = float(np.max(np.abs(curves[:loop_levels] - loop_curves)) / np.max(np.abs(loop_curves)))
    agree_bcast = float(np.max(np.abs(curves[:bcast_levels] - bcast_curves)) / np.max(np.abs(bcast_curves)))
    bandwidth = memory_bandwidth()
    traffic = 4.0 * (steps + modes + levels + levels * steps)
    return {
        "name": NAME,
        "machine": machine_info(),
        "rows": [
            row(f"{modes} modes x {steps} t x {levels} noise", rate["jaxdae"], "numpy_loop_f64",
                rate["numpy_loop_f64"], "mode-evals/s"),
            row(f"{modes} modes x {steps} t x {levels} noise", rate["jaxdae"], "numpy_broadcast_f32",
                rate["numpy_broadcast_f32"], "mode-evals/s"),
        ],
        "roofline": {"memory_bandwidth_bytes_per_s": bandwidth,
                     "fraction_of_bandwidth": traffic / seconds["jaxdae"] / bandwidth,
                     "vs_writing_the_grid": 4.0 * rate["jaxdae"] / bandwidth},
        "notes": [f"compile {compile_s:.2f} s; loss curves agree to {agree_loop:.1e} (float64 loop) and "
                  f"{agree_bcast:.1e} (float32 broadcast) of the largest loss"],
        "workload": {"modes": modes, "steps": steps, "noise_levels": levels, "dtype": "float32", "lr": LR, "u0": U0},
        "compile_s": compile_s,
        "seconds": seconds,
        "mode_evaluations_per_s": rate,
        "speedup_vs_numpy_loop_f64": rate["jaxdae"] / rate["numpy_loop_f64"],
        "speedup_vs_numpy_broadcast_f32": rate["jaxdae"] / rate["numpy_broadcast_f32"],
        "targets": {"vs_loop": 30.0, "vs_broadcast": 8.0},
        "max_diff_of_loss_curves_over_max_loss": {"vs_loop_f64": agree_loop, "vs_broadcast_f32": agree_bcast},
        "quick": quick,
    }


def main(argv=None) -> dict:
    return bench_main(NAME, run, argv)


if __name__ == "__main__":
    main()
