"""Named PMSI head configurations: the same RMG-PMSI method at different deploy costs.

A preset is only a set of ``PMSIModel`` keyword arguments; ``--model '{"preset": "light"}'``
(or ``model: {preset: light}`` in a YAML config) selects one, and explicit keys next to it
override single values. The recipe expands the name when the model is built, so checkpoints
store plain keyword arguments and still load if a preset is redefined later.

Why these knobs (docs/deploy_cost.md has the measured table): the released heads cost 7.4x
MobileNetV2 because of the dense 3x3 F->D conv on the largest tap. ``dwsep`` replaces it by
depthwise 3x3 + pointwise (1.8x); shrinking F/D and striding the 3x3 on taps S1 and S2 brings
the pointwise conv down to ~1.2x. F stays above C=200 (it is also the classifier bottleneck).

    python -m fgvc_mobile.models.presets            # params / MACs of every preset, C=200
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from fgvc_mobile.models.complexity import count_macs
from fgvc_mobile.models.fgvc import BaselineMobileNetV2, PMSIModel

#: the paper's heads (F=320, D=640, dense 3x3) and lighter configurations of the same heads
PMSI_HEAD_PRESETS: dict[str, dict] = {
    "released": {"feature_size": 320, "descriptor": 640, "smooth": "full", "tap_stride": 1},
    "dwsep": {"feature_size": 320, "descriptor": 640, "smooth": "dwsep", "tap_stride": 1},
    "light": {"feature_size": 256, "descriptor": 512, "smooth": "dwsep", "tap_stride": [2, 2, 1]},
    "tiny": {"feature_size": 128, "descriptor": 256, "smooth": "dwsep", "tap_stride": [2, 2, 1]},
}

#: the preset built to fit a phone's MAC budget (<= MAC_BUDGET x MobileNetV2). Whether it keeps
#: RMG-PMSI's accuracy gain is measured, not assumed: on cub100 it kept none at 4 epochs and about
#: a third at 8 (docs/deploy_cost.md, benchmarks/results/cub100_pareto.md)
PHONE_PRESET = "light"

#: the deploy graph of a phone model may cost at most this multiple of MobileNetV2's MACs
MAC_BUDGET = 1.3


class RuleGraph(nn.Module):
    """Wraps a model so ``forward`` runs only what inference ``rule`` needs (for counting)."""

    def __init__(self, model: nn.Module, rule: str | None = None):
        super().__init__()
        self.model = model
        self.rule = rule or model.default_rule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_rule(x, self.rule)


@torch.no_grad()
def used_params(graph: nn.Module, input_size: int) -> int:
    """Parameters of the leaf modules one forward of ``graph`` actually calls (BatchNorm unfolded)."""
    called: dict[int, nn.Module] = {}

    def seen(mod: nn.Module, _args) -> None:  # a pre-hook returning a value would replace the input
        called[id(mod)] = mod

    hooks = [m.register_forward_pre_hook(seen) for m in graph.modules() if not list(m.children())]
    was_training = graph.training
    graph.eval()
    try:
        graph(torch.zeros(1, 3, input_size, input_size))
    finally:
        for h in hooks:
            h.remove()
        graph.train(was_training)
    return sum(p.numel() for m in called.values() for p in m.parameters(recurse=False))


def deploy_cost(model: nn.Module, input_size: int, rule: str | None = None) -> dict:
    """Params used and MACs (batch 1) of ``model``'s deploy graph for ``rule`` at ``input_size``."""
    # a new wrapper is in train mode; counting restores the wrapper's mode, so give it the model's
    graph = RuleGraph(model, rule).train(model.training)
    return {"params": used_params(graph, input_size), "macs": count_macs(graph, input_size)}


def preset_table(num_classes: int = 200, sizes=(224, 448), rule: str = "concat") -> list[dict]:
    """Deploy cost of MobileNetV2 and of every preset, with the MAC ratio to MobileNetV2."""
    base = BaselineMobileNetV2(num_classes)
    base_cost = {s: deploy_cost(base, s) for s in sizes}
    rows = [{"name": "MobileNetV2 (baseline)", "kwargs": {}, **{s: {**base_cost[s], "ratio": 1.0} for s in sizes}}]
    for name, kw in PMSI_HEAD_PRESETS.items():
        m = PMSIModel(num_classes, **kw)
        row = {"name": name, "kwargs": kw}
        for s in sizes:
            c = deploy_cost(m, s, rule)
            row[s] = {**c, "ratio": c["macs"] / base_cost[s]["macs"]}
        rows.append(row)
    return rows


def render_table(rows: list[dict], sizes=(224, 448)) -> str:
    head = "| head | params (M) | " + " | ".join(f"GMACs @{s} | x MobileNetV2 @{s}" for s in sizes) + " |"
    lines = [head, "|---|---:|" + "---:|---:|" * len(sizes)]
    for r in rows:
        cells = " | ".join(f"{r[s]['macs'] / 1e9:.3f} | {r[s]['ratio']:.2f}" for s in sizes)
        lines.append(f"| {r['name']} | {r[sizes[0]]['params'] / 1e6:.2f} | {cells} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Deploy-graph params and MACs of every PMSI head preset")
    p.add_argument("--classes", type=int, default=200)
    p.add_argument("--sizes", type=int, nargs="+", default=[224, 448])
    p.add_argument("--rule", default="concat", choices=sorted(PMSIModel.inference_rules))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    sizes = tuple(args.sizes)
    print(f"C = {args.classes}, rule {args.rule}; params = weights the deploy graph uses (BatchNorm unfolded)")
    print(render_table(preset_table(args.classes, sizes, args.rule), sizes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
