"""Transition requests and approvals on a real database (SQLite; PostgreSQL when configured)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from mlflow_supplychain.errors import ApprovalRefused, RequestConflict, RequestNotFound
from mlflow_supplychain.governance import audit, db, requests
from mlflow_supplychain.governance.requests import RequestStatus
from mlflow_supplychain.policy.schema import ApprovalRule
from mlflow_supplychain.version_identity import VersionIdentity

POLICY = "sha256:" + "1" * 64
DIGEST = "sha256:" + "2" * 64
OTHER = "sha256:" + "3" * 64
RULE = ApprovalRule(min=1, approvers=("user:lead", "group:ml-security"))
TWO = ApprovalRule(min=2, approvers=("group:ml-security",))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    uri = (f"sqlite:///{tmp_path / 'mlflow.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_uri"))
    eng = db.create_engine(uri)
    db.upgrade(eng)
    yield eng
    eng.dispose()


def _identity(version: str = "1", **changes: object) -> VersionIdentity:
    fields: dict[str, object] = {"workspace": "default", "name": "fraud", "version": version,
                                 "created_at": 1, "storage_location": "s3://b/fraud", "uid": ""}
    return VersionIdentity.model_validate({**fields, **changes})


def _create(eng: Engine, version: str = "1", requester: str = "carol",
            identity: VersionIdentity | None = None) -> int:
    with eng.begin() as conn:
        return requests.create_request(conn, identity=identity or _identity(version),
                                       target="production", requester=requester, comment="please",
                                       evidence_digest=DIGEST, policy_digest=POLICY, now_ms=1).id


def _approve(eng: Engine, rid: int, who: str, groups: tuple[str, ...] = ("ml-security",),
             rule: ApprovalRule = RULE, digest: str = DIGEST) -> requests.TransitionRequest:
    return requests.approve(eng, rid, approver=who, groups=groups, comment="ok", rule=rule,
                            creator="alice", current_evidence_digest=digest,
                            policy_digest=POLICY, now_ms=2)


def test_approve_and_apply(engine: Engine) -> None:
    rid = _create(engine)
    req = _approve(engine, rid, "bob")
    assert req.status is RequestStatus.APPROVED and req.approvals[0].approver == "bob"
    with engine.begin() as conn:
        assert requests.mark_applied(conn, rid, actor="bob", policy_digest=POLICY,
                                     now_ms=3).status is RequestStatus.APPLIED
        evidence = requests.approvals_for_version(conn, _identity().digest())
        # keyed by identity: the same name and number with another identity has none
        for other in (_identity(created_at=2), _identity(workspace="team-b"),
                      _identity(uid="a" * 32), _identity(name="fraud2")):
            assert requests.approvals_for_version(conn, other.digest()) == ()
    assert [(a.approver, a.requester, a.evidence_digest) for a in evidence] == [
        ("bob", "carol", DIGEST)]
    with engine.connect() as conn:
        report = audit.verify(conn)
        actions = [r.action for r in audit.iter_records(conn)]
    assert report.ok and actions == ["request.create", "request.approve", "request.apply"]


@pytest.mark.parametrize(("who", "groups", "needle"), [
    ("carol", ("ml-security",), "requested this promotion"),
    ("alice", ("ml-security",), "created this model version"),
    ("dave", (), "not an authorised approver"),
])
def test_separation_of_duties_and_authorisation(engine: Engine, who: str,
                                                groups: tuple[str, ...], needle: str) -> None:
    rid = _create(engine)
    with pytest.raises(ApprovalRefused, match=needle):
        _approve(engine, rid, who, groups)
    with engine.connect() as conn:
        assert requests.get_request(conn, rid).status is RequestStatus.PENDING
        assert [r.action for r in audit.iter_records(conn)][-1] == "request.approve_refused"


def test_n_of_m_needs_distinct_people(engine: Engine) -> None:
    rid = _create(engine)
    assert _approve(engine, rid, "bob", rule=TWO).status is RequestStatus.PENDING
    with pytest.raises(ApprovalRefused, match="already approved"):
        _approve(engine, rid, "bob", rule=TWO)
    assert _approve(engine, rid, "erin", rule=TWO).status is RequestStatus.APPROVED


def test_changed_evidence_makes_the_request_stale(engine: Engine) -> None:
    rid = _create(engine)
    with pytest.raises(ApprovalRefused, match="stale"):
        _approve(engine, rid, "bob", digest=OTHER)
    with engine.connect() as conn:
        assert requests.get_request(conn, rid).status is RequestStatus.STALE
    with pytest.raises(RequestConflict, match="stale"):
        _approve(engine, rid, "bob")


def test_reject_and_cancel_rules(engine: Engine) -> None:
    rid = _create(engine)
    with engine.begin() as conn, pytest.raises(ApprovalRefused, match="not an authorised"):
        requests.reject(conn, rid, actor="dave", groups=(), comment=None, rule=RULE,
                        policy_digest=POLICY, now_ms=2)
    with engine.begin() as conn:
        assert requests.reject(conn, rid, actor="bob", groups=("ml-security",), comment="no",
                               rule=RULE, policy_digest=POLICY,
                               now_ms=2).status is RequestStatus.REJECTED
    rid2 = _create(engine, version="2")
    with engine.begin() as conn, pytest.raises(ApprovalRefused, match="only its requester"):
        requests.cancel(conn, rid2, actor="bob", comment=None, policy_digest=POLICY, now_ms=3)
    with engine.begin() as conn:
        assert requests.cancel(conn, rid2, actor="carol", comment=None, policy_digest=POLICY,
                               now_ms=3).status is RequestStatus.CANCELLED
        assert requests.approvals_for_version(conn, _identity("2").digest()) == ()


def test_one_open_request_per_promotion(engine: Engine) -> None:
    _create(engine)
    with pytest.raises(RequestConflict, match="already open"):
        _create(engine)
    _create(engine, identity=_identity(created_at=5))  # a re-created v1 is another version
    with engine.connect() as conn, pytest.raises(RequestNotFound):
        requests.get_request(conn, 999)


def test_list_filters_and_paginates(engine: Engine) -> None:
    ids = [_create(engine, version=str(v)) for v in range(1, 8)]
    with engine.connect() as conn:
        page, token = requests.list_requests(conn, model_name="fraud", max_results=3)
        assert [r.id for r in page] == ids[::-1][:3] and token is not None
        rest, token2 = requests.list_requests(conn, model_name="fraud", max_results=10,
                                              page_token=token)
        assert [r.id for r in rest] == ids[::-1][3:] and token2 is None
        pending, _ = requests.list_requests(conn, status=RequestStatus.PENDING, version="3")
        assert [r.version for r in pending] == ["3"]


def test_parallel_duplicate_approvals_count_once(engine: Engine) -> None:
    rid = _create(engine)
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            _approve(engine, rid, "bob", rule=TWO)
            outcomes.append("ok")
        except (ApprovalRefused, RequestConflict):
            outcomes.append("refused")
        except Exception as exc:  # noqa: BLE001 - SQLite may report a busy database
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1, outcomes
    with engine.connect() as conn:
        req = requests.get_request(conn, rid)
        assert len(req.approvals) == 1 and req.status is RequestStatus.PENDING
        assert audit.verify(conn).ok
