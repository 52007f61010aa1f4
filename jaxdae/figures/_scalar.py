"""Figures of the scalar network: Figure 1 (3-D surfaces), Figure 4 (contours, weight norm), the animation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import mode_colors, plt

__all__ = ["figure1", "figure4", "animation"]


def _manifold(ds, m):
    """Both branches of the minimum manifold w1 w2 = u* inside the plotted square (None if u* = 0)."""
    ustar = float(ds.fixed_point[m])
    half = float(ds.w1_grid.max())
    if ustar <= 0:
        return None
    w = np.linspace(ustar / half, half, 200)
    return [(w, ustar / w), (-w, -ustar / w)]


def _min_loss(ds, m):
    u = float(ds.fixed_point[m])
    lam, nv = ds.attrs["lam"], float(ds.noise_var[m])
    return lam / 2 * (1 - u) ** 2 + nv / 2 * u**2 + float(ds.weight_decay[m]) * u  # balanced: w1^2 + w2^2 = 2u


def _label(ds, m):
    nv, wd = float(ds.noise_var[m]), float(ds.weight_decay[m])
    return f"$\\sigma^2$ = {nv:g}, $\\gamma$ = {wd:.3g}"


def _surface3d(ax, ds, m, colors):
    g1, g2 = np.meshgrid(ds.w1_grid.values, ds.w2_grid.values)
    z = np.log1p(ds.surface[m].values)  # log(1 + loss): the walls grow like u^2, the valley stays visible
    ax.plot_surface(g1, g2, z, cmap="viridis", alpha=0.35, linewidth=0, antialiased=True)
    for branch in _manifold(ds, m) or []:
        ax.plot(*branch, np.full(branch[0].shape, np.log1p(_min_loss(ds, m))), color="red", lw=2.2)
    for r, c in zip(ds.run.values, colors):
        w1, w2, loss = (ds[v][m, r].values for v in ("w1", "w2", "loss"))
        ax.plot(w1, w2, np.log1p(loss), color="k", lw=1.2)
        ax.scatter(w1[:1], w2[:1], np.log1p(loss[:1]), color=c, s=14, depthshade=False)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_zlabel("log(1 + loss)")
    ax.view_init(elev=35, azim=-60)
    ax.set_title(_label(ds, m), fontsize=9)


def _dynamics(ax, ds, m, colors, every):
    t = ds.step.values
    for r, c in zip(ds.run.values, colors):
        ax.plot(t, ds.theory[m, r], color=c, lw=1.2)
        ax.plot(t[::every], ds.mode_strength[m, r, ::every], "o", color=c, ms=2.5, mfc="none")
    ax.axhline(float(ds.fixed_point[m]), color="red", lw=1.2, ls="--", label=f"$u^*$ = {float(ds.fixed_point[m]):.3g}")
    ax.set_xlabel(f"epochs (gradient steps, lr = {ds.attrs['lr']:g})")
    ax.set_ylabel("$u = w_2 w_1$")
    ax.legend(fontsize=7, title="lines: theory, markers: GD", title_fontsize=7)


def figure1(ds):
    """Figure 1: per model a 3-D loss surface with the minimum manifold (red) and GD paths, beside
    theory (lines, `exact.mode_strength_unbalanced`) against simulated $w_2w_1$ (markers).

    **Arguments:** `ds`, the Dataset of `jaxdae reproduce`'s `scalar_surfaces` part (variables
    `w1`, `w2`, `loss`, `mode_strength`, `theory`, `surface`, `fixed_point`; dims `model`, `run`, `step`).

    **Returns:** the matplotlib `Figure` (one row per model).
    """
    n = ds.sizes["model"]
    fig = plt.figure(figsize=(10, 3.6 * n))
    colors = mode_colors(ds.sizes["run"])
    every = max(ds.sizes["step"] // 40, 1)
    for m in range(n):
        _surface3d(fig.add_subplot(n, 2, 2 * m + 1, projection="3d"), ds, m, colors)
        _dynamics(fig.add_subplot(n, 2, 2 * m + 2), ds, m, colors, every)
    fig.suptitle(f"Figure 1: scalar DAE, $\\lambda$ = {ds.attrs['lam']:g}: GD reaches the manifold "
                 "$w_1 w_2 = u^*$ along the theory's path", y=1.0)
    fig.tight_layout()
    return fig


def _contour(ax, ds, m, colors, alpha=1.0):
    g1, g2 = np.meshgrid(ds.w1_grid.values, ds.w2_grid.values)
    z = ds.surface[m].values
    ax.contourf(g1, g2, np.log1p(z), levels=30, cmap="Greys")
    decay = float(ds.weight_decay[m]) > 0
    for i, branch in enumerate(_manifold(ds, m) or []):
        # With weight decay only the two balanced points of w1 w2 = u* are minima.
        ax.plot(*branch, color="red", lw=0.8 if decay else 1.5, ls=":" if decay else "-",
                label=None if i else ("$w_1w_2 = u^*$" if decay else "minima $w_1w_2 = u^*$"))
    if decay:
        root = np.sqrt(float(ds.fixed_point[m]))
        ax.plot([root, -root], [root, -root], "r*", ms=10, label="minima (balanced)")
    ax.plot(0, 0, "kx", ms=7, mew=2, label="saddle (0, 0)")
    for r, c in zip(ds.run.values, colors):
        ax.plot(ds.w1[m, r], ds.w2[m, r], color=c, lw=1.2, alpha=alpha)
        ax.plot(ds.w1[m, r, 0], ds.w2[m, r, 0], "o", color=c, ms=3, alpha=alpha)
    ax.set_aspect("equal")
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_title(_label(ds, m), fontsize=9)
    ax.legend(fontsize=7, loc="lower right")


def figure4(ds):
    """Figure 4: per model (rows) the contour loss surface with the minimum manifold (red), the
    saddle and GD paths (the last run is the small start); the dynamics of $u$ (theory lines, GD
    markers); and the weight norm $\\sqrt{w_1^2+w_2^2}$ of every run over time.

    **Arguments:** `ds`, the Dataset of the `weight_norm` part (as for `figure1`, plus `weight_norm`).

    **Returns:** the matplotlib `Figure`.
    """
    n = ds.sizes["model"]
    fig, axes = plt.subplots(n, 3, figsize=(14, 4.2 * n), squeeze=False)
    colors = mode_colors(ds.sizes["run"] - 1) + ["red"]
    every = max(ds.sizes["step"] // 40, 1)
    for m in range(n):
        _contour(axes[m, 0], ds, m, colors)
        _dynamics(axes[m, 1], ds, m, colors, every)
        for r, c in zip(ds.run.values, colors):
            axes[m, 2].plot(ds.step, ds.weight_norm[m, r], color=c, lw=1.2)
        balanced = np.sqrt(2 * float(ds.fixed_point[m]))
        axes[m, 2].axhline(balanced, color="k", lw=0.8, ls=":", label=f"balanced minimum $\\sqrt{{2u^*}}$ = {balanced:.3g}")
        axes[m, 2].set_xlabel("epochs")
        axes[m, 2].set_ylabel("weight norm $\\sqrt{w_1^2 + w_2^2}$")
        axes[m, 2].legend(fontsize=7)
    fig.suptitle("Figure 4: noise keeps an unbalanced start's norm; weight decay shrinks it towards the balanced "
                 "minimum (red: small start)", y=1.0)
    fig.tight_layout()
    return fig


def animation(ds, path, *, model: int = 0, frames: int = 40, fps: int = 10, dpi: int = 72) -> Path:
    """Write a GIF of gradient descent moving on the scalar loss surface beside its learning curve.

    **Arguments:** `ds` (a `figure1`/`figure4` Dataset), `path` (the `.gif` file), `model`
    (index along `model`), `frames`, `fps`, `dpi` (small defaults keep the file well under 1 MB).

    **Returns:** the path written (matplotlib's `PillowWriter`).
    """
    from matplotlib.animation import FuncAnimation, PillowWriter

    fig, (ax_s, ax_l) = plt.subplots(1, 2, figsize=(8, 3.6))
    colors = mode_colors(ds.sizes["run"])
    _contour(ax_s, ds, model, colors, alpha=0.2)
    idx = np.unique(np.geomspace(1, ds.sizes["step"], frames).astype(int)) - 1
    dots = ax_s.scatter(ds.w1[model, :, 0], ds.w2[model, :, 0], c=colors, s=25, zorder=3)
    loss = ds.loss[model].values
    curves = [ax_l.plot([], [], color=c, lw=1.3)[0] for c in colors]
    ax_l.set(xlim=(1, ds.sizes["step"]), ylim=(max(loss.min(), 1e-3) * 0.8, loss.max() * 1.2), xscale="log",
             yscale="log", xlabel="epochs", ylabel="loss", title="learning curves")
    fig.tight_layout()

    def draw(k):
        n = idx[k]
        dots.set_offsets(np.c_[ds.w1[model, :, n], ds.w2[model, :, n]])
        for r, line in enumerate(curves):
            line.set_data(ds.step[: n + 1], loss[r, : n + 1])
        return [dots, *curves]

    anim = FuncAnimation(fig, draw, frames=len(idx), blit=False)
    anim.save(path, writer=PillowWriter(fps=fps), dpi=dpi)
    plt.close(fig)
    return Path(path)
