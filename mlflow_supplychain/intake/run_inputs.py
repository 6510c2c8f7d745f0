"""Read the data sets MLflow logged (``mlflow.log_input``) on a version's runs.

Adapter: asks a ``get_inputs`` callable (run id -> the run's MLflow ``DatasetInput`` list:
:func:`client_inputs` over an ``MlflowClient``, or the server's own cheaper reader) for the
version's training run (the run that logged the model) and the run its ``eval.ref`` names, and
turns their dataset inputs into :class:`LoggedDataset` values. Nothing is loaded but
the run's metadata: a data set's source is kept as MLflow stored it, never fetched.

The gate fails closed on an incomplete answer (:attr:`LoggedInputs.complete` False: a run that
could not be read, or more inputs than :data:`MAX_LOGGED_DATASETS`); the ML-BOM lists what was
readable and warns.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mlflow_supplychain.intake.dataset_links import MAX_LOGGED_DATASETS, LoggedDataset

_logger = logging.getLogger(__name__)

_RUN_REF = re.compile(r"^(?:runs:/)?([0-9a-f]{32})(?:/.*)?$")
CONTEXT_TAG = "mlflow.data.context"
"""The input tag ``mlflow.log_input(dataset, context=...)`` writes."""
_NOT_FOUND = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})

GetInputs = Callable[[str], Sequence[Any]]
"""Run id -> the run's dataset inputs (MLflow ``DatasetInput``); raises MlflowException."""


def client_inputs(client: Any) -> GetInputs:
    """``get_inputs`` over anything with ``get_run`` (an ``MlflowClient``, a tracking store)."""

    def get_inputs(run_id: str) -> Sequence[Any]:
        run = client.get_run(run_id)
        return tuple(getattr(getattr(run, "inputs", None), "dataset_inputs", None) or ())

    return get_inputs


@dataclass(frozen=True)
class LoggedInputs:
    """The data sets read from a version's runs, and whether the reading was complete."""

    datasets: tuple[LoggedDataset, ...]
    complete: bool


def eval_run_id(eval_ref: str | None) -> str | None:
    """The run id in an ``eval.ref`` (a run id or ``runs:/<id>/...``), or None."""
    match = _RUN_REF.match(eval_ref or "")
    return match.group(1) if match else None


def read_logged_inputs(get_inputs: GetInputs, run_id: str | None,
                       eval_ref: str | None) -> LoggedInputs:
    """The data sets logged on the training run ``run_id`` and the ``eval_ref`` run.

    Never raises for a store failure: the answer is then incomplete (and logged).
    """
    from mlflow.exceptions import MlflowException

    runs: list[tuple[str, str]] = [(run_id, "training")] if run_id else []
    eval_id = eval_run_id(eval_ref)
    if eval_id is not None and eval_id != run_id:
        runs.append((eval_id, "evaluation"))
    out: list[LoggedDataset] = []
    complete = True
    for rid, role in runs:
        try:
            inputs = get_inputs(rid)
        except MlflowException as exc:
            if role == "evaluation" and exc.error_code in _NOT_FOUND:
                continue  # a missing evaluation run is eval_evidence's finding
            _logger.warning("%s run %s is not readable (%s); its data sets are unknown",
                            role, rid, exc.error_code)
            complete = False
            continue
        except Exception as exc:  # noqa: BLE001 - any store failure means "could not read"
            _logger.warning("%s run %s is not readable (%s); its data sets are unknown",
                            role, rid, type(exc).__name__)
            complete = False
            continue
        if len(inputs) > MAX_LOGGED_DATASETS:
            _logger.warning("%s run %s logged %d data sets; more than %d are not read", role,
                            rid, len(inputs), MAX_LOGGED_DATASETS)
            complete = False
            inputs = inputs[:MAX_LOGGED_DATASETS]
        out.extend(_logged(item, rid, role) for item in inputs)
    return LoggedInputs(tuple(out), complete)


def _logged(item: Any, run_id: str, role: str) -> LoggedDataset:
    dataset = item.dataset
    context = next((t.value for t in (item.tags or ()) if t.key == CONTEXT_TAG), None)
    return LoggedDataset(name=str(dataset.name), digest=dataset.digest or None,
                         context=context or None, run_id=run_id,
                         run_role=role,  # type: ignore[arg-type]
                         source=_source(dataset))


def _source(dataset: Any) -> str | None:
    # MLflow stores a dataset's source as JSON text of its own shape per source type; keep it
    # as MLflow wrote it, prefixed with the type, so nothing is re-interpreted.
    kind, text = getattr(dataset, "source_type", None), getattr(dataset, "source", None)
    if not text:
        return None
    return f"{kind}:{text}" if kind else str(text)
