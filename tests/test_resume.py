"""Resume is bit-exact: a run interrupted (at an epoch boundary, or mid-epoch by Ctrl-C landing
inside a batch) and resumed ends with the same weights, optimizer and scheduler state, metrics
and best-checkpoint choice as the uninterrupted run — with and without DataLoader workers. A
resume that asks for another method, model or data set is refused with one line.

The interruptions happen at chosen steps (a patched recipe step raises SIGINT in-process), never
at a moment picked by a clock.
"""

from __future__ import annotations

import shutil
import signal

import pytest
import torch

from conftest import TINY_PMSI, make_image_folder, tiny_config
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods import get_method
from fgvc_mobile.models.load import read_checkpoint
from fgvc_mobile.train.trainer import fit
from reliability_fixtures import one_line_error

EPOCHS = 2
MODEL = {**TINY_PMSI, "width_mult": 0.35}


def _cfg(data, out, **kw):
    # one dropout-free tiny model; lr high enough that every batch visibly moves the weights
    return tiny_config(data, out, epochs=EPOCHS, model=dict(MODEL), lr=0.05, **kw)


def _untimed(row: dict) -> dict:
    return {k: v for k, v in row.items() if "seconds" not in k and not k.endswith("_per_s")}


def assert_same_run(a, b, why: str = "") -> None:
    """Bit-identical weights, optimizer and scheduler states; identical metrics (timings aside)."""
    ca, cb = read_checkpoint(a / "last.pt"), read_checkpoint(b / "last.pt")
    assert ca["epoch"] == cb["epoch"] == EPOCHS, why
    assert ca["model"].keys() == cb["model"].keys()
    for k in ca["model"]:
        assert torch.equal(ca["model"][k], cb["model"][k]), f"weights {k} differ {why}"
    oa, ob = ca["optimizer"], cb["optimizer"]
    assert oa["param_groups"] == ob["param_groups"], why
    assert oa["state"].keys() == ob["state"].keys(), why
    for i in oa["state"]:
        for k, v in oa["state"][i].items():
            assert torch.equal(v, ob["state"][i][k]) if torch.is_tensor(v) else v == ob["state"][i][k], \
                f"optimizer state {i}.{k} differs {why}"
    assert ca["scheduler"] == cb["scheduler"], why
    assert [_untimed(r) for r in ca["history"]] == [_untimed(r) for r in cb["history"]], why
    assert ca["best"] == cb["best"], why
    assert (b / "metrics.csv").read_text().count("\n") == EPOCHS + 1, why  # header + one row per epoch


@pytest.fixture(autouse=True)
def ctrl_c_raises():
    """SIGINT handled as in a terminal's foreground process (a background job, e.g. one started
    under nohup, inherits SIGINT ignored); the handler found is put back afterwards."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "training left its SIGINT handler"
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    # 3 classes x 8 = 24 training images: 6 batches of 4 per epoch
    return make_image_folder(tmp_path_factory.mktemp("resume_data"), train=8, test=2)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("resume_ref") / "run"
    fit(_cfg(data, out), show_progress=False)
    return out


def _interrupt_at(monkeypatch, epoch: int, batch: int, phase: int):
    """A real SIGINT (as Ctrl-C sends) delivered inside batch ``batch`` of ``epoch`` (0-based), after
    ``phase`` of its training steps were taken."""
    recipe = get_method("rmg-pmsi")
    real = type(recipe).training_steps
    seen = {"batches": 0, "epoch": None}

    def steps(self, model, images, labels, ctx):
        if seen["epoch"] != ctx.epoch:
            seen.update(epoch=ctx.epoch, batches=0)
        this = seen["batches"]
        seen["batches"] += 1
        for i, step in enumerate(real(self, model, images, labels, ctx)):
            if (ctx.epoch, this, i) == (epoch, batch, phase):
                signal.raise_signal(signal.SIGINT)
            yield step

    monkeypatch.setattr(type(recipe), "training_steps", steps)


def test_workers_do_not_change_the_run(tmp_path, data, uninterrupted):
    """Augmentation draws belong to the sample, not to the process that loads it."""
    fit(_cfg(data, tmp_path / "w2", workers=2), show_progress=False)
    assert_same_run(uninterrupted, tmp_path / "w2", "(2 workers vs none)")


@pytest.mark.parametrize("workers", [0, 2])
def test_stop_at_an_epoch_boundary_then_resume(monkeypatch, tmp_path, data, uninterrupted, workers):
    import fgvc_mobile.train.trainer as trainer

    real = trainer.train_one_epoch
    calls = {"n": 0}

    def crash_in_second_epoch(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated crash")
        return real(*a, **k)

    out = tmp_path / "run"
    monkeypatch.setattr(trainer, "train_one_epoch", crash_in_second_epoch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(_cfg(data, out, workers=workers), show_progress=False)
    monkeypatch.setattr(trainer, "train_one_epoch", real)
    assert read_checkpoint(out / "last.pt")["epoch"] == 1
    fit(_cfg(data, out, workers=workers, resume=str(out / "last.pt")), show_progress=False)
    assert_same_run(uninterrupted, out, f"(stopped after epoch 1, {workers} workers)")


@pytest.mark.parametrize("workers,epoch,batch,phase", [(0, 1, 2, 1), (0, 0, 4, 3), (2, 0, 1, 0)])
def test_ctrl_c_mid_epoch_then_resume(monkeypatch, tmp_path, data, uninterrupted, workers, epoch, batch, phase):
    """Ctrl-C inside a batch stops at the end of that batch; resuming from there is the same run."""
    out = tmp_path / "run"
    _interrupt_at(monkeypatch, epoch, batch, phase)
    with pytest.raises(KeyboardInterrupt):
        fit(_cfg(data, out, workers=workers), show_progress=False)
    monkeypatch.undo()
    ckpt = read_checkpoint(out / "last.pt")
    assert (ckpt["epoch"], ckpt["batches_done"]) == (epoch, batch + 1)  # the batch it landed in finished
    assert ckpt["epoch_progress"]["batches"] == batch + 1
    fit(_cfg(data, out, workers=workers, resume=str(out / "last.pt")), show_progress=False)
    assert_same_run(uninterrupted, out, f"(Ctrl-C in epoch {epoch} batch {batch} phase {phase}, {workers} workers)")


def test_ctrl_c_twice_stops_at_once(monkeypatch, tmp_path, data):
    recipe = get_method("rmg-pmsi")
    real = type(recipe).training_steps

    def steps(self, *a, **k):
        for i, step in enumerate(real(self, *a, **k)):
            if i == 1:
                signal.raise_signal(signal.SIGINT)
                signal.raise_signal(signal.SIGINT)  # the second one raises here, mid-batch
            yield step

    monkeypatch.setattr(type(recipe), "training_steps", steps)
    with pytest.raises(KeyboardInterrupt):
        fit(_cfg(data, tmp_path / "run"), show_progress=False)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


# ---- a resume that would train another run is refused -----------------------------------------


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("resume_one") / "run"
    fit(tiny_config(data, out, epochs=1, model=dict(MODEL)), show_progress=False)
    return out / "last.pt"


@pytest.mark.parametrize("option,value", [
    ("--method", "baseline"),
    ("--model", '{"feature_size": 8, "descriptor": 32, "width_mult": 0.35}'),
    ("--data", "synthetic"),
])
def test_cli_resume_refuses_another_method_model_or_data(capsys, tmp_path, one_epoch, option, value):
    ckpt = tmp_path / "last.pt"
    shutil.copy(one_epoch, ckpt)
    before = ckpt.read_bytes()
    line = one_line_error(capsys, "train", "--resume", ckpt, option, value, "--epochs", 2)
    assert line.startswith(f"error: {option} ") and "cannot change" in line and str(ckpt) in line, line
    assert ckpt.read_bytes() == before  # nothing trained, nothing written


def test_cli_resume_accepts_the_same_settings_typed_again(capsys, tmp_path, one_epoch, data):
    from reliability_fixtures import cli

    shutil.copy(one_epoch, tmp_path / "last.pt")
    rc, _, err = cli(capsys, "train", "--resume", tmp_path / "last.pt", "--method", "rmg-pmsi", "--data",
                     f"folder:{data}", "--model", '{"feature_size": 16, "descriptor": 32, "width_mult": 0.35}',
                     "--epochs", 2, "--workers", 0)
    assert rc == 0, err
    assert read_checkpoint(tmp_path / "last.pt")["epoch"] == 2


def test_fit_resume_refuses_another_method_or_model(tmp_path, one_epoch, data):
    with pytest.raises(FGVCError, match="--method baseline: --resume .* cannot change"):
        fit(tiny_config(data, tmp_path, method="baseline", resume=str(one_epoch)), show_progress=False)
    with pytest.raises(FGVCError, match="--model .*cannot change"):
        fit(tiny_config(data, tmp_path, model={"feature_size": 8}, resume=str(one_epoch)), show_progress=False)


def test_resume_refuses_data_that_changed_under_the_run(tmp_path, one_epoch, data):
    """Same --data path, but the folder gained images: the resumed run would not be the same run."""
    grown = tmp_path / "grown"
    shutil.copytree(data, grown)
    shutil.copy(next((grown / "train" / "class_0").iterdir()), grown / "train" / "class_0" / "extra.png")
    ckpt = read_checkpoint(one_epoch)
    cfg = tiny_config(grown, tmp_path / "run", epochs=2, model=dict(MODEL))
    from fgvc_mobile.train.trainer import _compatible_resume

    # 25 images (24 held 3 out for validation, one per class; the grown class of 9 still holds 1 out)
    with pytest.raises(FGVCError, match="22 training images; the checkpoint's run had 21"):
        _compatible_resume(cfg, ckpt, ckpt["classes"], 22)


def test_resume_takes_the_same_data_however_its_path_is_spelled(tmp_path, monkeypatch):
    """``cub:d`` typed from the data's parent is the run's ``cub:/abs/d``; another folder, reader or
    option is another data set."""
    from fgvc_mobile.train.resume import refuse_changes

    (tmp_path / "d").mkdir()
    (tmp_path / "e").mkdir()
    monkeypatch.chdir(tmp_path)
    saved = {"data": f"cub:{tmp_path / 'd'}?split_seed=1"}
    for same in ("cub:d?split_seed=1", "cub:./d/?split_seed=1", f"cub:{tmp_path}/e/../d?split_seed=1"):
        refuse_changes(saved, {"data": same}, "last.pt")
    for other in ("cub:e?split_seed=1", "folder:d?split_seed=1", "cub:d?split_seed=2", "cub:d"):
        with pytest.raises(FGVCError, match=r"--data .* cannot change it"):
            refuse_changes(saved, {"data": other}, "last.pt")
