"""The dependency rules of docs/architecture.md, checked on the source.

* no import circles, counting imports inside functions too (a circle that works only because
  one side imports late is still a circle), and every module imports when it is the first
  module of the package a fresh interpreter imports;
* ``models/`` and ``data/`` import nothing above them; ``export/`` and ``benchmarks/`` get
  trained models from ``models/load.py``, never from ``train/`` (studies that train call the
  trainer: listed below, each import by name).
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
         "fgvc_mobile.benchmarks": REPO / "benchmarks"}

#: what export/ and benchmarks/ may import from fgvc_mobile.train: studies that train a run
#: (fit and its config), evaluate it with the trainer's loop, or write an untrained checkpoint
TRAIN_IMPORTS_ALLOWED = {
    "benchmarks/cub100_accuracy.py": {"train.config.load_config", "train.trainer.fit", "train.trainer.pick_device",
                                      "train.engine.evaluate"},
    "benchmarks/front.py": {"train.config.TrainConfig", "train.trainer.fit"},
    "benchmarks/latency_table.py": {"train.checkpoint.save_checkpoint"},
    "benchmarks/methods_table.py": {"train.config.TrainConfig", "train.config.load_config", "train.trainer.fit"},
    "benchmarks/pareto.py": {"train.config.TrainConfig", "train.trainer.fit"},
    "benchmarks/recipe_stability.py": {"train.config.TrainConfig", "train.trainer.fit"},
}


def package_modules() -> dict[str, Path]:
    mods = {}
    for pkg, folder in ROOTS.items():
        for f in sorted(folder.rglob("*.py")):
            parts = list(f.relative_to(folder).with_suffix("").parts)
            if pkg == "fgvc_mobile" and parts[0] in ("export", "benchmarks"):
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
    assert len(graph) > 100 and "fgvc_mobile.export.deploy" in graph and "fgvc_mobile.benchmarks.bench" in graph
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
             "fgvc_mobile.commands")
    graph = import_graph()
    bad = {m: sorted(d for d in deps if d.startswith(above)) for m, deps in graph.items()
           if m.startswith(("fgvc_mobile.models", "fgvc_mobile.data"))}
    assert {m: d for m, d in bad.items() if d} == {}


def test_export_and_benchmarks_get_trained_models_from_models_load_not_from_train():
    mods = package_modules()
    seen = {}
    for name, path in mods.items():
        if not name.startswith(("fgvc_mobile.export", "fgvc_mobile.benchmarks")):
            continue
        rel = path.relative_to(REPO).as_posix()
        got = {n[len("fgvc_mobile."):] for n in imported_names(name, path, mods) if n.startswith("fgvc_mobile.train")}
        if got:
            seen[rel] = got
    assert seen == TRAIN_IMPORTS_ALLOWED
