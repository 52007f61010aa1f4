"""`jaxdae.figures` on the datasets of the scalar parts (computed in-process, small grids), and the
scalar GD paths behind Figures 1 and 4 against the library's exact discrete map."""

import matplotlib
import numpy as np
import pytest

from jaxdae import exact, figures
from jaxdae.reproduce import scalar_surfaces, weight_norm


@pytest.fixture(scope="module")
def fig1_ds():
    return scalar_surfaces.compute(quick=True)


@pytest.fixture(scope="module")
def fig4_ds():
    return weight_norm.compute(quick=True)


def test_gd_paths_equal_the_exact_discrete_map(fig1_ds, fig4_ds):
    for ds in (fig1_ds, fig4_ds):
        step = ds.step.values[:, None]
        for m in range(ds.sizes["model"]):
            init = (ds.w1.values[m, :, 0], ds.w2.values[m, :, 0])
            want = exact.mode_strength_discrete(step, ds.attrs["lam"], init=init, noise_var=float(ds.noise_var[m]),
                                                weight_decay=float(ds.weight_decay[m]), lr=ds.attrs["lr"])
            np.testing.assert_allclose(ds.mode_strength.values[m].T, want, rtol=1e-10, atol=1e-12)


def test_scalar_datasets_hold_the_paper_settings(fig1_ds, fig4_ds):
    np.testing.assert_allclose(fig1_ds.noise_var, [0.0, 1.0, 5.0])  # eps in the paper's notation with N = 1
    assert fig1_ds.attrs["lr"] == pytest.approx(0.01) and fig1_ds.sizes["run"] == 10
    starts = np.stack([fig1_ds.w1.values[0, :, 0], fig1_ds.w2.values[0, :, 0]])
    assert np.all(np.abs(starts) <= 2.0)
    np.testing.assert_allclose(fig4_ds.weight_decay, [0.0, 0.1 / 1.1])
    np.testing.assert_allclose(fig4_ds.fixed_point, [1 / 1.1, 1 - 0.1 / 1.1])  # the same u* for DAE and WDAE
    assert (fig4_ds.w1.values[:, -1, 0] == 0.01).all() and (fig4_ds.w2.values[:, -1, 0] == 0.01).all()
    # the loss surface is the per-mode loss: at (1, 1) it is sigma2 / 2 + gamma for lam = 1
    i = int(np.argmin(np.abs(fig4_ds.w1_grid.values - 1.0)))
    w = float(fig4_ds.w1_grid[i])
    want = 0.5 * (1 - w * w) ** 2 + fig4_ds.noise_var.values / 2 * w**4 + fig4_ds.weight_decay.values * w * w
    np.testing.assert_allclose(fig4_ds.surface.values[:, i, i], want, rtol=1e-12)


def test_figure_functions_return_figures(fig1_ds, fig4_ds):
    f1, f4 = figures.figure1(fig1_ds), figures.figure4(fig4_ds)
    assert isinstance(f1, matplotlib.figure.Figure) and len(f1.axes) == 6
    assert sum(ax.name == "3d" for ax in f1.axes) == 3
    assert len(f4.axes) == 6
    # the weight-norm panels draw one line per run plus the balanced minimum's norm
    assert len(f4.axes[2].lines) == fig4_ds.sizes["run"] + 1
    matplotlib.pyplot.close("all")


def test_animation_writes_a_small_gif(fig1_ds, tmp_path):
    path = figures.animation(fig1_ds.isel(model=[1]), tmp_path / "a.gif", frames=6, fps=4)
    data = path.read_bytes()
    assert data[:6] == b"GIF89a" and len(data) < 1_000_000
    from PIL import Image

    with Image.open(path) as im:
        assert im.n_frames == 6
