"""The animation: gradient descent moving on the scalar DAE's loss surface beside its learning curves.

Figure 1's middle model (eps = 1 in the paper's notation, lr = 0.01) and its 10 starts, as a GIF
written with matplotlib's PillowWriter (a few seconds, well under 1 MB).
"""

from __future__ import annotations

from ..figures import animation
from . import scalar_surfaces
from ._report import Section

ORDER = 8
TITLE = "Animation: gradient descent on the scalar loss surface"
EXPECTED_S = (8, 10)
MODEL = 1
FRAMES = {False: 36, True: 16}


def run(ctx) -> Section:
    ds = scalar_surfaces.compute(quick=True).isel(model=[MODEL])
    path = animation(ds, ctx.out / "animation.gif", model=0, frames=FRAMES[ctx.quick], fps=8)
    metrics = dict(model=str(ds.model.values[0]), frames=FRAMES[ctx.quick], bytes=path.stat().st_size)
    text = (f"GD from Figure 1's {len(ds.run)} starts at {ds.model.values[0]} (lr {ds.attrs['lr']:g}) on its contour "
            f"surface, beside the learning curves; {metrics['bytes'] / 1e3:.0f} kB.")
    ctx.console.print(text, markup=False)
    return Section(TITLE, [("animation.gif", "GD on the scalar loss surface and its learning curves")], metrics, text)
