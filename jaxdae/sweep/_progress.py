"""The sweep's progress bar: points/s, ETA, chunks done and resumed (rich, on a terminal only)."""

from __future__ import annotations

import sys


class _Silent:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def advance(self, points: int, computed: bool) -> None:
        pass


class _Bar(_Silent):
    def __init__(self, total: int, n_chunks: int, resumed: int, chunk_size: int):
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("sweep"), BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} points"),
            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
            TextColumn("chunks {task.fields[done]}/{task.fields[n]} ({task.fields[resumed]} resumed, size {task.fields[size]})"),
            transient=False,
        )
        self._n, self._resumed, self._done = n_chunks, resumed, resumed
        self._task = self._progress.add_task("sweep", total=total, rate="", done=resumed, n=n_chunks,
                                             resumed=resumed, size=chunk_size)

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    def advance(self, points: int, computed: bool) -> None:
        self._done += 1
        self._progress.update(self._task, advance=points, done=self._done)
        speed = self._progress.tasks[0].speed
        if speed:
            self._progress.update(self._task, rate=f"{speed:,.0f} points/s")


def progress_bar(progress, total: int, n_chunks: int, resumed: int, chunk_size: int, initial: int):
    """A context whose `advance(points, computed)` moves the bar; silent off a TTY or with `progress=False`.

    **Raises:** `ValueError` naming `progress` when it is not `None`, `True` or `False`.
    """
    if progress not in (None, True, False):
        raise ValueError(f"progress must be None, True or False, got {progress!r}")
    import jax

    show = sys.stderr.isatty() if progress is None else progress
    if not show or jax.process_index() != 0:
        return _Silent()
    bar = _Bar(total, n_chunks, resumed, chunk_size)
    bar._progress.update(bar._task, completed=initial)
    return bar
