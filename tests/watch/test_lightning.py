"""The Lightning callback `nnrecipe.integrations.lightning.Watch`, with the real package."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("lightning")

import lightning.pytorch as pl  # noqa: E402

from nnrecipe.integrations.lightning import Watch  # noqa: E402
from zoo import loops_lightning as LL  # noqa: E402
from zoo.loops import loaders  # noqa: E402


def _fit(module, callback, tmp_path, **options):
    train, valid = loaders()
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        default_root_dir=tmp_path,
        logger=pl.loggers.CSVLogger(tmp_path),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[callback],
        **options,
    )
    trainer.fit(module, train, valid)
    return trainer


def test_callback_finds_the_bug_logs_it_and_writes_a_report(tmp_path):
    torch.manual_seed(0)
    cb = Watch(check=True)
    with pytest.warns(UserWarning, match="nnrecipe error lr-collapse"):
        trainer = _fit(LL.StepPerBatchLR(), cb, tmp_path)
    assert "lr-collapse" in cb.result.codes
    assert cb.check_result is not None and cb.check_result.stage == "checks"
    assert cb.report_path == tmp_path / "lightning_logs" / "version_0" / "nnrecipe" / "report.html"
    html = cb.report_path.read_text()
    assert "lr-collapse" in html and "Checks on the first batch" in html
    metrics = (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").read_text()
    assert "nnrecipe/errors" in metrics
    assert trainer.global_step == 32


def test_callback_is_quiet_on_a_healthy_fit_and_detaches(tmp_path):
    torch.manual_seed(0)
    module = LL.StepPerEpochLR()
    backward = torch.Tensor.__dict__["backward"]
    cb = Watch(report=None)
    _fit(module, cb, tmp_path)
    assert not cb.result.at_least("warning"), cb.result
    assert cb.report_path is None
    assert torch.Tensor.__dict__["backward"] is backward
    assert not any(m._forward_hooks for m in module.modules())


def test_callback_detaches_when_the_fit_raises(tmp_path):
    class Crashes(LL.Classifier):
        def training_step(self, batch, i):
            if i == 3:
                raise RuntimeError("crash in training_step")
            return super().training_step(batch, i)

    backward = torch.Tensor.__dict__["backward"]
    cb = Watch(report=None)
    with pytest.raises(RuntimeError, match="crash in training_step"):
        _fit(Crashes(), cb, tmp_path)
    assert torch.Tensor.__dict__["backward"] is backward
    assert cb.result is not None and "RuntimeError" in cb.result.stats["exception"]


def test_watching_a_fit_never_changes_the_weights(tmp_path):
    states = []
    for callbacks in ([Watch(check=True, report=None)], []):
        torch.manual_seed(0)
        module = LL.Classifier()
        torch.manual_seed(1)
        train, valid = loaders()
        trainer = pl.Trainer(
            max_epochs=2,
            accelerator="cpu",
            devices=1,
            logger=False,
            default_root_dir=tmp_path,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=callbacks,
        )
        trainer.fit(module, train, valid)
        states.append(module.state_dict())
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k
