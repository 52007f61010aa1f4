"""The timing protocol shared by every benchmark, and the machine's own roofline.

Protocol (every `bench_*.py` follows it):

1. compile first (time the first call separately, or `jit(...).lower(...).compile()`);
2. every timed callable blocks until its result is ready (`.block_until_ready()` for JAX);
3. the sides of a comparison are timed *interleaved* (`interleaved_medians`), so that load from
   other processes hits all of them alike, and the **median** of the repeats is reported;
4. the same tolerance and the same dtype on both sides, and the answers are checked against each
   other.

Rows of a result are built with `row` (one comparison: jaxdae against one baseline) and a module's
`main()` is `bench_main(NAME, run)`: it parses `--quick`, prints the table and writes
`benchmarks/results/<NAME>.json` for full runs only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

__all__ = [
    "RESULTS",
    "median_time",
    "interleaved_medians",
    "matmul_peak_flops",
    "memory_bandwidth",
    "machine_info",
    "machine_name",
    "row",
    "print_table",
    "write_json",
    "bench_main",
]


def _time_once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_time(fn, repeats: int) -> float:
    """Median wall time of `repeats` calls of `fn` (which must block until done), in seconds."""
    return statistics.median(_time_once(fn) for _ in range(max(1, int(repeats))))


def interleaved_medians(fns: dict, repeats: int) -> dict:
    """Median wall time of each callable in `fns`, the calls interleaved round by round.

    Round `r` calls every function once (in the dict's order), so slow phases of a shared
    machine are spread over all sides. Returns `{name: seconds}`.
    """
    times = {name: [] for name in fns}
    for _ in range(max(1, int(repeats))):
        for name, fn in fns.items():
            times[name].append(_time_once(fn))
    return {name: statistics.median(ts) for name, ts in times.items()}


def _backend() -> str:
    import jax

    return jax.default_backend()


def matmul_peak_flops(dtype=None, size: int | None = None, repeats: int = 5) -> float:
    """Measured matrix-multiply rate of the default device, in floating-point operations per second.

    One jitted `size x size` GEMM (`2 size^3` flops), compiled first, median of `repeats`.
    `dtype` defaults to float32; `size` to 2048 on CPU and 8192 on an accelerator.
    """
    import jax
    import jax.numpy as jnp

    dtype = jnp.float32 if dtype is None else dtype
    size = size or (2048 if _backend() == "cpu" else 8192)
    ka, kb = jax.random.split(jax.random.key(0))
    a = jax.random.normal(ka, (size, size), dtype)
    b = jax.random.normal(kb, (size, size), dtype)
    f = jax.jit(jnp.matmul)
    f(a, b).block_until_ready()
    return 2.0 * size**3 / median_time(lambda: f(a, b).block_until_ready(), repeats)


def memory_bandwidth(nbytes: int | None = None, repeats: int = 5) -> float:
    """Measured memory bandwidth of the default device, bytes per second (read plus write).

    A jitted elementwise `x + 1` over a float32 array of `nbytes` bytes (default 64 MiB on CPU,
    2 GiB on an accelerator) that reads and writes every byte once; the input buffer is donated
    and reused, so no fresh pages are allocated inside the timing.
    """
    import jax
    import jax.numpy as jnp

    nbytes = nbytes or ((64 << 20) if _backend() == "cpu" else (2 << 30))
    state = [jnp.zeros((nbytes // 4,), jnp.float32)]
    f = jax.jit(lambda v: v + 1.0, donate_argnums=0)

    def step():
        state[0] = f(state[0])
        state[0].block_until_ready()

    step()
    return 2.0 * state[0].nbytes / median_time(step, repeats)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("jax", "jaxlib", "numpy", "jax-cuda12-plugin", "jax-cuda13-plugin", "libtpu", "torch", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _device_info(d) -> dict:
    info = {"kind": d.device_kind, "platform": d.platform}
    try:
        stats = d.memory_stats() or {}
        if "bytes_limit" in stats:
            info["memory_bytes"] = int(stats["bytes_limit"])
    except Exception:  # noqa: BLE001 - CPU devices have no memory stats
        pass
    try:
        info["platform_version"] = d.client.platform_version
    except Exception:  # noqa: BLE001
        pass
    return info


def machine_info() -> dict:
    """What the numbers were measured on: CPU, cores, memory, devices, package and CUDA versions."""
    import jax

    info = {
        "name": machine_name(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "backend": jax.default_backend(),
        "device_count": jax.device_count(),
        "devices": _device_info(jax.devices()[0]),
        "versions": _versions(),
    }
    try:
        import psutil

        info["memory_bytes"] = int(psutil.virtual_memory().total)
    except ImportError:
        pass
    cuda = re.search(r"cuda[^\d]*(\d+(?:\.\d+)*)", str(info["devices"].get("platform_version", "")), re.I)
    if cuda:
        info["cuda"] = cuda.group(1)
    return info


def _slug(text: str) -> str:
    text = re.sub(r"\((R|TM)\)|CPU|Processor|\d+-Core|@.*", "", text, flags=re.I)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def machine_name() -> str:
    """A short file-name-safe name of this machine, e.g. `cpu-amd-epyc-2c` or `gpu-nvidia-h100-1x`.

    `JAXDAE_MACHINE` overrides it. Results go to `benchmarks/results/<machine_name()>.json`.
    """
    if os.environ.get("JAXDAE_MACHINE"):
        return _slug(os.environ["JAXDAE_MACHINE"])
    import jax

    backend = jax.default_backend()
    if backend == "cpu":
        return f"cpu-{_slug(_cpu_model())}-{os.cpu_count()}c"
    return f"{backend}-{_slug(jax.devices()[0].device_kind)}-{jax.device_count()}x"


def row(case: str, jaxdae: float, baseline_name: str, baseline: float, unit: str, *, higher_is_better=None) -> dict:
    """One comparison. `ratio` > 1 always means jaxdae is better (faster or higher throughput).

    `higher_is_better` defaults to True for rates (`unit` ending in `/s`) and False otherwise
    (times in `s`, `ms`, ...).
    """
    if higher_is_better is None:
        higher_is_better = unit.endswith("/s")
    jaxdae, baseline = float(jaxdae), float(baseline)
    if higher_is_better:
        ratio = jaxdae / baseline if baseline > 0 else float("nan")
    else:
        ratio = baseline / jaxdae if jaxdae > 0 else float("nan")
    return {"case": case, "jaxdae": jaxdae, "baseline_name": baseline_name, "baseline": baseline,
            "unit": unit, "ratio": ratio}


def _fmt(x) -> str:
    if not isinstance(x, (int, float)) or x != x:
        return str(x)
    return f"{x:.3g}"


def print_table(result: dict, file=None) -> None:
    """Print a result's rows as one aligned table (and its roofline fractions and notes)."""
    file = file or sys.stdout
    header = ("case", "jaxdae", "baseline", "baseline value", "unit", "ratio")
    lines = [header] + [
        (r["case"], _fmt(r["jaxdae"]), r["baseline_name"], _fmt(r["baseline"]), r["unit"], _fmt(r["ratio"]) + "x")
        for r in result.get("rows", [])
    ]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    print(f"== {result.get('name', '?')} ==", file=file)
    for line in lines if len(lines) > 1 else []:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)), file=file)
    for k, v in (result.get("roofline") or {}).items():
        print(f"roofline {k}: {_fmt(v)}", file=file)
    for note in result.get("notes", []):
        print(f"note: {note}", file=file)


def write_json(path: Path, result: dict) -> Path:
    """Write `result` as indented JSON (creating the folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=float) + "\n")
    return path


def bench_main(name: str, run, argv=None) -> dict:
    """The `main()` of a benchmark module: `--quick`, print the table, write JSON on full runs."""
    parser = argparse.ArgumentParser(description=f"jaxdae benchmark: {name}")
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run; writes nothing")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    print_table(result)
    if not args.quick:
        print(f"wrote {write_json(RESULTS / f'{name}.json', result)}")
    return result
