"""The command line's persistent compilation cache: a second identical run compiles nothing new.

Each run is a fresh subprocess (`python -m jaxdae lr ...`, a few small compiled programs) with
its own `XDG_CACHE_HOME`, so the user's real cache is never touched.
"""

import os
import subprocess
import sys

from jaxdae.cli import build_parser
from jaxdae.cli import cache_dir, enable_compilation_cache

ARGS = ["lr", "--lam", "1", "--noise-var", "0.2"]


def _run(xdg, *extra):
    env = dict(os.environ, XDG_CACHE_HOME=str(xdg), JAX_PLATFORMS="cpu")
    env.pop("JAXDAE_NO_CACHE", None)
    out = subprocess.run([sys.executable, "-m", "jaxdae", *extra, *ARGS], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr


def _entries(xdg):
    folder = xdg / "jaxdae" / "jax"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_second_identical_run_is_served_from_the_cache(tmp_path):
    _run(tmp_path)
    first = _entries(tmp_path)
    assert len(first) >= 1  # the programs were written
    _run(tmp_path)
    assert _entries(tmp_path) == first  # nothing compiled again: no new entry


def test_no_cache_flag_turns_it_off(tmp_path):
    _run(tmp_path, "--no-cache")
    assert _entries(tmp_path) == []


def test_cache_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "jaxdae" / "jax"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir().parts[-3:] == (".cache", "jaxdae", "jax")
    assert enable_compilation_cache(no_cache=True) is None  # changes nothing
    monkeypatch.setenv("JAXDAE_NO_CACHE", "1")
    assert enable_compilation_cache() is None
    assert build_parser().parse_args(["--no-cache", *ARGS]).no_cache
