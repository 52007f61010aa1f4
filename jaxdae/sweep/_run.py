"""`sweep.run`: a function of one point over a named grid, chunked, sharded, stored, resumable."""

from __future__ import annotations

import json
import math
import os

import jax
import numpy as np
import xarray as xr

from .. import _checks
from . import _devices, _memory, _store
from ._grid import Chunks, check_grid
from ._outputs import TIME, describe
from ._progress import progress_bar

_PROBES = (4, 8)  # points per device of the two programs the memory per row is measured from (at least 1, 2 rows)


def _settings(attrs) -> dict:
    if attrs is None:
        return {}
    if not isinstance(attrs, dict):
        raise ValueError(f"attrs must be a dict of settings, got {attrs!r}")
    try:
        return json.loads(json.dumps(attrs))
    except (TypeError, ValueError):
        raise ValueError(f"attrs must hold JSON values (numbers, strings, lists, dicts), got {attrs!r}") from None


def _key_digest(key_data) -> str | None:
    return None if key_data is None else key_data.tobytes().hex()


def _probe(fn, grid, k, mesh, key_data, impl, host, budget) -> tuple:
    """`(rows, (per row, base, host per row))`: rows of `grid.block(k)` points one device may hold
    under `budget`, measured on two probe compiles of the nested program (0 when none fits)."""
    n, r = mesh.size, -(-_PROBES[0] // grid.block(k))  # probes of about 4 and 8 points, whole rows
    probes = (r, r * _PROBES[1] // _PROBES[0])
    sizes = [_memory.program_bytes(_devices.compile_program(fn, grid, k, p * n, mesh, key_data, impl).compiled)
             for p in probes]
    per = max((sizes[1] - sizes[0]) / (probes[1] - probes[0]), 0.0)
    base = max(sizes[0] - per * probes[0], 0.0)
    row_host = host * grid.block(k)
    if per == 0:  # no analysis on this backend: count inputs and outputs
        per = row_host
    return _memory.points_per_device(per, base, row_host, budget), (per, base, row_host)


def _measured_chunk(fn, grid, mesh, key_data, impl, variables, max_memory) -> int:
    """The largest chunk whose compiled program fits `max_memory`, a whole number of the longest inner block
    that fits: blocks from the whole grid down to one point, two probe compiles per block tried."""
    budget = _memory.default_budget() if max_memory is None else _memory.parse_bytes(max_memory)
    host = sum(v.nbytes() for v in variables) + sum(v.dtype.itemsize for v in grid.values)
    n, last = mesh.size, len(grid.names)
    for k in range(last + 1):
        block = grid.block(k)
        too_big = block > math.ceil(grid.size / n) or _memory.points_per_device(host * block, 0, host * block, budget) < 1
        if k < last and too_big:  # more than a device's share, or its outputs alone exceed the budget
            continue
        rows, measured = _probe(fn, grid, k, mesh, key_data, impl, host, budget)
        if rows >= 1:
            return min(rows, math.ceil(grid.size // block / n)) * jax.local_device_count() * block
    raise _memory.too_small(*measured, budget)


def _manifest(grid, variables, chunk, settings, key_data, coords) -> dict:
    from .. import __version__

    manifest = {
        "format": 1, "jaxdae": __version__, "points": grid.size, "chunk_size": int(chunk),
        "grid": {n: {"dtype": str(v.dtype), "values": v.tolist()} for n, v in zip(grid.names, grid.values)},
        "outputs": [{"name": v.name, "shape": list(v.shape), "dtype": str(v.dtype), "dims": list(v.dims)}
                    for v in variables],
        "attrs": settings, "key": _key_digest(key_data),
        "coords": {d: np.asarray(c).tolist() for d, c in coords.items()},
    }
    return json.loads(json.dumps(manifest))


def _stored_chunk(out):
    path = None if out is None else os.path.join(os.fspath(out), "sweep.json")
    if path is None or not os.path.exists(path):
        return None
    with open(path) as f:
        return int(json.load(f)["chunk_size"])


def _chunk_size(chunk_size, out, measure, n_devices, size) -> tuple[int, bool]:
    """`(chunk size, explicit)`: the stored one on resume, else the caller's, else measured to fit memory."""
    explicit = chunk_size is not None
    if explicit:
        chunk = min(_checks.integer("chunk_size", chunk_size, 1), size)  # padded to the devices inside
    stored = _stored_chunk(out) if jax.process_index() == 0 else None
    stored = int(_devices.broadcast(np.asarray(-1 if stored is None else stored)))
    if stored > 0 and not explicit:
        return stored, False
    return (chunk if explicit else measure()), explicit


def _check_time(t_rows: np.ndarray, known):
    """The trajectories' common `t`: equal for every point, and to what was seen before."""
    t = t_rows[0]
    if not np.array_equal(t_rows, np.broadcast_to(t, t_rows.shape)) or (known is not None and not np.array_equal(known, t)):
        raise ValueError("fn returned Trajectories whose t differ between grid points; sweep needs one common t "
                         "(pass the save times as a constant, not a grid entry)")
    return t


def _open(out, grid, variables, chunk, explicit, settings, key_data, coords, n_chunks):
    """The store (process 0 creates or checks it) and the chunks already done, agreed by every process."""
    path = _store.check_writable(out)
    manifest = _manifest(grid, variables, chunk, settings, key_data, coords)
    store, done = None, np.zeros(n_chunks, bool)
    if jax.process_index() == 0:
        store = _store.open_store(path, manifest, variables, explicit)
        store.create_arrays(grid, coords)
        done = store.done(n_chunks)
    done = _devices.broadcast(done).astype(bool)
    _devices.barrier("jaxdae.sweep: store open")
    return store or _store.Store(path, manifest, variables), done


def _dataset(flat, grid, variables, coords, t, attrs) -> xr.Dataset:
    data = {v.name: (grid.names + v.dims, flat[v.name].reshape(grid.shape + v.shape))
            for v in variables if v.name != TIME}
    all_coords = {**grid.coords(), **{d: np.asarray(c) for d, c in coords.items()}}
    if t is not None:
        all_coords["time"] = t
    return xr.Dataset(data, coords=all_coords, attrs=attrs)


def _rounds(todo, processes: int):
    """`(chunks, slots)`: the chunks `todo` in calls of one chunk per process; a short last call
    repeats its first chunk in the empty slots (computed, never kept)."""
    for r in range(0, len(todo), processes):
        group = [int(i) for i in todo[r:r + processes]]
        yield group, group + [group[0]] * (processes - len(group))


def _keep(chunks, i, data, store, results, t):
    """Chunk `i`'s points: kept in `results`, or written to the store (and its marker) by this process."""
    if TIME in data:
        fresh = t is None
        t = _check_time(data.pop(TIME), t)
        if fresh and store is not None and jax.process_index() == 0:
            store.write_time(t)
    start, stop = chunks.span(i)
    if store is None:
        for name, rows in data.items():
            results[name][start:stop] = rows
    else:
        store.write(i, start, data, writer=jax.process_index())
    return t


def _compute(program, chunks, todo, key_data, store, results, bar, t):
    """Run the chunks `todo` through the one compiled program, one chunk per process per call.

    Process `p`'s devices hold chunk `slots[p]`. With a store each process reads its own chunk
    from its own shards and writes it; in memory the call's outputs are gathered to every process.
    """
    me, rows, inner = jax.process_index(), chunks.rows, chunks.grid.inner(chunks.k)
    for group, slots in _rounds(todo, jax.process_count()):
        out = _devices.call(program, chunks.inputs(slots), inner, key_data)
        if store is None:
            full = _devices.gather(out)
            mine = {i: {n: r[p * rows:(p + 1) * rows] for n, r in full.items()} for p, i in enumerate(group)}
        else:
            mine = {group[me]: _devices.own_rows(out, me * rows, (me + 1) * rows)} if me < len(group) else {}
        for i, data in mine.items():
            t = _keep(chunks, i, chunks.points(data, i), store, results, t)
        for i in group:
            bar.advance(chunks.span(i)[1] - chunks.span(i)[0], True)
    return t


def _validate(fn, grid, key, progress, settings_attrs):
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {fn!r}")
    if key is not None:
        key = _checks.prng_key("key", key)
    if progress not in (None, True, False):
        raise ValueError(f"progress must be None, True or False, got {progress!r}")
    return check_grid(grid, fn, key is not None), key, _settings(settings_attrs)


def run(fn, grid, *, chunk_size=None, max_memory=None, out=None, dims=None, coords=None, progress=None,
        key=None, attrs=None) -> xr.Dataset:
    r"""Evaluate `fn` at every point of the Cartesian product of `grid`, in chunks, on every device.

    The product $\prod_j |g_j|$ of the grid's 1-D arrays is flattened in C order to a point
    axis and cut into contiguous chunks of `chunk_size` points. Every chunk (the last one padded
    with a repeat of a valid row) runs through **one** compiled program over a 1-D mesh of all
    devices of all processes; nothing is recompiled from chunk to chunk.

    **Nested vmap.** The longest suffix of grid axes $g_k, \dots, g_d$ whose product (an
    *inner block*) divides the chunk and fits one device's share of it is kept whole in every
    chunk: a chunk is a whole number of *rows*, one row = one point of the leading axes
    $g_1..g_{k-1}$ with its whole inner block. The program is
    `jit(shard_map(vmap(vmap_k(...vmap_d(fn)))))`: the rows are split over the devices and
    mapped with one flat `jax.vmap`, and inside a row `fn` is mapped with one nested `jax.vmap`
    per inner axis (innermost = the last grid axis). Work that depends only on the leading axes
    is therefore unbatched in the inner vmaps, done once per row, and a batched weight times an
    unbatched matrix becomes one large GEMM. **Put the axes whose work is shared last**: for a
    training grid, order the grid `seed` first, then noise levels, so that each seed's noise is
    drawn once for all its levels. Without `chunk_size` the chunk is a multiple of the longest
    block that fits `max_memory`; with it, a `chunk_size` that is a multiple of the block
    (e.g. the number of noise levels) enables the nesting.

    **Arguments:**

    - `fn`: `fn(**point)` computes one grid point from scalar parameters: it returns an array,
      a dict (or any pytree) of arrays, or a `jaxdae.Trajectory`. It must be traceable by JAX.
    - `grid`: `{name: 1-D array}`, finite values; names are `fn`'s keyword arguments, axes in
      dict order. `seed` is special only with `key=`: then `fn` also receives
      `key=jax.random.fold_in(key, seed)`, computed at the level where `seed` varies (so it is
      unbatched in the vmaps over the later axes); without a `seed` entry every point gets `key`.
    - `chunk_size`: points per chunk (kept as given; each process's rows are padded to a
      multiple of its device count). Default: as many as fit `max_memory`.
    - `max_memory`: bytes (or a string such as `"2GiB"`) one chunk may use: arguments,
      outputs and temporaries of the compiled program as measured by XLA's memory analysis on
      two probe sizes (whole inner blocks, from the longest block down until one fits), plus,
      on CPU, the host copy of the outputs (CPU devices share the host's memory, so the budget
      is split between them). Default: a quarter of the device's memory (on CPU, of the
      available host memory). The result itself is not counted.
    - `out`: a directory: each finished chunk is written there (zarr) by the process that
      computed it, and a rerun of the same call resumes, reading finished chunks instead of
      computing them. See `docs/sweep.md`.
    - `dims`: `{output: (dim names)}` for the outputs' own axes (defaults: `time`, `mode` for
      a Trajectory, `<output>_dim<i>` otherwise); `coords`: `{dim: values}` for them.
    - `progress`: a progress bar (points/s, ETA, chunks done and resumed); `None` shows it on
      a terminal only.
    - `key`: a `jax.random` key (see `seed`). `attrs`: the caller's settings (JSON values),
      stored as attributes and compared on resume.

    **Returns:** an `xarray.Dataset`: one variable per output with dims = the grid's names then
    the output's own dims; coordinates = the grid values (and `time` = the trajectories' `t`);
    attributes = `attrs` plus `jaxdae_version`, `jax_version`, `devices`, `processes`,
    `chunk_size`, `chunks`, `chunks_computed`, `chunks_resumed` and `nested_axes` (the inner
    axes, vmapped nested).

    **Raises:** `ValueError` naming the argument: an empty grid, a grid entry that is not a
    finite non-empty 1-D array or that `fn` does not accept, an unwritable `out` or one that
    holds a different sweep, a `max_memory` that cannot hold one point, bad `dims`, `coords`,
    `chunk_size`, `key` or `progress`.

    **Cost:** one trace for the output shapes and one compilation of the chunk program (with
    `chunk_size=None`, two probe compilations per block size tried, usually one), then
    `ceil(chunks / processes)` calls of it. Compiled programs are memoised per `fn` object
    (weakly, the last few), so a repeated sweep of the same `fn` and shapes does not recompile.

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxdae import exact, sweep
    >>> t = jnp.linspace(0.0, 2000.0, 5)
    >>> ds = sweep.run(lambda noise_var, weight_decay: exact.mode_strength(t, 1.0, noise_var=noise_var,
    ...                weight_decay=weight_decay, lr=1e-2), {"noise_var": [0.0, 0.5], "weight_decay": [0.0, 0.1, 0.2]},
    ...                dims={"value": ("time",)}, coords={"time": t}, chunk_size=3)
    >>> ds["value"].dims, ds["value"].shape, ds.attrs["chunks"], ds.attrs["nested_axes"]
    (('noise_var', 'weight_decay', 'time'), (2, 3, 5), 2, ['weight_decay'])
    >>> round(float(ds["value"].sel(noise_var=0.5, weight_decay=0.0, time=2000.0)), 4)
    0.6667

    ```
    """
    grid, key, settings = _validate(fn, grid, key, progress, attrs)
    key_data, impl = _devices.key_parts(key)
    mesh = _devices.make_mesh()
    variables = describe(_devices.point_shapes(fn, grid, key_data, impl, mesh), grid.names, dims, coords)
    coords = dict(coords or {})
    measure = lambda: _measured_chunk(fn, grid, mesh, key_data, impl, variables, max_memory)  # noqa: E731
    size, explicit = _chunk_size(chunk_size, out, measure, mesh.size, grid.size)
    chunks = Chunks.of(grid, size, jax.local_device_count())
    store, done = None, np.zeros(chunks.count, bool)
    if out is not None:
        store, done = _open(out, grid, variables, size, explicit, settings, key_data, coords, chunks.count)
    program = _devices.compile_program(fn, grid, chunks.k, chunks.rows * jax.process_count(), mesh, key_data, impl)
    results = None if store else {v.name: np.empty((grid.size, *v.shape), v.dtype) for v in variables if v.name != TIME}
    todo = np.flatnonzero(~done)
    resumed_points = sum(chunks.span(i)[1] - chunks.span(i)[0] for i in np.flatnonzero(done))
    with progress_bar(progress, grid.size, chunks.count, int(done.sum()), size, resumed_points) as bar:
        t = _compute(program, chunks, todo, key_data, store, results, bar, store.time() if store else None)
    if store is not None:
        _devices.barrier("jaxdae.sweep: chunks written")
        results, t = store.read(), store.time()
    info = {"jaxdae_version": _version(), "jax_version": jax.__version__, "devices": mesh.size,
            "processes": jax.process_count(), "chunk_size": size, "chunks": chunks.count,
            "chunks_computed": int(todo.size), "chunks_resumed": int(done.sum()),
            "nested_axes": list(grid.names[chunks.k:])}
    return _dataset(results, grid, variables, coords, t, {**settings, **info})


def _version() -> str:
    from .. import __version__

    return __version__
