"""``python tests/fault_child.py ARGV...``: the ``fgvc-mobile`` CLI with one fault injected at a
chosen point, named by the environment variable FGVC_TEST_FAULT (tests/test_reliability_faults.py):

* ``SIGNAL@EPOCH,BATCH,PHASE``: the process sends itself SIGNAL (KILL or INT) inside batch BATCH
  of epoch EPOCH (0-based, counted from the epoch's first batch, skipped ones excluded), after
  PHASE steps of that batch were taken;
* ``KILL@write:NAME,N``: SIGKILL at the N-th (1-based) atomic replace onto a file called NAME,
  after its temporary file is complete and before it is renamed into place.

A fault at a chosen step replaces kills at a moment picked by a clock: the test decides the same
way on every machine and every run.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def _install(spec: str) -> None:
    sig_name, _, where = spec.partition("@")
    sig = getattr(signal, f"SIG{sig_name}")
    if sig == signal.SIGINT:  # Ctrl-C reaches a foreground process; a background job inherits SIGINT ignored
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if where.startswith("write:"):
        name, n = where[len("write:"):].split(",")
        real, count = os.replace, {"n": 0}

        def replace(src, dst, *a, **k):
            if Path(dst).name == name:
                count["n"] += 1
                if count["n"] == int(n):
                    os.kill(os.getpid(), sig)
            return real(src, dst, *a, **k)

        os.replace = replace
        return
    epoch, batch, phase = (int(v) for v in where.split(","))
    from fgvc_mobile.methods import METHODS

    for recipe in {type(r) for r in METHODS.values()}:
        real_steps = recipe.training_steps
        seen = {"epoch": None, "batches": 0}

        def steps(self, model, images, labels, ctx, _real=real_steps, _seen=seen):
            if _seen["epoch"] != ctx.epoch:
                _seen.update(epoch=ctx.epoch, batches=0)
            this = _seen["batches"]
            _seen["batches"] += 1
            for i, step in enumerate(_real(self, model, images, labels, ctx)):
                if (ctx.epoch, this, i) == (epoch, batch, phase):
                    os.kill(os.getpid(), sig)
                yield step

        recipe.training_steps = steps


if __name__ == "__main__":
    if os.environ.get("FGVC_TEST_FAULT"):
        _install(os.environ["FGVC_TEST_FAULT"])
    from fgvc_mobile.cli import main

    sys.exit(main(sys.argv[1:]))
