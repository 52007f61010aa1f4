"""The `jaxdae` command line: help, version and errors."""

from __future__ import annotations

import subprocess
import sys

import jaxdae


def test_command_line_help():
    out = subprocess.run([sys.executable, "-m", "jaxdae", "--help"], capture_output=True, text=True, check=True)
    assert "reproduce" in out.stdout
    out = subprocess.run([sys.executable, "-m", "jaxdae", "reproduce", "--list"], capture_output=True, text=True, check=True)
    assert "noise_vs_decay" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "jaxdae", "reproduce", "--parts", "nope"], capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown part" in bad.stderr


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    assert jaxdae.__version__ == version("jaxdae")
    out = subprocess.run([sys.executable, "-m", "jaxdae", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"jaxdae {jaxdae.__version__}"
