"""`jaxdae.sweep`: any one-point function over a named grid, in memory-bounded chunks, on every
device of every host, streamed to disk and resumable, returned as a labelled `xarray.Dataset`.

- `run(fn, grid, ...)`: the sweep.
- `parse_bytes(value)`: a memory size such as `"2GiB"` in bytes.
- `DEFAULT_FRACTION`: the share of the device's memory a sweep uses by default.
- `AXIS`: `"points"`, the mesh axis a chunk is split along; inside `fn`,
  `jax.lax.axis_index(sweep.AXIS)` is the device a point runs on.
"""

from ._devices import AXIS as AXIS
from ._memory import DEFAULT_FRACTION as DEFAULT_FRACTION, parse_bytes as parse_bytes
from ._run import run as run

__all__ = ["run", "parse_bytes", "DEFAULT_FRACTION", "AXIS"]
