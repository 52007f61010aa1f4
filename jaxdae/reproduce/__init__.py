"""`jaxdae reproduce`: the paper's experiments, corrected, on the embedded digits data (or MNIST, CIFAR-10).

Each part is a module of this package with a module-level `ORDER` (int), `TITLE` (str),
`EXPECTED_S` (`(quick, full)` seconds on a 2-core CPU, for the time stated up front),
optionally `DATASETS` (the data sets it runs on, default `("digits",)`), and
`run(ctx: Context) -> jaxdae.reproduce._report.Section`: it computes its results, saves them
as an xarray dataset in `ctx.out`, draws its figures with `jaxdae.figures` and returns its
numbers. Parts are discovered, so a new experiment is a new module here and nothing else.
After the parts, `report.md` and `metrics.json` are written to `ctx.out`.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from pathlib import Path
from typing import NamedTuple

from . import _report

__all__ = ["Context", "DATASETS", "available_parts", "load_data", "run"]

DATASETS = ("digits", "mnist", "cifar10")
# The paper's sample counts (docs/derivations.md §14); --quick uses QUICK_SAMPLES of them.
PAPER_SAMPLES = {"mnist": 50_000, "cifar10": 30_000}
QUICK_SAMPLES = 2_000


class Context(NamedTuple):
    """What every part receives: output folder, console, data and its spectrum, run mode."""

    out: Path
    console: object
    spectrum: object
    X: object
    quick: bool = False
    dataset: str = "digits"


def available_parts(dataset: str = "digits") -> dict:
    """`{name: module}` of every part that runs on `dataset`, in its `ORDER`."""
    mods = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "run") and hasattr(mod, "ORDER") and dataset in getattr(mod, "DATASETS", ("digits",)):
            mods[info.name] = mod
    return dict(sorted(mods.items(), key=lambda kv: kv[1].ORDER))


def load_data(dataset: str = "digits", data_dir=None, quick: bool = False):
    """The data matrix `X` of a run: digits, or the paper's first 50 000 MNIST / 30 000 CIFAR-10 images.

    **Raises:** `ValueError` for an unknown `dataset`, a missing `data_dir` for MNIST or
    CIFAR-10, or what `jaxdae.data.mnist` / `cifar10` raise for missing or malformed files.
    """
    from .. import _checks, data

    _checks.choice("dataset", dataset, DATASETS)
    if dataset == "digits":
        return data.digits()
    if data_dir is None:
        raise ValueError(f"dataset {dataset!r} needs data_dir (--data-dir PATH), the folder holding its files")
    X = getattr(data, dataset)(data_dir)
    return X[: QUICK_SAMPLES if quick else PAPER_SAMPLES[dataset]]


def _select(parts, dataset):
    mods = available_parts(dataset)
    if parts:
        unknown = sorted(set(parts) - set(mods))
        if unknown:
            raise ValueError(f"unknown part(s) {unknown} for dataset {dataset!r}; available: {list(mods)}")
        mods = {k: v for k, v in mods.items() if k in parts}
    return mods


def run(out: Path, parts=None, console=None, *, quick: bool = False, dataset: str = "digits", data_dir=None) -> dict:
    """Run the selected parts (all by default) into `out`, then write `report.md` and `metrics.json`.

    **Arguments:** `out` (folder, created), `parts` (names, default all that run on
    `dataset`), `console` (a `rich.console.Console`), `quick` (smaller grids and fewer steps,
    the same figures), `dataset` (`"digits"`, `"mnist"` or `"cifar10"`), `data_dir` (the folder
    with MNIST's IDX or CIFAR-10's binary files).

    **Returns:** `{part name: Section}`.

    **Raises:** `ValueError` for an unknown part or data set, or missing / malformed data files.
    """
    from rich.console import Console

    from .. import __version__
    from ..spectrum import Spectrum

    console = console or Console()
    mods = _select(parts, dataset)
    X = load_data(dataset, data_dir, quick)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spectrum = Spectrum.from_data(X)
    expected = sum(m.EXPECTED_S[0 if quick else 1] for m in mods.values() if hasattr(m, "EXPECTED_S"))
    console.print(
        f"[bold]jaxdae reproduce[/bold]{' --quick' if quick else ''}: {dataset} data N={X.shape[0]}, D={X.shape[1]}, "
        f"top eigenvalues of C = X^T X / N: {', '.join(f'{v:.3g}' for v in spectrum.lam[:4])}; "
        f"{len(mods)} parts, expected about {expected:.0f} s on a 2-core CPU"
    )
    ctx = Context(out, console, spectrum, X, quick, dataset)
    sections = {}
    for i, (name, mod) in enumerate(mods.items(), 1):
        console.rule(f"[bold]{i}/{len(mods)} {mod.TITLE}")
        start = time.perf_counter()
        with console.status(f"[dim]running {name}...[/dim]"):
            sec = mod.run(ctx)
        sections[name] = sec._replace(seconds=time.perf_counter() - start)
        console.print(f"[dim]{name}: {sections[name].seconds:.1f} s[/dim]")
    header = dict(dataset=dataset, n_samples=int(X.shape[0]), dim=int(X.shape[1]), quick=bool(quick),
                  parts=list(mods), jaxdae=__version__, seconds=sum(s.seconds for s in sections.values()))
    md, js = _report.write(out, sections, header)
    console.print(f"[bold green]done[/bold green]: {md} and {js}, figures and datasets in {out.resolve()}")
    return sections
