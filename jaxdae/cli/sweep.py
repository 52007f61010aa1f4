"""`jaxdae sweep CONFIG.toml`: a solver over a grid from a TOML file, stored and resumable."""

from __future__ import annotations

import tomllib

import numpy as np

SOLVERS = ("exact_loss", "exact_mode_strength")


def configure(parser) -> None:
    parser.add_argument("config", help="a TOML file: solver, data, grid, time, output (see examples/sweep_exact.toml)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _axis(name: str, spec) -> np.ndarray:
    """A grid axis: a list of values, or `{start, stop, num, log}` (log-spaced with `log = true`)."""
    if isinstance(spec, list):
        return np.asarray(spec, dtype=float)
    if not isinstance(spec, dict) or not {"start", "stop", "num"} <= set(spec):
        raise ValueError(f"{name} must be a list of values or {{start, stop, num, log}}, got {spec!r}")
    if spec.get("log", False):
        if spec["start"] <= 0 or spec["stop"] <= 0:
            raise ValueError(f"{name} with log = true needs start and stop > 0, got {spec!r}")
        return np.geomspace(spec["start"], spec["stop"], int(spec["num"]))
    return np.linspace(spec["start"], spec["stop"], int(spec["num"]))


def _point_function(config, t):
    import jax.numpy as jnp

    from .. import Spectrum, _checks, data, exact

    solver = _checks.choice("solver", config.get("solver", "exact_loss"), SOLVERS)
    _checks.choice("data", config.get("data", "digits"), ("digits",))
    lam = Spectrum.from_data(data.digits()).lam
    lr, u0 = float(config.get("lr", 1e-2)), float(config.get("u0", 1e-6))

    def fn(noise_var=0.0, weight_decay=0.0):
        u = exact.mode_strength(t[:, None], lam, noise_var=noise_var, weight_decay=weight_decay, lr=lr, u0=u0)
        if solver == "exact_mode_strength":
            return {"mode_strength": u}
        # expected loss of balanced modes: lam/2 (1-u)^2 + noise_var/2 u^2 + weight_decay u, summed
        return {"loss": jnp.sum(lam / 2 * (1 - u) ** 2 + noise_var / 2 * u**2 + weight_decay * u, axis=-1)}

    return fn, ({"loss": ("time",)} if solver == "exact_loss" else {"mode_strength": ("time", "mode")})


def main(args) -> int:
    import jax.numpy as jnp

    from .. import sweep

    with open(args.config, "rb") as f:
        config = tomllib.load(f)
    grid = {name: _axis(f"grid.{name}", spec) for name, spec in config.get("grid", {}).items()}
    t = jnp.asarray(_axis("time", config.get("time", {"start": 0.0, "stop": 1e4, "num": 100})))
    fn, dims = _point_function(config, t)
    output = config.get("output", {})
    ds = sweep.run(fn, grid, chunk_size=output.get("chunk_size"), max_memory=output.get("max_memory"),
                   out=output.get("path"), dims=dims, coords={"time": t}, progress=False if args.no_progress else None,
                   attrs={k: config[k] for k in ("solver", "data", "lr", "u0") if k in config})
    a = ds.attrs
    print(f"swept {int(np.prod([v.size for v in grid.values()])):,} points ({', '.join(f'{k} {v.size}' for k, v in grid.items())}) "
          f"x {t.size} times on {a['devices']} device(s): chunk size {a['chunk_size']}, {a['chunks_computed']} chunk(s) "
          f"computed, {a['chunks_resumed']} resumed" + (f"; stored in {output['path']}" if output.get("path") else ""))
    return 0
