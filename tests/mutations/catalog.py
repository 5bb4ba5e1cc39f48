"""The mutations ``run.py`` applies: each breaks one core behaviour with one textual change to a
product file, and names the default-suite tests that must then fail.

A mutation is (name, file, old text, new text, tests). ``old`` must occur exactly once in ``file``
(tests/test_mutation_catalog.py checks that in the default suite, so the catalogue cannot rot
silently when the product code is reworded).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]  # pytest node ids / files of the default suite that must catch it
    why: str = ""


CORE = "tests/test_core_behaviours.py"
RESUME = "tests/test_resume.py"
VAL = "tests/test_validation_split.py"
EXPORT_ERRORS = "tests/test_export_errors.py"
FAULTS = "tests/test_reliability_export_faults.py"

MUTATIONS: list[Mutation] = [
    # ---- the five of issue 15 ---------------------------------------------------------------
    Mutation("rmg-off-in-training", "fgvc_mobile/methods/rmg_pmsi.py",
             'return recursive_mosaic(images, level, per_image=ctx.options["per_image"], generator=ctx.generator)',
             "return images", (CORE,), "RMG-PMSI trains on plain images"),
    Mutation("rmg-nesting-wrong-granularity", "fgvc_mobile/rmg.py",
             "            size //= 2\n", "            size //= 1\n", (CORE, "tests/test_rmg.py"),
             "inner mosaics permute patches of the previous level's size"),
    Mutation("rmg-nesting-wrong-patch", "fgvc_mobile/rmg.py",
             "top += (k // 2) * size", "top += (k % 2) * size", (CORE,),
             "recursion enters another patch than the one drawn"),
    Mutation("top1-counts-top2", "fgvc_mobile/train/engine.py",
             "hit[:, : min(k, k_max)]", "hit[:, : min(k + 1, k_max)]", (CORE,), "top-1 hit when the label is 2nd"),
    Mutation("export-top1-counts-top2", "export/validate.py",
             "(scores.argmax(axis=1) == labels).mean()",
             "(np.argsort(-scores, axis=1)[:, :2] == labels[:, None]).any(axis=1).mean()", (CORE,)),
    Mutation("int8-gate-neutered", "export/gate.py",
             "drop > max_int8_drop + 1e-9", "drop > max_int8_drop + 100", (CORE,),
             "a too-large int8 drop is published"),
    Mutation("int8-gate-inverted", "export/gate.py",
             "drop > max_int8_drop + 1e-9", "drop < max_int8_drop + 1e-9", (CORE,),
             "an int8 drop within budget is refused and one over it published"),
    Mutation("int8-gate-ignored-by-pipeline", "export/pipeline.py",
             "published = [a for a in arts if passes(a)]", "published = [a for a in arts if passes(a) or True]",
             ("tests/test_export_errors.py", "tests/test_int8.py")),
    Mutation("manifest-resize-default", "fgvc_mobile/data/preprocess.py",
             "resize = int(round(input_size * 8 / 7))", "resize = int(round(input_size * 9 / 8))", (CORE,)),
    Mutation("manifest-resize-written", "fgvc_mobile/data/preprocess.py",
             'd["resize"] = list(self.resize_hw)', 'd["resize"] = [v + 2 for v in self.resize_hw]', (CORE,)),
    Mutation("train-resize-ignored", "fgvc_mobile/train/trainer.py",
             "resize=(cfg.resize, cfg.resize)", "resize=(cfg.resize + 4, cfg.resize + 4)", (CORE,)),
    # ---- other core behaviours ----------------------------------------------------------------
    Mutation("progressive-phase-order", "fgvc_mobile/methods/progressive.py",
             'PHASE_HEADS = ("aux_stage1", "aux_stage2", "aux_stage3", "concat")',
             'PHASE_HEADS = ("aux_stage3", "aux_stage2", "aux_stage1", "concat")', (CORE,)),
    Mutation("rmg-levels-reversed", "fgvc_mobile/methods/rmg_pmsi.py",
             '"levels": [3, 2, 1, 0]', '"levels": [1, 2, 3, 0]', (CORE,)),
    Mutation("concat-weight-dropped", "fgvc_mobile/methods/rmg_pmsi.py",
             '"loss_weights": [1.0, 1.0, 1.0, 2.0]', '"loss_weights": [1.0, 1.0, 1.0, 1.0]', (CORE,)),
    Mutation("pmg-granularities", "fgvc_mobile/methods/pmg.py",
             '"granularities": [8, 4, 2, 1]', '"granularities": [2, 4, 8, 1]', (CORE,)),
    Mutation("deploy-no-pruning", "export/deploy.py",
             'self.rewrites["pruned"] = self._prune(input_size) if prune else []',
             'self.rewrites["pruned"] = []', ("tests/test_deploy.py",)),
    Mutation("imagenet-mean", "fgvc_mobile/data/preprocess.py",
             "IMAGENET_MEAN = (0.485, 0.456, 0.406)", "IMAGENET_MEAN = (0.485, 0.406, 0.456)", (CORE,)),
    Mutation("imagenet-std", "fgvc_mobile/data/preprocess.py",
             "IMAGENET_STD = (0.229, 0.224, 0.225)", "IMAGENET_STD = (0.229, 0.225, 0.224)", (CORE,)),
    Mutation("calibration-from-test-split", "export/calibration.py",
             'pre, "train", n, "--calib-data"', 'pre, "test", n, "--calib-data"', (CORE,),
             "int8 calibrated on the images it is judged on"),
    Mutation("jigsaw-index-on-cpu", "fgvc_mobile/rmg.py",
             "order = order.to(x.device)", "order = order", ("tests/test_device.py",),
             "PMG crashes on CUDA"),
    Mutation("bench-cpu-time-is-wall-time", "benchmarks/latency.py",
             "cpu.append(time.process_time_ns() - c0)", "cpu.append(time.perf_counter_ns() - t0)",
             ("tests/test_bench_cpu_time.py",), "the CPU-time column reports wall time"),
    Mutation("bench-int8-row-against-fp32-peak", "benchmarks/peak.py",
             'PEAK_OF_PRECISION = {"fp32": "fp32", "int8": "int8"}', 'PEAK_OF_PRECISION = {"fp32": "fp32", "int8": "fp32"}',
             ("tests/test_bench_peak.py",), "an int8 artifact's share is taken of the fp32 GEMM peak"),
    Mutation("resume-keeps-other-method", "fgvc_mobile/commands/train.py",
             "    refuse_changes(saved, typed, args.resume)", "    pass", (RESUME,),
             "train --resume CKPT --method OTHER silently continues the checkpoint's recipe"),
    Mutation("resume-replays-draws", "fgvc_mobile/train/determinism.py",
             "            reseed(self.generator, self.seed, self.epoch, self.rank, position)\n", "", (RESUME,),
             "mid-epoch resume replays the epoch's first random draws"),
    # ---- selection on the validation split (issue 14) -------------------------------------------
    Mutation("best-selected-on-test", "fgvc_mobile/train/trainer.py",
             "val_ds = ImageListDataset(splits.val, build_transform(pre, train=False))",
             "val_ds = ImageListDataset(splits.test, build_transform(pre, train=False))", (VAL,),
             "best.pt chosen on the test split"),
    Mutation("val-carve-not-stratified", "fgvc_mobile/data/validation.py",
             "k = per_class_count(len(idx), fraction)", "k = per_class_count(len(samples), fraction) // len(by_class)",
             (VAL,), "the validation split ignores class sizes"),
    Mutation("ema-not-restored-on-resume", "fgvc_mobile/train/trainer.py",
             '                ema.module.load_state_dict(resume_ckpt["model"])\n', "", (VAL,),
             "a resumed EMA run restarts its average from the raw weights"),
    # ---- the artifact contract (issue 16): one prepare, one decode for every runtime ------------------
    Mutation("contract-skips-pixel-scale", "export/contract.py",
             ".transpose(0, 3, 1, 2) * np.float32(1.0 / 255.0)", ".transpose(0, 3, 1, 2)",
             ("tests/test_contract.py",), "float inputs fed as 0..255 instead of normalised"),
    Mutation("contract-decode-ignores-zero-point", "export/contract.py",
             "(out.astype(np.float64) - self.output_quant.zero_point)", "out.astype(np.float64)",
             ("tests/test_contract.py",), "int8 outputs dequantized without their zero point"),
    # ---- one loader, one model interface (issue 16) ----------------------------------------------
    Mutation("old-pmg-checkpoint-loads-as-baseline", "fgvc_mobile/models/registry.py",
             '"pmg": "mobilenetv2-pmsi"', '"pmg": "mobilenetv2"', ("tests/test_load.py",),
             "a checkpoint written before checkpoints named their arch is built as another model"),
    Mutation("rule-keeps-only-last-head", "fgvc_mobile/models/fgvc.py",
             "            out = out + outputs[h]\n", "            out = outputs[h]\n", ("tests/test_models.py",),
             "the combined rule scores one head instead of summing them"),
    Mutation("front-budget-ignores-std", "studies/front_report.py",
             "margin > 2 * max(stds)", "margin > 0", ("tests/test_front.py",),
             "a win inside the seeds' noise is called a win"),
    # ---- paper recipes as their papers claim (issue 18) ------------------------------------------------
    Mutation("elope-classifier-never-crops", "fgvc_mobile/methods/elope.py",
             'crop = from_epoch(o["crop_from"], ctx)', "crop = False", ("tests/test_cmal_elope.py",),
             "ELoPE's classifier is trained on full images and tested on crops"),
    Mutation("elope-class-means-one-rank", "fgvc_mobile/methods/losses.py",
             "        dist.all_reduce(stats)\n", "", ("tests/test_methods_math.py",),
             "under DDP the class means keep only rank 0's part of the batch"),
    Mutation("cmal-box-unpadded", "fgvc_mobile/models/regions.py",
             "pw, ph = ratio * w, ratio * h", "pw, ph = 0.0, 0.0", ("tests/test_cmal_elope.py",),
             "CMAL's attention crop loses the release's 10% margin"),
    Mutation("five-crop-scores-one-crop", "fgvc_mobile/train/engine.py",
             "v.unflatten(0, (-1, crops)).mean(dim=1)", "v.unflatten(0, (-1, crops))[:, 0]",
             ("tests/test_eval_crops.py",), "--crops five reports the first crop only"),
    # ---- per-artifact gates, --int8 auto, the journalled publish (issue 17) ----------------------------
    Mutation("float-gate-ignores-tolerance", "export/gate.py",
             "if ev.rel_error is not None and ev.rel_error > tol:", "if False:",
             (EXPORT_ERRORS + "::test_judge_rules",), "a float artifact far from PyTorch is published"),
    Mutation("float-gate-ignores-disagreements", "export/gate.py",
             "        if ev.disagreements:\n", "        if False:\n",
             (EXPORT_ERRORS + "::test_judge_rules",), "a float artifact that flips a top-1 is published"),
    Mutation("int8-auto-keeps-first-recipe", "export/int8.py",
             "        if all(ok.values()):\n            break\n", "        break\n",
             ("tests/test_int8.py::test_int8_auto_escalates_until_the_gate_passes",),
             "--int8 auto stops at the default recipe although it misses the gate"),
    Mutation("publish-failure-not-undone", "export/publish.py",
             "            _undo_swap(dest, kept)\n", "            pass\n",
             (FAULTS + "::test_publish_failing_at_any_step_leaves_the_previous_export",),
             "a publish that fails half-way leaves a mix of two exports"),
    Mutation("killed-publish-not-recovered", "export/publish.py",
             '            _undo_swap(out / name, kept if e["kept"] else None)\n', "",
             (FAULTS + "::test_publish_killed_between_any_two_renames_is_undone_by_the_next_export",),
             "a publish killed between two renames is not undone by the next export"),
    # ---- studies reuse only what is theirs (issue 16) -----------------------------------------------
    Mutation("study-reuses-another-checkpoints-export", "studies/run.py",
             '.get("checkpoint_sha256") != sha256', '.get("checkpoint_sha256") is None',
             ("tests/test_studies_run.py::test_an_export_is_reused_only_when_it_is_of_this_checkpoint_rule_formats_and_images",),
             "a study times the export of an older checkpoint"),
    # ---- where the validation split comes from (issue 14) ---------------------------------------------
    Mutation("val-carve-stays-in-train", "fgvc_mobile/data/validation.py",
             "train = [s for i, s in enumerate(samples) if i not in held]", "train = list(samples)",
             (VAL + "::test_carve_is_stratified_by_hand_worked_counts",),
             "the carved validation images are also trained on"),
    Mutation("official-val-ignored", "fgvc_mobile/data/validation.py",
             "    if splits.val:\n", "    if False:\n", (VAL + "::test_folder_with_val_uses_it_and_refuses_a_carve",),
             "a layout's own validation split is replaced by a carve"),
    Mutation("aircraft-val-trained-on", "fgvc_mobile/data/layouts.py",
             'train = out["train"] if official_val else out["trainval"]',
             'train = out["train"] + out["val"] if official_val else out["trainval"]',
             (VAL + "::test_aircraft_official_train_val",), "FGVC-Aircraft's val images are trained on"),
]
