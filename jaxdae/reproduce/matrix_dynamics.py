"""Theory versus the matrix dynamics on the digits spectrum (the paper's Figure 5, continuous time).

A linear AE, WDAE and DAE start from the same small random (unaligned) weights and follow the
full matrix gradient flow (`jaxdae.ode.solve`). Their mode strengths u_k = v_k^T W v_k are drawn
as markers over the per-mode closed form `exact.mode_strength`, whose initial strength is the
one the linearised early dynamics select: only the component p_k = W1bar[:, k] + W2bar[k, :]
grows (at rate lr (lam_k - gamma)), so u0_k = |p_k|^2 / 4.

Settings (docs/derivations.md §14, Figure 5, scaled to digits: N = 1797, D = 64): H = 32, initial entries
N(0, 1e-4^2) as in the paper, lr = 0.01, noise_var = 0.05 (DAE) and weight_decay = 0.05 (WDAE),
the same value as in the paper's pairing (there 0.5 on MNIST), 60 000 steps so that mode 31
(lam = 0.017) is learned. The deviation table shows where the theory holds: to the plotting
accuracy for the leading modes, and worse for modes that compete for the H hidden units while
they grow.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from rich.table import Table

from .. import exact, ode
from ..initialise import random_init
from ..plotting import mode_colors, plt, save

ORDER = 20
TITLE = "Theory versus matrix dynamics from small random initialisation (digits)"

HIDDEN = 32
SCALE = 1e-4
LR = 0.01
NOISE_VAR = 0.05
WEIGHT_DECAY = 0.05
HORIZON = 60_000.0
MODES = (0, 3, 7, 15, 31)
MODELS = (("AE", 0.0, 0.0), ("WDAE", 0.0, WEIGHT_DECAY), ("DAE", NOISE_VAR, 0.0))


def run(out, console, spectrum, X) -> None:
    dtype = spectrum.vecs.dtype
    w1, w2 = random_init(jax.random.key(0), spectrum.dim, HIDDEN, scale=SCALE, dtype=dtype)
    ts = jnp.concatenate([jnp.zeros(1, dtype), jnp.geomspace(10.0, HORIZON, 48).astype(dtype)])
    noise = np.array([m[1] for m in MODELS])
    decay = np.array([m[2] for m in MODELS])
    traj = ode.solve(spectrum, w1, w2, noise_var=noise, weight_decay=decay, lr=LR, ts=ts,
                     rtol=1e-5, atol=1e-11, throw=True)
    u_ode = np.asarray(traj.mode_strength, dtype=np.float64)

    lam = np.asarray(spectrum.lam, dtype=np.float64)
    p = np.asarray(w1 @ spectrum.vecs).T + np.asarray(spectrum.vecs.T @ w2)  # (D, H): p_k as rows
    u0 = np.sum(p.astype(np.float64) ** 2, axis=1) / 4
    t_fine = np.geomspace(1.0, HORIZON, 400)
    t_all = np.asarray(ts, dtype=np.float64)

    fig, axes = plt.subplots(1, len(MODELS), figsize=(4.4 * len(MODELS), 3.8), sharey=True)
    colors = mode_colors(len(MODES))
    table = Table(title=f"max |u_ode - u_theory| per mode (H = {HIDDEN}, init N(0, {SCALE:g}^2), lr = {LR})")
    for col in ("model", "mode", "eigenvalue", "fixed point", "t90 theory", "max dev t < t90", "max dev t >= t90"):
        table.add_column(col, justify="right")
    for ax, (name, nv, wd), u_model in zip(axes, MODELS, u_ode):
        for c, k in zip(colors, MODES):
            kw = dict(noise_var=nv, weight_decay=wd, lr=LR, u0=u0[k])
            theory_fine = np.asarray(exact.mode_strength(t_fine, lam[k], **kw))
            theory = np.asarray(exact.mode_strength(t_all, lam[k], **kw))
            ax.plot(t_fine, theory_fine, color=c, lw=1.4, label=f"mode {k}, $\\lambda$={lam[k]:.3g}")
            ax.plot(t_all[1:], u_model[1:, k], "o", color=c, ms=3.2, mfc="none")
            fp = float(exact.fixed_point(lam[k], nv, wd))
            dev = np.abs(u_model[:, k] - theory)
            if fp > 0:
                t90 = float(exact.time_to_fraction(0.9, lam[k], **kw))
                early, late = dev[t_all < t90], dev[t_all >= t90]
            else:
                t90, early, late = float("nan"), dev, dev[:0]
            fmt = lambda d: f"{d.max():.2e}" if d.size else "-"  # noqa: E731
            table.add_row(name, str(k), f"{lam[k]:.4g}", f"{fp:.3f}",
                          "-" if np.isnan(t90) else f"{t90:.0f}", fmt(early), fmt(late))
        ax.set_xscale("log")
        ax.set_xlabel("gradient steps")
        ax.set_title(f"{name}: $\\sigma^2$={nv:g}, $\\gamma$={wd:g}")
    axes[0].set_ylabel("mode strength $u_k$")
    axes[0].legend(fontsize=7, title="theory (lines), matrix ODE (markers)", title_fontsize=7)
    fig.suptitle("Per-mode theory against the full matrix gradient flow from small random weights")
    path = save(fig, out, "matrix_dynamics")
    console.print(table)
    console.print("t90: the theory's time to 90 % of the fixed point. A mode with lam <= gamma is never "
                  "learned: its row gives the whole run. The leading modes follow the per-mode theory closely; modes "
                  "near the width H compete for the hidden units and lag behind it.")
    status = ", ".join(f"{m[0]}: {ode.describe_result(r)}" for m, r in zip(MODELS, np.asarray(traj.result)))
    console.print(f"ODE runs: {status}")
    console.print(f"wrote {path}")
