"""Quantization-aware fine-tuning (QAT): the last step before an int8 export.

``fgvc-mobile train --start-from CKPT --qat-epochs N`` fine-tunes CKPT's *deploy graph* (the
inference rule that ships, BatchNorm folded into its conv/linear: ``export.deploy.DeployModel``,
the graph every exporter converts) with int8 fake-quant inserted by PT2E: ``torch.export`` ->
torchao's ``prepare_qat_pt2e`` with litert-torch's ``PT2EQuantizer`` configuration (int8 weights
symmetric per output channel, int8 activations per tensor: the scheme of LiteRT's int8 kernels and
of ai-edge-quantizer's static recipe). Folded first because the deployed weights are the folded
ones: fake-quantizing them trains exactly what the int8 model rounds. (litert-torch's own QAT
conv+BN annotator cannot run with torch 2.14 / torchao 0.18: it hands ``torch.export`` a
function; with BN folded it is not needed, so the config is applied with its QAT-only patterns off.)

Selection, checkpoints and resume are those of every run: each epoch is evaluated on the
validation split -- the fake-quantized graph, observers frozen -- and the best epoch is best.pt;
test is evaluated once at the end; last.pt/best.pt are written atomically and ``train --resume
RUN/last.pt`` continues exactly (the fake-quant ranges travel in ``qat_state``).

What is exported: a QAT checkpoint is an ordinary checkpoint of the same model whose ``model``
weights are the fine-tuned ones, written back through the BN folding (each folded BatchNorm
becomes the identity, carrying the folded bias where the conv has none; checked against the
graph on every save). ``fgvc-mobile export --int8`` quantizes it with its usual post-training
route and gates it like any other checkpoint. litert-torch's PT2E conversion of the QAT graph
itself is not used: ``studies/qat_vs_ptq.py`` re-checks it (docs/export.md says what it found).
"""

from __future__ import annotations

import contextlib
import copy
import logging
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from fgvc_mobile.data.dataset import ImageListDataset
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.data.transforms import TrainAugment, build_transform
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods import StepContext
from fgvc_mobile.models.load import arch_of, build_model, file_sha256, read_checkpoint
from fgvc_mobile.serialization import atomic_write_json
from fgvc_mobile.train.checkpoint import rng_state, save_checkpoint, save_epoch, set_rng_state
from fgvc_mobile.train.config import TrainConfig
from fgvc_mobile.train.determinism import SeededBatches, SeededSamples, seeded_order
from fgvc_mobile.train.engine import evaluate, train_one_epoch
from fgvc_mobile.train.trainer import _epoch_order, _load_data, _lr_lambda, pick_device, seed_everything

log = logging.getLogger("fgvc_mobile.train")

#: what a QAT run may set; the model, data, preprocessing and augmentation are the checkpoint's
QAT_OPTIONS = ("start_from", "qat_epochs", "out", "lr", "batch_size", "seed", "workers", "device",
               "max_steps_per_epoch", "limit_train", "limit_test", "eval_every", "skip_bad")
#: the default QAT learning rate, as a fraction of the checkpoint's backbone lr (a short, gentle fine-tune)
LR_FRACTION = 0.1
QUANTIZER = ("litert-torch PT2EQuantizer: int8 weights symmetric per output channel, int8 activations per tensor; "
             "deploy graph with BatchNorm folded")


def qat_config(start_from: str, typed: dict) -> TrainConfig:
    """The config of a QAT run from ``start_from``: its own config, plus only the typed ``QAT_OPTIONS``.

    ``typed`` maps option names to the values the user gave; any other option is refused (it would
    change the model, the data or the recipe, which QAT keeps).
    """
    bad = sorted(k for k in typed if k not in QAT_OPTIONS)
    if bad:
        raise FGVCError(f"--{bad[0].replace('_', '-')}: a QAT run (--start-from) keeps the model, data and "
                        f"preprocessing of {start_from}; it takes only "
                        + ", ".join("--" + k.replace("_", "-") for k in QAT_OPTIONS))
    saved = read_checkpoint(start_from).get("config")
    if not isinstance(saved, dict):
        raise FGVCError(f"--start-from {start_from}: the checkpoint records no training config")
    cfg = {**saved, "resume": None, "ema_decay": 0.0, "mixup_alpha": 0.0, "cutmix_alpha": 0.0,
           "lr": saved.get("lr", TrainConfig.lr) * LR_FRACTION, "out": str(Path(start_from).parent / "qat"),
           **typed}
    return TrainConfig.from_dict(cfg, source=f"--start-from {start_from}")


def _fake_quants(module: nn.Module):
    return [m for m in module.modules() if hasattr(m, "disable_observer") and hasattr(m, "disable_fake_quant")]


class QATModel(nn.Module):
    """The fake-quantized deploy graph, with the model API ``evaluate`` and the epoch loop use.

    ``train()`` lets the observers follow the activations; ``eval()`` freezes them, so evaluating
    never moves a quantization range (a validation pass must not change what is trained or resumed).
    Nothing else changes between the modes: the graph was exported from the eval-mode deploy graph
    (no dropout, BN folded), so torchao's ``move_exported_model_to_train/eval`` (which re-export
    their patterns on every switch) have nothing to do and are not called.
    """

    def __init__(self, graph: nn.Module, rule: str):
        super().__init__()
        self.graph, self.rule = graph, rule
        self.inference_rules = {rule: (rule,)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph(x)

    def forward_heads(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {self.rule: self.graph(x)}

    def combine(self, outputs: dict[str, torch.Tensor], rule: str | None = None) -> torch.Tensor:
        return outputs[rule or self.rule]

    def train(self, mode: bool = True):
        for m in self.modules():  # not nn.Module.train: an exported graph refuses train()/eval()
            m.training = mode
        for fq in _fake_quants(self.graph):
            fq.enable_observer(mode)
        return self

    @contextlib.contextmanager
    def float_weights(self):
        """The graph with fake-quant off: the float function its weights compute."""
        fqs = _fake_quants(self.graph)
        for fq in fqs:
            fq.disable_fake_quant()
        try:
            yield self.graph
        finally:
            for fq in fqs:
                fq.enable_fake_quant()


def prepare(model: nn.Module, rule: str | None, input_size: int) -> tuple[QATModel, dict, nn.Module]:
    """(QAT model, fold groups, deploy copy): ``model``'s deploy graph, BN folded, with fake-quant inserted."""
    from fgvc_mobile.export.deploy import DeployModel, fold_batchnorms
    from fgvc_mobile.export.quiet import quiet

    deploy = DeployModel(model, rule, fold_bn=False, input_size=input_size)
    groups: dict[str, list[str]] = {}
    fold_batchnorms(deploy.net, groups)
    for p in deploy.parameters():
        p.requires_grad_(True)
    example = (torch.randn(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(0)),)
    with quiet():
        import dataclasses

        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
        from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

        config = get_symmetric_quantization_config(is_per_channel=True, is_qat=True)  # fake-quant observers
        config = dataclasses.replace(config, is_qat=False)  # no conv+BN patterns: BN is folded already
        exported = torch.export.export(deploy, example, dynamic_shapes=({0: torch.export.Dim.DYNAMIC},)).module()
        graph = prepare_qat_pt2e(exported, PT2EQuantizer().set_global(config))
    if not _fake_quants(graph):
        raise FGVCError("QAT: the quantizer inserted no fake-quant into the deploy graph")
    return QATModel(graph, deploy.rule), groups, deploy


def _identity_bn(bn: nn.Module, state: dict, name: str, bias: torch.Tensor | None) -> None:
    """``state``'s BatchNorm ``name`` made the identity (plus ``bias``): what it folds to is then the conv alone."""
    if bias is not None and not bn.affine:
        raise FGVCError(f"QAT: cannot write the folded bias back into {name} (a BatchNorm without affine)")
    ref = state[f"{name}.running_var"]
    state[f"{name}.running_mean"] = torch.zeros_like(ref)
    state[f"{name}.running_var"] = torch.full_like(ref, 1.0 - bn.eps)  # sqrt(var + eps) == 1
    if bn.affine:
        state[f"{name}.weight"] = torch.ones_like(ref)
        state[f"{name}.bias"] = torch.zeros_like(ref) if bias is None else bias.detach().clone()


def float_state(model: nn.Module, groups: dict[str, list[str]], trained: dict) -> dict:
    """``model``'s state dict carrying the deploy graph's trained weights ``trained`` (names as in
    ``DeployModel.net``), written back through the BN folding recorded in ``groups``."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    modules = dict(model.named_modules())
    position = {n: i for i, n in enumerate(modules)}  # a Sequential's children in their order
    folded = {n for members in groups.values() for n in members}
    for key, value in trained.items():
        owner = key.rpartition(".")[0]
        if owner not in folded and key in state:
            state[key] = value.detach().clone()
    for at, members in groups.items():
        members = sorted(members, key=position.__getitem__)
        weights = [n for n in members if isinstance(modules[n], (nn.Conv2d, nn.Linear))]
        if len(weights) != 1:
            raise FGVCError(f"QAT: cannot write the folded weights of {at} back ({len(weights)} conv/linear layers)")
        (w,) = weights
        bias = trained[f"{at}.bias"]
        state[f"{w}.weight"] = trained[f"{at}.weight"].detach().clone()
        if modules[w].bias is not None:
            state[f"{w}.bias"], bias = bias.detach().clone(), None
        bns = [n for n in members if n != w]
        # the bias goes to a BatchNorm after the layer (before it, it would be multiplied by the weight)
        after = [n for n in bns if members.index(n) > members.index(w)] if bias is not None else []
        if bias is not None and not after:
            raise FGVCError(f"QAT: cannot write the folded bias of {at} back ({w} has no bias and no BatchNorm after it)")
        for n in bns:
            _identity_bn(modules[n], state, n, bias if after and n == after[0] else None)
    return state


def _check_written_back(qat: QATModel, model: nn.Module, state: dict, rule: str, input_size: int) -> None:
    """The written-back model's deploy graph must compute what the trained graph computes without fake-quant."""
    from fgvc_mobile.export.deploy import DeployModel

    twin = copy.deepcopy(model)
    twin.load_state_dict(state)
    x = torch.randn(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(1))
    was = qat.training
    qat.eval()
    try:
        with torch.no_grad(), qat.float_weights() as graph:
            want = graph(x.to(next(graph.parameters()).device)).cpu()
        got = DeployModel(twin.cpu(), rule, input_size=input_size)(x)
    finally:
        qat.train(was)
    if not torch.allclose(got, want, rtol=1e-3, atol=1e-3 * float(want.abs().max()) + 1e-5):
        raise FGVCError(f"QAT: the weights written back differ from the trained graph "
                        f"(max |logit diff| {float((got - want).abs().max()):.3g})")


class _Step:
    """The QAT training step: cross-entropy of the deploy rule's fake-quantized logits."""

    @staticmethod
    def training_steps(model, images, labels, ctx):
        with ctx.autocast():
            yield "qat", ctx.criterion(model(images), labels)


def fit_qat(cfg: TrainConfig, show_progress: bool = True) -> dict:
    """Fine-tune ``cfg.start_from`` with fake-quant for ``cfg.qat_epochs`` epochs (or resume ``cfg.resume``)."""
    cfg.check()
    if not cfg.start_from or not cfg.qat_epochs:
        raise FGVCError("--qat-epochs: a QAT run needs --start-from CKPT and --qat-epochs N >= 1")
    device = pick_device(cfg.device)
    resume_ckpt = read_checkpoint(cfg.resume) if cfg.resume else None
    if resume_ckpt is not None and not isinstance(resume_ckpt.get("qat"), dict):
        raise FGVCError(f"--resume {cfg.resume}: not a QAT checkpoint (it holds no qat record)")
    # a resumed run rebuilds its graph from its own written-back weights: the start file may be gone
    start = resume_ckpt if resume_ckpt is not None else read_checkpoint(cfg.start_from)
    seed_everything(cfg.seed)
    pre = PreprocessConfig.from_dict(start["preprocess"])
    splits, val_record = _load_data(cfg)
    if list(splits.classes) != list(start["classes"]):
        raise FGVCError(f"--start-from {cfg.start_from}: its classes differ from those of --data {cfg.data}")
    augment = TrainAugment(cfg.rrc_scale, cfg.auto_augment, cfg.random_erasing)
    train_ds = SeededSamples(ImageListDataset(splits.train, build_transform(pre, train=True, augment=augment)))
    val_ds = ImageListDataset(splits.val, build_transform(pre, train=False))
    test_ds = ImageListDataset(splits.test, build_transform(pre, train=False))

    model = build_model(start, cfg.start_from).eval()
    qat, groups, _ = prepare(model, None, pre.input_size)
    rule = qat.rule
    qat.to(device)
    optimizer = torch.optim.SGD(qat.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=0.0)
    steps_per_epoch = len(train_ds) // cfg.batch_size
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
    if steps_per_epoch == 0:
        raise FGVCError(f"--batch-size {cfg.batch_size}: larger than the {len(train_ds)} training images")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg.qat_epochs * steps_per_epoch, 0))
    record = resume_ckpt["qat"] if resume_ckpt is not None else {
        "from": str(cfg.start_from), "from_sha256": file_sha256(cfg.start_from), "rule": rule,
        "quantizer": QUANTIZER, "start_best": start.get("best")}

    start_epoch, skip_batches, history, progress = 0, 0, [], {}
    best = {"metric": None, "value": -1.0, "epoch": -1}
    if resume_ckpt is not None:
        try:
            qat.graph.load_state_dict(resume_ckpt["qat_state"])
            optimizer.load_state_dict(resume_ckpt["optimizer"])
            scheduler.load_state_dict(resume_ckpt["scheduler"])
            start_epoch, skip_batches = resume_ckpt["epoch"], resume_ckpt.get("batches_done", 0)
            history, best = list(resume_ckpt.get("history", [])), dict(resume_ckpt.get("best", best))
            progress = dict(resume_ckpt.get("epoch_progress") or {}) if skip_batches else {}
            set_rng_state(resume_ckpt["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as e:
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise FGVCError(f"--resume {cfg.resume}: cannot restore the QAT run ({e.__class__.__name__}: {first})") from None
    metric = f"top1/{rule}"
    out = Path(cfg.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FGVCError(f"--out {out}: cannot create the run folder ({e.strerror or e})") from None

    def fields(epoch_done: int, batches_done: int = 0) -> dict:
        trained = {k[len("net."):]: v for k, v in qat.graph.state_dict().items() if k.startswith("net.")}
        state = float_state(model, groups, {k: v.cpu() for k, v in trained.items()})
        _check_written_back(qat, model, state, rule, pre.input_size)
        return dict(
            model=state, qat_state=qat.graph.state_dict(), optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict(), epoch=epoch_done, batches_done=batches_done,
            epoch_progress=progress if batches_done else {}, rng=rng_state(), config=cfg.to_dict(),
            method=start["method"], arch=arch_of(start), model_kwargs=start["model_kwargs"],
            classes=list(start["classes"]), preprocess=start["preprocess"], pretrained=start.get("pretrained"),
            history=history, best=best, qat=record,
            data={"spec": cfg.data, "kind": splits.kind, "n_train": len(splits.train), "n_val": len(splits.val),
                  "n_test": len(splits.test), "val_split": val_record},
        )

    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    for epoch in range(start_epoch, cfg.qat_epochs):
        seed_everything(cfg.seed * 1_000 + epoch)
        ctx = StepContext(criterion=criterion, generator=torch.Generator().manual_seed(cfg.seed * 7_919 + epoch),
                          epoch=epoch, autocast=contextlib.nullcontext, epochs=cfg.qat_epochs)
        order = seeded_order(_epoch_order(len(train_ds), cfg.seed, epoch, 0, 1), cfg.seed, epoch, 0)
        order = order[: steps_per_epoch * cfg.batch_size][skip_batches * cfg.batch_size:]
        loader = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=order, num_workers=cfg.workers,
                            drop_last=True, generator=torch.Generator().manual_seed(cfg.seed * 31 + epoch))
        try:
            with SeededBatches(loader, ctx.generator, cfg.seed, epoch, 0, skip_batches) as batches:
                stats = train_one_epoch(qat, _Step, batches, optimizer, scheduler, ctx, device,
                                        show_progress=show_progress, progress=progress)
        except KeyboardInterrupt:
            done = scheduler.last_epoch - epoch * steps_per_epoch
            if done > skip_batches:
                save_checkpoint(out / "last.pt", **fields(epoch, done))
                log.warning("interrupted: resumable checkpoint written to %s", out / "last.pt")
            raise
        skip_batches, progress = 0, {}
        row = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], "qat": True, **stats}
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.qat_epochs:
            val_loader = DataLoader(val_ds, batch_size=max(cfg.batch_size, 32), num_workers=cfg.workers)
            row.update(evaluate(qat, val_loader, device, show_progress=show_progress), eval_split="val")
            if row[metric] > best["value"]:
                best = {"metric": metric, "value": row[metric], "epoch": epoch + 1, "split": "val"}
        history.append(row)
        save_epoch(out, fields(epoch + 1), best["epoch"] == epoch + 1, history,
                   f"QAT of {Path(cfg.start_from).name} on {cfg.data}")
        log.info("QAT epoch %d/%d  loss %.4f  %s", epoch + 1, cfg.qat_epochs, row["loss/total"],
                 f"val {metric} {row[metric]:.2f} (fake-quant)" if metric in row else "")
    test = None
    if (out / "best.pt").is_file():
        test_loader = DataLoader(test_ds, batch_size=max(cfg.batch_size, 32), num_workers=cfg.workers)
        test = _report_test(out, qat, test_loader, device, show_progress)
    return {"metrics": history[-1] if history else {}, "best": best, "out": str(out), "history": history,
            "test": test}


def _report_test(out: Path, qat: QATModel, loader, device, show_progress: bool) -> dict:
    """The fake-quantized best.pt on the test split, once; recorded in best.pt and results.json."""
    best_ckpt = read_checkpoint(out / "best.pt")
    qat.graph.load_state_dict(best_ckpt["qat_state"])
    test = evaluate(qat, loader, device, show_progress=show_progress)
    best_ckpt["test_metrics"] = test
    save_checkpoint(out / "best.pt", **{k: v for k, v in best_ckpt.items() if k not in ("format", "version")})
    selected = next((h for h in best_ckpt["history"] if h["epoch"] == best_ckpt["best"]["epoch"]), {})

    def top(d):
        return {k: v for k, v in d.items() if k.split("/")[0] in ("top1", "top5") or k == "n_images"}

    atomic_write_json(out / "results.json", {
        "method": best_ckpt["method"], "data": best_ckpt["data"], "config": best_ckpt["config"],
        "qat": best_ckpt["qat"], "selected_on": "val", "best": best_ckpt["best"], "evaluated": "fake-quant graph",
        "val": top(selected), "test": top(test),
    })
    log.info("QAT test (evaluated once, fake-quant, best.pt from epoch %d): %s %.2f", best_ckpt["best"]["epoch"],
             best_ckpt["best"]["metric"], test.get(best_ckpt["best"]["metric"], float("nan")))
    return test
