"""The benchmark suite's logic, at tiny sizes: the protocol helpers, the report, the suite's handling of
missing and failing benchmarks, and the accelerator run (`--accelerator --smoke`) on this CPU.

Wall-clock times are never asserted; what is asserted is what the numbers are computed from.
"""

from __future__ import annotations

import json
import math
import time

import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import __main__ as suite
from benchmarks import _report, _timing, accelerator, bench_exact, scaling


def test_interleaved_medians_are_medians_of_each_side():
    calls = []
    sleeps = {"a": [0.004, 0.001, 0.002], "b": [0.0, 0.0, 0.0]}

    def make(name):
        def fn():
            calls.append(name)
            time.sleep(sleeps[name][sum(c == name for c in calls) - 1])
        return fn

    out = _timing.interleaved_medians({"a": make("a"), "b": make("b")}, 3)
    assert calls == ["a", "b"] * 3  # interleaved, round by round
    assert 0.002 <= out["a"] < 0.004  # the median of (4, 1, 2) ms, not the mean or the minimum
    assert out["b"] < 0.002


@pytest.mark.parametrize("unit,expected", [("s", 4.0), ("mode-evals/s", 0.25)])
def test_row_ratio_means_jaxdae_is_better_above_one(unit, expected):
    r = _timing.row("case", 0.5, "numpy", 2.0, unit)
    assert r["ratio"] == pytest.approx(expected) and set(r) == {"case", "jaxdae", "baseline_name", "baseline",
                                                                "unit", "ratio"}


def test_fitted_order_recovers_a_power_law():
    sizes = np.array([8, 16, 32, 64, 128])
    assert scaling.fitted_order(sizes, 3e-6 * sizes**2.0) == pytest.approx(2.0, abs=1e-12)
    assert scaling.fitted_order(sizes, 5e-4 * sizes) == pytest.approx(1.0, abs=1e-12)
    # A fixed per-call cost: the measured order approaches the true one from below (as documented).
    assert 1.5 < scaling.fitted_order(sizes, 3e-6 * sizes**2.0 + 1e-3) < 2.0


def test_roofline_measurements_are_physical():
    bw = _timing.memory_bandwidth(nbytes=4 << 20, repeats=2)
    peak = _timing.matmul_peak_flops(size=128, repeats=2)
    assert 1e8 < bw < 1e14 and 1e7 < peak < 1e16  # bytes/s and flop/s of any machine that exists
    info = _timing.machine_info()
    assert info["name"] == _timing.machine_name() and info["versions"]["jax"] and info["cpu_count"] >= 1


def test_machine_name_is_a_file_name(monkeypatch):
    assert all(c.isalnum() or c == "-" for c in _timing.machine_name())
    monkeypatch.setenv("JAXDAE_MACHINE", "My Laptop (M3)")
    assert _timing.machine_name() == "my-laptop-m3"


def test_exact_kernel_equals_the_numpy_baseline():
    """The benchmark compares like with like: its jaxdae kernel and its NumPy baselines agree."""
    lam = np.geomspace(3.0, 0.01, 16)
    t, sig = np.arange(50.0), np.array([0.0, 0.3, 1.0])
    ref = bench_exact.baseline_loop(t, lam, sig)  # float64 loop, independent implementation
    got = np.asarray(bench_exact.loss_curves(jnp.asarray(t), jnp.asarray(lam), jnp.asarray(sig)))
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    b = bench_exact.baseline_broadcast(t.astype(np.float32), lam.astype(np.float32), sig.astype(np.float32))
    np.testing.assert_allclose(b, ref, rtol=1e-5)


def _fake_suite():
    row = _timing.row("tiny", 2e9, "numpy", 1e8, "mode-evals/s")
    curve = {"name": "exact", "what": "time vs size", "sizes": [1.0, 2.0, 4.0], "seconds": [1.0, 2.0, 4.0],
             "unit": "s", "expected_order": 1.0, "measured_order": 1.0}
    return {"machine": _timing.machine_info(), "quick": True, "wall_s": 1.0, "benchmarks": {
        "exact": {"status": "ok", "seconds": 1.0, "result": {"name": "exact", "rows": [row],
                                                             "roofline": {"fraction_of_bandwidth": 0.5}}},
        "scaling": {"status": "ok", "seconds": 1.0, "result": {"name": "scaling", "rows": [], "curves": [curve],
                                                               "notes": ["ode curve failed: TypeError"]}},
        "lr": {"status": "missing", "seconds": 0.1, "error": "benchmarks.bench_lr does not exist yet"}}}


def test_report_lists_every_row_curve_failure_and_missing_benchmark(tmp_path):
    fake = _fake_suite()
    rows = _report.table_rows(fake)
    assert ("exact", "tiny", "2e+09", "numpy", "1e+08", "mode-evals/s", "20x") in rows
    assert any(r[0] == "scaling" and r[-1] == "1" and r[3] == "expected order" for r in rows)
    assert any(r[0] == "scaling" and r[-1] == "FAILED" for r in rows)
    assert any(r[0] == "lr" and r[-1] == "MISSING" for r in rows)
    md = _report.markdown(fake)
    assert md.count("\n| ") == len(rows) + 1  # header plus one line per row
    paths = suite.save(fake, tmp_path, tmp_path)
    assert {p.suffix for p in paths} == {".json", ".md", ".png"}
    assert json.loads(paths[0].read_text())["benchmarks"]["lr"]["status"] == "missing"


def test_suite_reports_missing_and_failing_benchmarks_and_goes_on(monkeypatch):
    monkeypatch.setattr(suite, "BENCHMARKS", {
        "nothing": ("benchmarks.bench_does_not_exist", True),
        "no_run": ("benchmarks._timing", True),  # a module without run(quick)
        "broken": ("benchmarks.accelerator", True),  # run() has no `quick`: it raises
    })
    out = suite.run_suite(list(suite.BENCHMARKS), quick=True, budget=120.0)
    status = {k: v["status"] for k, v in out["benchmarks"].items()}
    assert status == {"nothing": "missing", "no_run": "missing", "broken": "failed"}
    assert "quick" in out["benchmarks"]["broken"]["error"]  # the child's own error message


def test_accelerator_smoke_runs_on_cpu(tmp_path):
    result = accelerator.run(smoke=True, parts=("exact",))
    assert not any("failed" in n for n in result["notes"]), result["notes"]
    (r,) = result["rows"]
    sizes = accelerator.SMOKE
    assert r["case"].startswith(f"exact: {sizes['modes'] * sizes['times'] * sizes['levels']:.2g}")
    frac = result["roofline"]["exact_vs_writing_the_grid"]
    assert math.isfinite(frac) and frac > 0
    assert frac == pytest.approx(4.0 * r["jaxdae"] / result["roofline"]["memory_bandwidth_bytes_per_s"])
    assert accelerator.main(["--smoke", "--parts", "exact", "--out", str(tmp_path)]) == 0
    assert list(tmp_path.glob("*-accelerator.json"))


def test_accelerator_without_one_says_so_and_exits_2(capsys):
    assert accelerator.main([]) == accelerator.NO_ACCELERATOR == 2
    assert "no accelerator" in capsys.readouterr().out
