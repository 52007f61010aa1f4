"""The accelerator run: jaxdae at sizes that fill a GPU or TPU, each result against the roofline
of the same device, measured in the same run.

    python -m benchmarks --accelerator            # or: python -m benchmarks.accelerator
    python -m benchmarks --accelerator --smoke    # the same logic at tiny sizes, on any machine
    python -m benchmarks.accelerator --smoke --parts exact

Needs no network: only jax with its GPU (or TPU) plugin installed. Workloads (full sizes):

- **exact**: 1.0e11 mode-evaluations — 784 modes x 5000 times x 25 600 noise levels of
  `exact.mode_strength`, reduced inside the compiled program to expected-loss curves, in chunks
  of 256 levels (one compiled program, `jax.jit`). Roofline: the copy bandwidth of the device
  (`memory_bandwidth`); reported as `vs_writing_the_grid` = 4 bytes x evaluations/s over it
  (above 1: faster than merely storing each float32 result once).
- **train**: 4096 training runs (64 noise levels x 64 seeds), digits (D = 64), H = 32, 1000
  full-batch steps of `train.fit` under `jax.vmap`. Roofline: the float32 GEMM peak
  (`matmul_peak_flops`); flops counted as 8 H D^2 per run-step (the four D x D-sized products of
  one moment step).
- **ode**: 1024 `ode.solve` runs (noise levels) under `jax.vmap`, D = 64, H = 32, float32;
  reported as solves/s and solver steps/s (adaptive stepping is latency-bound, no roofline).

Records the device's name and memory and the JAX, jaxlib and CUDA versions (`machine_info`).
Full runs write `benchmarks/results/<machine>-accelerator.json`; `--smoke` writes only with `--out`.

Exit status: 0 on success; **2** when no accelerator is present (a message says so; nothing is
run) — pass `--smoke` to test the logic on a CPU; 1 when a workload failed (the others still run).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks._timing import (RESULTS, machine_info, machine_name, matmul_peak_flops, median_time,
                                memory_bandwidth, print_table, row, write_json)

NAME = "accelerator"
NO_ACCELERATOR = 2
FULL = {"modes": 784, "times": 5000, "levels": 25600, "chunk": 256, "seeds": 64, "train_levels": 64,
        "train_steps": 1000, "hidden": 32, "ode_solves": 1024, "repeats": 3}
SMOKE = {"modes": 16, "times": 20, "levels": 8, "chunk": 4, "seeds": 2, "train_levels": 2,
         "train_steps": 5, "hidden": 4, "ode_solves": 2, "repeats": 1}


def exact_workload(sizes, bandwidth):
    """Chunked exact loss curves; one compiled program for every chunk."""
    import jax
    import jax.numpy as jnp

    from benchmarks.bench_exact import loss_curves
    from jaxdae import data

    lam = jnp.asarray(data.synthetic_spectrum(sizes["modes"], top=30.0, decay=0.98), jnp.float32)
    t = jnp.arange(sizes["times"], dtype=jnp.float32)
    levels = np.linspace(0.0, 2.0, sizes["levels"], dtype=np.float32).reshape(-1, sizes["chunk"])
    chunks = [jax.device_put(c) for c in levels]
    loss_curves(t, lam, chunks[0]).block_until_ready()

    def all_chunks():
        jax.block_until_ready([loss_curves(t, lam, c) for c in chunks])

    seconds = median_time(all_chunks, sizes["repeats"])
    rate = sizes["modes"] * sizes["times"] * sizes["levels"] / seconds
    return [row(f"exact: {rate * seconds:.2g} mode-evaluations", rate, "copy roofline (4 B per evaluation)",
                bandwidth / 4.0, "mode-evals/s")], {"exact_vs_writing_the_grid": 4.0 * rate / bandwidth}


def train_workload(sizes, peak):
    """`jax.vmap(train.fit)` over noise levels x seeds."""
    import jax
    import jax.numpy as jnp

    from jaxdae import data, train

    X = jnp.asarray(data.digits(), jnp.float32)
    dim, hidden, steps = X.shape[1], sizes["hidden"], sizes["train_steps"]
    keys = jax.random.split(jax.random.key(0), sizes["seeds"])
    levels = jnp.linspace(0.0, 1.0, sizes["train_levels"], dtype=jnp.float32)
    one = lambda v, k: train.fit(X, hidden=hidden, steps=steps, noise_var=v, key=k).mode_strength
    f = jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None)))
    f(levels, keys).block_until_ready()
    seconds = median_time(lambda: f(levels, keys).block_until_ready(), sizes["repeats"])
    runs = sizes["seeds"] * sizes["train_levels"]
    flops = 8.0 * hidden * dim**2 * steps * runs / seconds
    return [row(f"train: {runs} runs x {steps} steps", flops, "float32 GEMM peak", peak, "flop/s")], {
        "train_fraction_of_matmul_peak": flops / peak, "train_run_steps_per_s": runs * steps / seconds}


def ode_workload(sizes):
    """`jax.vmap(ode.solve)` over noise levels; throughput only."""
    import jax
    import jax.numpy as jnp

    from jaxdae import Spectrum, data, ode

    spec = Spectrum.from_data(np.asarray(data.digits(), np.float32))
    dim, hidden = spec.dim, sizes["hidden"]
    k1, k2 = jax.random.split(jax.random.key(1))
    w1 = 1e-3 * jax.random.normal(k1, (hidden, dim), jnp.float32)
    w2 = 1e-3 * jax.random.normal(k2, (dim, hidden), jnp.float32)
    ts = jnp.linspace(0.0, 200.0, 16, dtype=jnp.float32)
    levels = jnp.linspace(0.0, 1.0, sizes["ode_solves"], dtype=jnp.float32)
    f = jax.jit(jax.vmap(lambda v: ode.solve(spec, (w1, w2), noise_var=v, lr=1.0, t=ts, throw=False)))
    traj = jax.block_until_ready(f(levels))
    seconds = median_time(lambda: jax.block_until_ready(f(levels)), sizes["repeats"])
    steps = float(np.sum(np.asarray(traj.stats.get("num_steps", np.nan))))
    return [], {"ode_solves_per_s": sizes["ode_solves"] / seconds, "ode_solver_steps_per_s": steps / seconds}


PARTS = ("exact", "train", "ode")


def run(*, smoke: bool = False, parts=PARTS) -> dict:
    """The workloads in `parts`, each failing soft, against the roofline measured first."""
    sizes = SMOKE if smoke else FULL
    start = time.perf_counter()
    bandwidth = memory_bandwidth(nbytes=(16 << 20) if smoke else None)
    peak = matmul_peak_flops(size=256 if smoke else None)
    rows, roofline, notes = [], {"memory_bandwidth_bytes_per_s": bandwidth, "matmul_peak_flops_f32": peak}, []
    for label, make in (("exact", lambda: exact_workload(sizes, bandwidth)),
                        ("train", lambda: train_workload(sizes, peak)), ("ode", lambda: ode_workload(sizes))):
        if label not in parts:
            continue
        t0 = time.perf_counter()
        try:
            r, fractions = make()
            rows, roofline = rows + r, {**roofline, **fractions}
            notes.append(f"{label}: {time.perf_counter() - t0:.1f} s including compilation")
        except Exception as err:  # noqa: BLE001 - one workload's failure must not hide the others
            notes.append(f"{label} failed: {type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}")
    notes.append(f"end to end {time.perf_counter() - start:.1f} s")
    return {"name": NAME, "machine": machine_info(), "smoke": smoke, "sizes": sizes, "rows": rows,
            "roofline": roofline, "notes": notes}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks --accelerator", description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes; runs on a CPU to test the logic")
    p.add_argument("--out", type=Path, help="folder for the JSON (default benchmarks/results for full runs)")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="run only these workloads")
    args = p.parse_args(argv)
    import jax

    if not args.smoke and jax.default_backend() == "cpu":
        print("no accelerator: JAX sees only CPU devices "
              f"({jax.device_count()} x {jax.devices()[0].device_kind}). Install jax with its GPU or TPU plugin "
              "on a machine that has one, or add --smoke to test this run's logic on the CPU.")
        return NO_ACCELERATOR
    result = run(smoke=args.smoke, parts=args.parts)
    print_table(result)
    out = args.out or (None if args.smoke else RESULTS)
    if out is not None:
        print(f"wrote {write_json(Path(out) / f'{machine_name()}-accelerator.json', result)}")
    return 1 if any("failed" in n for n in result["notes"]) else 0


if __name__ == "__main__":
    sys.exit(main())
