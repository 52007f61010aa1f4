"""One compiled program per sweep: `jit(shard_map(vmap(fn)))` over a 1-D mesh of every device.

Each device maps its own contiguous share of a chunk's points with `jax.vmap`, so a solver's
own batching rule (e.g. `ode.solve`'s) applies per device; on several hosts the mesh spans
every process's devices (`jax.devices()` after `jax.distributed.initialize()`).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from ._outputs import flatten

AXIS = "points"


class Program(NamedTuple):
    """A compiled chunk program for `size` points (a multiple of the device count)."""

    compiled: object
    mesh: jax.sharding.Mesh
    size: int


def make_mesh() -> jax.sharding.Mesh:
    """The 1-D mesh `("points",)` over `jax.devices()` (all processes)."""
    return jax.sharding.Mesh(np.asarray(jax.devices()), (AXIS,))


def key_parts(key):
    """`(raw uint32 data, impl or None)`: a key as plain data that any sharding can carry."""
    if key is None:
        return None, None
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(key)), jax.random.key_impl(key)
    return np.asarray(key), None


def point_function(fn: Callable, impl, with_key: bool) -> Callable:
    """`fn` on one point `{name: scalar}` (and the sweep's key data), output flattened."""

    def one(point, key_data=None):
        kwargs = dict(point)
        if with_key:
            key = key_data if impl is None else jax.random.wrap_key_data(key_data, impl=impl)
            kwargs["key"] = jax.random.fold_in(key, point["seed"]) if "seed" in point else key
        return flatten(fn(**kwargs))

    return one


def jitted(one: Callable, mesh, with_key: bool):
    """`jit(shard_map(vmap(one)))`: points split along the mesh, the key replicated."""
    if with_key:
        body, specs = jax.vmap(one, in_axes=(0, None)), (P(AXIS), P())
    else:
        body, specs = jax.vmap(one), (P(AXIS),)
    return jax.jit(jax.shard_map(body, mesh=mesh, in_specs=specs, out_specs=P(AXIS), check_vma=False))


def _avals(dtypes: dict, size: int, mesh, key_data):
    split = NamedSharding(mesh, P(AXIS))
    points = {n: jax.ShapeDtypeStruct((size,), d, sharding=split) for n, d in dtypes.items()}
    if key_data is None:
        return (points,)
    return points, jax.ShapeDtypeStruct(key_data.shape, key_data.dtype, sharding=NamedSharding(mesh, P()))


def point_shapes(fun, dtypes: dict, mesh, key_data) -> dict:
    """`{output: ShapeDtypeStruct}` of one point, traced as the chunk program (one point per device)."""
    shapes = jax.eval_shape(fun, *_avals(dtypes, mesh.size, mesh, key_data))
    return {k: jax.ShapeDtypeStruct(s.shape[1:], s.dtype) for k, s in shapes.items()}


def compile_program(fun, dtypes: dict, size: int, mesh, key_data) -> Program:
    """Compile `fun` ahead of time for chunks of `size` points: every chunk reuses it."""
    return Program(fun.lower(*_avals(dtypes, size, mesh, key_data)).compile(), mesh, size)


def _global(host: np.ndarray, sharding) -> jax.Array:
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def call(program: Program, points: dict, key_data: Optional[np.ndarray]) -> dict:
    """Run one chunk: host inputs placed as global arrays (each process feeds its own shards)."""
    split = NamedSharding(program.mesh, P(AXIS))
    args = [{n: _global(v, split) for n, v in points.items()}]
    if key_data is not None:
        args.append(_global(key_data, NamedSharding(program.mesh, P())))
    return program.compiled(*args)


def fetch(out: dict, valid: int) -> dict:
    """The chunk's outputs on the host, on every process, padding rows dropped."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        out = multihost_utils.process_allgather(out, tiled=True)
    return {k: np.asarray(v)[:valid] for k, v in out.items()}


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
