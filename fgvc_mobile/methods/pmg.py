"""PMG (Du et al. 2020), the predecessor of RMG-PMSI: jigsaw granularities instead of mosaics.

The image cut into an n x n jigsaw with n = 8, 4, 2 trains the stage-1, -2, -3 classifiers; the
original image trains the concat classifier with weight 2. The heads are PMSI's without the MSI
gate. Option ``shuffle``: ``uniform`` (PMG's release) or ``derangement`` (no patch left in place,
the RMG-PMSI release's PMG baseline).
"""

from __future__ import annotations

import math

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods.base import register
from fgvc_mobile.methods.progressive import TWIN_OPTIONS, ProgressiveRecipe
from fgvc_mobile.rmg import jigsaw


@register
class PMG(ProgressiveRecipe):
    name = "pmg"
    description = "PMG (Du et al. 2020): jigsaw n=8,4,2 then the original image, stage heads without MSI, 4 steps per batch"
    schedule_key = "granularities"
    model_defaults = {**ProgressiveRecipe.model_defaults, "msi": False}
    option_defaults = {"granularities": [8, 4, 2, 1], "loss_weights": [1.0, 1.0, 1.0, 2.0], "per_image": False,
                       "shuffle": "uniform", **TWIN_OPTIONS}
    SHUFFLES = ("uniform", "derangement")

    def resolve_options(self, options):
        opts = super().resolve_options(options)
        if opts["shuffle"] not in self.SHUFFLES:
            raise FGVCError(f"--method {self.name}: shuffle must be one of {list(self.SHUFFLES)}, got {opts['shuffle']!r}")
        return opts

    def check_input_size(self, input_size, options):
        self.check_schedule(options)
        n = math.lcm(*options["granularities"])
        if input_size % n:
            raise FGVCError(
                f"--img-size {input_size}: {self.name} needs a size divisible by {n} "
                f"(jigsaw granularities {options['granularities']})"
            )

    def augment(self, images, n, ctx):
        return jigsaw(images, n, per_image=ctx.options["per_image"], generator=ctx.generator,
                      derange=ctx.options["shuffle"] == "derangement")
