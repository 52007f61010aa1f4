"""jaxdae: exact, fast and differentiable learning dynamics of linear denoising autoencoders.

Public API:

- `jaxdae.exact`: closed-form per-mode dynamics (`mode_strength`, `mode_strength_unbalanced`,
  `mode_strength_discrete`, `fixed_point`, `equivalent_weight_decay`, `time_to_fraction`,
  `dae_speedup`).
- `jaxdae.ode`: the matrix gradient flow from any initialisation, integrated with diffrax (`solve`).
- `jaxdae.train`: real training with optax (`fit`, one run, vmappable), sampled or expected noise, linear or nonlinear.
- `jaxdae.initialise`: initial weights: strategies `Random`, `Orthogonal`, `Aligned` and their functions.
- `jaxdae.lr`: optimal learning rates (closed forms, the loss after T steps by autodiff, the network's limit).
- `jaxdae.tune`: the held-out noise level by autodiff through the solutions; `minimise`.
- `jaxdae.hessian`: the top Hessian eigenvalue (dense or Lanczos).
- `jaxdae.sweep`: any one-point function over a named grid (`run`): chunked to memory, sharded
  over every device and host, stored and resumable, returned as a labelled `xarray.Dataset`.
- `jaxdae.loss`: the expected loss and its penalties, in the eigenbasis.
- `jaxdae.figures`: one function per figure of the paper, from its computed dataset.
- `jaxdae.Spectrum`, `jaxdae.Trajectory`, `jaxdae.Status`, `jaxdae.data`, `jaxdae.notation`.
"""

from . import data as data
from . import exact as exact
from . import figures as figures
from . import initialise as initialise
from . import loss as loss
from . import hessian as hessian
from . import lr as lr
from . import ode as ode
from . import train as train
from . import sweep as sweep
from . import notation as notation
from . import tune as tune
from .exact import (
    dae_speedup as dae_speedup,
    equivalent_weight_decay as equivalent_weight_decay,
    fixed_point as fixed_point,
    mode_strength as mode_strength,
    mode_strength_discrete as mode_strength_discrete,
    mode_strength_unbalanced as mode_strength_unbalanced,
    time_to_fraction as time_to_fraction,
)
from .notation import from_paper as from_paper, to_paper as to_paper
from .spectrum import Spectrum as Spectrum
from .status import Status as Status
from .trajectory import Trajectory as Trajectory

from importlib.metadata import PackageNotFoundError as _NotFound, version as _version

try:
    __version__ = _version("jaxdae")
except _NotFound:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "Spectrum",
    "Trajectory",
    "Status",
    "data",
    "exact",
    "figures",
    "loss",
    "initialise",
    "hessian",
    "lr",
    "tune",
    "ode",
    "train",
    "sweep",
    "notation",
    "mode_strength",
    "mode_strength_unbalanced",
    "mode_strength_discrete",
    "fixed_point",
    "equivalent_weight_decay",
    "time_to_fraction",
    "dae_speedup",
    "from_paper",
    "to_paper",
]
