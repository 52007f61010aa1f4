"""Small matplotlib helpers shared by the figures (Agg backend, consistent style)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plt", "save", "mode_colors"]


def mode_colors(n: int):
    """`n` distinguishable colours (viridis, dark = leading mode)."""
    cmap = plt.get_cmap("viridis")
    return [cmap(i / max(n - 1, 1) * 0.9) for i in range(n)]


def save(fig, out: Path, name: str) -> Path:
    """Save `fig` as `out/name.png` (150 dpi), close it and return the path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path
