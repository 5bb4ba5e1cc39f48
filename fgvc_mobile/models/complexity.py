"""Parameter and MAC counts, measured by running the graph (torch's FlopCounterMode)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def count_macs(module: nn.Module, input_size: int, channels: int = 3) -> int:
    """Multiply-accumulates of one forward pass at batch 1 (FLOPs / 2 as torch counts them)."""
    was_training = module.training
    module.eval()
    try:
        with FlopCounterMode(display=False) as fc:
            module(torch.zeros(1, channels, input_size, input_size))
        return int(fc.get_total_flops() // 2)
    finally:
        module.train(was_training)
