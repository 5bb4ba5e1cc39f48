"""Packaging metadata matches the tree: a wheel holds every subpackage and every data file it names.

``pyproject.toml`` maps the user's top-level folders ``export/``, ``benchmarks/`` and ``studies/`` to
``fgvc_mobile.export``, ``fgvc_mobile.benchmarks`` and ``fgvc_mobile.studies`` (package-dir) and lists packages by hand, so
a new subpackage that is not listed would be silently missing from a plain (non-editable) install.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
META = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUP = META["tool"]["setuptools"]


def folder_of(package: str) -> Path:
    """The folder a dotted package name installs from, through the longest package-dir mapping."""
    dirs = SETUP["package-dir"]
    best = max((p for p in dirs if package == p or package.startswith(p + ".")), key=len)
    rest = package[len(best):].lstrip(".")
    return ROOT / dirs[best] / Path(*rest.split(".")) if rest else ROOT / dirs[best]


def test_every_listed_package_exists_and_every_package_folder_is_listed():
    listed = set(SETUP["packages"])
    for package in listed:
        assert (folder_of(package) / "__init__.py").is_file(), f"{package}: no {folder_of(package)}/__init__.py"
    on_disk = set()
    for top, folder in SETUP["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            if "tests" in rel.parts or any(p.startswith(".") for p in rel.parts):
                continue
            on_disk.add(".".join((top, *rel.parts)))
    assert on_disk <= listed, f"packages missing from pyproject.toml: {sorted(on_disk - listed)}"


def test_every_package_data_pattern_matches_a_file():
    for package, patterns in SETUP.get("package-data", {}).items():
        for pattern in patterns:
            assert list(folder_of(package).glob(pattern)), f"package-data {package}: {pattern!r} matches nothing"
