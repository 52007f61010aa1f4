r"""Real training against the theory: the paper's Figures 5 (linear) and 6 (ReLU).

**Figure 5.** A linear autoencoder (AE), the same with weight decay (WDAE) and with sampled
Gaussian input noise (DAE) are trained by full-batch SGD from small random weights, and their
mode strengths $u_k = v_k^\top W_2 W_1 v_k$ (markers) are set against `jaxdae.exact` (lines).
From random weights the modes are not decoupled; the theory curve of mode $k$ is the exact
scalar solution (`exact.mode_strength_unbalanced`) started from the projections of the initial
weights, $a_k = W_1 v_k$ and $b_k = W_2^\top v_k$: $P_0 = \|a_k + b_k\|^2$, $M_0 = \|a_k - b_k\|^2$,
i.e. $w_{1,2} = (\sqrt{P_0} \pm \sqrt{M_0})/2$ (exact for the per-mode vector dynamics without
cross-mode coupling; the coupling is what the deviation measures).

Settings (docs/derivations.md §14). Digits: $H = 32$, lr $= 0.05$ (the top mode's stability
limit is $1/\lambda_1 \approx 0.096$), 5000 steps, initial weights $\mathcal N(0, 10^{-3\,2})$,
$\gamma = \sigma^2 = 0.1$ (per-sample), modes 0, 3, 7, 15 and 23 (mode 31 needs about 4x this
horizon on digits). MNIST and CIFAR-10, the paper's settings: $H = 256$ / $512$, lr $0.01$ /
$0.001$, 5000 epochs, $\gamma = \sigma^2 = 0.5$ (per-sample, as in the authors' code), initial
scale $10^{-4}$, modes 0, 3, 7, 15, 31, recorded every 100 epochs.

**Figure 6** (digits only). The same three with a ReLU hidden layer (no biases), mode strengths
from the reconstructions of the clean data, $u_k = v_k^\top(\hat X^\top X/N)v_k/\lambda_k$, for the
4 leading modes; the linear theory's fixed points are drawn for reference only. $H = 32$, lr
0.05, $\gamma = \sigma^2 = 0.1$, 1500 steps, initial scale $10^{-2}$. (The authors' setting, an
MSE over $N \cdot D$ entries with SGD lr 0.9, is not comparable; see docs/derivations.md §12.14.)
"""

from __future__ import annotations

import time

import jax
import numpy as np

from .. import exact, train
from ..initialise import Random
from ..figures import figure5, figure6
from ..plotting import save
from ._report import Section, finish, save_dataset

ORDER = 5
TITLE = "Figures 5 and 6: training against the theory, linear and ReLU autoencoders"
EXPECTED_S = (25, 60)
DATASETS = ("digits", "mnist", "cifar10")

SETTINGS = {
    "digits": dict(hidden=32, lr=0.05, steps=5000, record_every=50, reg=0.1, scale=1e-3, modes=(0, 3, 7, 15, 23)),
    "mnist": dict(hidden=256, lr=0.01, steps=5000, record_every=100, reg=0.5, scale=1e-4, modes=(0, 3, 7, 15, 31)),
    "cifar10": dict(hidden=512, lr=0.001, steps=5000, record_every=100, reg=0.5, scale=1e-4, modes=(0, 3, 7, 15, 31)),
}
QUICK = dict(steps=1000, record_every=25)
QUICK_PAPER = dict(hidden=32, steps=200, record_every=10)
FIG6 = dict(hidden=32, lr=0.05, steps=1500, record_every=15, reg=0.1, scale=1e-2, modes=(0, 1, 2, 3))
FIG6_QUICK = dict(steps=400, record_every=10)


def settings(dataset: str, quick: bool, dim: int) -> dict:
    """The Figure 5 settings of `dataset` (with `--quick`: fewer steps, and a narrower net on paper data)."""
    s = dict(SETTINGS[dataset])
    if quick:
        s.update(QUICK if dataset == "digits" else QUICK_PAPER)
    s["modes"] = tuple(k for k in s["modes"] if k < dim)
    return s


def models(reg):
    """`(name, noise_var, weight_decay)` of the AE, the WDAE and the DAE."""
    return (("AE", 0.0, 0.0), ("WDAE", 0.0, reg), ("DAE", reg, 0.0))


def _fit(X, s, var, gam, key, **kw):
    return train.fit(X, hidden=s["hidden"], steps=s["steps"], noise_var=var, weight_decay=gam, lr=s["lr"], key=key,
                     init=Random(s["scale"]), noise="sampled", record_every=s["record_every"], **kw)


def _projection_start(w1, w2, vecs, modes):
    """Scalar (w1, w2) per mode from the hidden-space projections of the initial weights."""
    a = (w1 @ vecs[:, modes]).T
    b = vecs[:, modes].T @ w2
    p0 = np.sum((a + b) ** 2, axis=1)
    m0 = np.sum((a - b) ** 2, axis=1)
    return (np.sqrt(p0) + np.sqrt(m0)) / 2, (np.sqrt(p0) - np.sqrt(m0)) / 2


def per_step_seconds(X, s) -> float:
    """Seconds per training step of the Figure 5 run, measured on a short compiled run (10 steps)."""
    short = dict(s, steps=10, record_every=10)
    _fit(X, short, s["reg"], 0.0, jax.random.key(0))
    start = time.perf_counter()
    jax.block_until_ready(_fit(X, short, s["reg"], 0.0, jax.random.key(0)).mode_strength)
    return (time.perf_counter() - start) / 10


def _theory(t, lam, init, var, gam, lr):
    return np.asarray(exact.mode_strength_unbalanced(t[:, None], lam, init, noise_var=var, weight_decay=gam, lr=lr))


def compute5(X, spectrum, s, console=None):
    """The Figure 5 Dataset: `mode_strength`, `theory` (at the records) and `theory_fine` per model and mode."""
    import xarray as xr

    lam, vecs = np.asarray(spectrum.lam, np.float64), np.asarray(spectrum.vecs, np.float64)
    modes = np.asarray(s["modes"])
    fine = np.linspace(0, s["steps"], 400)
    rows = []
    for i, (name, var, gam) in enumerate(models(s["reg"])):
        start = time.perf_counter()
        tr = _fit(X, s, var, gam, jax.random.key(5), record_weights=True)
        t = np.asarray(tr.t, np.float64)
        init = _projection_start(*(np.asarray(w[0], np.float64) for w in tr.weights), vecs, modes)
        rows.append(dict(u=np.asarray(tr.mode_strength, np.float64)[:, modes], init=np.stack(init, -1),
                         at=_theory(t, lam[modes], init, var, gam, s["lr"]),
                         fine=_theory(fine, lam[modes], init, var, gam, s["lr"]),
                         fp=np.asarray(exact.fixed_point(lam[modes], var, gam))))
        if console is not None:
            console.print(f"[dim]  {name} ({i + 1}/3): {time.perf_counter() - start:.1f} s[/dim]")
    stack = lambda k: np.stack([r[k] for r in rows])  # noqa: E731
    return xr.Dataset(
        {"mode_strength": (("model", "time", "mode"), stack("u")), "theory": (("model", "time", "mode"), stack("at")),
         "theory_fine": (("model", "fine", "mode"), stack("fine")), "t_fine": ("fine", fine),
         "init": (("model", "mode", "layer"), stack("init")), "fixed_point": (("model", "mode"), stack("fp")),
         "lam": ("mode", lam[modes]), "noise_var": ("model", [m[1] for m in models(s["reg"])]),
         "weight_decay": ("model", [m[2] for m in models(s["reg"])])},
        coords={"model": [m[0] for m in models(s["reg"])], "time": t, "mode": modes, "layer": ["w1", "w2"]},
        attrs={k: v for k, v in s.items() if k != "modes"},
    )


def compute6(X, spectrum, quick):
    """The Figure 6 Dataset: ReLU mode strengths (from reconstructions) and losses per model."""
    import xarray as xr

    s = dict(FIG6, **(FIG6_QUICK if quick else {}))
    lam = np.asarray(spectrum.lam, np.float64)
    modes = np.asarray(s["modes"])
    u, loss = [], []
    for name, var, gam in models(s["reg"]):
        tr = _fit(X, s, var, gam, jax.random.key(6), activation="relu")
        u.append(np.asarray(tr.mode_strength, np.float64)[:, modes])
        loss.append(np.asarray(tr.loss, np.float64))
    fp = [np.asarray(exact.fixed_point(lam[modes], var, gam)) for _, var, gam in models(s["reg"])]
    return xr.Dataset(
        {"mode_strength": (("model", "time", "mode"), np.stack(u)), "loss": (("model", "time"), np.stack(loss)),
         "fixed_point": (("model", "mode"), np.stack(fp)), "lam": ("mode", lam[modes]),
         "noise_var": ("model", [m[1] for m in models(s["reg"])]),
         "weight_decay": ("model", [m[2] for m in models(s["reg"])])},
        coords={"model": [m[0] for m in models(s["reg"])], "time": np.asarray(tr.t, np.float64), "mode": modes},
        attrs={k: v for k, v in s.items() if k != "modes"},
    )


def metrics5(ds) -> dict:
    """Deviations of training from the theory per model and mode (all records, last quarter) and final values."""
    dev = np.abs(ds.mode_strength - ds.theory)
    late = dev.isel(time=slice(3 * ds.sizes["time"] // 4, None))
    return dict(modes=ds.mode.values, lam=ds.lam.values, models=list(ds.model.values),
                deviation_max=dev.max("time").values, deviation_mean=dev.mean("time").values,
                deviation_late_max=late.max("time").values, final_mode_strength=ds.mode_strength.isel(time=-1).values,
                fixed_point=ds.fixed_point.values)


def _announce(ctx, s):
    """State the expected time of the Figure 5 runs on MNIST / CIFAR-10 from a measured per-step cost
    (digits' time is known in advance: `EXPECTED_S`); returns the seconds per step, or None."""
    if ctx.dataset == "digits":
        return None
    per_step = per_step_seconds(ctx.X, s)
    expected = 3 * s["steps"] * per_step
    ctx.console.print(f"Figure 5 on {ctx.dataset} (N = {ctx.X.shape[0]}, D = {ctx.X.shape[1]}, H = {s['hidden']}, "
                      f"{s['steps']} epochs x 3 models): {per_step * 1e3:.2f} ms per step measured, expected "
                      f"about {expected:.0f} s plus compilation")
    return per_step


def run(ctx) -> Section:
    s = settings(ctx.dataset, ctx.quick, ctx.X.shape[1])
    per_step = _announce(ctx, s)
    ds5 = compute5(ctx.X, ctx.spectrum, s, ctx.console)
    names = [save_dataset(ds5, ctx.out, "figure5")]
    save(figure5(ds5), ctx.out, "figure5")
    m = {f"figure5_{k}": v for k, v in metrics5(ds5).items()}
    m.update(figure5_hidden=s["hidden"], figure5_lr=s["lr"], figure5_steps=s["steps"], figure5_reg=s["reg"],
             figure5_seconds_per_step=per_step)
    figures = [("figure5.png", f"Figure 5 on {ctx.dataset}: linear AE, WDAE, DAE trained (markers) against theory")]
    late = np.asarray(m["figure5_deviation_late_max"])
    text = (
        "Claim: linear networks trained by SGD follow the per-mode theory, and reach its fixed points: noise shrinks "
        "every mode to $\\lambda/(\\lambda+\\sigma^2)$, weight decay removes the modes with $\\lambda < \\gamma$. "
        f"On {ctx.dataset} (H = {s['hidden']}, lr {s['lr']}, {s['steps']} epochs, $\\gamma = \\sigma^2$ = {s['reg']}): "
        f"largest |training − theory| over the last quarter {late.max():.3g} (AE {late[0].max():.3g}, WDAE "
        f"{late[1].max():.3g}, DAE {late[2].max():.3g}); final strengths against fixed points in the table."
    )
    if ctx.dataset == "digits":
        ds6 = compute6(ctx.X, ctx.spectrum, ctx.quick)
        names.append(save_dataset(ds6, ctx.out, "figure6"))
        save(figure6(ds6), ctx.out, "figure6")
        figures.append(("figure6.png", "Figure 6 on digits: ReLU AE, WDAE, DAE mode strengths"))
        m.update(figure6_modes=ds6.mode.values, figure6_final_mode_strength=ds6.mode_strength.isel(time=-1).values,
                 figure6_linear_fixed_point=ds6.fixed_point.values, figure6_loss_first=ds6.loss.isel(time=0).values,
                 figure6_loss_last=ds6.loss.isel(time=-1).values)
        final, fixed = (np.round(np.asarray(m[k], np.float64), 3).tolist()
                        for k in ("figure6_final_mode_strength", "figure6_linear_fixed_point"))
        text += (" Figure 6: the ReLU networks learn the leading modes in the same order; final strengths of modes "
                 f"0–3: {final} (AE, WDAE, DAE rows) against the linear fixed points {fixed}.")
    return finish(ctx, TITLE, figures, m, text, names)
