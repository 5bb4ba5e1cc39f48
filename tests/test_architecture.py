"""The dependency rules of docs/architecture.md, checked on the source.

* no import circles, counting imports inside functions too (a circle that works only because
  one side imports late is still a circle), and every module imports when it is the first
  module of the package a fresh interpreter imports;
* ``models/`` and ``data/`` import nothing above them; ``export/`` and ``benchmarks/`` (the
  harness) get trained models from ``models/load.py`` and import nothing from ``train/``;
* ``studies/`` is the top: it may import the trainer, the exporter and the harness, and nothing
  outside it imports a study.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: package name -> source folder (pyproject's package-dir)
ROOTS = {"fgvc_mobile": REPO / "fgvc_mobile", "fgvc_mobile.export": REPO / "export",
         "fgvc_mobile.benchmarks": REPO / "benchmarks", "fgvc_mobile.studies": REPO / "studies"}


def package_modules() -> dict[str, Path]:
    mods = {}
    for pkg, folder in ROOTS.items():
        for f in sorted(folder.rglob("*.py")):
            parts = list(f.relative_to(folder).with_suffix("").parts)
            if pkg == "fgvc_mobile" and parts[0] in ("export", "benchmarks", "studies"):
                continue
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join([pkg, *parts])] = f
    return mods


def imported_names(name: str, path: Path, mods) -> list[str]:
    """Every ``fgvc_mobile`` module or name ``path`` imports, anywhere in the file, absolute."""
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            out += [f"{base}.{a.name}" for a in node.names]
    return [n for n in out if n.split(".")[0] == "fgvc_mobile"]


def import_graph() -> dict[str, set[str]]:
    """module -> modules importing it runs, including the packages on the way (their
    ``__init__``), except the importer's own enclosing packages (already being imported)."""
    mods = package_modules()
    graph = {}
    for name, path in mods.items():
        deps = set()
        for target in imported_names(name, path, mods):
            parts = target.split(".")
            for k in range(1, len(parts) + 1):
                dep = ".".join(parts[:k])
                if dep in mods and dep != name and not name.startswith(dep + "."):
                    deps.add(dep)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_no_import_circles():
    graph = import_graph()
    assert len(graph) > 100 and {"fgvc_mobile.export.deploy", "fgvc_mobile.benchmarks.bench",
                                 "fgvc_mobile.studies.run"} <= set(graph)
    assert cycles(graph) == []


def test_the_circle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# imports each module in a forked child of a parent that has imported only third-party
# libraries, so every child's first fgvc_mobile import is its module
_IMPORT_EACH = r"""
import os, sys, traceback
import numpy, PIL.Image, torch, torchvision, yaml, tqdm  # slow third-party imports, once
torch.set_num_threads(1)
failed = []
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            __import__(name)
            os._exit(0)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
    if os.waitpid(pid, 0)[1] != 0:
        failed.append(name)
print("FAILED", failed)
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_first_in_a_fresh_interpreter():
    names = sorted(package_modules())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", _IMPORT_EACH, *names], capture_output=True, text=True, env=env,
                       timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-6000:]


def test_models_and_data_import_nothing_above_them():
    above = ("fgvc_mobile.methods", "fgvc_mobile.train", "fgvc_mobile.export", "fgvc_mobile.benchmarks",
             "fgvc_mobile.studies", "fgvc_mobile.commands")
    graph = import_graph()
    bad = {m: sorted(d for d in deps if d.startswith(above)) for m, deps in graph.items()
           if m.startswith(("fgvc_mobile.models", "fgvc_mobile.data"))}
    assert {m: d for m, d in bad.items() if d} == {}


def importers_of(prefix: str, among: tuple[str, ...], graph=None) -> dict[str, list[str]]:
    """Modules whose names start with one of ``among`` and that import a module under ``prefix``."""
    graph = import_graph() if graph is None else graph
    hits = {m: sorted(d for d in deps if d == prefix or d.startswith(prefix + ".")) for m, deps in graph.items()
            if m.startswith(among)}
    return {m: d for m, d in hits.items() if d}


def test_export_and_the_harness_import_nothing_from_train():
    assert importers_of("fgvc_mobile.train", ("fgvc_mobile.export", "fgvc_mobile.benchmarks")) == {}


def test_nothing_outside_studies_imports_a_study():
    outside = {m: deps for m, deps in import_graph().items() if not m.startswith("fgvc_mobile.studies")}
    assert importers_of("fgvc_mobile.studies", ("fgvc_mobile",), outside) == {}


def test_the_import_rules_see_a_forbidden_import(tmp_path, monkeypatch):
    """The two rules above fail on a planted import, so an empty answer means something."""
    for pkg, rel in (("fgvc_mobile.benchmarks", "benchmarks"), ("fgvc_mobile.export", "export")):
        folder = tmp_path / rel
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        (folder / "planted.py").write_text("from fgvc_mobile.train.trainer import fit\n"
                                           "from fgvc_mobile.studies.run import Run\n")
    monkeypatch.setitem(ROOTS, "fgvc_mobile.benchmarks", tmp_path / "benchmarks")
    monkeypatch.setitem(ROOTS, "fgvc_mobile.export", tmp_path / "export")
    graph = import_graph()
    assert set(importers_of("fgvc_mobile.train", ("fgvc_mobile.export", "fgvc_mobile.benchmarks"), graph)) == \
        {"fgvc_mobile.benchmarks.planted", "fgvc_mobile.export.planted"}
    assert "fgvc_mobile.benchmarks.planted" in importers_of("fgvc_mobile.studies", ("fgvc_mobile.benchmarks",), graph)
