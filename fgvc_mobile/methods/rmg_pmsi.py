"""RMG-PMSI: Recursive Mosaic Generator + Progressive Multi-Stage Interaction training.

Every batch runs four phases, each its own forward/backward/step (docs/rmg-pmsi.md):
RMG r=3 -> aux_stage1, r=2 -> aux_stage2, r=1 -> aux_stage3, original -> concat (weight 2).
Lighter heads for phones are presets of this same recipe (``--model '{"preset": "light"}'``,
models/presets.py).
"""

from __future__ import annotations

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods.base import register
from fgvc_mobile.methods.progressive import TWIN_OPTIONS, ProgressiveRecipe
from fgvc_mobile.rmg import recursive_mosaic


@register
class RMGPMSI(ProgressiveRecipe):
    name = "rmg-pmsi"
    description = "RMG-PMSI (Wu et al. 2022): recursive mosaics r=3,2,1,0, MSI-gated stage heads, 4 steps per batch"
    schedule_key = "levels"
    option_defaults = {"levels": [3, 2, 1, 0], "loss_weights": [1.0, 1.0, 1.0, 2.0], "per_image": False,
                       **TWIN_OPTIONS}

    def check_input_size(self, input_size, options):
        self.check_schedule(options)
        r = max(options["levels"])
        if input_size % (2**r):
            raise FGVCError(
                f"--img-size {input_size}: {self.name} needs a size divisible by 2^{r} = {2**r} (RMG r={r})"
            )

    def augment(self, images, level, ctx):
        return recursive_mosaic(images, level, per_image=ctx.options["per_image"], generator=ctx.generator)
