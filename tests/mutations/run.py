"""Mutation check: break one core behaviour at a time in a copy of the repo and show the default
suite catches it.

    .venv/bin/python tests/mutations/run.py                 # every mutation, its named tests (-x)
    .venv/bin/python tests/mutations/run.py --full          # the whole default suite (-x) per mutation
    .venv/bin/python tests/mutations/run.py rmg-off-in-training top1-counts-top2
    .venv/bin/python tests/mutations/run.py --list

Each mutation (tests/mutations/catalog.py) is one textual change to one product file, applied in
a temporary copy of the working tree (tracked and untracked, not ignored, files). The copy's
modules are imported in place of the editable install's, in pytest and in every subprocess it
starts (a sitecustomize on PYTHONPATH maps ``fgvc_mobile``, ``fgvc_mobile.export``,
``fgvc_mobile.benchmarks`` and ``fgvc_mobile.studies`` to the copy). A mutation is *caught* when pytest fails, *survived*
when it passes. The unmutated copy is run first: it must pass, or the check means nothing.
Exit status: 0 when every mutation is caught, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.mutations.catalog import MUTATIONS, Mutation  # noqa: E402

SITECUSTOMIZE = '''
import sys
from importlib.machinery import PathFinder
ROOT = {root!r}
DIRS = {{"fgvc_mobile": "fgvc_mobile", "fgvc_mobile.export": "export", "fgvc_mobile.benchmarks": "benchmarks",
        "fgvc_mobile.studies": "studies"}}


class _Copy:
    """Import the mutated copy's packages, not the editable install's."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name in DIRS:
            import importlib.util
            init = ROOT + "/" + DIRS[name] + "/__init__.py"
            return importlib.util.spec_from_file_location(name, init,
                                                          submodule_search_locations=[ROOT + "/" + DIRS[name]])
        return None


sys.meta_path.insert(0, _Copy)
'''


def copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if not src.is_file() or rel.startswith("android_demo/"):
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    # tests refer to ../shared relative to the repo: keep that working from the copy
    if (ROOT.parent / "shared").exists() and not (dest.parent / "shared").exists():
        (dest.parent / "shared").symlink_to(ROOT.parent / "shared")
    # android_demo: only what the Python tests read (fixtures, sources), not Gradle caches
    for sub in ("core/src", "app/src"):
        s = ROOT / "android_demo" / sub
        if s.is_dir():
            shutil.copytree(s, dest / "android_demo" / sub, dirs_exist_ok=True)
    for rel in ("android_demo/run_jvm_tests.sh",):
        if (ROOT / rel).is_file():
            shutil.copy2(ROOT / rel, dest / rel)


def apply(dest: Path, m: Mutation) -> None:
    path = dest / m.file
    text = path.read_text()
    n = text.count(m.old)
    if n != 1:
        raise SystemExit(f"mutation {m.name}: pattern found {n} times in {m.file} (expected once)")
    path.write_text(text.replace(m.old, m.new))


def run_pytest(dest: Path, tests: list[str], timeout: float) -> tuple[bool, str, float]:
    site = dest / ".mutant_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(root=str(dest)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(dest)]), "PYTHONDONTWRITEBYTECODE": "1"}
    t0 = time.monotonic()
    try:
        p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                           cwd=dest, env=env, capture_output=True, text=True, timeout=timeout)
        out, ok = p.stdout + p.stderr, p.returncode == 0
    except subprocess.TimeoutExpired:
        out, ok = "timed out", False
    return ok, out, time.monotonic() - t0


def check_imports_the_copy(dest: Path) -> None:
    site = dest / ".mutant_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(root=str(dest)))
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import fgvc_mobile, fgvc_mobile.export.validate as v, fgvc_mobile.benchmarks.stats as s, "
            "fgvc_mobile.studies.front_report as f; print(fgvc_mobile.__file__, v.__file__, s.__file__, f.__file__)")
    files = subprocess.run([sys.executable, "-c", code], cwd="/", env=env, capture_output=True, text=True,
                           check=True).stdout.split()
    wrong = [f for f in files if not f.startswith(str(dest))]
    if wrong:
        raise SystemExit(f"the copy's modules are not the ones imported: {wrong}")


def last_line(out: str) -> str:
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    return lines[-1][:160] if lines else ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="mutations to run (default: all)")
    ap.add_argument("--full", action="store_true", help="run the whole default suite (-x) for each mutation")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for m in MUTATIONS}
    if unknown:
        ap.error(f"unknown mutation(s) {sorted(unknown)}; --list shows them")
    if args.list:
        for m in chosen:
            print(f"{m.name:32} {m.file:40} {' '.join(m.tests)}")
        return 0
    survived = []
    with tempfile.TemporaryDirectory(prefix="fgvc-mutants-") as tmp:
        base = Path(tmp) / "clean"
        base.mkdir()
        copy_tree(base)
        check_imports_the_copy(base)
        tests_of = (lambda m: []) if args.full else (lambda m: list(m.tests))
        every = sorted({t for m in chosen for t in m.tests})
        ok, out, secs = run_pytest(base, [] if args.full else every, args.timeout)
        print(f"{'unmutated':32} {'passes' if ok else 'FAILS'}  ({secs:.0f} s)  {last_line(out)}", flush=True)
        if not ok:
            print(out[-3000:])
            return 2
        for m in chosen:
            work = Path(tmp) / m.name
            shutil.copytree(base, work, symlinks=True)
            apply(work, m)
            ok, out, secs = run_pytest(work, tests_of(m), args.timeout)
            verdict = "SURVIVED" if ok else "caught"
            if ok:
                survived.append(m.name)
            print(f"{m.name:32} {verdict:8} ({secs:.0f} s)  {last_line(out)}", flush=True)
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{len(chosen) - len(survived)} of {len(chosen)} mutations caught, {len(survived)} survived"
          + (f": {', '.join(survived)}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
