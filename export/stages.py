"""Where an export's time goes: wall and CPU seconds per stage, in the order the stages ran.

The export times each of its stages (decoding, the reference, each format's conversion,
quantization, validation, diagnostics, ...) and ``validation_report.md`` lists them, so a user
sees what a slow export spends its time on. CPU time is the process's (``time.process_time``,
every thread): on a shared machine wall time grows while the process waits for a core, CPU time
does not. Stages do not nest; time outside every stage is reported as "other".
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Stage:
    name: str
    wall_s: float
    cpu_s: float


@dataclass
class StageTimes:
    stages: list[Stage] = field(default_factory=list)
    _start: tuple[float, float] = field(default_factory=lambda: (time.perf_counter(), time.process_time()))
    _open: str | None = None

    @contextmanager
    def __call__(self, name: str):
        if self._open is not None:  # nested stages would count their time twice
            raise RuntimeError(f"export stage {name!r} started inside stage {self._open!r}")
        self._open = name
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self._open = None
            self.stages.append(Stage(name, time.perf_counter() - w0, time.process_time() - c0))

    def totals(self) -> tuple[float, float]:
        """(wall, CPU) seconds since the timer was made."""
        return time.perf_counter() - self._start[0], time.process_time() - self._start[1]

    def to_dict(self) -> dict:
        wall, cpu = self.totals()
        return {"stages": [{"name": s.name, "wall_s": round(s.wall_s, 3), "cpu_s": round(s.cpu_s, 3)}
                           for s in self.stages],
                "total_wall_s": round(wall, 3), "total_cpu_s": round(cpu, 3)}

    def markdown_lines(self) -> list[str]:
        wall, cpu = self.totals()
        rows = [(s.name, s.wall_s, s.cpu_s) for s in self.stages]
        rows.append(("other (outside the stages above)", wall - sum(r[1] for r in rows), cpu - sum(r[2] for r in rows)))
        lines = ["## Where the time went", "",
                 f"{wall:.1f} s wall, {cpu:.1f} s CPU (all threads of this process) up to writing this report. "
                 "Wall time includes waiting for a core on a busy machine; CPU time does not.", "",
                 "| stage | wall s | CPU s |", "|---|---:|---:|"]
        lines += [f"| {n} | {w:.2f} | {c:.2f} |" for n, w, c in rows]
        return lines
