"""The documentation cannot rot: every docstring example runs, every tutorial runs, the site builds.

- Doctests: every module of `jaxdae` is imported and each docstring with `>>>` examples is one
  test (`doctest.DocTestFinder`), so a failure names the module, the object and the example.
  Markdown code fences (```` ``` ````) around examples are ignored by the parser, so an example's
  expected output may end right before the closing fence.
- Tutorials: each `docs/tutorials/NN_name.py` runs as `__main__` with `JAXDAE_TUTORIAL_QUICK=1`
  (small sizes), in a temporary working directory.
- `mkdocs build --strict`, when mkdocs (the `docs` extra) is installed.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import jaxdae

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("[0-9][0-9]_*.py"))
_FENCE = re.compile(r"^[ \t]*```[^\n]*$", re.MULTILINE)


class MarkdownDocTestParser(doctest.DocTestParser):
    """Doctest parser that treats Markdown fence lines as blank lines."""

    def parse(self, string, name="<string>"):
        return super().parse(_FENCE.sub("", string), name)


def _module_names():
    names = ["jaxdae"]
    for info in pkgutil.walk_packages(jaxdae.__path__, prefix="jaxdae."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return sorted(names)


def _doctests():
    """(id, module name, test or None) for every docstring with examples; None: import failed."""
    finder = doctest.DocTestFinder(parser=MarkdownDocTestParser(), exclude_empty=True)
    out = []
    for name in _module_names():
        try:
            module = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - reported by the test below, naming the module
            out.append((f"{name}[import]", name, None))
            continue
        for test in finder.find(module, name):
            if test.examples and (test.name == name or test.name.startswith(name + ".")):
                out.append((test.name, name, test))
    return out


DOCTESTS = _doctests()


def test_doctests_were_found():
    """Guard against a finder that silently finds nothing: the public modules have examples."""
    modules = {name for _, name, test in DOCTESTS if test is not None}
    assert {"jaxdae.exact", "jaxdae.ode"} <= modules, sorted(modules)


@pytest.mark.parametrize("test_id,module,test", DOCTESTS, ids=[d[0] for d in DOCTESTS])
def test_docstring_examples(test_id, module, test):
    if test is None:
        importlib.import_module(module)  # re-raise the import error for the report
    lines = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    result = runner.run(test, out=lines.append, clear_globs=True)
    if result.failed:
        pytest.fail(f"{result.failed} of {result.attempted} examples of {test.name} "
                    f"({test.filename}, docstring line {test.lineno}) failed:\n" + "".join(lines), pytrace=False)


def test_there_are_four_tutorials():
    assert [p.name[:2] for p in TUTORIALS] == ["01", "02", "03", "04"], [p.name for p in TUTORIALS]


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("JAXDAE_TUTORIAL_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    namespace = runpy.run_path(str(path), run_name="__main__")
    # Each tutorial ends by checking its own claim; `CHECKS` lists what it verified.
    assert namespace.get("CHECKS"), f"{path.name} verified nothing (no CHECKS)"


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    pytest.importorskip("mkdocstrings")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_readme_tour_runs():
    """The README's tour is executed as written, so the front page cannot rot."""
    text = (ROOT / "README.md").read_text()
    start = text.index("```python", text.index("## A tour")) + len("```python")
    code = text[start:text.index("```", start)]
    namespace = {}
    exec(compile(code, "README.md (tour)", "exec"), namespace)
    ds = namespace["ds"]
    assert ds.mode_strength.dims == ("seed", "noise_var", "time", "mode")
    assert ds.mode_strength.shape == (8, 4, 41, 64)
    # The tour's claim: the ODE's top modes settle at the noise level's fixed point.
    fp = namespace["exact"].fixed_point(namespace["spec"].lam[:4], 0.05)
    assert abs(namespace["traj"].final[:4] - fp).max() < 2e-2
    assert list(map(int, namespace["many"].status)) == [0, 0]
