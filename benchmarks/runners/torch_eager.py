"""PyTorch eager adapter for a training checkpoint: the fp32 reference, on CPU or CUDA."""

from __future__ import annotations

import numpy as np

from fgvc_mobile.benchmarks.runners.base import TorchRunner, TorchSession
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.export.contract import Contract
from fgvc_mobile.models.load import load_trained


class EagerSession(TorchSession):
    def __init__(self, model, device: str, meta: dict, rule: str):
        self.model, self.device, self.meta, self.rule = model, device, meta, rule
        # the reference takes float32 NCHW normalised by the checkpoint's own preprocessing
        self.contract = Contract.reference(PreprocessConfig.from_dict(meta["preprocess"]))

    def run(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            logits = self.model.forward_rule(torch.from_numpy(np.ascontiguousarray(x)).to(self.device), self.rule)
            return self.contract.decode(logits.float().cpu().numpy())


class TorchEagerRunner(TorchRunner):
    runtime = "torch-eager"
    formats = ("pytorch",)

    def __init__(self, device: str = "cpu", rule: str | None = None):
        super().__init__(device)
        self.rule = rule

    def open(self, path, manifest: dict | None = None) -> EagerSession:
        trained = load_trained(path)
        rule = self.rule if self.rule in trained.rules else trained.default_rule
        return EagerSession(trained.model.to(self.device), self.device, trained.meta, rule)


def count_complexity(model, input_size: int, rule: str | None = None) -> tuple[int | None, int | None]:
    """(params, MACs at batch 1) of a model on the CPU, the MACs of what ``forward_rule(x, rule)`` runs
    (the timed graph) when ``rule`` is given; (None, None) if counting fails."""
    try:
        from fgvc_mobile.models.complexity import count_macs, count_params
        from fgvc_mobile.models.presets import RuleGraph

        cpu = model.to("cpu")
        return count_params(cpu), count_macs(RuleGraph(cpu, rule).train(cpu.training) if rule else cpu, input_size)
    except Exception:
        return None, None
