"""TorchScript artifacts (``torch.jit.load``), fed exactly as their manifest says."""

from __future__ import annotations

import numpy as np

from fgvc_mobile.benchmarks.runners.base import TorchRunner, TorchSession
from fgvc_mobile.export.contract import Contract


class TorchScriptSession(TorchSession):
    def __init__(self, module, device: str, manifest: dict | None):
        self.module, self.device = module, device
        m = manifest or {}
        self.output_name = (m.get("output") or {}).get("name")
        self.contract = Contract.from_manifest(m)

    def run(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.module(torch.from_numpy(np.ascontiguousarray(x)).to(self.device))
        if isinstance(out, dict):
            out = out.get(self.output_name) if self.output_name in out else next(iter(out.values()))
        elif isinstance(out, (tuple, list)):
            out = out[0]
        return self.contract.decode((out.float() if out.is_floating_point() else out).cpu().numpy())


class TorchScriptRunner(TorchRunner):
    runtime = "torchscript"
    formats = ("torchscript",)

    def open(self, path, manifest: dict | None) -> TorchScriptSession:
        import torch

        return TorchScriptSession(torch.jit.load(str(path), map_location=self.device).eval(), self.device, manifest)
