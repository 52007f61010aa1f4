"""The paper's figures as functions: each takes the xarray Dataset a `jaxdae reproduce` part saved
and returns a matplotlib `Figure`, so a figure can be restyled or redrawn without recomputing.

- `figure1(ds)`: scalar DAE, 3-D loss surfaces, GD paths and theory (part `scalar_surfaces`).
- `figure2(ds)`: exact dynamics, noise against the equivalent weight decay (`noise_vs_decay`).
- `figure3(ds)`: learning rates, DAE against WDAE at consistent optimal rates (`learning_rates`).
- `figure4(ds)`: weight norm under noise against weight decay, contour surfaces (`weight_norm`).
- `figure5(ds)`, `figure6(ds)`: linear and ReLU training against the theory (`training`).
- `theory_vs_ode(ds)`: per-mode theory against the matrix gradient flow (`matrix_dynamics`).
- `animation(ds, path)`: a GIF of GD on the scalar surface beside its learning curve.

```python
>>> import jaxdae
>>> callable(jaxdae.figures.figure1)
True

```
"""

from ._modes import (
    figure2 as figure2,
    figure3 as figure3,
    figure5 as figure5,
    figure6 as figure6,
    theory_vs_ode as theory_vs_ode,
)
from ._scalar import animation as animation, figure1 as figure1, figure4 as figure4

__all__ = ["figure1", "figure2", "figure3", "figure4", "figure5", "figure6", "theory_vs_ode", "animation"]
