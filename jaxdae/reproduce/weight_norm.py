r"""Figure 4: noise against weight decay on the norm of the weights (scalar network).

The paper's setting (docs/derivations.md §14): lambda = 1, lr = 0.01, 1000 epochs; a DAE with
noise eps = 0.1 against the WDAE with the same fixed point, gamma = lambda eps/(lambda + eps) =
0.1/1.1; 10 starts uniform in [-2, 2]^2 plus one small start w1 = w2 = 0.01.

The imbalance $c = w_1^2 - w_2^2$ obeys $\dot c = -2\alpha\gamma c$ under the flow: noise leaves
it alone, weight decay shrinks it like $e^{-2\gamma\alpha t}$, towards the balanced minimum. GD
multiplies it by $(1-\alpha\gamma)^2 - \alpha^2 g_n^2$ per step, $g_n = (\lambda+\sigma^2)u_n - \lambda$
(docs/derivations.md §10), so $|\log(c_T/c_0) + 2\gamma\alpha T| \le \sum_n [\alpha^2\gamma^2/(1-\alpha\gamma)
+ y_n/(1-y_n)]$, $y_n = \alpha^2 g_n^2/(1-\alpha\gamma)^2$: the O(lr^2) bound the report states.
"""

from __future__ import annotations

import jax
import numpy as np

from ..exact import equivalent_weight_decay
from ..figures import figure4
from . import _scalar
from ._report import Section, finish, publish

ORDER = 4
TITLE = "Figure 4: weight norm under noise against weight decay"
EXPECTED_S = (5, 6)

LAM, LR, STEPS, NOISE = 1.0, 0.01, 1000, 0.1
RUNS, SEED, SMALL = 10, 4, 0.01
GRID = {False: 81, True: 41}


def compute(quick: bool = False):
    """The Figure 4 Dataset: models `DAE` (noise) and `WDAE` (equivalent weight decay), 11 runs (the last small)."""
    gamma = float(equivalent_weight_decay(LAM, NOISE))
    w0 = np.concatenate([_scalar.starts(jax.random.key(SEED), RUNS), [[SMALL, SMALL]]])
    return _scalar.scalar_dataset(names=["DAE", "WDAE"], lam=LAM, noise_var=[NOISE, 0.0], weight_decay=[0.0, gamma],
                                  lr=LR, steps=STEPS, starts=w0, grid=GRID[quick], half_width=2.2)


def imbalance_metrics(ds) -> dict:
    """Per model, for the most unbalanced start: $c_T/c_0$, the flow's $e^{-2\\gamma\\alpha T}$, the GD bound
    on their log-difference, and the final weight norm against the flow's prediction."""
    lr, lam, T = ds.attrs["lr"], ds.attrs["lam"], ds.sizes["step"] - 1
    run = int(np.abs(ds.imbalance.isel(step=0, model=0)).argmax("run"))
    c = ds.imbalance.isel(run=run)
    ratio = (c.isel(step=-1) / c.isel(step=0)).values
    flow = np.exp(-2 * ds.weight_decay.values * lr * T)
    ag = lr * ds.weight_decay.values
    g = (lam + ds.noise_var) * ds.mode_strength.isel(run=run, step=slice(0, -1)) - lam
    y = (lr * g) ** 2 / (1 - ag[:, None]) ** 2
    bound = (T * ag**2 / (1 - ag) + (y / (1 - y)).sum("step")).values
    ustar = ds.fixed_point.values
    c_flow = c.isel(step=0).values * flow
    return {
        "unbalanced_run": run, "imbalance_start": c.isel(step=0).values, "imbalance_final": c.isel(step=-1).values,
        "imbalance_ratio": ratio, "imbalance_ratio_flow": flow,
        "imbalance_log_deviation": np.abs(np.log(ratio) - np.log(flow)), "imbalance_log_bound": bound,
        "weight_norm_start": ds.weight_norm.isel(run=run, step=0).values,
        "weight_norm_final": ds.weight_norm.isel(run=run, step=-1).values,
        "weight_norm_final_flow": (c_flow**2 + 4 * ustar**2) ** 0.25,
        "weight_norm_balanced": np.sqrt(2 * ustar),
    }


def run(ctx) -> Section:
    ds = compute(ctx.quick)
    name = publish(ctx, ds, "figure4", figure4)
    m = dict(noise_var=ds.noise_var.values, weight_decay=ds.weight_decay.values, lr=LR, steps=STEPS,
             **_scalar.deviation_metrics(ds), **imbalance_metrics(ds))
    text = (
        "Claim: noise leaves the norm of an unbalanced start alone, weight decay shrinks it towards the balanced "
        f"minimum. Most unbalanced start (run {m['unbalanced_run']}, $c_0 = w_1^2 - w_2^2$ = "
        f"{m['imbalance_start'][0]:.3f}): after {STEPS} epochs $c_T/c_0$ = {m['imbalance_ratio'][0]:.4f} (DAE) "
        f"and {m['imbalance_ratio'][1]:.4f} (WDAE) against the flow's $e^{{-2\\gamma\\alpha T}}$ = "
        f"{m['imbalance_ratio_flow'][0]:.4f} and {m['imbalance_ratio_flow'][1]:.4f} (log-differences "
        f"{m['imbalance_log_deviation'][0]:.1e}, {m['imbalance_log_deviation'][1]:.1e} within the O(lr²) GD bounds "
        f"{m['imbalance_log_bound'][0]:.1e}, {m['imbalance_log_bound'][1]:.1e}). Its weight norm goes from "
        f"{m['weight_norm_start'][0]:.3f} to {m['weight_norm_final'][0]:.3f} (DAE) and {m['weight_norm_final'][1]:.3f} "
        f"(WDAE); the balanced minimum's is {m['weight_norm_balanced'][0]:.3f}. Theory against GD: largest "
        f"deviation {max(m['deviation_max']):.3g}, at most {max(m['deviation_to_bound_max']):.2f} of its bound."
    )
    figures = [("figure4.png", "Figure 4: contour surfaces with GD paths, dynamics and weight norms")]
    return finish(ctx, TITLE, figures, m, text, [name])
