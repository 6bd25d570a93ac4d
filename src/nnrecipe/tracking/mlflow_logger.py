"""An MLflow run of a run, written with `mlflow.tracking.MlflowClient` into a local store.

Parameters: the resolved settings. Metrics per epoch (step = epoch): ``train_loss``,
``valid_loss``, ``valid_<metric>``, ``lr``, ``seconds``; at the end ``final_<split>_<metric>``.
Tags: ``finding.<code>`` (severity and message) and a count of the findings. Artifacts:
``report.html``, ``summary.json``, ``findings.json``. The client, not the fluent API: no
global active run is left behind in the user's process.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from nnrecipe.errors import ConfigError

MAX_VALUE = 5000  # MLflow keeps 6000 characters of a parameter and 8000 of a tag
BATCH = 100  # MLflow's limit of parameters per log_batch call


class MlflowLogger:
    name = "mlflow"

    def __init__(
        self,
        uri: str,
        *,
        artifacts: str | None,
        experiment: str,
        run_name: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        self.uri = uri
        # A new SQLite store logs its table creation at INFO: noise in the run's output.
        db_log = logging.getLogger("mlflow.store.db.utils")
        level = db_log.level
        db_log.setLevel(logging.WARNING)
        try:
            if artifacts is not None:
                Path(artifacts).parent.mkdir(parents=True, exist_ok=True)
            self.client = MlflowClient(tracking_uri=uri)
            self.run_id = self._resume(run_id) or self._start(
                experiment, run_name, artifacts, tags or {}
            )
        except (MlflowException, OSError) as e:
            raise ConfigError(
                f"The MLflow store {uri!r} cannot be opened ({' '.join(str(e).split())[:200]}): "
                "pass a writable --log-uri (sqlite:///PATH.db or a folder)."
            ) from None
        finally:
            db_log.setLevel(level)
        self.state = {"mlflow_run_id": self.run_id, "mlflow_uri": uri}

    def _resume(self, run_id: str | None) -> str | None:
        if run_id is None:
            return None
        from mlflow.exceptions import MlflowException

        try:
            self.client.update_run(run_id, status="RUNNING")
        except MlflowException:  # the store was replaced since: a new MLflow run
            return None
        return run_id

    def _start(
        self, experiment: str, run_name: str, artifacts: str | None, tags: dict[str, str]
    ) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            try:
                experiment_id = self.client.create_experiment(
                    experiment, artifact_location=artifacts and Path(artifacts).as_uri()
                )
            except MlflowException:  # another run created it meanwhile
                experiment_id = self.client.get_experiment_by_name(experiment).experiment_id
        else:
            experiment_id = found.experiment_id
        run = self.client.create_run(
            experiment_id, run_name=run_name, tags={k: v[:MAX_VALUE] for k, v in tags.items()}
        )
        return run.info.run_id

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, _text(v)) for k, v in sorted(params.items()) if v is not None and v != {}]
        logged = self.client.get_run(self.run_id).data.params  # a resumed run has them already
        items = [p for p in items if p.key not in logged]
        for i in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + BATCH])

    def log_metrics(self, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def log_end(
        self,
        findings: list[dict[str, Any]],
        scores: dict[str, float],
        report: Path | None,
        final_dir: Path,
    ) -> None:
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        by_code: dict[str, list[str]] = {}
        for f in findings:
            by_code.setdefault(str(f.get("code")), []).append(
                f"{f.get('severity')}: {f.get('message', '')}"
            )
        tags = [RunTag(f"finding.{c}", "\n".join(m)[:MAX_VALUE]) for c, m in by_code.items()]
        severities = [f.get("severity") for f in findings]
        counts = ", ".join(f"{severities.count(s)} {s}" for s in ("error", "warning", "info"))
        tags.append(RunTag("nnrecipe.findings", counts))
        tags.append(RunTag("nnrecipe.run_dir", str(final_dir.resolve())))
        self.client.log_batch(
            self.run_id,
            metrics=[Metric(k, v, now, 0) for k, v in scores.items()],
            tags=tags,
        )
        self.client.log_text(self.run_id, json.dumps(findings, indent=2), "findings.json")
        self.client.log_dict(self.run_id, scores, "scores.json")
        if report is not None and report.exists():
            self.client.log_artifact(self.run_id, str(report))
            summary = report.parent / "summary.json"
            if summary.exists():
                self.client.log_artifact(self.run_id, str(summary))

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=status)

    def where(self, final_dir: Path) -> str:
        return f"mlflow: run {self.run_id} in {self.uri} (mlflow ui --backend-store-uri {self.uri})"


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:MAX_VALUE]
