r"""The scalar network of Figures 1 and 4 and the animation: GD paths, loss surface, theory, as one Dataset.

One mode with weights $(w_1, w_2)$, $u = w_1 w_2$, and the per-mode loss
$\ell = \tfrac{\lambda}{2}(1-u)^2 + \tfrac{\sigma^2}{2}u^2 + \tfrac{\gamma}{2}(w_1^2 + w_2^2)$.
Gradient descent is a `lax.scan` of the exact step, vmapped over starts and models; the theory
is `exact.mode_strength_unbalanced` from the same starts.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import exact

__all__ = ["scalar_loss", "gd_paths", "scalar_dataset", "deviation_metrics", "starts"]


def scalar_loss(w1, w2, lam, noise_var, weight_decay):
    """The per-mode loss, broadcasting over every argument."""
    u = w1 * w2
    return lam / 2 * (1 - u) ** 2 + noise_var / 2 * u**2 + weight_decay / 2 * (w1**2 + w2**2)


def _paths_one(w0, lam, noise_var, weight_decay, lr, steps):
    def step(w, _):
        w1, w2 = w
        g = (lam + noise_var) * w1 * w2 - lam
        new = (w1 - lr * (w2 * g + weight_decay * w1), w2 - lr * (w1 * g + weight_decay * w2))
        return new, jnp.stack(new)

    _, ws = jax.lax.scan(step, (w0[0], w0[1]), None, length=steps)
    return jnp.concatenate([w0[None], ws])  # (steps + 1, 2)


def gd_paths(starts, lam, noise_var, weight_decay, lr, steps: int):
    """GD paths `(models, runs, steps + 1, 2)` from `starts` `(runs, 2)` for each `(noise_var, weight_decay)` pair."""
    over_runs = jax.vmap(_paths_one, in_axes=(0, None, None, None, None, None))
    over_models = jax.vmap(over_runs, in_axes=(None, None, 0, 0, None, None))
    fn = jax.jit(over_models, static_argnums=5)
    return fn(jnp.asarray(starts), lam, jnp.asarray(noise_var), jnp.asarray(weight_decay), lr, steps)


def scalar_dataset(**kwargs):
    """`_scalar_dataset` in float64 whatever the x64 setting: the scalar runs are tiny, and their
    numbers (deviations of 1e-3 from the theory, O(lr^2) imbalance changes) need more than float32."""
    with jax.enable_x64(True):
        return _scalar_dataset(**kwargs)


def _scalar_dataset(*, names, lam, noise_var, weight_decay, lr, steps, starts, grid, half_width):
    """Everything Figures 1, 4 and the animation draw, as an xarray Dataset.

    Dims: `model` (one per `(noise_var, weight_decay)` pair, labelled `names`), `run` (the
    starts), `step` (`0..steps`), `w1_grid`, `w2_grid` (`grid` points on
    `[-half_width, half_width]`). Variables: the paths `w1`, `w2`, their `mode_strength` $w_1w_2$,
    `theory` (`exact.mode_strength_unbalanced` at every step), `loss`, `weight_norm`
    $\\sqrt{w_1^2+w_2^2}$, `imbalance` $w_1^2 - w_2^2$, the `surface` of the loss, and per model
    `noise_var`, `weight_decay`, `fixed_point`. Attributes: `lam`, `lr`. All float64.
    """
    import xarray as xr

    nv = np.asarray(noise_var, np.float64)
    wd = np.asarray(weight_decay, np.float64)
    starts = np.asarray(starts, np.float64)
    ws = np.asarray(gd_paths(starts, lam, nv, wd, lr, steps), np.float64)
    w1, w2 = ws[..., 0], ws[..., 1]
    t = np.arange(steps + 1, dtype=np.float64)
    theory = np.asarray(exact.mode_strength_unbalanced(
        t, lam, (starts[None, :, 0, None], starts[None, :, 1, None]),
        noise_var=nv[:, None, None], weight_decay=wd[:, None, None], lr=lr), np.float64)
    axis = np.linspace(-half_width, half_width, grid)
    surface = scalar_loss(axis[None, None, :], axis[None, :, None], lam, nv[:, None, None], wd[:, None, None])
    dims = ("model", "run", "step")
    return xr.Dataset(
        {
            "w1": (dims, w1), "w2": (dims, w2), "mode_strength": (dims, w1 * w2), "theory": (dims, theory),
            "loss": (dims, scalar_loss(w1, w2, lam, nv[:, None, None], wd[:, None, None])),
            "weight_norm": (dims, np.sqrt(w1**2 + w2**2)), "imbalance": (dims, w1**2 - w2**2),
            "surface": (("model", "w2_grid", "w1_grid"), surface),
            "noise_var": ("model", nv), "weight_decay": ("model", wd),
            "fixed_point": ("model", np.asarray(exact.fixed_point(lam, nv, wd), np.float64)),
        },
        coords={"model": list(names), "run": np.arange(len(starts)), "step": np.arange(steps + 1),
                "w1_grid": axis, "w2_grid": axis},
        attrs={"lam": float(lam), "lr": float(lr)},
    )


def deviation_metrics(ds) -> dict:
    r"""Theory against GD per model: max and mean $|u_{theory} - u_{GD}|$ and its bound from the physics.

    GD is the explicit Euler discretisation (step $\alpha$ in $s = \alpha t$) of the flow the theory
    solves. Its global error is a time lag: under a step while $u$ moves fast, and
    $\approx \log(u^*/u_0)/4$ steps from a small start (docs/derivations.md §10). So per run
    $|u_{theory} - u_{GD}| \le L \max_n |u_{n+1} - u_n|$ with $L = 1 + \max(0, \log(u^*/|u_0|))/4$:
    the largest change of $u$ in one step, times the lag. Reported: the largest deviation, its
    run's bound, and the largest ratio of deviation to bound over all runs (below 1 when it holds).
    """
    dev = np.abs(ds.theory - ds.mode_strength)
    lag = 1 + np.maximum(0.0, np.log(ds.fixed_point / np.abs(ds.mode_strength.isel(step=0)))) / 4
    bound = lag * np.abs(ds.mode_strength.diff("step")).max("step")
    worst = dev.max("step").argmax("run")
    final = ds.mode_strength.isel(step=-1)
    return {
        "deviation_max": dev.max(("run", "step")).values,
        "deviation_mean": dev.mean(("run", "step")).values,
        "deviation_bound": bound.isel(run=worst).values,
        "deviation_to_bound_max": (dev.max("step") / bound).max("run").values,
        "fixed_point": ds.fixed_point.values,
        "final_mode_strength_mean": final.mean("run").values,
        "final_distance_to_fixed_point_max": np.abs(final - ds.fixed_point).max("run").values,
    }


def starts(key, runs: int, half_width: float = 2.0) -> np.ndarray:
    """`runs` starts `(w1, w2)` uniform in `[-half_width, half_width]^2` from the explicit `key`.

    Drawn in float32 whatever the x64 setting, so the starts (and every figure) are the same in both.
    """
    return np.asarray(jax.random.uniform(key, (runs, 2), jnp.float32, -half_width, half_width), np.float64)
