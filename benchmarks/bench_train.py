"""Benchmark `jaxdae.train.fit` grids against PyTorch on CPU (and any accelerator JAX sees).

Workload (issue 10): a linear DAE, D = 64, H = 32, on the digits (N = 1797), full-batch SGD,
1000 steps, a grid of 8 noise levels x 8 seeds = 64 runs, float32, with sampled noise and with
the noise-averaged ("expected") loss. The grid is `jax.jit(jax.vmap(jax.vmap(fit, noise), seeds))`:
keys on the outer axis, noise levels inside, so each seed's moment draw is made once and shared
by its noise levels (what `jaxdae.sweep` must keep: see docs/train.md).

Baselines (PyTorch is optional; without it those rows are skipped with a note):

- `torch_sequential`: a loop over the runs, `torch.optim.SGD` and autograd (timed on 4 runs);
- `torch_bmm`: all 64 runs in one `torch.bmm` autograd graph;
- `torch_moments_databasis`: the previous jaxdae moment algorithm (data basis, three D^3
  products per seed) in batched PyTorch;
- `torch_moments_eigenbasis`: the current one (eigenbasis: the draw is a row scaling and one Gram
  product per seed; expected noise is a column scaling), the same products as jaxdae: the
  "same algorithm" comparison.

Also: the data engine (naive noise sampling, for reference), a 16 x 64 = 1024-run grid (per
run-step throughput against the 64-run grid), and the compile time of the sampled grid program.

Protocol (`benchmarks._timing`): compile / warm up first, `block_until_ready`, interleaved
repeats, medians; PyTorch gets the better of 1 and all threads. Rates are run-steps per second.
Flops are the products the algorithm executes (jaxdae's and the eigenbasis port's: four
D x D x H per run and step with sampled noise plus a (N_draw x D)^T (N_draw x D) Gram per seed,
three with expected noise), set against the float32 matmul peak measured in the same run.

    python -m benchmarks.bench_train            # full run, writes benchmarks/results/train.json
    python -m benchmarks.bench_train --quick    # smoke run, writes nothing
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxdae
from benchmarks._timing import bench_main, interleaved_medians, machine_info, matmul_peak_flops, median_time, row
from jaxdae import train
from jaxdae.initialise import Random

NAME = "train"
D, H = 64, 32
N_NOISE, N_SEEDS = 8, 8
LR = 0.01
NOISE_VARS = np.geomspace(0.01, 1.0, N_NOISE)
SCALE = 1e-3


# --------------------------------------------------------------------------- flop counts


def jaxdae_flops_per_run_step(noise: str, n: int) -> float:
    """Products jaxdae executes per run and step (the seed's draw shared by N_NOISE runs)."""
    if noise == "expected":
        return 3 * 2 * D * D * H
    m = min(n, D)
    per_seed = 2 * (m + D) * D * D
    return 4 * 2 * D * D * H + per_seed / N_NOISE


def naive_flops_per_run_step(n: int) -> float:
    """Forward and backward of X~ W1^T W2^T: 4 products of N x D x H."""
    return 4 * 2 * n * D * H


# --------------------------------------------------------------------------- jaxdae


def jaxdae_grid(data, steps, noise, engine, n_noise=N_NOISE, n_seeds=N_SEEDS):
    """`(run, compile_seconds)`: `run()` trains the grid once (compiled beforehand)."""
    levels = jnp.asarray(np.geomspace(0.01, 1.0, n_noise), data.dtype)
    keys = jax.random.split(jax.random.key(0), n_seeds)

    def one(noise_var, key):
        return train.fit(data, hidden=H, steps=steps, lr=LR, noise_var=noise_var, key=key, init=Random(SCALE),
                         noise=noise, engine=engine, record_every=min(100, steps))

    start = time.perf_counter()
    compiled = jax.jit(jax.vmap(jax.vmap(one, (0, None)), (None, 0))).lower(levels, keys).compile()
    compile_s = time.perf_counter() - start

    def run():
        out = compiled(levels, keys)
        jax.block_until_ready(out.mode_strength)
        assert int(np.max(np.asarray(out.status))) == 0, "a benchmark run diverged"

    run()
    return run, compile_s


# --------------------------------------------------------------------------- PyTorch baselines


def torch_sequential(torch, X, steps, runs, expected):
    """(a): one run after the other, torch.optim.SGD, autograd; timed on `runs` of the 64."""
    Xt = torch.from_numpy(X)
    n = X.shape[0]
    gen = torch.Generator().manual_seed(0)

    def one_run(var):
        w1 = (SCALE * torch.randn(H, D, generator=gen)).requires_grad_()
        w2 = (SCALE * torch.randn(D, H, generator=gen)).requires_grad_()
        opt = torch.optim.SGD([w1, w2], lr=LR)
        sd = float(np.sqrt(var))
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            if expected:
                rec = Xt @ w1.T @ w2.T
                loss = ((rec - Xt) ** 2).sum() / (2 * n) + 0.5 * var * ((w2 @ w1) ** 2).sum()
            else:
                xt = Xt + sd * torch.randn(n, D, generator=gen)
                loss = ((xt @ w1.T @ w2.T - Xt) ** 2).sum() / (2 * n)
            loss.backward()
            opt.step()
        return w1

    def timed():
        for r in range(runs):
            one_run(NOISE_VARS[r % N_NOISE])

    return timed, {"steps": steps, "runs_timed": runs}


def torch_batched(torch, X, steps, expected):
    """(b): all 64 runs in one bmm graph (the strong baseline)."""
    Xt = torch.from_numpy(X)
    n = X.shape[0]
    R = N_NOISE * N_SEEDS
    gen = torch.Generator().manual_seed(0)
    var = torch.tensor(np.repeat(NOISE_VARS, N_SEEDS), dtype=torch.float32)
    sd = var.sqrt()[:, None, None]
    w1 = (SCALE * torch.randn(R, H, D, generator=gen)).requires_grad_()
    w2 = (SCALE * torch.randn(R, D, H, generator=gen)).requires_grad_()
    opt = torch.optim.SGD([w1, w2], lr=LR)
    xb = Xt.expand(R, n, D)

    def step():
        opt.zero_grad(set_to_none=True)
        if expected:
            rec = torch.bmm(torch.bmm(xb, w1.transpose(1, 2)), w2.transpose(1, 2))
            w = torch.bmm(w2, w1)
            loss = ((rec - xb) ** 2).sum() / (2 * n) + 0.5 * (var[:, None, None] * w**2).sum()
        else:
            xt = xb + sd * torch.randn(R, n, D, generator=gen)
            rec = torch.bmm(torch.bmm(xt, w1.transpose(1, 2)), w2.transpose(1, 2))
            loss = ((rec - xb) ** 2).sum() / (2 * n)
        loss.backward()
        opt.step()

    def timed():
        for _ in range(steps):
            step()

    return timed, {"steps": steps, "runs_timed": R}


def torch_moments_data(torch, X, steps, expected):
    """(c) informational: jaxdae's sufficient-statistic algorithm in batched PyTorch (no autograd)."""
    spec = jaxdae.Spectrum.from_data(X)
    n = X.shape[0]
    m = min(n, D)
    C = torch.from_numpy((X.astype(np.float64).T @ X.astype(np.float64) / n).astype(np.float32))
    ev = torch.from_numpy((np.asarray(spec.vecs)[:, :m] * np.sqrt(np.asarray(spec.lam)[:m] / n)).astype(np.float32))
    gen, var, sd, w1, w2, chi2 = _port_setup(torch, n, m)
    rows, cols = np.tril_indices(D, -1)
    eye = torch.eye(D)

    def grad(w1, w2):
        if expected:
            s_xt = C.expand(N_NOISE, N_SEEDS, D, D)
            s_tt = C + var * eye
        else:
            g = torch.randn(N_SEEDS, m, D, generator=gen)
            e = ev @ g
            a = torch.diag_embed(chi2.sample((N_SEEDS,)).sqrt())
            a[:, rows, cols] = torch.randn(N_SEEDS, rows.size, generator=gen)
            f = (g.transpose(1, 2) @ g + a @ a.transpose(1, 2)) / n
            s_xt = C + sd * e
            s_tt = C + sd * (e + e.transpose(1, 2)) + var * f
        return w2 @ (w1 @ s_tt) - s_xt

    return _sgd_loop(grad, w1, w2, steps)


def torch_moments_eigen(torch, X, steps, expected):
    """jaxdae's current algorithm in batched PyTorch: eigenbasis weights, the same products."""
    spec = jaxdae.Spectrum.from_data(X)
    n = X.shape[0]
    m = min(n, D)
    lam = torch.from_numpy(np.array(spec.lam, np.float32))
    scale = torch.sqrt(lam[:m] / n)[:, None]
    gen, var, sd, w1, w2, chi2 = _port_setup(torch, n, m)
    low = torch.tril(torch.ones(D, D), -1)
    diag_lam = torch.diag(lam)

    def grad(w1, w2):
        if expected:
            return w2 @ (w1 * (lam + var)) - diag_lam
        gm = torch.randn(N_SEEDS, m, D, generator=gen)
        a = torch.randn(N_SEEDS, D, D, generator=gen) * low + torch.diag_embed(chi2.sample((N_SEEDS,)).sqrt())
        h = torch.cat([gm, a.transpose(1, 2)], 1)
        f = h.transpose(1, 2) @ h / n
        e = torch.zeros(N_SEEDS, D, D)
        e[:, :m] = scale * gm
        s_xt = diag_lam + sd * e
        s_tt = diag_lam + sd * (e + e.transpose(1, 2)) + var * f
        return w2 @ (w1 @ s_tt) - s_xt

    return _sgd_loop(grad, w1, w2, steps)


def _port_setup(torch, n, m):
    """Generator, noise levels `(L, S, 1, 1)` and their roots, initial weights, Bartlett chi-squares."""
    gen = torch.Generator().manual_seed(0)
    var = torch.tensor(np.repeat(NOISE_VARS, N_SEEDS), dtype=torch.float32).view(N_NOISE, N_SEEDS, 1, 1)
    w1 = SCALE * torch.randn(N_NOISE, N_SEEDS, H, D, generator=gen)
    w2 = SCALE * torch.randn(N_NOISE, N_SEEDS, D, H, generator=gen)
    chi2 = torch.distributions.Chi2(torch.tensor(n - m - np.arange(D), dtype=torch.float32))
    return gen, var, var.sqrt(), w1, w2, chi2


def _sgd_loop(grad, w1, w2, steps):
    """`(timed, meta)`: `timed()` makes `steps` SGD updates of the batched weights, `grad` giving dL/dW."""
    state = [w1, w2]

    def timed():
        w1, w2 = state
        for _ in range(steps):
            g = grad(w1, w2)
            w1, w2 = w1 - LR * (w2.transpose(-1, -2) @ g), w2 - LR * (g @ w1.transpose(-1, -2))
        state[:] = [w1, w2]

    return timed, {"steps": steps, "runs_timed": N_NOISE * N_SEEDS}


def _best_threads(torch, fn):
    """Run `fn` with 1 and with all threads once each; return a callable fixed to the faster."""
    times = {}
    for k in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(k)
        times[k] = median_time(fn, 1)
    best = min(times, key=times.get)

    def run():
        torch.set_num_threads(best)
        fn()

    return run


# --------------------------------------------------------------------------- the run


def _sizes(quick: bool) -> dict:
    if quick:
        return dict(steps=50, data_steps=5, torch_steps=5, seq_runs=2, moment_steps=10, big_steps=10, repeats=1)
    return dict(steps=1000, data_steps=60, torch_steps=60, seq_runs=4, moment_steps=300, big_steps=200, repeats=3)


def _jaxdae_methods(data, sz):
    """`{name: (run, runs, steps)}` and the compile seconds of each program."""
    specs = {
        "jaxdae_sampled": (sz["steps"], "sampled", "auto", N_NOISE, N_SEEDS),
        "jaxdae_expected": (sz["steps"], "expected", "auto", N_NOISE, N_SEEDS),
        "jaxdae_sampled_data_engine": (sz["data_steps"], "sampled", "data", N_NOISE, N_SEEDS),
        "jaxdae_sampled_1024_runs": (sz["big_steps"], "sampled", "auto", 16, 64),
    }
    methods, compile_s = {}, {}
    for name, (steps, noise, engine, n_noise, n_seeds) in specs.items():
        fn, compile_s[name] = jaxdae_grid(data, steps, noise, engine, n_noise, n_seeds)
        methods[name] = (fn, n_noise * n_seeds, steps)
    return methods, compile_s


def _torch_methods(torch, X, sz):
    methods = {}
    for tag, expected in (("sampled", False), ("expected", True)):
        made = {
            f"torch_sequential_{tag}": torch_sequential(torch, X, sz["torch_steps"], sz["seq_runs"], expected),
            f"torch_bmm_{tag}": torch_batched(torch, X, sz["torch_steps"], expected),
            f"torch_moments_databasis_{tag}": torch_moments_data(torch, X, sz["moment_steps"], expected),
            f"torch_moments_eigenbasis_{tag}": torch_moments_eigen(torch, X, sz["moment_steps"], expected),
        }
        for name, (fn, meta) in made.items():
            fn()  # warm up
            methods[name] = (_best_threads(torch, fn), meta["runs_timed"], meta["steps"])
    return methods


def _rows(rate, compile_s, have_torch):
    rows = []
    if have_torch:
        for tag in ("sampled", "expected"):
            for base in ("sequential", "bmm", "moments_databasis", "moments_eigenbasis"):
                rows.append(row(f"{tag} noise, 8 noise x 8 seeds", rate[f"jaxdae_{tag}"], f"torch_{base}_{tag}",
                                rate[f"torch_{base}_{tag}"], "run-steps/s"))
        rows.append(row("sampled noise, data engine (naive sampling)", rate["jaxdae_sampled_data_engine"],
                        "torch_bmm_sampled", rate["torch_bmm_sampled"], "run-steps/s"))
    rows.append(row("16 x 64 = 1024 runs, per run-step (linear scaling: ratio ~1)", rate["jaxdae_sampled_1024_runs"],
                    "jaxdae 64-run grid", rate["jaxdae_sampled"], "run-steps/s"))
    rows.append(row("compile, sampled 8 x 8 grid program", compile_s["jaxdae_sampled"], "target", 2.0, "s"))
    return rows


def run(*, quick: bool = False) -> dict:
    """Time every variant (see the module docstring); returns the result dict of `benchmarks`."""
    sz = _sizes(quick)
    X = jaxdae.data.digits(np.float32)
    n = X.shape[0]
    data = train.Data.from_array(X)
    peak = matmul_peak_flops(jnp.float32)
    methods, compile_s = _jaxdae_methods(data, sz)
    notes = []
    try:
        import torch
    except ImportError:
        torch = None
        notes.append("PyTorch is not installed: the PyTorch rows are skipped (pip install torch to compare)")
    if torch is not None:
        methods.update(_torch_methods(torch, X, sz))
    seconds = interleaved_medians({k: v[0] for k, v in methods.items()}, sz["repeats"])
    rate = {k: runs * steps / seconds[k] for k, (_, runs, steps) in methods.items()}
    flops = {"jaxdae_sampled": jaxdae_flops_per_run_step("sampled", n),
             "jaxdae_expected": jaxdae_flops_per_run_step("expected", n),
             "jaxdae_sampled_1024_runs": jaxdae_flops_per_run_step("sampled", n),
             "jaxdae_sampled_data_engine": naive_flops_per_run_step(n)}
    if torch is not None:
        for tag in ("sampled", "expected"):
            flops[f"torch_moments_eigenbasis_{tag}"] = jaxdae_flops_per_run_step(tag, n)
            flops[f"torch_bmm_{tag}"] = naive_flops_per_run_step(n)
    roofline = {f"{k}_fraction_of_peak": rate[k] * f / peak for k, f in flops.items()}
    roofline["matmul_peak_float32_gflops"] = peak / 1e9
    notes.append(f"compile seconds (lower + compile): {', '.join(f'{k} {v:.2f}' for k, v in compile_s.items())}")
    return {"name": NAME, "machine": machine_info(), "rows": _rows(rate, compile_s, torch is not None),
            "roofline": roofline, "notes": notes,
            "workload": {"N": n, "D": D, "H": H, "noise_levels": NOISE_VARS.tolist(), "seeds": N_SEEDS, "lr": LR,
                         "dtype": "float32", "sizes": sz},
            "run_steps_per_second": rate, "compile_seconds": compile_s}


def main(argv=None) -> dict:
    return bench_main(NAME, run, argv)


if __name__ == "__main__":
    main()
