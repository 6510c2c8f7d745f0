"""Load a policy file: YAML -> validated :class:`Policy`, or a :class:`PolicyError` that
names the file, the line, the field path, what is wrong and the fix.

YAML is read with a safe loader that also refuses duplicate keys (YAML silently keeps the
last one, which would hide an alias mapped to two profiles) and anchors/aliases (which can
expand exponentially: "billion laughs"), and files over 1 MiB.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from pydantic import BaseModel, ValidationError

from mlflow_supplychain.documents import Loc, line_index, nearest_line, parse_document, read_document
from mlflow_supplychain.errors import PolicyError, Problem, excerpt
from mlflow_supplychain.field_models import model_in
from mlflow_supplychain.policy.confusables import PrincipalIssue, check_principals
from mlflow_supplychain.policy.schema import Policy

_logger = logging.getLogger(__name__)

MAX_POLICY_BYTES = 1 << 20


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate the policy file at ``path``.

    Raises:
        PolicyError: the file is missing, unreadable, not YAML, or not a valid policy.
    """
    where = str(path)
    text = read_document(path, kind="Policy file", error=PolicyError, limit=MAX_POLICY_BYTES,
                         create_hint="pass the path of your policy YAML (create one with "
                                     "'mlflow-supplychain policy init')")
    return parse_policy(text, source=where)


def parse_policy(text: str, *, source: str = "<policy>") -> Policy:
    """Validate policy YAML ``text``; ``source`` names it in error messages.

    Raises:
        PolicyError: the text is not YAML or not a valid policy.
    """
    summary = f"Policy file {source} is invalid"
    node, data = parse_document(text, source=source, kind="Policy file", error=PolicyError)
    if data is None:
        raise PolicyError(summary, [Problem(source, "is empty; an empty policy enforces nothing",
                                            "start from 'mlflow-supplychain policy init'")])
    if not isinstance(data, dict):
        raise PolicyError(summary, [Problem(source, f"must be a mapping, not a {type(data).__name__}",
                                            "start from 'mlflow-supplychain policy init'")])
    lines = dict(line_index(node))
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(source, lines, err) for err in exc.errors(include_url=False)]
        raise PolicyError(summary, problems) from None
    refused = []
    for issue, loc in principal_issues(policy):
        where = f"{source}:{nearest_line(lines, loc)} {'.'.join(str(p) for p in loc)}"
        if issue.refused:
            refused.append(Problem(where, f"{ascii(issue.principal)} {issue.what}",
                                   "write the name in one script, exactly as the account is "
                                   "named"))
        else:
            _logger.warning("%s: %s %s; check both are meant", where, ascii(issue.principal),
                            issue.what)
    if refused:
        raise PolicyError(summary, refused)
    return policy


def principal_issues(policy: Policy) -> list[tuple[PrincipalIssue, Loc]]:
    """Look-alike and mixed-script principals in ``policy``, each with where it is written."""
    where: dict[str, Loc] = {}
    for name, profile in policy.profiles.items():
        if profile.approvals is not None:
            for i, principal in enumerate(profile.approvals.approvers):
                where.setdefault(principal, ("profiles", name, "approvals", "approvers", i))
    for group, members in policy.identity.groups.items():
        where.setdefault(f"group:{group}", ("identity", "groups", group))
        for i, member in enumerate(members):
            where.setdefault(f"user:{member}", ("identity", "groups", group, i))
    return [(issue, where[issue.principal]) for issue in check_principals(where)]


def _problem(source: str, lines: dict[Loc, int], err: Any) -> Problem:
    loc: Loc = tuple(p for p in err["loc"] if p != "[key]")
    dotted = ".".join(str(p) for p in loc)
    line = nearest_line(lines, loc)
    where = f"{source}:{line}" + (f" {dotted}" if dotted else "")
    msg = str(err["msg"]).removeprefix("Value error, ")
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return Problem(where, "unknown key",
                       f"remove it or fix the spelling; allowed here: {', '.join(allowed)}"
                       if allowed else "remove it or fix the spelling")
    if kind == "missing":
        return Problem(where, "is required but missing", f"add '{loc[-1]}' here")
    if kind in {"enum", "literal_error"}:
        return Problem(where, f"{msg} (got {excerpt(repr(err.get('input')))})",
                       "use one of the listed values")
    return Problem(where, msg, _fix_for(kind))


def _fix_for(kind: str) -> str:
    return {
        "value_error": "",
        "assertion_error": "",
        "dict_type": "write a mapping (key: value lines)",
        "tuple_type": "write a list ([a, b] or '- a' lines)",
        "list_type": "write a list ([a, b] or '- a' lines)",
        "bool_type": "write true or false",
        "int_type": "write a whole number",
        "int_parsing": "write a whole number",
        "string_type": "write a string",
        "model_type": "write a mapping (key: value lines)",
    }.get(kind, "see 'mlflow-supplychain policy schema' for the expected shape")


def _allowed_keys(loc: Loc) -> list[str]:
    """Field names of the model found at ``loc`` in the Policy tree (best effort)."""
    model: Any = Policy
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(str(part))
        if field is None:
            # a dict of models: the key is a user name (profile, class); step into the value
            continue
        model = model_in(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(model.model_fields)
    return []
