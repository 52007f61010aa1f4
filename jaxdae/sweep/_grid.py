"""The grid: named 1-D arrays, their Cartesian product flattened in C order to a point axis."""

from __future__ import annotations

import inspect
import math
from typing import Callable, NamedTuple

import jax
import numpy as np

from .. import _checks


class Grid(NamedTuple):
    """A validated grid: `names` in dict order, `values` as host arrays, `shape`, `size`."""

    names: tuple
    values: tuple
    shape: tuple
    size: int

    def coords(self) -> dict:
        """`{name: values}`, the grid's coordinates."""
        return dict(zip(self.names, self.values))

    def points(self, start: int, stop: int, size: int) -> dict:
        """The points `start <= p < stop` as `{name: (size,)}` inputs, padded with point `start`.

        Padding repeats a valid point, so the padded rows compute something finite that is
        dropped afterwards.
        """
        flat = np.arange(start, stop)
        flat = np.concatenate([flat, np.full(size - flat.size, start, dtype=flat.dtype)])
        index = np.unravel_index(flat, self.shape)
        return {n: _input_dtype(v)[i] for n, v, i in zip(self.names, self.values, index)}


def _input_dtype(v: np.ndarray) -> np.ndarray:
    # fn sees the canonical JAX dtype (float32 unless x64 is enabled), as jnp.asarray gives it.
    return v.astype(jax.dtypes.canonicalize_dtype(v.dtype), copy=False)


def _accepted(fn: Callable):
    """The keyword names `fn` accepts, or `None` when it takes `**kwargs` (or has no signature)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def check_grid(grid, fn: Callable, with_key: bool) -> Grid:
    """Validate `grid` against `fn` and return a `Grid`.

    **Raises:** `ValueError` naming `grid` (and the entry) for an empty grid, an entry that is
    not a non-empty 1-D finite numeric array, a name `fn` does not accept, `key` as a grid name
    when `key=` is given, or a non-integer `seed` with `key=`.
    """
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"grid must be a non-empty dict of parameter name -> 1-D array, got {grid!r}")
    accepted = _accepted(fn)
    names, values = [], []
    for name, v in grid.items():
        label = f"grid[{name!r}]"
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"grid names must be Python identifiers, got {name!r}")
        arr = np.asarray(v)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"{label} must be a non-empty 1-D array, got shape {arr.shape}")
        _checks.finite(label, arr)
        if accepted is not None and name not in accepted:
            raise ValueError(f"{label}: fn does not accept a parameter named {name!r} (it takes {', '.join(accepted) or 'none'})")
        names.append(name)
        values.append(arr)
    if with_key:
        _check_key_names(grid, accepted)
    shape = tuple(v.size for v in values)
    return Grid(tuple(names), tuple(values), shape, math.prod(shape))


def _check_key_names(grid, accepted) -> None:
    if "key" in grid:
        raise ValueError("grid must not contain 'key' when key= is given: each point receives its own key")
    if accepted is not None and "key" not in accepted:
        raise ValueError("key= is given but fn does not accept a parameter named 'key'")
    if "seed" in grid and not np.issubdtype(np.asarray(grid["seed"]).dtype, np.integer):
        raise ValueError(f"grid['seed'] must hold integers when key= is given, got dtype {np.asarray(grid['seed']).dtype}")
