"""`Status`: the one result code of every solver run (`ode.solve`, `train.fit`) and sweep point.

A run never raises from inside a compiled program because of its own numbers: it reports a
`Status` code per point (an `int32` array, 0 = success), so one failing grid point does not
hide the others. `raise_if_failed` turns the codes into an error that says how many points
failed, the first one's index (or its grid coordinates) and what went wrong, in the spirit of
diffrax's `RESULTS` and its `throw=True`.
"""

from __future__ import annotations

import enum
from typing import Mapping, Optional, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Status", "raise_if_failed"]


class Status(enum.IntEnum):
    """Result code of one run; stored as `int32` in `Trajectory.status`."""

    SUCCESSFUL = 0
    MAX_STEPS_REACHED = 1
    DIVERGED = 2
    FAILED = 3

    @property
    def message(self) -> str:
        """What the code means, in words."""
        return _MESSAGES[self]

    @classmethod
    def describe(cls, code) -> str:
        """`Status(code).message`, or a sentence for an unknown code."""
        try:
            return cls(int(code)).message
        except ValueError:
            return f"unknown status code {int(code)}"


_MESSAGES = {
    Status.SUCCESSFUL: "successful",
    Status.MAX_STEPS_REACHED: "the solver step cap max_steps was reached before the last requested time",
    Status.DIVERGED: "the run diverged (non-finite weights or loss, e.g. a learning rate beyond the stability limit)",
    Status.FAILED: "the solver failed (step size collapsed, non-finite state or implicit solve diverged)",
}


def _location(index: tuple, names: Optional[Sequence[str]], coords: Optional[Mapping]) -> str:
    if not index:
        return ""
    if names is None:
        return f" (first at batch index {index})"
    parts = []
    for name, i in zip(names, index):
        value = None if coords is None or name not in coords else np.asarray(coords[name])[i]
        parts.append(f"{name}={value.item()!r}" if value is not None else f"{name}[{i}]")
    return f" (first at {', '.join(parts)})"


def raise_if_failed(status, *, where: str, hint: str = "", names=None, coords=None):
    """Raise when any entry of `status` is not `Status.SUCCESSFUL`; return `status` otherwise.

    **Arguments:**

    - `status`: integer array of `Status` codes, any shape (concrete or traced).
    - `where`: who reports, e.g. `"jaxdae.ode.solve"`.
    - `hint`: what the user can do about it, appended to the message.
    - `names`, `coords`: optional grid axis names (one per axis of `status`) and
      `{name: 1-D values}`, so the message names the failing grid point by value.

    **Returns:** `status` (traced: `status` carrying a run-time check, which must be used in
    place of the original for the check to run).

    **Raises:** `RuntimeError` "`where`: n of m run(s) failed (first at ...): reason; hint".
    Traced values raise at run time through `equinox.error_if`, without the index.
    """
    tail = f"; {hint}" if hint else ""
    if isinstance(status, jax.core.Tracer):
        return eqx.error_if(status, jnp.asarray(status) != Status.SUCCESSFUL,
                            f"{where}: a run did not succeed{tail}")
    codes = np.asarray(status)
    bad = codes != Status.SUCCESSFUL
    if np.any(bad):
        first = tuple(int(i) for i in np.argwhere(bad)[0]) if codes.ndim else ()
        raise RuntimeError(
            f"{where}: {int(bad.sum())} of {codes.size} run(s) failed{_location(first, names, coords)}: "
            f"{Status.describe(codes[bad].flat[0])}{tail}"
        )
    return status
