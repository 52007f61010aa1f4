"""A sweep on disk: a zarr store written chunk by chunk, each chunk complete or absent.

Layout of `out/`:

- `sweep.json`: the manifest (grid values, outputs, chunk size, settings), written first;
- `data.zarr/`: one zarr array per output over `(point, *output dims)`, its zarr chunks equal
  to the sweep's chunks, plus the grid values and output coordinates;
- `chunks/<i>.json`: the completion marker of sweep chunk `i`, written atomically
  (temp file + `os.replace`) after its data, holding a checksum of that data and the index of
  the process that wrote it (on several hosts each process writes the chunks it computed).

A chunk counts as done only when its marker exists and the data on disk still has the
checksum: a chunk whose write was interrupted, or a file damaged later, is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Optional

import numpy as np

from ._outputs import TIME


def _atomic_json(path: str, obj) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_json(path: str):
    with open(path) as f:
        return json.load(f)


def checksum(variables, data: dict) -> str:
    """blake2b of a chunk's rows, variable by variable, in the stored dtypes."""
    h = hashlib.blake2b(digest_size=16)
    for v in variables:
        h.update(np.ascontiguousarray(np.asarray(data[v.name], dtype=v.dtype)).tobytes())
    return h.hexdigest()


def check_writable(out) -> str:
    """`out` as a path after making sure a directory can be created and written there.

    **Raises:** `ValueError` naming `out` when it is not a path, is a file or is not writable.
    """
    if not isinstance(out, (str, os.PathLike)):
        raise ValueError(f"out must be a directory path, got {out!r}")
    path = os.fspath(out)
    try:
        os.makedirs(os.path.join(path, "chunks"), exist_ok=True)
        probe = os.path.join(path, f".probe{os.getpid()}")
        with open(probe, "w") as f:
            f.write("")
        os.remove(probe)
    except OSError as err:
        raise ValueError(f"out = {path!r} is not a writable directory: {err.strerror or err}") from None
    return path


class Store:
    """The on-disk sweep at `path`, for the manifest's variables and chunk size."""

    def __init__(self, path: str, manifest: dict, variables):
        self.path, self.manifest, self.variables = path, manifest, [v for v in variables if v.name != TIME]
        self.chunk_size = int(manifest["chunk_size"])

    @property
    def zarr_path(self) -> str:
        return os.path.join(self.path, "data.zarr")

    def create_arrays(self, grid, coords: dict) -> None:
        """Create (or reopen) the zarr arrays; arrays that exist are kept with their data."""
        import zarr

        group = zarr.open_group(self.zarr_path, mode="a")
        for v in self.variables:
            if v.name not in group:
                fill = np.nan if np.issubdtype(v.dtype, np.inexact) else 0
                group.create_array(v.name, shape=(grid.size, *v.shape), chunks=(self.chunk_size, *v.shape),
                                   dtype=v.dtype, dimension_names=("point", *v.dims), fill_value=fill)
        for name, values in {**grid.coords(), **coords}.items():
            if name not in group:
                arr = np.asarray(values)
                group.create_array(name, shape=arr.shape, dtype=arr.dtype, dimension_names=(name,))[...] = arr

    def _marker(self, i: int) -> str:
        return os.path.join(self.path, "chunks", f"{i}.json")

    def done(self, n_chunks: int) -> np.ndarray:
        """`(n_chunks,)` bool: chunks whose marker exists and whose data matches its checksum."""
        import zarr

        group = zarr.open_group(self.zarr_path, mode="r")
        done = np.zeros(n_chunks, bool)
        for i in range(n_chunks):
            if not os.path.exists(self._marker(i)):
                continue
            try:
                marker = _read_json(self._marker(i))
                rows = slice(marker["start"], marker["stop"])
                data = {v.name: group[v.name][rows] for v in self.variables}
                done[i] = checksum(self.variables, data) == marker["checksum"]
            except Exception:  # unreadable marker or damaged chunk file: recompute it
                done[i] = False
        return done

    def write(self, i: int, start: int, data: dict, writer: int = 0) -> None:
        """Write chunk `i` (rows from `start`), then its marker: complete on disk or absent.

        `writer` (the index of the process that computed and wrote the chunk) is recorded in
        the marker; it plays no part in reading or resuming.
        """
        import zarr

        group = zarr.open_group(self.zarr_path, mode="a")
        stop = start + len(next(iter(data.values())))
        for v in self.variables:
            group[v.name][start:stop] = np.asarray(data[v.name], dtype=v.dtype)
        _atomic_json(self._marker(i), {"chunk": i, "start": start, "stop": stop, "process": int(writer),
                                       "checksum": checksum(self.variables, data)})

    def time(self) -> Optional[np.ndarray]:
        """The stored trajectory times, or `None` before the first chunk finished."""
        path = os.path.join(self.path, "time.json")
        return np.asarray(_read_json(path)) if os.path.exists(path) else None

    def write_time(self, t: np.ndarray) -> None:
        """Record the trajectories' times (the `time` coordinate), once."""
        import zarr

        group = zarr.open_group(self.zarr_path, mode="a")
        if "time" not in group:
            group.create_array("time", shape=t.shape, dtype=t.dtype, dimension_names=("time",))[...] = t
        _atomic_json(os.path.join(self.path, "time.json"), t.tolist())

    def read(self) -> dict:
        """Every variable, flat over the point axis, from disk."""
        import zarr

        group = zarr.open_group(self.zarr_path, mode="r")
        return {v.name: group[v.name][...] for v in self.variables}


def open_store(path: str, manifest: dict, variables, explicit_chunk: bool) -> Store:
    """Open the sweep at `path` for `manifest`, creating it when it is new.

    The manifest's chunk size is kept on resume (whatever the device count); everything else
    must match.

    **Raises:** `ValueError` naming `out` when the store holds a different sweep, or the
    directory holds something that is not a sweep.
    """
    mpath = os.path.join(path, "sweep.json")
    if not os.path.exists(mpath):
        if set(os.listdir(path)) - {"chunks"} or os.listdir(os.path.join(path, "chunks")):
            raise ValueError(f"out = {path!r} is not empty and holds no jaxdae sweep (no sweep.json); choose a new directory")
        _atomic_json(mpath, manifest)
        return Store(path, manifest, variables)
    old = _read_json(mpath)
    for field in ("grid", "outputs", "attrs", "key", "coords"):
        if old.get(field) != manifest[field]:
            raise ValueError(
                f"out = {path!r} holds a different sweep: its {field!r} is not this call's "
                f"(stored {_short(old.get(field))}, now {_short(manifest[field])}); use a new out or the same settings"
            )
    if explicit_chunk and old["chunk_size"] != manifest["chunk_size"]:
        raise ValueError(f"out = {path!r} was written with chunk_size = {old['chunk_size']}, got chunk_size = "
                         f"{manifest['chunk_size']}; pass chunk_size=None to resume with the stored one")
    return Store(path, old, variables)


def _short(obj) -> str:
    text = json.dumps(obj)
    return text if len(text) <= 120 else text[:117] + "..."
