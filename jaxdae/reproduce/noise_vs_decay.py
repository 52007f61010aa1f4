"""Figure 2: exact dynamics, input noise against the equivalent weight decay.

For a few leading modes of the data's spectrum, the balanced closed form `exact.mode_strength`
is drawn for a range of noise levels (DAE, solid) beside the weight decay with the same fixed
point, gamma_eq = lam sigma2 / (lam + sigma2) (WDAE, dashed). Same fixed point, but the WDAE
gets there (lam + sigma2)/lam times later at the same learning rate (`exact.dae_speedup`).
"""

from __future__ import annotations

import numpy as np

from .. import exact
from ..figures import figure2
from ._report import Section, finish, publish

ORDER = 2
TITLE = "Figure 2: exact dynamics, noise against the equivalent weight decay"
EXPECTED_S = (2, 2)

MODES = (0, 3, 7)
NOISE_VARS = (0.0, 0.1, 0.2, 0.4, 0.8, 1.6)
LR = 0.05
U0 = 1e-6
SAMPLES = {False: 400, True: 100}


def compute(spectrum, quick: bool = False):
    """Dataset over `mode`, `noise_var` and `sample` (times per mode: `t`, up to 1.3 x the slowest WDAE's t90)."""
    import xarray as xr

    lam = np.asarray(spectrum.lam, np.float64)[list(MODES)][:, None]
    sig = np.asarray(NOISE_VARS)[None, :]
    gam = np.asarray(exact.equivalent_weight_decay(lam, sig))
    learning = sig > 0
    t90_dae = np.asarray(exact.time_to_fraction(0.9, lam, noise_var=sig, lr=LR, u0=U0))
    t90_wdae = np.asarray(exact.time_to_fraction(0.9, lam, weight_decay=gam, lr=LR, u0=U0))
    t = np.linspace(0, 1.3 * t90_wdae.max(axis=1, keepdims=True), SAMPLES[quick], axis=-1)  # (mode, 1, sample)
    u_dae = np.asarray(exact.mode_strength(t, lam[..., None], noise_var=sig[..., None], lr=LR, u0=U0))
    u_wdae = np.asarray(exact.mode_strength(t, lam[..., None], weight_decay=gam[..., None], lr=LR, u0=U0))
    dims = ("mode", "noise_var", "sample")
    return xr.Dataset(
        {
            "lam": ("mode", lam[:, 0]), "t": (("mode", "sample"), t[:, 0]),
            "u_dae": (dims, u_dae), "u_wdae": (dims, u_wdae),
            "gamma_eq": (dims[:2], gam), "fixed_point": (dims[:2], np.asarray(exact.fixed_point(lam, sig))),
            "t90_dae": (dims[:2], t90_dae), "t90_wdae": (dims[:2], t90_wdae),
            "t90_ratio": (dims[:2], np.where(learning, t90_wdae / t90_dae, np.nan)),
            "dae_speedup": (dims[:2], np.asarray(exact.dae_speedup(lam, sig))),
        },
        coords={"mode": list(MODES), "noise_var": list(NOISE_VARS)},
        attrs={"lr": LR, "u0": U0},
    )


def run(ctx) -> Section:
    ds = compute(ctx.spectrum, ctx.quick)
    name = publish(ctx, ds, "figure2", figure2)
    noisy = ds.isel(noise_var=np.flatnonzero(ds.noise_var.values > 0))
    rel = np.abs(noisy.t90_ratio / noisy.dae_speedup - 1)
    metrics = dict(modes=list(MODES), lam=ds.lam.values, noise_var=noisy.noise_var.values, lr=LR, u0=U0,
                   t90_dae=noisy.t90_dae.values, t90_wdae=noisy.t90_wdae.values, t90_ratio=noisy.t90_ratio.values,
                   predicted_ratio=noisy.dae_speedup.values, ratio_relative_deviation_max=float(rel.max()))
    text = (
        "Claim: noise $\\sigma^2$ and the weight decay $\\gamma_{eq} = \\lambda\\sigma^2/(\\lambda+\\sigma^2)$ share the "
        "fixed point, and at the same learning rate the DAE reaches 90 % of it $(\\lambda+\\sigma^2)/\\lambda$ times "
        f"sooner. Time-to-90 % ratios WDAE/DAE over modes {list(MODES)} and noise levels "
        f"{noisy.noise_var.values.tolist()}: from {float(noisy.t90_ratio.min()):.3f} to {float(noisy.t90_ratio.max()):.3f}, "
        f"equal to $(\\lambda+\\sigma^2)/\\lambda$ to a relative {metrics['ratio_relative_deviation_max']:.1e}."
    )
    figures = [("figure2.png", "Figure 2: DAE (solid) and equivalent WDAE (dashed) per mode")]
    return finish(ctx, TITLE, figures, metrics, text, [name])
