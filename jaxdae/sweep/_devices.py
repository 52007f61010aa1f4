"""One compiled program per sweep: `jit(shard_map(vmap(row)))` over a 1-D mesh of every device.

A chunk is a whole number of *rows*: a row is one point of the grid's leading axes together
with the whole block of its trailing ("inner") axes. The rows are split along the mesh, each
device maps its own rows with one flat `jax.vmap`, and inside a row `fn` is mapped with one
nested `jax.vmap` per inner axis (innermost = the last grid axis). Work of `fn` that depends on
the leading axes only is then unbatched in the inner vmaps: done once per row, not per point.
On several hosts the mesh spans every process's devices, ordered by process, so that process
`p`'s devices hold a contiguous range of a call's rows.
"""

from __future__ import annotations

import weakref
from typing import Callable, NamedTuple, Optional

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from ._outputs import flatten

AXIS = "points"
_MEMO_SIZE = 8  # compiled programs kept per fn (probes and chunk programs of recent sweeps)
_PROGRAMS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # fn -> {signature: Program}


class Program(NamedTuple):
    """A compiled program for `rows` rows (all processes together; a multiple of the device count)."""

    compiled: object
    mesh: jax.sharding.Mesh
    rows: int


def make_mesh() -> jax.sharding.Mesh:
    """The 1-D mesh `("points",)` over `jax.devices()` (all processes), ordered by process then id."""
    devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    return jax.sharding.Mesh(np.asarray(devices), (AXIS,))


def key_parts(key):
    """`(raw uint32 data, impl or None)`: a key as plain data that any sharding can carry."""
    if key is None:
        return None, None
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(key)), jax.random.key_impl(key)
    return np.asarray(key), None


def _fold(key, point: dict):
    """`fold_in(key, seed)` where `point` sets the seed; computed at the level where the seed varies."""
    return key if key is None or "seed" not in point else jax.random.fold_in(key, point["seed"])


def _nest(body: Callable, name: str) -> Callable:
    """`body` mapped over the inner axis `name` with its own `jax.vmap` (the rest unbatched)."""

    def mapped(point, values, key):
        def at(value, key):
            return body({**point, name: value}, values, _fold(key, {name: value}))

        return jax.vmap(at, in_axes=(0, None))(values[name], key)

    return mapped


def point_function(fn: Callable, impl, with_key: bool, inner: tuple) -> Callable:
    """`row(index, outer, values, key_data)`: `fn` over one row, nested-vmapped over the `inner` axes.

    `outer` holds the row's scalars of the leading axes, `values` the inner axes' 1-D arrays;
    the output is flattened, shaped `(*inner lengths, *output shape)`. `index` only sets the
    batch size of the row vmap (there may be no leading axis).
    """

    def leaf(point, values, key):
        return flatten(fn(**point, **({"key": key} if with_key else {})))

    body = leaf
    for name in reversed(inner):
        body = _nest(body, name)

    def row(index, outer, values, key_data=None):
        key = key_data if impl is None or key_data is None else jax.random.wrap_key_data(key_data, impl=impl)
        return body(dict(outer), values, _fold(key if with_key else None, outer))

    return row


def _jitted(row: Callable, mesh, with_key: bool):
    """`jit(shard_map(vmap(row)))`: rows split along the mesh, inner values and key replicated."""
    axes, specs = (0, 0, None), (P(AXIS), P(AXIS), P())
    if with_key:
        axes, specs = axes + (None,), specs + (P(),)
    body = jax.vmap(row, in_axes=axes)
    return jax.jit(jax.shard_map(body, mesh=mesh, in_specs=specs, out_specs=P(AXIS), check_vma=False))


def _avals(grid, k: int, rows: int, mesh, key_data):
    split, whole = NamedSharding(mesh, P(AXIS)), NamedSharding(mesh, P())
    dtypes = {n: v.dtype for n, v in grid.points(0, 1, 1).items()}
    args = [jax.ShapeDtypeStruct((rows,), np.int32, sharding=split),
            {n: jax.ShapeDtypeStruct((rows,), dtypes[n], sharding=split) for n in grid.names[:k]},
            {n: jax.ShapeDtypeStruct((len(v),), dtypes[n], sharding=whole)
             for n, v in zip(grid.names[k:], grid.values[k:])}]
    if key_data is not None:
        args.append(jax.ShapeDtypeStruct(key_data.shape, key_data.dtype, sharding=whole))
    return args


def _chunk_function(fn, grid, k: int, key_data, impl, mesh):
    return _jitted(point_function(fn, impl, key_data is not None, grid.names[k:]), mesh, key_data is not None)


def point_shapes(fn, grid, key_data, impl, mesh) -> dict:
    """`{output: ShapeDtypeStruct}` of one point, traced as a flat chunk program (one point per device)."""
    k = len(grid.names)
    fun = _chunk_function(fn, grid, k, key_data, impl, mesh)
    shapes = jax.eval_shape(fun, *_avals(grid, k, mesh.size, mesh, key_data))
    return {name: jax.ShapeDtypeStruct(s.shape[1:], s.dtype) for name, s in shapes.items()}


def _memo(fn) -> dict:
    try:
        return _PROGRAMS.setdefault(fn, {})
    except TypeError:  # fn cannot be weakly referenced: nothing is kept
        return {}


def compile_program(fn, grid, k: int, rows: int, mesh, key_data, impl) -> Program:
    """Compile the chunk program of `fn` for `rows` rows of the leading axes `grid.names[:k]`.

    Compiled ahead of time once; every chunk reuses it. Programs are memoised per `fn` object
    (weakly, the last few): a second sweep of the same `fn` over grids of the same names,
    dtypes, inner lengths and chunk shape reuses the compiled program, as `jax.jit` would.
    """
    signature = (tuple((n, str(v.dtype)) for n, v in grid.points(0, 1, 1).items()), grid.shape[k:], k, rows,
                 tuple(d.id for d in mesh.devices.flat), None if key_data is None
                 else (key_data.shape, str(key_data.dtype), str(impl)), jax.config.jax_enable_x64)
    memo = _memo(fn)
    if signature not in memo:
        fun = _chunk_function(fn, grid, k, key_data, impl, mesh)
        while len(memo) >= _MEMO_SIZE:
            memo.pop(next(iter(memo)))
        memo[signature] = Program(fun.lower(*_avals(grid, k, rows, mesh, key_data)).compile(), mesh, rows)
    return memo[signature]


def _global(host: np.ndarray, sharding) -> jax.Array:
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def call(program: Program, outer: dict, inner: dict, key_data: Optional[np.ndarray]) -> dict:
    """Run one call: host inputs placed as global arrays (each process feeds its own shards)."""
    split, whole = NamedSharding(program.mesh, P(AXIS)), NamedSharding(program.mesh, P())
    args = [_global(np.arange(program.rows, dtype=np.int32), split),
            {n: _global(v, split) for n, v in outer.items()}, {n: _global(v, whole) for n, v in inner.items()}]
    if key_data is not None:
        args.append(_global(key_data, whole))
    return program.compiled(*args)


def own_rows(out: dict, start: int, stop: int) -> dict:
    """Rows `start:stop` of every output, read from this process's own shards (no communication)."""

    def rows(arr):
        shards = sorted(arr.addressable_shards, key=lambda s: s.index[0].start or 0)
        return np.concatenate([np.asarray(s.data) for s in shards if start <= (s.index[0].start or 0) < stop])

    return {name: rows(v) for name, v in out.items()}


def gather(out: dict) -> dict:
    """Every row of every output on the host, on every process (gathered across processes)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        out = multihost_utils.process_allgather(out, tiled=True)
    return {k: np.asarray(v) for k, v in out.items()}


def broadcast(value: np.ndarray) -> np.ndarray:
    """Process 0's `value` on every process (identity on one process)."""
    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.broadcast_one_to_all(value))


def barrier(name: str) -> None:
    """Wait for every process (no-op on one)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
