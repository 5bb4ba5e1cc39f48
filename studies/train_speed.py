"""Training throughput (images/s) per method, input size and CPU speed option, measured in one run.

    python -m fgvc_mobile.studies.train_speed --methods baseline rmg-pmsi --sizes 128 224

Each variant (fp32; channels_last; bf16 autocast; both) runs the recipe's real training steps
(every phase, backward, AdamW step) on a fixed random batch; the variants are interleaved over
--rounds rounds and the median round is reported, so a shared, noisy machine slows all of them
alike and the ratios to fp32 stay comparable. Writes benchmarks/results/train_speed.md + .json.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time

import torch

from fgvc_mobile.benchmarks.machine import describe_host
from fgvc_mobile.methods import StepContext, get_method
from fgvc_mobile.studies.results import command_of, write_results

VARIANTS = {
    "fp32": (False, False),
    "channels_last": (True, False),
    "bf16": (False, True),
    "bf16+channels_last": (True, True),
}


def _setup(method: str, size: int, batch: int, channels_last: bool, classes: int = 100):
    recipe = get_method(method)
    model = recipe.build_model(classes, **recipe.resolve_model_kwargs({})).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,), generator=g)
    return recipe, model, opt, x, y


def _step(recipe, model, opt, x, y, bf16: bool) -> None:
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    ctx = StepContext(criterion=torch.nn.CrossEntropyLoss(), generator=torch.Generator().manual_seed(0), epoch=1,
                      options=recipe.resolve_options({}), autocast=autocast)
    for _, loss in recipe.training_steps(model, x, y, ctx):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def measure(methods, sizes, batch: int, steps: int, rounds: int) -> list[dict]:
    rows = []
    for method in methods:
        for size in sizes:
            setups = {v: _setup(method, size, batch, cl) for v, (cl, _) in VARIANTS.items()}
            for v, (_, bf16) in VARIANTS.items():  # warm-up: oneDNN primitive creation
                _step(*setups[v], bf16)
            times = {v: [] for v in VARIANTS}
            for _ in range(rounds):
                for v, (_, bf16) in VARIANTS.items():
                    t0 = time.perf_counter()
                    for _ in range(steps):
                        _step(*setups[v], bf16)
                    times[v].append(time.perf_counter() - t0)
            fp32 = statistics.median(times["fp32"])
            for v in VARIANTS:
                med = statistics.median(times[v])
                rows.append({"method": method, "img_size": size, "variant": v, "batch": batch,
                             "images_per_s": batch * steps / med, "speedup_vs_fp32": fp32 / med})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=["baseline", "rmg-pmsi"])
    p.add_argument("--sizes", nargs="+", type=int, default=[128, 224])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=3, help="training steps per timed round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default="benchmarks/results/train_speed")
    args = p.parse_args(argv)
    rows = measure(args.methods, args.sizes, args.batch, args.steps, args.rounds)
    command = command_of("train_speed", argv)
    machine = describe_host(threads=torch.get_num_threads())
    lines = ["# Training throughput on CPU: fp32 vs channels_last vs bf16 autocast", "", f"Command: `{command}`", "",
             f"Machine: {machine['cpu_model']} ({machine['cores']} cores, {machine['threads']} torch threads), torch "
             f"{machine['libraries'].get('torch')}. Batch {args.batch}, AdamW, every training phase of the recipe; "
             f"median of {args.rounds} interleaved rounds of {args.steps} steps. Speed-ups are ratios within this run.",
             "", "| method | px | variant | images / s | x fp32 |", "|---|---:|---|---:|---:|"]
    lines += [f"| {r['method']} | {r['img_size']} | {r['variant']} | {r['images_per_s']:.1f} | {r['speedup_vs_fp32']:.2f} |"
              for r in rows]
    write_results(args.out, lines, {"command": command, "machine": machine, "rows": rows})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
