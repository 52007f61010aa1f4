"""jaxdae's benchmark suite: every benchmark, one protocol, one table, one results file per machine.

    python -m benchmarks                 # full CPU suite: results/<machine>.{json,md}, docs figure
    python -m benchmarks --quick         # smoke sizes (CI); writes nothing unless --out DIR
    python -m benchmarks --only exact ode
    python -m benchmarks --accelerator [--smoke]   # see benchmarks/accelerator.py

Each benchmark `benchmarks.<module>` (`bench_exact`, `bench_ode`, `bench_train`, `bench_sweep`,
`bench_lr`, the accuracy report and the scaling curves) runs in its own subprocess (so one that
sets its own `XLA_FLAGS`, or crashes, cannot disturb the others) through its `run(quick=...)`.
A benchmark that is missing, fails or runs out of time is reported in the table and the suite goes
on; the exit status is then 1. Exit status 0: every benchmark ran.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks import _report
from benchmarks._timing import RESULTS, machine_info, write_json

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "assets" / "benchmarks"
# name -> (module, runs in --quick)
BENCHMARKS = {  # the cheap ones first, so that a long one cannot starve them of the time budget
    "exact": ("benchmarks.bench_exact", True),
    "lr": ("benchmarks.bench_lr", True),
    "scaling": ("benchmarks.scaling", True),
    "exact_accuracy": ("benchmarks.accuracy_exact", False),
    "ode": ("benchmarks.bench_ode", True),
    "train": ("benchmarks.bench_train", True),
    "sweep": ("benchmarks.bench_sweep", True),
}
MISSING = 3  # a child's exit status when its module does not exist


def _parser():
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke sizes; within 2 minutes on a 2-core CPU")
    p.add_argument("--only", nargs="+", metavar="NAME", choices=list(BENCHMARKS), help="run only these")
    p.add_argument("--out", type=Path, help="folder for <machine>.json/.md/.png (default: benchmarks/results "
                   "for full runs, nothing for --quick)")
    p.add_argument("--timeout", type=float, help="seconds for all benchmarks together (default 110 quick, 600 full)")
    p.add_argument("--accelerator", action="store_true", help="the accelerator run (benchmarks/accelerator.py)")
    p.add_argument("--smoke", action="store_true", help="with --accelerator: tiny sizes, runs on a CPU")
    p.add_argument("--parts", nargs="+", help="with --accelerator: only these workloads (exact, train, ode)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    return p


def _child(module: str, quick: bool, path: Path) -> int:
    """Inside the subprocess: import one benchmark, run it, write its dict as JSON."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name == module:
            print(f"{module} does not exist yet", file=sys.stderr)
            return MISSING
        raise
    if not hasattr(mod, "run"):
        print(f"{module} has no run(*, quick) function", file=sys.stderr)
        return MISSING
    result = mod.run(quick=quick)
    write_json(path, result)
    return 0


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def run_one(name: str, quick: bool, timeout: float) -> dict:
    """Run benchmark `name` in a subprocess; `{"status", "seconds", "result" | "error"}`."""
    module = BENCHMARKS[name][0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "benchmarks", "--child", module, "--json", str(path)] + (["--quick"] * quick)
        start = time.perf_counter()
        # Its own session, so that on a timeout the benchmark's own subprocesses end with it.
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=max(timeout, 1.0))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {"status": "timeout", "seconds": time.perf_counter() - start,
                    "error": f"no result within {timeout:.0f} s"}
        seconds = time.perf_counter() - start
        if proc.returncode == MISSING:
            return {"status": "missing", "seconds": seconds, "error": _last_line(stderr)}
        if proc.returncode != 0 or not path.exists():
            return {"status": "failed", "seconds": seconds, "error": _last_line(stderr) or f"exit {proc.returncode}"}
        return {"status": _report.STATUS_OK, "seconds": seconds, "result": json.loads(path.read_text())}


def run_suite(names, quick: bool, budget: float) -> dict:
    """Every benchmark in `names`, one after the other, within `budget` seconds in all."""
    start = time.perf_counter()
    benchmarks = {}
    reserve = 8.0 if quick else 20.0  # seconds kept for each benchmark still to come
    for i, name in enumerate(names):
        left = budget - (time.perf_counter() - start) - reserve * (len(names) - i - 1)
        benchmarks[name] = run_one(name, quick, left) if left > 1 else {
            "status": "timeout", "seconds": 0.0, "error": "the suite's time budget was spent"}
        entry = benchmarks[name]
        print(f"[{name}] {entry['status']} in {entry['seconds']:.1f} s" +
              (f": {entry['error']}" if entry["status"] != _report.STATUS_OK else ""), flush=True)
    return {"machine": machine_info(), "quick": quick, "wall_s": time.perf_counter() - start,
            "benchmarks": benchmarks}


def save(suite: dict, out: Path, figures: Path) -> list[Path]:
    """`<machine>.json` and `<machine>.md` in `out`, the figure `<machine>.png` in `figures`."""
    name = suite["machine"]["name"]
    paths = [write_json(out / f"{name}.json", suite)]
    (out / f"{name}.md").write_text(_report.markdown(suite))
    paths.append(out / f"{name}.md")
    try:
        figures.mkdir(parents=True, exist_ok=True)
        fig = _report.figure(suite)
        fig.savefig(figures / f"{name}.png", dpi=110)
        paths.append(figures / f"{name}.png")
    except Exception:  # noqa: BLE001 - a broken plot must not lose the numbers
        traceback.print_exc()
    return paths


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.child:
        return _child(args.child, args.quick, args.json)
    if args.accelerator:
        from benchmarks import accelerator

        return accelerator.main(["--smoke"] * args.smoke + (["--out", str(args.out)] if args.out else [])
                                + (["--parts", *args.parts] if args.parts else []))
    names = args.only or [n for n, (_, in_quick) in BENCHMARKS.items() if in_quick or not args.quick]
    suite = run_suite(names, args.quick, args.timeout or (110.0 if args.quick else 600.0))
    print(_report.text_table(suite))
    out = args.out or (None if args.quick else RESULTS)
    if out is not None:
        for p in save(suite, out, FIGURES if args.out is None else out):
            print(f"wrote {p}")
    bad = [n for n, e in suite["benchmarks"].items() if e["status"] != _report.STATUS_OK]
    if bad:
        print(f"did not complete: {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
