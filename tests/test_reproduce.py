"""`jaxdae reproduce --quick` end to end (one module-scoped run in a subprocess), its report against
the library calls that produced it, and the paper-data path on tiny generated MNIST / CIFAR-10 files."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

import jaxdae
from jaxdae import exact, lr
from jaxdae.reproduce import load_data

FIGURES = ["figure1", "figure2", "figure3", "figure4", "figure5", "figure6", "theory_vs_ode"]


def _load(out, name):
    return xr.open_zarr(out / f"{name}.zarr", consolidated=True).load()


def _cli(*args, timeout=600):
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "jaxdae", "reproduce", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick")
    proc = _cli("--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "metrics.json").read_text())


def test_quick_writes_every_figure_the_gif_and_the_report(quick):
    out, metrics = quick
    for name in FIGURES:
        assert (out / f"{name}.png").stat().st_size > 10_000, name
    gif = (out / "animation.gif").read_bytes()
    assert gif[:6] in (b"GIF89a", b"GIF87a") and 10_000 < len(gif) < 1_000_000
    report = (out / "report.md").read_text()
    for name in FIGURES + ["animation"]:
        ext = "gif" if name == "animation" else "png"
        assert f"]({name}.{ext})" in report, name
    assert metrics["run"]["quick"] is True and metrics["run"]["dataset"] == "digits"


def test_figure1_theory_against_gd_within_the_discretisation_bound(quick):
    m = quick[1]["scalar_surfaces"]
    # Per run |theory - GD| <= L max_n |u_{n+1} - u_n|, L = 1 + log+(u*/|u0|)/4 steps of lag (derivations §10).
    assert max(m["deviation_to_bound_max"]) < 1.0
    # And in absolute terms, with lr = 0.01: a few lr x the fastest du/ds scale (|du/ds| <= ~30 from [-2, 2]^2).
    assert max(m["deviation_max"]) < 0.2
    np.testing.assert_allclose(m["fixed_point"], [1.0, 0.5, 1 / 6], rtol=1e-12)
    assert max(m["final_distance_to_fixed_point_max"]) < 1e-4


def test_figure4_imbalance_against_its_closed_form(quick):
    out, metrics = quick
    m = metrics["weight_norm"]
    ds = _load(out, "figure4")
    lr_, T = ds.attrs["lr"], ds.sizes["step"] - 1
    c = ds.imbalance.values  # (model, run, step)
    # flow: c(T) = c0 exp(-2 gamma lr T); GD: per step (1 - lr gamma)^2 - lr^2 g_n^2, an O(lr^2) difference
    flow = np.exp(-2 * ds.weight_decay.values * lr_ * T)[:, None]
    g = (ds.attrs["lam"] + ds.noise_var.values[:, None, None]) * ds.mode_strength.values[..., :-1] - ds.attrs["lam"]
    ag = lr_ * ds.weight_decay.values[:, None]
    y = (lr_ * g) ** 2 / (1 - ag[..., None]) ** 2
    bound = T * ag**2 / (1 - ag) + (y / (1 - y)).sum(-1)
    unbalanced = c[0, :, 0] != 0  # the small start w1 = w2 stays balanced exactly
    assert unbalanced.sum() == 10 and np.all(c[:, ~unbalanced] == 0)
    log_dev = np.abs(np.log(c[:, unbalanced, -1] / c[:, unbalanced, 0]) - np.log(flow))
    assert np.all(log_dev <= bound[:, unbalanced] * (1 + 1e-6) + 1e-9)
    assert np.all(bound < 5e-2)
    # the paper's point in numbers: noise keeps the unbalanced start's imbalance, weight decay removes 84 % of it
    assert abs(m["imbalance_ratio"][0] - 1) < 2e-3
    np.testing.assert_allclose(m["imbalance_ratio"][1], np.exp(-2 * 0.1 / 1.1 * 0.01 * 1000), rtol=5e-3)
    assert m["weight_norm_final"][0] > m["weight_norm_final"][1] > m["weight_norm_balanced"][1]


def test_report_numbers_equal_the_library_calls(quick):
    out, metrics = quick
    m2 = metrics["noise_vs_decay"]
    lam = np.asarray(m2["lam"])[:, None]
    sig = np.asarray(m2["noise_var"])[None, :]
    gam = exact.equivalent_weight_decay(lam, sig)
    t_dae = exact.time_to_fraction(0.9, lam, noise_var=sig, lr=m2["lr"], u0=m2["u0"])
    t_wdae = exact.time_to_fraction(0.9, lam, weight_decay=gam, lr=m2["lr"], u0=m2["u0"])
    np.testing.assert_allclose(m2["t90_ratio"], t_wdae / t_dae, rtol=1e-5)
    np.testing.assert_allclose(m2["predicted_ratio"], exact.dae_speedup(lam, sig), rtol=1e-6)
    assert m2["ratio_relative_deviation_max"] < 1e-4
    m3 = metrics["learning_rates"]
    for c in m3["criteria"]:
        want = lr.optimal_learning_rate(1.0, noise_var=np.asarray(m3["table_noise_var"]), criterion=c, u0=1e-6, tol=1e-2)
        np.testing.assert_allclose(m3[f"rate_{c}"], want, rtol=1e-5)
    assert m3["consistent_max_difference"] < 1e-5 < 0.1 < m3["notebook_max_difference"]
    # Figure 1: the saved dataset's theory is exact.mode_strength_unbalanced from its saved starts
    ds = _load(out, "figure1")
    t = ds.step.values.astype(float)
    w0 = (ds.w1.values[:, :, :1], ds.w2.values[:, :, :1])
    theory = exact.mode_strength_unbalanced(t, 1.0, w0, noise_var=ds.noise_var.values[:, None, None], lr=0.01)
    np.testing.assert_allclose(ds.theory.values, theory, rtol=1e-6, atol=1e-9)
    dev = np.abs(ds.theory - ds.mode_strength)
    np.testing.assert_allclose(metrics["scalar_surfaces"]["deviation_max"], dev.max(("run", "step")), rtol=1e-12)


def test_figure5_and_ode_against_theory(quick):
    out, metrics = quick
    m5 = metrics["training"]
    late = np.asarray(m5["figure5_deviation_late_max"])  # (model, mode)
    assert late[:, :2].max() < 0.02  # the leading modes have settled on the theory's curve
    final, fp = np.asarray(m5["figure5_final_mode_strength"]), np.asarray(m5["figure5_fixed_point"])
    np.testing.assert_allclose(final[:, :2], fp[:, :2], atol=0.02)
    mo = metrics["matrix_dynamics"]
    assert mo["status"] == ["SUCCESSFUL"] * 3
    assert np.asarray(mo["deviation_max"])[:, :2].max() < 0.05


def test_figures_redraw_from_the_saved_datasets(quick):
    out, _ = quick
    for name, fn in (("figure1", jaxdae.figures.figure1), ("figure4", jaxdae.figures.figure4)):
        fig = fn(_load(out, name))
        assert len(fig.axes) >= 4


def _write_idx(path, n=40):
    images = np.random.default_rng(0).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    path.write_bytes(np.array([2051, n, 28, 28], dtype=">u4").tobytes() + images.tobytes())


def test_paper_dataset_path_on_tiny_mnist(tmp_path):
    _write_idx(tmp_path / "train-images-idx3-ubyte")
    X = load_data("mnist", tmp_path, quick=True)
    assert X.shape == (40, 784) and X.dtype == np.float32
    proc = _cli("--quick", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ms per step measured, expected about" in proc.stdout
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["run"]["dataset"] == "mnist" and metrics["run"]["parts"] == ["training"]
    assert (tmp_path / "out" / "figure5.png").exists() and not (tmp_path / "out" / "figure6.png").exists()


def test_paper_dataset_errors(tmp_path):
    proc = _cli("--dataset", "cifar10", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"), timeout=120)
    assert proc.returncode == 2 and "data_batch_1.bin" in proc.stderr
    with pytest.raises(ValueError, match="needs data_dir"):
        load_data("mnist")
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_data("svhn")
