"""Link the data sets an intake record lists with those MLflow logged on the version's runs.

``mlflow.log_input`` records a data set (name, digest, source, a ``mlflow.data.context`` tag) on
a run. The version's own run is its training run; the run ``eval.ref`` names is its evaluation
run. :func:`reconcile` pairs each logged data set with the record's entries of the same name:

* no entry of that name: the record is silent about data the run says it used (*unrecorded*);
* an entry whose digest equals the logged one: linked;
* entries of that name whose digests could be compared (both MLflow dataset digests) but all
  differ: the record and the run disagree about which data it was (*mismatched*);
* entries of that name with only sha256 digests: MLflow's digest (at most 36 characters) is
  another kind of fingerprint, so the two cannot be compared (*uncompared*); recording the
  MLflow digest instead links them.

Pure: the adapters read the runs; the gate and the ML-BOM both judge through this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mlflow_supplychain.intake.datasets import DatasetEntry, is_sha256_digest

TRAINING_WORDS = frozenset({"training", "train", "fine-tuning", "fine_tuning", "finetuning",
                            "fine-tune", "finetune"})
EVALUATION_WORDS = frozenset({"evaluation", "eval", "validation", "valid", "test", "testing"})
MAX_LOGGED_DATASETS = 1000
"""Most data set inputs read per run (MLflow's own ``MAX_DATASETS_PER_BATCH``); past it the
lookup fails, and the gate treats the runs as not looked up (fail closed)."""


class LoggedDataset(BaseModel):
    """A data set input MLflow logged on one of the version's runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    digest: str | None = None
    context: str | None = Field(None, description="The input's mlflow.data.context tag.")
    run_id: str
    run_role: Literal["training", "evaluation"] = Field(
        description="training: the version's own run; evaluation: the eval.ref run.")
    source: str | None = Field(None, description="source_type:source as MLflow stored it.")

    @property
    def trains(self) -> bool:
        """Whether the data shaped the weights: an evaluation-like context says no; any other
        (or none) on the training run says yes (an unknown word must not excuse it)."""
        context = (self.context or "").strip().lower()
        if context in EVALUATION_WORDS:
            return False
        return context in TRAINING_WORDS or self.run_role == "training"


def same_digest(recorded: str, logged: str | None) -> bool:
    """Whether two data set digests are equal (a ``sha256:`` prefix is not significant)."""
    if logged is None:
        return False
    return recorded.removeprefix("sha256:") == logged.removeprefix("sha256:")


def comparable(recorded: str, logged: str | None) -> bool:
    """Whether the two digests are of the same kind, so a difference means other data."""
    return logged is not None and is_sha256_digest(recorded) == is_sha256_digest(logged)


@dataclass(frozen=True)
class Link:
    """A logged data set and the record entry it was matched with."""

    logged: LoggedDataset
    recorded: DatasetEntry
    digest_checked: bool
    """True when the digests were compared and agree; False when they could not be compared."""


@dataclass(frozen=True)
class Mismatch:
    logged: LoggedDataset
    recorded: DatasetEntry


@dataclass(frozen=True)
class Reconciliation:
    linked: tuple[Link, ...] = ()
    unrecorded: tuple[LoggedDataset, ...] = ()
    mismatched: tuple[Mismatch, ...] = ()


def reconcile(recorded: Sequence[DatasetEntry], logged: Sequence[LoggedDataset]) -> Reconciliation:
    """Pair every logged data set with the record (see the module docstring)."""
    linked: list[Link] = []
    unrecorded: list[LoggedDataset] = []
    mismatched: list[Mismatch] = []
    for item in logged:
        candidates = [e for e in recorded if e.name == item.name]
        if not candidates:
            unrecorded.append(item)
            continue
        exact = next((e for e in candidates if same_digest(e.digest, item.digest)), None)
        if exact is not None:
            linked.append(Link(item, exact, digest_checked=True))
            continue
        checkable = next((e for e in candidates if comparable(e.digest, item.digest)), None)
        if checkable is not None:
            mismatched.append(Mismatch(item, checkable))
        else:
            linked.append(Link(item, candidates[0], digest_checked=False))
    return Reconciliation(tuple(linked), tuple(unrecorded), tuple(mismatched))
