"""Figures of per-mode dynamics: Figures 2, 3, 5, 6 and theory against the matrix ODE."""

from __future__ import annotations

import numpy as np

from ..plotting import mode_colors, plt

__all__ = ["figure2", "figure3", "figure5", "figure6", "theory_vs_ode"]


def figure2(ds):
    """Figure 2: per mode (panels), the DAE's $u(t)$ for each noise level (solid) beside the WDAE with
    $\\gamma_{eq}$ (dashed) and their common fixed point (dotted).

    **Arguments:** `ds`, the Dataset of the `noise_vs_decay` part (dims `mode`, `noise_var`,
    `sample`; variables `t`, `lam`, `u_dae`, `u_wdae`, `fixed_point`).

    **Returns:** the matplotlib `Figure`.
    """
    n = ds.sizes["mode"]
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6), sharey=True, squeeze=False)
    colors = mode_colors(ds.sizes["noise_var"])
    for i, ax in enumerate(axes[0]):
        t = ds.t[i]
        for j, c in enumerate(colors):
            ax.plot(t, ds.u_dae[i, j], color=c, lw=1.6, label=f"$\\sigma^2$={float(ds.noise_var[j]):g}")
            ax.plot(t, ds.u_wdae[i, j], color=c, lw=1.2, ls="--")
            ax.axhline(float(ds.fixed_point[i, j]), color=c, lw=0.5, ls=":")
        ax.set_title(f"mode {int(ds.mode[i])}, $\\lambda$ = {float(ds.lam[i]):.3g}")
        ax.set_xlabel(f"gradient steps (lr = {ds.attrs['lr']:g})")
    axes[0, 0].set_ylabel("mode strength $u$")
    axes[0, 0].legend(fontsize=7, title="DAE (solid), WDAE $\\gamma_{eq}$ (dashed)", title_fontsize=7)
    fig.suptitle("Figure 2: noise and its equivalent weight decay share the fixed point; the DAE gets there first",
                 y=1.02)
    return fig


def _figure3_dynamics(axes, ds):
    ax_c, ax_n, ax_d = axes
    k = ds.step.values
    for j, c in enumerate(mode_colors(ds.sizes["noise_dyn"])):
        dae, wdae, nb = (ds[v][:, j].values for v in ("u_dae", "u_wdae", "u_notebook"))
        label = f"$\\sigma^2$={float(ds.noise_dyn[j]):g}"
        ax_c.plot(k, dae, color=c, lw=2.2, alpha=0.6, label=label)
        ax_c.plot(k, wdae, color="k", lw=0.8, ls="--")
        ax_n.plot(k, dae, color=c, lw=1.6, label=label)
        ax_n.plot(k, nb, color=c, lw=1.2, ls=":")
        ax_d.plot(k, dae - nb, color=c, lw=1.4, ls=":")
        ax_d.plot(k, dae - wdae, color=c, lw=1.4)
    ax_c.set_title("consistent rates: DAE (colour) = WDAE $\\gamma_{eq}$ (dashed)", fontsize=9)
    ax_n.set_title("notebook's WDAE rate $1/(2(\\lambda+\\gamma_{eq}))$ (dotted) lags", fontsize=9)
    ax_d.set_title("$u_{DAE} - u_{WDAE}$: consistent (solid, 0) vs notebook (dotted)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("gradient steps")
    ax_c.set_ylabel(f"mode strength $u$ ($\\lambda$ = {ds.attrs['lam']:g}, discrete GD)")
    ax_c.legend(fontsize=7)


def _figure3_rates(axes, ds):
    ax_rate, ax_ratio, ax_steps = axes
    sig = ds.noise_var.values
    lam = ds.attrs["lam"]
    for i, c in enumerate(mode_colors(ds.sizes["criterion"])):
        name = str(ds.criterion[i].values)
        dae, wdae = ds.rate_dae[i].values, ds.rate_wdae[i].values
        ax_rate.plot(sig, dae, color=c, lw=1.6, label=name)
        ax_rate.plot(sig, wdae, color=c, lw=1.2, ls="--")
        ax_ratio.plot(sig, dae / wdae, color=c, lw=1.6, label=name)
        # At the stability limit convergence is algebraic and its step count is set by rounding: not drawn.
        if name != "stability":
            ax_steps.plot(sig, ds.steps_dae[i], color=c, lw=1.4, label=name)
    ax_ratio.plot(sig, lam / (lam + sig), color="k", lw=0.8, ls=":", label="$\\lambda/(\\lambda+\\sigma^2)$")
    ax_ratio.axvline(lam, color="0.6", lw=0.6, ls=":")
    ax_rate.set_yscale("log")
    ax_steps.set_yscale("log")
    ax_rate.set_title("optimal rate: DAE (solid), WDAE $\\gamma_{eq}$ (dashed)", fontsize=9)
    ax_ratio.set_title("rate ratio DAE/WDAE (past $\\sigma^2=\\lambda$ the WDAE's limit $1/\\gamma_{eq}$ binds)",
                       fontsize=9)
    ax_steps.set_title(f"DAE steps to stay within {ds.attrs['tol']:g} of $u^*$ at each rate", fontsize=9)
    for ax in axes:
        ax.set_xlabel("noise variance $\\sigma^2$")
        ax.legend(fontsize=7)


def figure3(ds):
    """Figure 3, corrected: top, the discrete dynamics of a DAE and its equivalent WDAE at consistent
    optimal rates (identical), at the notebook's rate (lagging) and their differences; bottom, the
    optimal rate of every criterion against noise, the DAE/WDAE ratio and the steps each rate needs.

    **Arguments:** `ds`, the Dataset of the `learning_rates` part.

    **Returns:** the matplotlib `Figure`.
    """
    fig, axes = plt.subplots(2, 3, figsize=(14, 8))
    _figure3_dynamics(axes[0], ds)
    _figure3_rates(axes[1], ds)
    fig.suptitle("Figure 3, corrected: at consistent optimal rates a DAE and its equivalent WDAE train identically "
                 "(the original's 'DAE advantage' came from an inconsistent WDAE rate)", fontsize=10)
    fig.tight_layout()
    return fig


def _titles(ds, relu=False):
    pre = "ReLU " if relu else ""
    out = []
    for name, var, gam in zip(ds.model.values, ds.noise_var.values, ds.weight_decay.values):
        extra = f", $\\gamma$={gam:g}" if gam > 0 else (f", $\\sigma^2$={var:g}" if var > 0 else "")
        out.append(f"{pre}{name}{extra}")
    return out


def figure5(ds):
    """Figure 5: per model (AE, WDAE, DAE), the trained mode strengths (markers) against the exact
    per-mode theory from the same initial weights (lines), with the fixed points (dotted).

    **Arguments:** `ds`, the Figure 5 Dataset of the `training` part (dims `model`, `time`,
    `mode`, `fine`; variables `mode_strength`, `theory_fine`, `t_fine`, `fixed_point`, `lam`).

    **Returns:** the matplotlib `Figure`.
    """
    n = ds.sizes["model"]
    fig, axes = plt.subplots(1, n, figsize=(4.4 * n, 3.8), sharey=True, squeeze=False)
    colors = mode_colors(ds.sizes["mode"])
    every = max(ds.sizes["time"] // 50, 1)
    t = ds.time.values
    for i, (ax, title) in enumerate(zip(axes[0], _titles(ds))):
        for j, c in enumerate(colors):
            ax.plot(ds.t_fine, ds.theory_fine[i, :, j], color=c, lw=1.4,
                    label=f"mode {int(ds.mode[j])}, $\\lambda$={float(ds.lam[j]):.3g}")
            ax.plot(t[::every], ds.mode_strength[i, ::every, j], "o", color=c, ms=3, mfc="none")
            ax.axhline(float(ds.fixed_point[i, j]), color=c, lw=0.5, ls=":")
        ax.set_title(title)
        ax.set_xlabel(f"epochs (lr = {ds.attrs['lr']:g})")
    axes[0, 0].set_ylabel("mode strength $u_k$")
    axes[0, 0].legend(fontsize=7, title="lines: exact theory, markers: training", title_fontsize=7)
    fig.suptitle(f"Figure 5: linear networks (H = {ds.attrs['hidden']}) trained with SGD follow the exact per-mode "
                 "dynamics", y=1.02)
    return fig


def figure6(ds):
    """Figure 6: per model, the ReLU network's mode strengths (from reconstructions of the clean data)
    over training, with the linear theory's fixed points (dotted) for reference.

    **Arguments:** `ds`, the Figure 6 Dataset of the `training` part.

    **Returns:** the matplotlib `Figure`.
    """
    n = ds.sizes["model"]
    fig, axes = plt.subplots(1, n, figsize=(4.4 * n, 3.8), sharey=True, squeeze=False)
    colors = mode_colors(ds.sizes["mode"])
    for i, (ax, title) in enumerate(zip(axes[0], _titles(ds, relu=True))):
        for j, c in enumerate(colors):
            ax.plot(ds.time, ds.mode_strength[i, :, j], color=c, lw=1.4, label=f"mode {int(ds.mode[j])}")
            ax.axhline(float(ds.fixed_point[i, j]), color=c, lw=0.5, ls=":")
        ax.set_title(title)
        ax.set_xlabel(f"epochs (lr = {ds.attrs['lr']:g})")
    axes[0, 0].set_ylabel("mode strength $u_k$ (from reconstructions)")
    axes[0, 0].legend(fontsize=7, title="dotted: linear theory's fixed point", title_fontsize=7)
    fig.suptitle("Figure 6: ReLU networks learn the leading modes in the same order", y=1.02)
    return fig


def theory_vs_ode(ds):
    """Per model, the mode strengths of the matrix gradient flow (markers) over the per-mode closed
    form (lines) from the early-dynamics initial strength, on a log time axis.

    **Arguments:** `ds`, the Dataset of the `matrix_dynamics` part (dims `model`, `time`, `mode`,
    `fine`; variables `ode`, `theory_fine`, `t_fine`, `lam`).

    **Returns:** the matplotlib `Figure`.
    """
    n = ds.sizes["model"]
    fig, axes = plt.subplots(1, n, figsize=(4.4 * n, 3.8), sharey=True, squeeze=False)
    colors = mode_colors(ds.sizes["mode"])
    t = ds.time.values
    for i, (ax, title) in enumerate(zip(axes[0], _titles(ds))):
        for j, c in enumerate(colors):
            ax.plot(ds.t_fine, ds.theory_fine[i, :, j], color=c, lw=1.4,
                    label=f"mode {int(ds.mode[j])}, $\\lambda$={float(ds.lam[j]):.3g}")
            ax.plot(t[1:], ds.ode[i, 1:, j], "o", color=c, ms=3.2, mfc="none")
        ax.set_xscale("log")
        ax.set_xlabel(f"gradient steps (lr = {ds.attrs['lr']:g})")
        ax.set_title(title)
    axes[0, 0].set_ylabel("mode strength $u_k$")
    axes[0, 0].legend(fontsize=7, title="theory (lines), matrix ODE (markers)", title_fontsize=7)
    fig.suptitle(f"Per-mode theory against the full matrix gradient flow from small random weights (H = "
                 f"{ds.attrs['hidden']})", y=1.02)
    return fig
