"""PyTorch eager adapter for a training checkpoint: the fp32 reference, on CPU or CUDA.

The checkpoint loader belongs to the training package; it is imported lazily so that the
harness still measures exported artifacts where it is missing.
"""

from __future__ import annotations

import numpy as np

from fgvc_mobile.benchmarks.runners.base import Runner, Session
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.contract import Contract


def load_checkpoint_model(path):
    """(model, meta) via ``fgvc_mobile.train.checkpoint``; a one-line error where it is absent."""
    try:
        from fgvc_mobile.train.checkpoint import load_checkpoint_model as _load
    except ImportError as e:
        raise FGVCError(f"{path}: cannot load checkpoints here (fgvc_mobile.train.checkpoint: {e})") from None
    return _load(path)


class TorchSession(Session):
    def __init__(self, model, heads: tuple[str, ...], device: str, meta: dict, rule: str, prev_threads: int):
        self.model, self.heads, self.device, self.meta, self.rule = model, heads, device, meta, rule
        # the reference takes float32 NCHW normalised by the checkpoint's own preprocessing
        self.contract = Contract.reference(PreprocessConfig.from_dict(meta["preprocess"]))
        self._prev_threads = prev_threads

    def run(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model(torch.from_numpy(np.ascontiguousarray(x)).to(self.device))
            logits = self.model.apply_rule(out, self.heads) if isinstance(out, dict) else out
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
        model, meta = load_checkpoint_model(path)
        rules = getattr(model, "inference_rules", {}) or {}
        rule = self.rule if self.rule in rules else (getattr(model, "default_rule", None) if rules else None)
        heads = tuple(rules[rule]) if rule else ()
        model = model.eval().to(self.device)
        return TorchSession(model, heads, self.device, meta, rule, prev)


def count_complexity(model, input_size: int) -> tuple[int | None, int | None]:
    """(params, MACs at batch 1) of a model on the CPU; (None, None) if counting fails."""
    try:
        from fgvc_mobile.models.complexity import count_macs, count_params

        cpu = model.to("cpu")
        return count_params(cpu), count_macs(cpu, input_size)
    except Exception:
        return None, None
