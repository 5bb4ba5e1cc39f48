"""The one interface every runtime adapter implements.

``Runner.load(path, threads, manifest) -> Session``; ``Session.run(x) -> decoded float scores``
where ``x`` is already in the artifact's own input layout and dtype (``session.contract.prepare``).
Sessions of exported formats come from their format module (:mod:`fgvc_mobile.export.formats`).
"""

from __future__ import annotations

from fgvc_mobile.export.formats.base import Session


class Runner:
    """A runtime on a target (host CPU or CUDA); stateless apart from its settings."""

    runtime: str = ""
    target: str = "host"
    delegate: str | None = None
    formats: tuple[str, ...] = ()

    def unavailable_reason(self) -> str | None:
        """None when this runtime can run here, else a one-line reason for a skipped row."""
        return None

    def load(self, path, threads: int, manifest: dict | None) -> Session:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.runtime}[{self.target}{'/' + self.delegate if self.delegate else ''}]"


__all__ = ["Runner", "Session"]
