"""PMG (Du et al. 2020), the predecessor of RMG-PMSI: jigsaw granularities instead of mosaics.

Every batch runs four steps, each its own forward/backward/step: the image cut into an
n x n jigsaw with n = 8, 4, 2 trains the stage-1, -2, -3 classifiers; the original image
trains the concat classifier with weight 2. The heads are PMSI's without the MSI gate.
"""

from __future__ import annotations

import math

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods.base import Recipe, register
from fgvc_mobile.models.fgvc import PMSIModel
from fgvc_mobile.rmg import jigsaw

PHASE_HEADS = ("aux_stage1", "aux_stage2", "aux_stage3", "concat")


@register
class PMG(Recipe):
    name = "pmg"
    description = "PMG (Du et al. 2020): jigsaw n=8,4,2 then the original image, stage heads without MSI, 4 steps per batch"
    model_defaults = {
        "width_mult": 1.0,
        "feature_size": 320,
        "descriptor": 640,
        "smooth": "full",
        "tap_stride": 1,
        "msi": False,
    }
    option_defaults = {"granularities": [8, 4, 2, 1], "loss_weights": [1.0, 1.0, 1.0, 2.0], "per_image": False}

    def build_model(self, num_classes, **kw):
        return PMSIModel(num_classes, **self.resolve_model_kwargs(kw))

    def step_names(self, options):
        return [f"phase{i + 1}" for i in range(len(options["granularities"]))]

    def check_input_size(self, input_size, options):
        if not len(options["granularities"]) == len(options["loss_weights"]) == len(PHASE_HEADS):
            raise FGVCError(f"--method {self.name}: granularities and loss_weights need {len(PHASE_HEADS)} entries each")
        n = math.lcm(*options["granularities"])
        if input_size % n:
            raise FGVCError(
                f"--img-size {input_size}: {self.name} needs a size divisible by {n} "
                f"(jigsaw granularities {options['granularities']})"
            )

    def training_steps(self, model, images, labels, ctx):
        grans, weights = ctx.options["granularities"], ctx.options["loss_weights"]
        for i, (n, head, w) in enumerate(zip(grans, PHASE_HEADS, weights)):
            x = jigsaw(images, n, per_image=ctx.options["per_image"], generator=ctx.generator)
            with ctx.autocast():
                loss = w * ctx.criterion(model(x)[head], labels)
            yield f"phase{i + 1}", loss
