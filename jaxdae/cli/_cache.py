"""JAX's persistent compilation cache for the `jaxdae` command line.

A second `jaxdae reproduce` (or any second run of the same program) loads its compiled XLA
executables from disk instead of compiling them again. The cache lives in a per-user folder,
`$XDG_CACHE_HOME/jaxdae/jax` (default `~/.cache/jaxdae/jax`); `--no-cache` or the environment
variable `JAXDAE_NO_CACHE=1` turns it off. Library code never turns it on by itself: importing
`jaxdae` changes no global JAX setting.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

__all__ = ["cache_dir", "enable_compilation_cache", "ENV_OFF"]

ENV_OFF = "JAXDAE_NO_CACHE"


def cache_dir() -> Path:
    """The cache folder: `$XDG_CACHE_HOME/jaxdae/jax`, or `~/.cache/jaxdae/jax`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jaxdae" / "jax"


def _disabled_by_env() -> bool:
    return os.environ.get(ENV_OFF, "").strip().lower() not in ("", "0", "false", "no")


def enable_compilation_cache(no_cache: bool = False, path: Optional[Path] = None) -> Optional[Path]:
    """Turn on JAX's persistent compilation cache in `path` (default `cache_dir()`).

    Every program is cached, however fast it compiled and however small it is
    (`jax_persistent_cache_min_compile_time_secs = 0`,
    `jax_persistent_cache_min_entry_size_bytes = 0`): the CLI's programs are many and each
    compiles in seconds. Returns the folder, or `None` when `no_cache` or `JAXDAE_NO_CACHE`
    is set (then nothing is changed). A folder that cannot be created leaves the cache off.
    """
    if no_cache or _disabled_by_env():
        return None
    import jax

    folder = Path(path) if path is not None else cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
