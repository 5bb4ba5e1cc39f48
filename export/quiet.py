"""Keep converter chatter (progress bars, absl/C++ logs, INFO logging) out of the CLI output.

The converters print from Python and from native code, so stdout/stderr are redirected at the
file-descriptor level into a temporary file. If the block raises, the captured tail is logged at
debug level (``fgvc-mobile -v``) to help diagnose a converter failure.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings

log = logging.getLogger("fgvc_mobile.export")


@contextlib.contextmanager
def quiet():
    if log.isEnabledFor(logging.DEBUG):  # -v: show everything
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    previous_disable = logging.root.manager.disable
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            for fd in (1, 2):
                os.dup2(sink.fileno(), fd)
            logging.disable(logging.INFO)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        except BaseException:
            _restore(saved, previous_disable)
            sink.seek(0)
            tail = sink.read()[-4000:].decode("utf-8", "replace")
            log.debug("converter output before the failure:\n%s", tail)
            raise
        finally:
            _restore(saved, previous_disable)


def _restore(saved: dict[int, int], previous_disable: int) -> None:
    if not saved:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, dup in list(saved.items()):
        os.dup2(dup, fd)
        os.close(dup)
        del saved[fd]
    logging.disable(previous_disable)
