"""Read an intake record file (YAML or JSON) with errors that name the file, line and field."""

from __future__ import annotations

import os

from mlflow_supplychain.documents import Loc, line_index, nearest_line, parse_document, read_document
from mlflow_supplychain.errors import EvidenceError, Problem
from mlflow_supplychain.intake.records import IntakeRecord, parse_record

MAX_RECORD_BYTES = 1 << 20


def load_record(path: str | os.PathLike[str]) -> IntakeRecord:
    """Read and validate the intake record at ``path``.

    Raises:
        EvidenceError: the file is missing, unreadable, not YAML/JSON, or not a valid record.
    """
    where = str(path)
    text = read_document(path, kind="Intake record", error=EvidenceError, limit=MAX_RECORD_BYTES,
                         create_hint="pass the path of your record (create one with "
                                     "'mlflow-supplychain intake template')")
    return parse_record_text(text, source=where)


def parse_record_text(text: str, *, source: str = "<record>") -> IntakeRecord:
    """Validate record YAML/JSON ``text``; ``source`` names it in messages.

    Raises:
        EvidenceError: not YAML, or not a valid record.
    """
    summary = f"Intake record {source} is invalid"
    node, data = parse_document(text, source=source, kind="Intake record", error=EvidenceError)
    if node is None:
        raise EvidenceError(summary, [Problem(source, "is empty",
                                              "start from 'mlflow-supplychain intake template'")])
    lines = dict(line_index(node))

    def locate(loc: Loc) -> str:
        return f"{source}:{nearest_line(lines, loc)}"

    return parse_record(data, source=source, locate=locate)
