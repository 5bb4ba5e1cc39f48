"""Publishing an export into ``--out``: every finished file moved in, or nothing changed.

A fresh ``--out`` is one rename of the staging folder. Into an existing one each file is swapped
in while the file it replaces (or a stale file the export drops) is kept aside in
``.previous-*``, each swap journalled first; a failed move undoes every swap, and a publish
killed between swaps is undone by the next export (``recover_interrupted_publish``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export import manifest as mf


def _umask_permissions(root: Path) -> None:
    """Temp files are created private (0600/0700); published files get the user's usual modes."""
    mask = os.umask(0)
    os.umask(mask)
    for p in [root, *root.rglob("*")]:
        with contextlib.suppress(OSError):
            os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~mask)


#: in a publish's ``.previous-*`` folder: one JSON line per file about to be swapped, written before
#: the swap, so that a publish killed half-way (SIGKILL, power loss) can be undone by the next export
JOURNAL_NAME = "journal.jsonl"
ASIDE_PREFIX = ".previous-"


def publish(tmp: Path, out: Path, remove: list[str] = ()) -> None:
    """Move the finished files into ``out`` (the index last) and drop its files named in ``remove``
    (moved aside like a replaced file); a fresh ``out`` is one rename.

    Into an existing ``out`` each file is swapped in while the file it replaces is kept aside;
    if any move fails (read-only folder, a folder where a file should go, ...) every swap is
    undone, so ``out`` holds either the whole new export or exactly what it held before. Each
    swap is journalled first: if the process dies between swaps, ``recover_interrupted_publish``
    (run by the next export into ``out``) puts the previous export back.
    """
    _umask_permissions(tmp)
    try:
        if not out.exists():
            os.replace(tmp, out)
            return
        aside = Path(tempfile.mkdtemp(prefix=ASIDE_PREFIX, dir=out))
        journal = open(aside / JOURNAL_NAME, "a", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as e:
        raise FGVCError(f"--out {out}: cannot publish the export ({e.strerror or e}); nothing in it changed") from None
    done: list[tuple[Path, Path | None]] = []  # (destination, its previous version kept aside)
    try:
        with journal:
            for entry in sorted(tmp.iterdir(), key=lambda p: p.name == mf.INDEX_NAME):
                dest = out / entry.name
                had = dest.exists() or dest.is_symlink()
                _journal(journal, entry.name, had)
                kept = aside / entry.name if had else None
                if kept is not None:
                    os.replace(dest, kept)
                done.append((dest, kept))
                os.replace(entry, dest)
            for name in remove:
                dest = out / name
                if dest.exists() or dest.is_symlink():
                    _journal(journal, name, True)
                    done.append((dest, aside / name))
                    os.replace(dest, aside / name)
    except OSError as e:
        for dest, kept in reversed(done):
            _undo_swap(dest, kept)
        _remove_aside(aside)
        raise FGVCError(f"--out {out}: cannot publish the export ({e.strerror or e}); its previous files are "
                        "intact") from None
    shutil.rmtree(aside, ignore_errors=True)
    with contextlib.suppress(OSError):
        tmp.rmdir()


def _journal(journal, name: str, kept: bool) -> None:
    journal.write(json.dumps({"name": name, "kept": kept}) + "\n")
    journal.flush()
    os.fsync(journal.fileno())


def remove(path: Path) -> None:
    """Delete a file or a folder (an .mlpackage)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _undo_swap(dest: Path, kept: Path | None) -> None:
    """Remove the new ``dest`` and move its previous version ``kept`` (if any) back."""
    with contextlib.suppress(OSError):
        remove(dest)
        if kept is not None:
            os.replace(kept, dest)


def _remove_aside(aside: Path) -> None:
    """Drop the journal and the (then empty) aside folder; anything still kept there stays."""
    with contextlib.suppress(OSError):
        (aside / JOURNAL_NAME).unlink()
    with contextlib.suppress(OSError):
        aside.rmdir()  # only when everything went back


def recover_interrupted_publish(out: Path, echo=print) -> int:
    """Undo publishes into ``out`` that died between swaps; returns how many were undone.

    Per journal line: a file that existed before is restored if its old version is still aside
    (else the swap had not started and ``out`` still holds it); a file that did not exist is
    removed. The result is exactly the export ``out`` held before the interrupted publish.
    """
    if not out.is_dir():
        return 0
    undone = 0
    for aside in sorted(out.glob(ASIDE_PREFIX + "*")):
        journal = aside / JOURNAL_NAME
        if not aside.is_dir() or not journal.is_file():
            continue
        entries = []
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by the kill: its swap never started
        for e in reversed(entries):
            name = Path(e["name"]).name  # a plain file name; never a path out of ``out``
            kept = aside / name
            if e["kept"] and not (kept.exists() or kept.is_symlink()):
                continue  # killed before the old file was moved aside: out still holds it
            _undo_swap(out / name, kept if e["kept"] else None)
        _remove_aside(aside)
        if aside.exists():
            raise FGVCError(f"--out {out}: an interrupted export left {aside} that could not be undone; "
                            "move its files back into the folder by hand")
        undone += 1
        echo(f"warning: --out {out}: an earlier export was interrupted while publishing; its previous files "
             "were put back")
    return undone
