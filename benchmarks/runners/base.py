"""The one interface every runtime adapter implements.

``Runner.load(path, threads, manifest) -> Session``; ``Session.run(x) -> decoded float scores``
where ``x`` is already in the artifact's own input layout and dtype (``session.contract.prepare``).
Sessions of exported formats come from their format module (:mod:`fgvc_mobile.export.formats`);
``TorchRunner`` is what the PyTorch adapters (checkpoints, TorchScript files) share.
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


class TorchSession(Session):
    """A PyTorch session: closing it gives back the thread count its runner set for it."""

    prev_threads: int | None = None

    def close(self) -> None:
        import torch

        if self.prev_threads is not None:
            torch.set_num_threads(self.prev_threads)


class TorchRunner(Runner):
    """PyTorch on ``device`` (cpu or cuda); ``open`` builds the session once the threads are set."""

    def __init__(self, device: str = "cpu"):
        self.device = self.delegate = device
        self.target = "cuda" if device == "cuda" else "host"

    def unavailable_reason(self) -> str | None:
        import torch

        if self.device == "cuda" and not torch.cuda.is_available():
            return "no CUDA device (torch.cuda.is_available() is False)"
        return None

    def load(self, path, threads: int, manifest: dict | None = None) -> TorchSession:
        import torch

        prev = torch.get_num_threads()
        torch.set_num_threads(int(threads))
        session = self.open(path, manifest)
        session.prev_threads = prev
        return session

    def open(self, path, manifest: dict | None) -> TorchSession:
        raise NotImplementedError


__all__ = ["Runner", "Session", "TorchRunner", "TorchSession"]
