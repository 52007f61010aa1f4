"""Benchmark: `jaxdae.sweep` at 1e8, 1e9 and 1e10 mode-evaluations, and vmap over `ode.solve` vs SciPy.

Workload: the exact balanced solution over the digits spectrum (64 modes) x 256 noise levels x 256
weight decays x T times (T = 24, 240, 2400), float32, reduced inside the compiled chunk to expected
loss curves `L[noise, decay, t]`, under `max_memory="2GiB"`.

- `sweep` (in memory) against the same kernel as one unchunked `jit(vmap)` call on the 1e9 grid (the
  largest whose temporaries fit comfortably): throughput ratio, target >= 0.8.
- `sweep` with `out=` (zarr, write + resume enabled) against `sweep` in memory: target <= 1.1 x time.
- Both sides are timed warm: the unchunked call after compiling, `sweep` as the second of two
  identical calls in the same process (the second reuses the compiled probe and chunk programs
  through `sweep`'s program memo; with `out=` it writes a fresh store). The first, cold call
  (trace + probe compiles + compile + run) is reported beside it.
- Peak resident memory of each run (`ru_maxrss` of a fresh process per case) against 2 GiB plus the
  result held in memory and the process's baseline after import.
- `jax.jit(jax.vmap(lambda v: ode.solve(spec, init, noise_var=v, t=t)))` over 64 noise levels (D = 64,
  H = 32, rtol 1e-6) against SciPy `solve_ivp(RK45)` looping over them; target >= 3x.

    python -m benchmarks.bench_sweep            # full size, writes benchmarks/results/sweep.json
    python -m benchmarks.bench_sweep --quick    # small smoke run, writes nothing
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks._timing import bench_main, machine_info, median_time, row

NAME = "sweep"
LR, U0, MAX_MEMORY = 1e-2, 1e-6, "2GiB"

WORKER = """
import json, resource, sys, time
import jax, jax.numpy as jnp, numpy as np
from benchmarks.bench_sweep import kernel, grid_for
from jaxdae import sweep
mode, levels, steps, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
fn, t = kernel(steps)
grid = grid_for(levels)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
if mode == "unchunked":
    nv, wd = (jnp.asarray(a.ravel(), jnp.float32) for a in np.meshgrid(grid["noise_var"], grid["weight_decay"], indexing="ij"))
    f = jax.jit(jax.vmap(fn)).lower(nv, wd).compile()
    cold = time.perf_counter() - start
    start = time.perf_counter(); res = np.asarray(f(nv, wd)["loss"]); chunk = res.shape[0]; nested = []
else:
    outs = [None, None] if out == "-" else [out + "/cold", out + "/warm"]
    ds = sweep.run(fn, grid, max_memory="{mem}", out=outs[0], progress=False)
    cold = time.perf_counter() - start
    del ds
    start = time.perf_counter()
    ds = sweep.run(fn, grid, max_memory="{mem}", out=outs[1], progress=False)
    res = ds["loss"].values; chunk = ds.attrs["chunk_size"]; nested = ds.attrs["nested_axes"]
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"seconds": seconds, "cold_seconds": cold, "nested_axes": nested, "peak": peak, "base": base, "chunk": chunk, "result_bytes": res.nbytes,
                  "checksum": float(np.sum(res, dtype=np.float64))}}))
"""


def kernel(steps: int):
    """`fn(noise_var, weight_decay)` -> `{"loss": (T,)}` over the 64-mode digits spectrum, float32."""
    import jax.numpy as jnp

    import jaxdae

    lam = jnp.asarray(jaxdae.Spectrum.from_data(jaxdae.data.digits()).lam, jnp.float32)
    t = jnp.linspace(0.0, 2e4, steps, dtype=jnp.float32)

    def fn(noise_var, weight_decay):
        u = jaxdae.exact.mode_strength(t[:, None], lam, noise_var=noise_var, weight_decay=weight_decay, lr=LR, u0=U0)
        return {"loss": jnp.sum(lam / 2 * (1 - u) ** 2 + noise_var / 2 * u**2 + weight_decay * u, axis=-1)}

    return fn, t


def grid_for(levels: int) -> dict:
    return {"noise_var": np.geomspace(1e-3, 10.0, levels).astype(np.float32),
            "weight_decay": np.geomspace(1e-4, 1.0, levels).astype(np.float32)}


def _case(mode: str, levels: int, steps: int, out: str = "-") -> dict:
    code = WORKER.format(mem=MAX_MEMORY)
    proc = subprocess.run([sys.executable, "-c", code, mode, str(levels), str(steps), out],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _ode_vs_scipy(quick: bool) -> dict:
    """64 noise levels through `jit(vmap(ode.solve))` against SciPy looping over them."""
    import jax
    import jax.numpy as jnp
    from scipy.integrate import solve_ivp

    import jaxdae
    from jaxdae import ode

    levels, dim_h, rtol, atol = (64, 32, 1e-6, 1e-9) if not quick else (4, 8, 1e-6, 1e-9)
    spec = jaxdae.Spectrum.from_data(jaxdae.data.digits(np.float64))
    c = np.asarray(spec.moment)
    d = c.shape[0]
    k1, k2 = jax.random.split(jax.random.key(0))
    w1, w2 = 1e-3 * jax.random.normal(k1, (dim_h, d)), 1e-3 * jax.random.normal(k2, (d, dim_h))
    t = jnp.linspace(0.0, 50.0 if quick else 200.0, 20)
    sigmas = np.linspace(0.0, 2.0, levels)
    f = jax.jit(jax.vmap(lambda v: ode.solve(spec, (w1, w2), noise_var=v, lr=1.0, t=t, rtol=rtol, atol=atol,
                                             throw=False).mode_strength))
    f(jnp.asarray(sigmas)).block_until_ready()

    def rhs(_, y, s):
        a, b = y[: dim_h * d].reshape(dim_h, d), y[dim_h * d:].reshape(d, dim_h)
        r = c - b @ a @ c - s * b @ a
        return np.concatenate([(b.T @ r).ravel(), (r @ a.T).ravel()])

    y0 = np.concatenate([np.asarray(w1).ravel(), np.asarray(w2).ravel()])
    scipy = lambda: [solve_ivp(rhs, (0, float(t[-1])), y0, t_eval=np.asarray(t), rtol=rtol, atol=atol, args=(s,))  # noqa: E731
                     for s in sigmas]
    jx = median_time(lambda: f(jnp.asarray(sigmas)).block_until_ready(), 3)
    sp = median_time(scipy, 1)
    return {"levels": levels, "hidden": dim_h, "jaxdae_s": jx, "scipy_s": sp, "ratio": sp / jx}


def run(*, quick: bool = False) -> dict:
    """Sweep sizes, memory, storage overhead and the ODE vmap; returns the suite's result dict."""
    levels = 16 if quick else 256
    sizes = (4, 40) if quick else (24, 240, 2400)
    rows, cases = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for steps in sizes:
            evals = 64 * levels * levels * steps
            mem = _case("sweep", levels, steps)
            stored = _case("store", levels, steps, f"{tmp}/s{steps}")
            cases[evals] = {"sweep": mem, "store": stored, "points_per_s": levels**2 / mem["seconds"],
                            "mode_evals_per_s": evals / mem["seconds"]}
            rows.append(row(f"{evals:.0e} mode-evals, out= vs in memory", stored["seconds"], "in memory",
                            mem["seconds"], "s"))
        ref_steps = sizes[-2]
        unchunked = _case("unchunked", levels, ref_steps)
    ref = cases[64 * levels * levels * ref_steps]
    rows.insert(0, row(f"{64 * levels**2 * ref_steps:.0e} mode-evals, sweep vs one unchunked call",
                       ref["mode_evals_per_s"], "unchunked jit(vmap)",
                       64 * levels**2 * ref_steps / unchunked["seconds"], "mode-evals/s"))
    ode_case = _ode_vs_scipy(quick)
    rows.append(row(f"vmap over ode.solve, {ode_case['levels']} noise levels", 1 / ode_case["jaxdae_s"],
                    "scipy solve_ivp loop", 1 / ode_case["scipy_s"], "solves-sets/s"))
    bound = {e: c["sweep"]["peak"] - c["sweep"]["base"] - c["sweep"]["result_bytes"] for e, c in cases.items()}
    return {
        "name": NAME, "machine": machine_info(), "rows": rows,
        "notes": [f"max_memory {MAX_MEMORY}; peak RSS growth minus the result per size: "
                  + ", ".join(f"{e:.0e}: {b / 2**30:.2f} GiB" for e, b in bound.items()),
                  "sweep timed warm (second identical call); cold first call (trace, probes, compile, run): "
                  + ", ".join(f"{e:.0e}: {c['sweep']['cold_seconds']:.3g} s vs {c['sweep']['seconds']:.3g} s warm"
                              for e, c in cases.items()),
                  "time linear in size: " + ", ".join(f"{e:.0e}: {c['mode_evals_per_s']:.3g} mode-evals/s"
                                                      for e, c in cases.items())],
        "cases": {f"{e:.0e}": c for e, c in cases.items()}, "unchunked": unchunked, "ode_vmap": ode_case,
        "targets": {"sweep_vs_unchunked": 0.8, "store_overhead": 1.1, "ode_vmap_vs_scipy": 3.0},
        "quick": quick,
    }


def main(argv=None) -> dict:
    return bench_main(NAME, run, argv)


if __name__ == "__main__":
    main()
