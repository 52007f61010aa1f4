"""What `fn` returns, as named variables: a `Trajectory`, an array, a dict or any pytree."""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from ..trajectory import Trajectory

#: internal name of a Trajectory's `t`: it becomes the `time` coordinate, not a variable
TIME = "__time__"

_TRAJECTORY_DIMS = {
    "mode_strength": ("time", "mode"),
    "loss": ("time",),
    "weight_norm": ("time",),
    "W1": ("time", "hidden", "input"),
    "W2": ("time", "input", "hidden"),
    TIME: ("time",),
}


class Variable(NamedTuple):
    """One output of `fn` per point: its name, shape, dtype and dim names."""

    name: str
    shape: tuple
    dtype: np.dtype
    dims: tuple

    def nbytes(self) -> int:
        """Bytes of one point's value."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def _trajectory(traj: Trajectory) -> dict:
    out = {TIME: traj.t, "mode_strength": traj.mode_strength}
    for name in ("loss", "weight_norm", "status"):
        if getattr(traj, name) is not None:
            out[name] = getattr(traj, name)
    if traj.weights is not None:
        out["W1"], out["W2"] = traj.weights
    out.update({f"stats_{k}": v for k, v in traj.stats.items()})
    return out


def _path_name(path) -> str:
    parts = []
    for entry in path:
        for attr in ("key", "name", "idx"):
            if hasattr(entry, attr):
                parts.append(str(getattr(entry, attr)))
                break
    return "_".join(parts) or "value"


def flatten(tree) -> dict:
    """`fn`'s output as `{variable name: array}`; structural, so it runs inside a trace."""
    if isinstance(tree, Trajectory):
        return _trajectory(tree)
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    if not leaves:
        raise ValueError("fn must return an array, a dict of arrays or a pytree of arrays, got no arrays")
    return {_path_name(path): leaf for path, leaf in leaves}


def describe(shapes: dict, grid_names, dims, coords) -> list:
    """The `Variable`s of `fn`'s output shapes, dims named from `dims` or the defaults.

    **Raises:** `ValueError` naming `dims` or `coords` when they name an unknown output or
    dim, or disagree with the shapes.
    """
    dims = dict(dims or {})
    for name in dims:
        if name not in shapes or name == TIME:
            raise ValueError(f"dims names an output fn does not return: {name!r} (outputs: {', '.join(k for k in shapes if k != TIME)})")
    out = []
    for name, s in shapes.items():
        names = tuple(dims.get(name, _TRAJECTORY_DIMS.get(name, tuple(f"{name}_dim{i}" for i in range(len(s.shape))))))
        if len(names) != len(s.shape):
            raise ValueError(f"dims[{name!r}] = {names} must name {len(s.shape)} dim(s) for an output of shape {s.shape}")
        out.append(Variable(name, tuple(s.shape), np.dtype(s.dtype), names))
    _check_sizes(out, grid_names, coords)
    return out


def dim_sizes(variables) -> dict:
    """`{dim name: size}` over every output dim."""
    return {d: n for v in variables for d, n in zip(v.dims, v.shape)}


def _check_sizes(variables, grid_names, coords) -> None:
    sizes = {}
    for v in variables:
        for d, n in zip(v.dims, v.shape):
            if d in grid_names:
                raise ValueError(f"output {v.name!r} has a dim named like the grid entry {d!r}; rename it with dims=")
            if sizes.setdefault(d, n) != n:
                raise ValueError(f"dim {d!r} has size {sizes[d]} in one output and {n} in {v.name!r}; name them apart with dims=")
    for d, c in (coords or {}).items():
        if d not in sizes:
            raise ValueError(f"coords names a dim no output has: {d!r} (dims: {', '.join(sizes) or 'none'})")
        if np.shape(c) != (sizes[d],):
            raise ValueError(f"coords[{d!r}] must have shape ({sizes[d]},), got {np.shape(c)}")
        if d == "time" and any(v.name == TIME for v in variables):
            raise ValueError("coords must not set 'time' for a Trajectory output: it is the trajectory's own t")
