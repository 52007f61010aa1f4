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

    def block(self, k: int) -> int:
        """Points in one inner block: the product of the trailing axes `names[k:]` (1 for `k = ndim`)."""
        return math.prod(self.shape[k:])

    def inner(self, k: int) -> dict:
        """The trailing axes `names[k:]` as `{name: (length,)}` inputs, the same for every row."""
        return {n: _input_dtype(v) for n, v in zip(self.names[k:], self.values[k:])}

    def rows(self, start: int, stop: int, k: int, size: int) -> dict:
        """Rows `start <= r < stop` of the leading axes `names[:k]` as `{name: (size,)}`, padded with row `start`.

        Row `r` is the block of points `r * block(k) <= p < (r + 1) * block(k)` of the C-order
        point axis. Padding repeats a valid row, so the padded rows compute something finite
        that is dropped afterwards.
        """
        flat = np.arange(start, stop)
        flat = np.concatenate([flat, np.full(size - flat.size, start, dtype=flat.dtype)])
        index = np.unravel_index(flat, self.shape[:k]) if k else ()
        return {n: _input_dtype(v)[i] for n, v, i in zip(self.names[:k], self.values[:k], index)}

    def points(self, start: int, stop: int, size: int) -> dict:
        """The points `start <= p < stop` as `{name: (size,)}` inputs, padded with point `start`."""
        return self.rows(start, stop, len(self.names), size)

    def split(self, chunk: int, local_devices: int) -> int:
        """`k`: the longest suffix of axes whose block divides `chunk` and fits one device's share of it.

        A chunk is then a whole number of blocks (a contiguous range of rows), and each of the
        `local_devices` devices a chunk runs on gets at least one whole block.
        """
        share = -(-chunk // local_devices)
        return min(k for k in range(len(self.names) + 1) if chunk % self.block(k) == 0 and self.block(k) <= share)


class Chunks(NamedTuple):
    """The point axis cut into chunks of `size` points, each a whole number of rows of `grid.block(k)` points.

    `rows` is a chunk's row count padded to a multiple of the local device count: what one
    process's devices hold of a call. A call of the program runs one chunk per process.
    """

    grid: Grid
    size: int
    k: int
    rows: int

    @classmethod
    def of(cls, grid: Grid, size: int, local_devices: int) -> "Chunks":
        """Chunks of `size` points over `local_devices` devices, the inner axes chosen by `Grid.split`."""
        k = grid.split(size, local_devices)
        return cls(grid, size, k, -(-(size // grid.block(k)) // local_devices) * local_devices)

    @property
    def count(self) -> int:
        return -(-self.grid.size // self.size)

    def span(self, i: int) -> tuple:
        """`(start, stop)`: the points of chunk `i`."""
        return i * self.size, min((i + 1) * self.size, self.grid.size)

    def inputs(self, slots) -> dict:
        """The leading-axes inputs of one call: chunk `slots[p]`'s rows, padded to `rows`, for each process `p`."""
        block = self.grid.block(self.k)
        parts = [self.grid.rows(*(s // block for s in self.span(i)), self.k, self.rows) for i in slots]
        return {n: np.concatenate([part[n] for part in parts]) for n in self.grid.names[:self.k]}

    def points(self, rows: dict, i: int) -> dict:
        """Chunk `i`'s outputs per point, `{name: (points, *shape)}`, from its rows `{name: (rows, *inner, *shape)}`."""
        start, stop = self.span(i)
        depth = 1 + len(self.grid.names) - self.k
        return {n: r.reshape((-1, *r.shape[depth:]))[: stop - start] for n, r in rows.items()}


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
