"""`jaxdae reproduce`: the paper's experiments, corrected, on the embedded digits data.

Each part is a module of this package with a module-level `ORDER` (int), `TITLE` (str) and
`run(out: pathlib.Path, console: rich.console.Console, spectrum: jaxdae.Spectrum, X) -> None`,
which writes its figures into `out` and prints its numbers. Parts are discovered, so a new
experiment is a new module here and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from pathlib import Path

__all__ = ["available_parts", "run"]


def available_parts() -> dict:
    """`{name: module}` of every part, in its `ORDER`."""
    mods = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "run") and hasattr(mod, "ORDER"):
            mods[info.name] = mod
    return dict(sorted(mods.items(), key=lambda kv: kv[1].ORDER))


def run(out: Path, parts=None, console=None) -> dict:
    """Run the selected parts (all by default) into `out`; returns `{name: seconds}`."""
    from rich.console import Console

    from .. import data
    from ..spectrum import Spectrum

    console = console or Console()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mods = available_parts()
    if parts:
        unknown = sorted(set(parts) - set(mods))
        if unknown:
            raise ValueError(f"unknown part(s) {unknown}; available: {list(mods)}")
        mods = {k: v for k, v in mods.items() if k in parts}
    X = data.digits()
    spectrum = Spectrum.from_data(X)
    console.print(
        f"[bold]jaxdae reproduce[/bold]: digits data N={X.shape[0]}, D={X.shape[1]}, "
        f"top eigenvalues of C = X^T X / N: {', '.join(f'{v:.3g}' for v in spectrum.lam[:4])}"
    )
    timings = {}
    for name, mod in mods.items():
        console.rule(f"[bold]{mod.TITLE}")
        start = time.perf_counter()
        with console.status(f"[dim]running {name}...[/dim]"):
            mod.run(out, console, spectrum, X)
        timings[name] = time.perf_counter() - start
        console.print(f"[dim]{name}: {timings[name]:.1f} s[/dim]")
    console.print(f"[bold green]done[/bold green]: figures in {out.resolve()}")
    return timings
