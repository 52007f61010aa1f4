"""Chunk size from a memory budget, measured on the compiled chunk program (never guessed)."""

from __future__ import annotations

import re

import jax

#: Share of the device's memory (on CPU: of the available host memory) a sweep uses by default.
DEFAULT_FRACTION = 0.25

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(value) -> int:
    """`max_memory` as a number of bytes: an integer, or a string such as `"2GiB"` or `"500 MB"`.

    **Raises:** `ValueError` naming `max_memory` for anything else or a value `<= 0`.

    ```python
    >>> from jaxdae import sweep
    >>> sweep.parse_bytes("2GiB"), sweep.parse_bytes("1.5 kB"), sweep.parse_bytes(4096)
    (2147483648, 1500, 4096)

    ```
    """
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", value)
        if m is None or m.group(2).lower() not in _UNITS:
            raise ValueError(f"max_memory must be a number of bytes or a string such as '2GiB', got {value!r}")
        nbytes = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        nbytes = int(value)
    else:
        raise ValueError(f"max_memory must be a number of bytes or a string such as '2GiB', got {value!r}")
    if nbytes <= 0:
        raise ValueError(f"max_memory must be > 0 bytes, got {value!r}")
    return nbytes


def default_budget() -> int:
    """`DEFAULT_FRACTION` of the first local device's memory, or of the available host memory on CPU."""
    stats = jax.local_devices()[0].memory_stats() or {}
    if stats.get("bytes_limit"):
        return int(DEFAULT_FRACTION * stats["bytes_limit"])
    import psutil

    return int(DEFAULT_FRACTION * psutil.virtual_memory().available)


def program_bytes(compiled) -> int:
    """Arguments + outputs + temporaries of one device's share of a compiled program."""
    m = compiled.memory_analysis()
    if m is None:  # backends without an analysis: count what goes in and out
        return 0
    return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes)


def _share_and_cost(per_point: float, host_per_point: float, budget: int) -> tuple:
    # CPU devices share the host memory, and each point also costs its host copy
    if jax.local_devices()[0].platform == "cpu":
        return budget / jax.local_device_count(), per_point + host_per_point
    return budget, per_point


def points_per_device(per_point: float, base: float, host_per_point: float, budget: int) -> int:
    """How many points (or rows: pass a row's bytes) one device may hold in a chunk under `budget` bytes; may be 0.

    On CPU the local devices share the host memory, so the budget is split between them, and
    each point also costs its host copy (`host_per_point`); an accelerator's budget is its own.
    """
    share, cost = _share_and_cost(per_point, host_per_point, budget)
    return max(int((share - base) // max(cost, 1)), 0)


def too_small(per_point: float, base: float, host_per_point: float, budget: int) -> ValueError:
    """The `ValueError` naming `max_memory` when not even one point fits."""
    share, cost = _share_and_cost(per_point, host_per_point, budget)
    need = int((base + cost) * budget / share)
    return ValueError(
        f"max_memory = {budget} bytes cannot hold one grid point: one point per device needs about {need} bytes "
        f"(measured on the compiled chunk); raise max_memory or pass chunk_size"
    )
