"""Safe loading and atomic writing of files: nothing half-written, nothing unpickled blindly."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import tempfile
from pathlib import Path

import torch

from fgvc_mobile.errors import FGVCError


# torch's weights-only error text advises re-running with weights_only=False: never show that
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_GLOBAL = re.compile(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)")
_ADVICE = ("weights only load failed", "weights_only", "re-running", "check the documentation", "file an issue",
           "trusted source", "trust the source", "safe_globals")


def _load_failure(path, e: BaseException) -> FGVCError:
    """One line saying why ``path`` was refused, without torch's advice to load it unsafely."""
    text = _ANSI.sub("", str(e))
    code = _GLOBAL.search(text)
    if code:
        return FGVCError(f"{path}: refused to load: unpickling it would call {code.group(1)} "
                         "(only tensors and plain containers are loaded, never code)")
    lines = [ln.strip(" \t.:") for ln in text.splitlines()]
    useful = [ln for ln in lines if ln and not any(a in ln.lower() for a in _ADVICE)]
    detail = useful[0] if useful else ""
    if len(detail) < 20:  # e.g. KeyError('101'): the type says more than the text
        detail = f"{e.__class__.__name__}: {detail}" if detail else e.__class__.__name__
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        detail = "empty file (0 bytes)"
    return FGVCError(f"{path}: refused to load (not a safe, readable torch file: {detail[:200]})")


def safe_torch_load(path: str | os.PathLike):
    """``torch.load`` with ``weights_only=True`` and a one-line error for anything unsafe or corrupt."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FGVCError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FGVCError(f"{path}: is a directory, not a checkpoint file") from None
    except Exception as e:  # UnpicklingError for hostile pickles, RuntimeError for corrupt zips, ...
        raise _load_failure(path, e) from None


# errors that mean "this file cannot be written here": reported as one line naming the file
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
                           errno.EFBIG, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EBUSY, errno.ETXTBSY})


def _write_failure(path, e: OSError) -> FGVCError:
    return FGVCError(f"{path}: cannot write ({e.strerror or e}); the previous file is intact")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success fsync and rename it over ``path``.

    On any failure (full disk, read-only folder, Ctrl-C, SIGKILL) the previous ``path`` is left
    exactly as it was; the temporary file is removed (a killed process can leave a hidden
    ``.NAME.*.tmp`` beside it, which nothing reads). A write failure (full disk, read-only or
    missing folder, no permission) becomes a one-line :class:`FGVCError` naming ``path``.
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
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno in _WRITE_ERRNOS:
            raise _write_failure(path, e) from None
        raise


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` through memory: torch's own writer reports a full disk as an opaque
    RuntimeError, a plain file write reports ENOSPC."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(buf.getbuffer())
    except OSError as e:
        raise _write_failure(path, e) from None


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as e:
        raise _write_failure(path, e) from None


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def figure(*grid, **kw):
    """``plt.subplots(*grid, **kw)`` on the headless Agg backend: figures here are files, never windows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*grid, **kw)


def save_png(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """``fig`` written atomically as a PNG (tight bounding box), then closed."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return Path(path)
