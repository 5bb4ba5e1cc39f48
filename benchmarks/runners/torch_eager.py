"""PyTorch eager adapter for a training checkpoint: the fp32 reference, on CPU or CUDA."""

from __future__ import annotations

import numpy as np

from fgvc_mobile.benchmarks.runners.base import Runner, Session
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.export.contract import Contract
from fgvc_mobile.models.load import load_trained


class TorchSession(Session):
    def __init__(self, model, device: str, meta: dict, rule: str, prev_threads: int):
        self.model, self.device, self.meta, self.rule = model, device, meta, rule
        # the reference takes float32 NCHW normalised by the checkpoint's own preprocessing
        self.contract = Contract.reference(PreprocessConfig.from_dict(meta["preprocess"]))
        self._prev_threads = prev_threads

    def run(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            logits = self.model.forward_rule(torch.from_numpy(np.ascontiguousarray(x)).to(self.device), self.rule)
            return self.contract.decode(logits.float().cpu().numpy())

    def close(self) -> None:
        import torch

        torch.set_num_threads(self._prev_threads)


class TorchEagerRunner(Runner):
    runtime = "torch-eager"
    formats = ("pytorch",)

    def __init__(self, device: str = "cpu", rule: str | None = None):
        self.device = device
        self.target = "cuda" if device == "cuda" else "host"
        self.delegate = device
        self.rule = rule

    def unavailable_reason(self) -> str | None:
        if self.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                return "no CUDA device (torch.cuda.is_available() is False)"
        return None

    def load(self, path, threads: int, manifest: dict | None = None) -> TorchSession:
        import torch

        prev = torch.get_num_threads()
        torch.set_num_threads(int(threads))
        trained = load_trained(path)
        rule = self.rule if self.rule in trained.rules else trained.default_rule
        return TorchSession(trained.model.to(self.device), self.device, trained.meta, rule, prev)


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
