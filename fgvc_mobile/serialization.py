"""Safe loading and atomic writing of files: nothing half-written, nothing unpickled blindly."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import torch

from fgvc_mobile.errors import FGVCError


def safe_torch_load(path: str | os.PathLike):
    """``torch.load`` with ``weights_only=True`` and a one-line error for anything unsafe or corrupt."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FGVCError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FGVCError(f"{path}: is a directory, not a checkpoint file") from None
    except Exception as e:  # UnpicklingError for hostile pickles, RuntimeError for corrupt zips
        first = (str(e).strip().splitlines() or [e.__class__.__name__])[0][:200]
        raise FGVCError(f"{path}: refused to load (not a safe, readable torch file: {first})") from None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success fsync and rename it over ``path``.

    On any failure (full disk, read-only folder, Ctrl-C) the temporary file is removed and the
    previous ``path`` is left exactly as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise FGVCError(f"{path}: cannot write ({e.strerror or e})") from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; outputs are ordinary files
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    try:
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
    except OSError as e:
        raise FGVCError(f"{path}: cannot write ({e.strerror or e}); the previous file is intact") from None


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as e:
        raise FGVCError(f"{path}: cannot write ({e.strerror or e}); the previous file is intact") from None


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
