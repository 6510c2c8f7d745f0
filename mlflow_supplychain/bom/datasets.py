"""The data sets an ML-BOM lists: the intake record's, merged with those logged on the runs.

Pure. A logged data set the record lists (same name, and a digest that agrees or cannot be
compared: :func:`~mlflow_supplychain.intake.dataset_links.reconcile`) is ONE component carrying
the record's license and source and both digests; a data set only one side knows is listed
from that side; the same input logged on the training and the evaluation run is listed once.
Two digests the run and the record disagree on are two components: they are different data.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlflow_supplychain.bom.ml_bom import DatasetFact
from mlflow_supplychain.intake.dataset_links import LoggedDataset, reconcile
from mlflow_supplychain.intake.datasets import DatasetEntry


def _from_record(entry: DatasetEntry, logged: LoggedDataset | None = None) -> DatasetFact:
    logged_digest = logged.digest if logged is not None else None
    return DatasetFact(
        name=entry.name, context=entry.context.value, source=entry.source or (
            logged.source if logged is not None else None),
        digest=entry.digest, license=entry.license,
        logged_digest=logged_digest if logged_digest != entry.digest else None,
        run_id=logged.run_id if logged is not None else None)


def _from_run(logged: LoggedDataset) -> DatasetFact:
    return DatasetFact(name=logged.name, context=logged.context or logged.run_role,
                       source=logged.source, digest=logged.digest, run_id=logged.run_id)


def merge_datasets(recorded: Sequence[DatasetEntry],
                   logged: Sequence[LoggedDataset]) -> tuple[DatasetFact, ...]:
    """One :class:`DatasetFact` per distinct data set, record entries first, in order."""
    result = reconcile(recorded, logged)
    linked = {id(link.recorded): link.logged for link in result.linked}
    out: list[DatasetFact] = [_from_record(e, linked.get(id(e))) for e in recorded]
    seen = {(e.name, e.digest) for e in recorded}
    seen |= {(link.logged.name, link.logged.digest or "") for link in result.linked}
    for item in (*result.unrecorded, *(m.logged for m in result.mismatched)):
        key = (item.name, item.digest or "")
        if key in seen:
            continue  # the same input logged on both runs
        seen.add(key)
        out.append(_from_run(item))
    return tuple(out)
