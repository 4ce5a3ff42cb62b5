"""pyproject.toml keeps the promises the README makes about installing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)


def _requirement_names(reqs: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in reqs}


def test_licence_uses_the_current_format():
    """An SPDX string plus license-files (PEP 639), which setuptools >= 77 reads without a deprecation
    warning; the old ``{ text = ... }`` table and licence classifiers warn on every install."""
    meta = _pyproject()
    project = meta["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text().splitlines()[0]
    assert not any(c.startswith("License ::") for c in project.get("classifiers", []))
    assert "setuptools>=77" in meta["build-system"]["requires"]


def test_notebook_extra_installs_what_the_readme_runs():
    extras = _pyproject()["project"]["optional-dependencies"]
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[notebooks]"' in readme
    assert "jupyter lab notebooks/" in readme
    assert "jupyterlab" in _requirement_names(extras["notebooks"])  # provides `jupyter lab`
    assert {"ipykernel", "nbclient", "nbformat", "matplotlib"} <= _requirement_names(extras["notebooks"])


def test_test_extra_has_the_fuzzing_library():
    extras = _pyproject()["project"]["optional-dependencies"]
    assert {"pytest", "hypothesis"} <= _requirement_names(extras["test"])
