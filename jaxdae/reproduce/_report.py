"""The report of a `jaxdae reproduce` run: `report.md` (figures with their numbers) and `metrics.json`.

Each part returns a `Section`: its title, the figures it wrote (file name and caption), its
numbers (`metrics`, a flat `{name: number or list}` mapping) and a short text that states the
paper's claim against those numbers. `write` turns the sections into `report.md`, which embeds
every figure and lists every number, and `metrics.json`, which holds the same numbers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["Section", "save_dataset", "load_dataset", "publish", "finish", "to_json", "write"]


class Section(NamedTuple):
    """What one part of `jaxdae reproduce` produced.

    **Fields:** `title` (str); `figures` (`[(file name, caption)]`, files in the output
    folder); `metrics` (`{name: number | list | str}`); `text` (Markdown, the claim and what
    the numbers say); `datasets` (`[file name]` of the saved xarray datasets); `seconds`.
    """

    title: str
    figures: list
    metrics: dict
    text: str = ""
    datasets: list = []
    seconds: float = 0.0


def save_dataset(ds, out: Path, name: str) -> str:
    """Write the xarray Dataset `ds` to `out/name.zarr` (zarr format 2, consolidated); returns the file name."""
    path = Path(out) / f"{name}.zarr"
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    return path.name


def load_dataset(out: Path, name: str):
    """Read back a dataset written by `save_dataset` (fully loaded into memory)."""
    import xarray as xr

    return xr.open_zarr(Path(out) / f"{name}.zarr", consolidated=True).load()


def to_json(value):
    """NumPy / JAX scalars and arrays as plain JSON values (NaN and inf as None)."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return value
    arr = np.asarray(value)
    if arr.ndim:
        return [to_json(v) for v in arr.tolist()]
    item = arr.item()
    if isinstance(item, float) and not math.isfinite(item):
        return None
    return item


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _section_md(name: str, sec: Section) -> list:
    lines = [f"## {sec.title}", ""]
    if sec.text:
        lines += [sec.text.strip(), ""]
    for file, caption in sec.figures:
        lines += [f"![{caption}]({file})", "", f"*{caption}*", ""]
    lines += ["| number | value |", "|---|---|"]
    metrics = to_json(sec.metrics)
    lines += [f"| `{name}.{k}` | {_fmt(v)} |" for k, v in metrics.items()]
    lines += [""]
    if sec.datasets:
        lines += ["Data: " + ", ".join(f"`{d}`" for d in sec.datasets) + f" (xarray, zarr). {sec.seconds:.1f} s.", ""]
    return lines


def write(out: Path, sections: dict, header: dict) -> tuple:
    """Write `out/report.md` and `out/metrics.json` from `{part name: Section}`; returns both paths.

    `header` holds the run's settings (data set, sizes, quick or full, version); it is the
    `run` entry of `metrics.json` and the table at the top of the report.
    """
    out = Path(out)
    metrics = {"run": to_json(header)}
    metrics.update({name: to_json(sec.metrics) for name, sec in sections.items()})
    json_path = out / "metrics.json"
    json_path.write_text(json.dumps(metrics, indent=2, sort_keys=False) + "\n")
    lines = ["# jaxdae reproduce: Pretorius, Kroon & Kamper (ICML 2018), corrected", ""]
    lines += ["| setting | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in to_json(header).items()]
    lines += ["", "Every number below is also in `metrics.json` under the name shown.", ""]
    for name, sec in sections.items():
        lines += _section_md(name, sec)
    md_path = out / "report.md"
    md_path.write_text("\n".join(lines))
    return md_path, json_path


def publish(ctx, ds, name: str, draw) -> str:
    """Save `ds` as `ctx.out/name.zarr` and `draw(ds)` as `ctx.out/name.png`; returns the dataset's file name."""
    from ..plotting import save

    file = save_dataset(ds, ctx.out, name)
    save(draw(ds), ctx.out, name)
    return file


def finish(ctx, title: str, figures: list, metrics: dict, text: str, datasets=()) -> Section:
    """Print the part's statement (plain text, no console markup) and return its `Section`."""
    ctx.console.print(text, markup=False)
    return Section(title, list(figures), metrics, text, list(datasets))
