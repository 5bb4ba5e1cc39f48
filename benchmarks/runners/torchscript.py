"""TorchScript artifacts (``torch.jit.load``), fed exactly as their manifest says."""

from __future__ import annotations

import numpy as np

from fgvc_mobile.benchmarks.runners.base import Runner, Session
from fgvc_mobile.export.contract import Contract


class TorchScriptSession(Session):
    def __init__(self, module, device: str, manifest: dict | None, prev_threads: int):
        self.module, self.device = module, device
        m = manifest or {}
        self.output_name = (m.get("output") or {}).get("name")
        self.contract = Contract.from_manifest(m)
        self._prev_threads = prev_threads

    def run(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.module(torch.from_numpy(np.ascontiguousarray(x)).to(self.device))
        if isinstance(out, dict):
            out = out.get(self.output_name) if self.output_name in out else next(iter(out.values()))
        elif isinstance(out, (tuple, list)):
            out = out[0]
        return self.contract.decode((out.float() if out.is_floating_point() else out).cpu().numpy())

    def close(self) -> None:
        import torch

        torch.set_num_threads(self._prev_threads)


class TorchScriptRunner(Runner):
    runtime = "torchscript"
    formats = ("torchscript",)

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.target = "cuda" if device == "cuda" else "host"
        self.delegate = device

    def unavailable_reason(self) -> str | None:
        if self.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                return "no CUDA device (torch.cuda.is_available() is False)"
        return None

    def load(self, path, threads: int, manifest: dict | None) -> TorchScriptSession:
        import torch

        prev = torch.get_num_threads()
        torch.set_num_threads(int(threads))
        module = torch.jit.load(str(path), map_location=self.device).eval()
        return TorchScriptSession(module, self.device, manifest, prev)
