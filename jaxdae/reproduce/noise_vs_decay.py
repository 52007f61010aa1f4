"""Exact dynamics: input noise versus the equivalent weight decay (the paper's Figure 2 idea).

For a few leading modes of the digits spectrum, the balanced closed form `exact.mode_strength`
is drawn for a range of noise levels (DAE, solid) beside the weight decay with the same fixed
point, gamma_eq = lam sigma2 / (lam + sigma2) (WDAE, dashed). Same fixed point, but the WDAE
gets there (lam + sigma2)/lam times later at the same learning rate.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from rich.table import Table

from .. import exact
from ..plotting import mode_colors, plt, save

ORDER = 10
TITLE = "Exact dynamics: noise versus equivalent weight decay"

MODES = (0, 3, 7)
NOISE_VARS = (0.0, 0.1, 0.2, 0.4, 0.8, 1.6)
LR = 0.05
U0 = 1e-6


def run(out, console, spectrum, X) -> None:
    lam_all = np.asarray(spectrum.lam, dtype=np.float64)
    sig = np.asarray(NOISE_VARS)
    fig, axes = plt.subplots(1, len(MODES), figsize=(4.2 * len(MODES), 3.6), sharey=True)
    colors = mode_colors(len(sig))
    table = Table(
        title=f"Steps to 90 % of the fixed point u* (lr = {LR}, u0 = {U0:g}); ratio = WDAE/DAE = (λ+σ²)/λ",
        caption="WDAE: weight decay γ_eq = λσ²/(λ+σ²), same u* as the DAE with noise σ²",
    )
    for col in ("mode", "λ", "σ²", "u*", "γ_eq", "t90 DAE", "t90 WDAE", "ratio"):
        table.add_column(col, justify="right")
    for ax, k in zip(np.atleast_1d(axes), MODES):
        lam = lam_all[k]
        gam = np.asarray(exact.equivalent_weight_decay(lam, sig))
        t90_dae = np.asarray(exact.time_to_fraction(0.9, lam, noise_var=sig, lr=LR, u0=U0))
        t90_wdae = np.asarray(exact.time_to_fraction(0.9, lam, weight_decay=gam, lr=LR, u0=U0))
        horizon = 1.3 * float(np.max(t90_wdae))
        t = jnp.linspace(0.0, horizon, 400)
        u_dae = exact.mode_strength(t[:, None], lam, noise_var=sig, lr=LR, u0=U0)
        u_wdae = exact.mode_strength(t[:, None], lam, weight_decay=gam, lr=LR, u0=U0)
        fp = np.asarray(exact.fixed_point(lam, sig))
        for j, c in enumerate(colors):
            ax.plot(t, u_dae[:, j], color=c, lw=1.6, label=f"$\\sigma^2$={sig[j]:g}")
            ax.plot(t, u_wdae[:, j], color=c, lw=1.2, ls="--")
            ax.axhline(fp[j], color=c, lw=0.5, ls=":")
            if sig[j] > 0:
                table.add_row(
                    str(k), f"{lam:.4g}", f"{sig[j]:g}", f"{fp[j]:.3f}", f"{gam[j]:.4g}",
                    f"{t90_dae[j]:.0f}", f"{t90_wdae[j]:.0f}", f"{t90_wdae[j] / t90_dae[j]:.3f}",
                )
        ax.set_title(f"mode {k}, $\\lambda$ = {lam:.3g}")
        ax.set_xlabel("gradient steps")
    axes[0].set_ylabel("mode strength $u$")
    axes[0].legend(fontsize=7, title="DAE (solid), WDAE $\\gamma_{eq}$ (dashed)", title_fontsize=7)
    fig.suptitle("Noise and its equivalent weight decay share the fixed point; the DAE gets there first", y=1.02)
    path = save(fig, out, "exact_noise_vs_weight_decay")
    console.print(table)
    console.print(f"wrote {path}")
