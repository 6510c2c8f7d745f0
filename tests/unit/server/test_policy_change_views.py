"""View models of issue #17's page changes: blocking evidence, compliance cell, lineage SVG."""

from __future__ import annotations

from mlflow_supplychain.policy.decision import Decision, Violation
from mlflow_supplychain.policy.evidence import Ancestor, AncestorState
from mlflow_supplychain.policy.impact import Change, Outcome, classify
from mlflow_supplychain.policy.schema import Requirement
from mlflow_supplychain.server import lineage_view, page_views


def _decision(*codes: tuple[str, Requirement]) -> Decision:
    return Decision(model_name="m", version="1", target="production", profile="prod",
                    allowed=not codes, enforced=True, requirements=(),
                    violations=tuple(Violation(code=c, requirement=r, message=c, remediation="x")
                                     for c, r in codes),
                    policy_digest="sha256:" + "0" * 64, evidence_digest="sha256:" + "1" * 64)


def test_blocking_is_everything_an_approval_cannot_cure() -> None:
    flagged = _decision(("scan.flagged", Requirement.SCAN_PASSED),
                        ("approval.missing", Requirement.APPROVAL))
    assert [m.code for m in page_views.blocking(flagged)] == ["scan.flagged"]
    assert page_views.blocking(_decision(("approval.missing", Requirement.APPROVAL))) == ()
    assert page_views.blocking(None)  # could not evaluate: blocks
    assert page_views.compliance(flagged) == "blocked: scan.flagged"
    assert page_views.compliance(_decision(("approval.missing", Requirement.APPROVAL))) == (
        "needs approval only")
    assert page_views.compliance(_decision()) == "compliant"
    assert page_views.compliance(None).startswith("unknown")


def test_lineage_diagram_runs_oldest_to_newest_and_links_registry_ancestors() -> None:
    lineage = (Ancestor(uri="models:/ft/2", state=AncestorState.COMPLIANT),
               Ancestor(uri="hf-mirror://base@abc", state=AncestorState.EXTERNAL_PINNED))
    picture = lineage_view.diagram("adapter", "3", lineage, "compliant",
                                   link=lambda n, v: f"/v?{n}/{v}")
    assert picture is not None
    assert [n.state for n in picture.nodes] == ["external_pinned", "compliant", "self"]
    assert [n.href for n in picture.nodes] == [None, "/v?ft/2", None]
    assert len(picture.edges) == 2
    assert all(e.x1 < e.x2 for e in picture.edges)
    assert picture.width > picture.nodes[-1].x
    assert lineage_view.diagram("m", "1", (), "compliant") is None


def test_impact_classification() -> None:
    ok = Outcome(protected=True, allowed=True, enforced=True)
    denied = Outcome(protected=True, allowed=False, enforced=True, violations=("x: y",))
    audited = Outcome(protected=True, allowed=False, enforced=False, violations=("x: y",))
    unprotected = Outcome(protected=False, allowed=True, enforced=True)
    assert classify(ok, denied) is Change.BREAKS
    assert classify(ok, ok) is Change.UNCHANGED
    assert classify(denied, ok) is Change.FIXES
    assert classify(denied, denied) is Change.STILL_DENIED
    assert classify(audited, denied) is Change.BLOCKS  # audit -> enforce
    assert classify(unprotected, denied) is Change.BREAKS  # a newly protected target
