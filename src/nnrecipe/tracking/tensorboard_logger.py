"""TensorBoard event files of a run, written with torch's own `SummaryWriter`.

Scalars per epoch (``train/loss``, ``valid/loss``, ``valid/<metric>``, ``lr``), the settings
as a text table and in the HParams tab (with the final scores, so runs compare there), the
findings and the report's place as text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# history keys -> TensorBoard tags (the part before "/" groups the charts)
RENAMES = {"train_loss": "train/loss", "seconds": "time/epoch_seconds"}


def tag(key: str) -> str:
    """``valid_accuracy`` -> ``valid/accuracy``; ``final_test_loss`` -> ``final/test_loss``."""
    if key in RENAMES:
        return RENAMES[key]
    for prefix in ("valid_", "final_", "train_dev_"):
        if key.startswith(prefix):
            return f"{prefix[:-1]}/{key[len(prefix) :]}"
    return key


def markdown_table(rows: list[tuple[str, Any]], header: tuple[str, str]) -> str:
    """A two-column Markdown table (TensorBoard's text tab renders Markdown)."""

    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    lines += [f"| {cell(k)} | {cell(v)} |" for k, v in rows]
    return "\n".join(lines)


def hparam(value: Any) -> Any:
    """A value TensorBoard's HParams tab takes (numbers, text, booleans)."""
    if isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, default=str)


class TensorBoardLogger:
    name = "tensorboard"

    def __init__(self, folder: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.folder = folder
        self.writer = SummaryWriter(log_dir=str(folder))
        self.params: dict[str, Any] = {}

    def log_params(self, params: dict[str, Any]) -> None:
        self.params = {k: v for k, v in params.items() if v is not None}
        table = markdown_table(sorted(self.params.items()), ("setting", "value"))
        self.writer.add_text("config", table)
        self.writer.flush()

    def log_metrics(self, step: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(tag(key), value, step)
        self.writer.flush()  # as it happens: TensorBoard shows the epoch at once

    def log_end(
        self,
        findings: list[dict[str, Any]],
        scores: dict[str, float],
        report: Path | None,
        final_dir: Path,
    ) -> None:
        from torch.utils.tensorboard.summary import hparams

        rows = [(f"{f.get('severity')}: {f.get('code')}", f.get("message", "")) for f in findings]
        text = markdown_table(rows, ("finding", "message")) if rows else "no findings"
        self.writer.add_text("findings", text)
        lines = [f"report: `{final_dir / 'report.html'}`" if report else "no report"]
        lines.append(markdown_table(sorted(scores.items()), ("score", "value")))
        self.writer.add_text("report", "\n\n".join(lines))
        for key, value in scores.items():
            self.writer.add_scalar(tag(key), value)
        if scores:  # the HParams tab: one row per run, its settings and final scores
            hp = {k: hparam(v) for k, v in self.params.items()}
            for summary in hparams(hp, {tag(k): v for k, v in scores.items()}):
                self.writer.file_writer.add_summary(summary)
        self.writer.flush()

    def close(self, status: str) -> None:
        self.writer.close()

    def where(self, final_dir: Path) -> str:
        return f"tensorboard: tensorboard --logdir {final_dir.parent}"
