"""Figure 1: the scalar DAE's loss surface, GD paths to the manifold of minima, theory against GD.

The paper's setting (docs/derivations.md §14): one mode with lambda = 1, noise eps in {0, 1, 5}
in the paper's sum notation with N = 1 and tau = 100 (so `from_paper` gives noise_var = eps and
lr = 0.01), no weight decay, 10 starts uniform in [-2, 2]^2. The paper ran 200 epochs; 1000
are used here so that every run settles on w1 w2 = u* = lambda/(lambda + eps).
"""

from __future__ import annotations

import jax

from ..figures import figure1
from ..notation import from_paper
from . import _scalar
from ._report import Section, finish, publish

ORDER = 1
TITLE = "Figure 1: scalar DAE, loss surfaces, GD paths and the unbalanced theory"
EXPECTED_S = (6, 8)

SIGMA_EIG, EPS, TAU = 1.0, (0.0, 1.0, 5.0), 100.0
RUNS, STEPS, SEED = 10, 1000, 1
GRID = {False: 61, True: 31}


def compute(quick: bool = False):
    """The Figure 1 Dataset (see `_scalar.scalar_dataset`), models labelled `eps=<paper noise>`."""
    params = [from_paper(n_samples=1, sigma_eig=SIGMA_EIG, eps=e, tau=TAU) for e in EPS]
    return _scalar.scalar_dataset(
        names=[f"eps={e:g}" for e in EPS], lam=params[0].lam, noise_var=[p.noise_var for p in params],
        weight_decay=[0.0] * len(EPS), lr=params[0].lr, steps=STEPS,
        starts=_scalar.starts(jax.random.key(SEED), RUNS), grid=GRID[quick], half_width=2.2,
    )


def run(ctx) -> Section:
    ds = compute(ctx.quick)
    name = publish(ctx, ds, "figure1", figure1)
    metrics = dict(noise_var=ds.noise_var.values, lr=ds.attrs["lr"], steps=STEPS, runs=RUNS,
                   **_scalar.deviation_metrics(ds))
    dev, bound = metrics["deviation_max"], metrics["deviation_bound"]
    text = (
        "Claim: gradient descent from any start reaches the manifold of minima $w_1 w_2 = u^* = \\lambda/(\\lambda+"
        "\\varepsilon)$, and the unbalanced closed form predicts $w_2 w_1$ over time. "
        f"Per noise level {list(EPS)}: largest |theory − GD| {', '.join(f'{d:.3g}' for d in dev)} against the "
        f"discretisation bound {', '.join(f'{b:.3g}' for b in bound)} (one step's largest change of $u$ times the "
        "escape lag); every run ends within "
        f"{max(metrics['final_distance_to_fixed_point_max']):.1e} of its $u^*$."
    )
    figures = [("figure1.png", "Figure 1: loss surfaces with GD paths (left), theory vs GD (right)")]
    return finish(ctx, TITLE, figures, metrics, text, [name])
