"""Distillation: a plain MobileNetV2 student learns a trained teacher's logits (deploy cost = MobileNetV2).

Loss of each step (Hinton et al. 2015):
    kd_weight * T^2 * KL(softmax(t / T) || softmax(s / T)) + ce_weight * CE(s, y)
where t are the teacher's logits of ``teacher_rule`` (RMG-PMSI: ``combined``, the sum of its four
classifiers) and s the student's. T^2 keeps the soft targets' gradient scale independent of T.

The teacher is a checkpoint passed as ``--teacher`` (TrainConfig.distill["teacher"]). ``setup``
loads it once per run, in eval mode without gradients, on the training device; it is never part
of the student, so the student's checkpoint holds an ordinary BaselineMobileNetV2 that loads and
exports like the baseline's. ``levels`` > 0 show both networks RMG mosaics (one step per level).
"""

from __future__ import annotations

import logging

import torch

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods.base import Recipe, register
from fgvc_mobile.methods.losses import kd_loss
from fgvc_mobile.models.load import Trained, load_trained
from fgvc_mobile.rmg import recursive_mosaic

log = logging.getLogger("fgvc_mobile.distill")

#: keys of TrainConfig.distill (``--teacher`` fills ``teacher``)
DISTILL_KEYS = ("teacher",)


def distill_loss(student_logits, teacher_logits, labels, criterion, temperature, kd_weight, ce_weight):
    """kd_weight * kd_loss + ce_weight * criterion(student, labels); a zero weight skips its term."""
    loss = student_logits.new_zeros(())
    if kd_weight:
        loss = loss + kd_weight * kd_loss(student_logits, teacher_logits, temperature)
    if ce_weight:
        loss = loss + ce_weight * criterion(student_logits, labels)
    return loss


class Teacher:
    """A frozen trained model that answers logits of one inference rule."""

    def __init__(self, trained: Trained, rule: str):
        self.model, self.rule, self.meta = trained.model, rule, trained.meta

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_rule(x, self.rule)


@register
class Distill(Recipe):
    name = "distill"
    arch = "mobilenetv2"
    description = "knowledge distillation of a trained teacher (--teacher best.pt) into plain MobileNetV2"
    model_defaults = {"width_mult": 1.0, "dropout": 0.2}
    option_defaults = {
        "temperature": 4.0,
        "kd_weight": 0.9,
        "ce_weight": 0.1,
        "teacher_rule": None,  # None: 'combined' when the teacher has it, else its deploy rule
        "levels": [0],  # RMG recursion levels shown to student and teacher, one step each
        "per_image": False,
        "init_from_teacher": False,  # start the student's backbone from the teacher's
    }

    def resolve_options(self, options):
        opts = super().resolve_options(options)
        where = f"--method {self.name}"
        if not float(opts["temperature"]) > 0:
            raise FGVCError(f"{where}: temperature must be > 0, got {opts['temperature']}")
        if min(opts["kd_weight"], opts["ce_weight"]) < 0 or not (opts["kd_weight"] or opts["ce_weight"]):
            raise FGVCError(f"{where}: kd_weight and ce_weight must be >= 0 and not both 0")
        levels = opts["levels"]
        if not levels or not all(isinstance(r, int) and r >= 0 for r in levels):
            raise FGVCError(f"{where}: levels must be a non-empty list of RMG levels >= 0, got {levels!r}")
        return opts

    def step_names(self, options):
        return ["distill" if r == 0 else f"distill_r{r}" for r in options["levels"]]

    def check_input_size(self, input_size, options):
        r = max(options["levels"])
        if input_size % (2**r):
            raise FGVCError(f"--img-size {input_size}: {self.name} with RMG level {r} needs a size divisible by {2**r}")

    def setup(self, model, cfg, device, classes):
        spec = dict(cfg.distill or {})
        unknown = sorted(set(spec) - set(DISTILL_KEYS))
        if unknown:
            raise FGVCError(f"distill: unknown option(s) {unknown}; known: {list(DISTILL_KEYS)}")
        path = spec.get("teacher")
        if not path:
            raise FGVCError(f"--method {self.name} needs --teacher CHECKPOINT (e.g. runs/cub100-rmg-pmsi/best.pt)")
        trained = load_trained(path)
        teacher = trained.model
        if list(trained.labels) != list(classes):
            raise FGVCError(
                f"--teacher {path}: its {len(trained.labels)} classes differ from the {len(classes)} classes "
                f"of --data {cfg.data}; distil from a teacher trained on the same data set"
            )
        opts = self.resolve_options(cfg.method_options)
        rules = trained.rules
        rule = opts["teacher_rule"] or ("combined" if "combined" in rules else trained.default_rule)
        if rule not in rules:
            raise FGVCError(f"--method-options teacher_rule {rule!r}: the teacher has rules {sorted(rules)}")
        t_size = trained.preprocess.input_size
        if t_size != cfg.img_size:
            log.warning("teacher %s was trained at %s px, the student trains at %s px", path, t_size, cfg.img_size)
        teacher.to(device).eval().requires_grad_(False)
        if cfg.channels_last:
            teacher.to(memory_format=torch.channels_last)
        if opts["init_from_teacher"]:
            try:
                model.backbone.load_state_dict(teacher.backbone.state_dict())
            except RuntimeError:
                raise FGVCError(
                    f"init_from_teacher: the backbone of --teacher {path} does not fit the student's "
                    "(width_mult differs?)"
                ) from None
        log.info("distilling from %s (%s, rule %s, sha256 %s)", path, trained.method, rule, trained.sha256[:12])
        return {"teacher": Teacher(trained, rule)}

    def training_steps(self, model, images, labels, ctx):
        teacher: Teacher = ctx.state["teacher"]
        opts = ctx.options
        for r, name in zip(opts["levels"], self.step_names(opts)):
            x = recursive_mosaic(images, r, per_image=opts["per_image"], generator=ctx.generator)
            with ctx.autocast():
                t_logits = teacher(x)
                s_logits = model(x)["classifier"]
            loss = distill_loss(
                s_logits, t_logits, labels, ctx.criterion, opts["temperature"], opts["kd_weight"], opts["ce_weight"]
            )
            yield name, loss
