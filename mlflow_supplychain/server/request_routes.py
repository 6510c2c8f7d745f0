"""Transition-request endpoints: create, approve (and optionally apply), reject, cancel, list.

Under ``/api/2.0/mlflow-supplychain/transition-requests/`` and the ``/ajax-api/`` twin. Every
response carries the current gate Decision for the requested promotion, so a requester sees
what is still missing. Identity comes from :mod:`server.identity`; without one, every write is
refused with an explanation (HTTP 401).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_CONFLICT,
    RESOURCE_DOES_NOT_EXIST,
    UNAUTHENTICATED,
)
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_supplychain.errors import (
    ApprovalRefused,
    GovernanceError,
    RequestConflict,
    RequestNotFound,
)
from mlflow_supplychain.governance import requests as workflow
from mlflow_supplychain.governance.requests import RequestStatus, TransitionRequest
from mlflow_supplychain.policy.decision import Decision
from mlflow_supplychain.policy.evidence import Target
from mlflow_supplychain.policy.schema import Policy
from mlflow_supplychain.server import request_actions as actions
from mlflow_supplychain.server.identity import UNKNOWN_CALLER_FIX, Caller, resolve_caller

PREFIX = "/mlflow-supplychain/transition-requests"
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "create": ("POST",), "approve": ("POST",), "reject": ("POST",), "cancel": ("POST",),
    "list": ("GET",), "get": ("GET",),
}
# RESOURCE_CONFLICT is HTTP 409; INVALID_STATE would be a 500, which MLflow's client retries.
_STATUS_CODES = {ApprovalRefused: PERMISSION_DENIED, RequestConflict: RESOURCE_CONFLICT,
                 RequestNotFound: RESOURCE_DOES_NOT_EXIST}


def _params() -> dict[str, Any]:
    if request.method == "GET":
        return dict(request.args)
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _text(params: dict[str, Any], name: str, *, required: bool = True,
          limit: int = 5000) -> str | None:
    value = params.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise MlflowException(f"Missing value for required parameter '{name}'.",
                                  INVALID_PARAMETER_VALUE)
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise MlflowException(f"Parameter '{name}' must be a string of at most {limit} "
                              "characters.", INVALID_PARAMETER_VALUE)
    return value


def _request_id(params: dict[str, Any]) -> int:
    raw = _text(params, "request_id")
    assert raw is not None
    if not raw.isdigit():
        raise MlflowException("Parameter 'request_id' must be a positive integer.",
                              INVALID_PARAMETER_VALUE)
    return int(raw)


def _as_mlflow(exc: GovernanceError) -> MlflowException:
    code = next((c for t, c in _STATUS_CODES.items() if isinstance(exc, t)),
                INVALID_PARAMETER_VALUE)
    return MlflowException(exc.diagnostics(), code)


def register(app: Flask, store_getter: Callable[[], Any], paths: Callable[[str], list[str]]
             ) -> None:
    """Add the transition-request endpoints to MLflow's Flask ``app``."""

    def context() -> tuple[Any, Policy]:
        store = store_getter()
        return store, store.gate.holder.policy

    def caller(policy: Policy) -> Caller:
        who = resolve_caller(policy)
        if who is None:
            raise MlflowException(
                "Transition requests need to know who you are, and this request is not "
                f"authenticated. Fix: {UNKNOWN_CALLER_FIX}.", UNAUTHENTICATED)
        return who

    def decision_for(store: Any, req: TransitionRequest) -> Decision:
        decision: Decision = store.gate.evaluate(store, req.model_name, req.version,
                                                 Target.parse(req.target))
        return decision

    def answer(store: Any, req: TransitionRequest, **extra: Any) -> Response:
        decision = decision_for(store, req)
        return jsonify({"request": req.as_dict(), "decision": decision.model_dump(mode="json"),
                        "explanation": decision.explain(), **extra})

    @catch_mlflow_exception
    def create_view() -> Response:
        store, policy = context()
        params = _params()
        who = caller(policy)
        name, version = _text(params, "name"), _text(params, "version")
        target_text = _text(params, "target")
        assert name and version and target_text
        target, _ = actions.rule_for(policy, target_text)
        decision, _evidence, record = store.gate.assess_record(store, name, version, target)
        try:
            with actions.governance_engine(store).begin() as conn:
                req = workflow.create_request(
                    conn, identity=record.identity(policy.reserved_tag_prefix),
                    target=str(target),
                    requester=who.user, comment=_text(params, "comment", required=False),
                    evidence_digest=decision.evidence_digest,
                    policy_digest=decision.policy_digest, now_ms=actions.now_ms())
        except GovernanceError as exc:
            raise _as_mlflow(exc) from None
        return answer(store, req)

    @catch_mlflow_exception
    def approve_view() -> Response:
        store, policy = context()
        params = _params()
        who = caller(policy)
        try:
            req, applied = actions.approve(
                store, policy, who, _request_id(params),
                comment=_text(params, "comment", required=False),
                apply=params.get("apply") in (True, "true", "True", "1"))
        except GovernanceError as exc:
            raise _as_mlflow(exc) from None
        return answer(store, req, applied=applied)

    @catch_mlflow_exception
    def reject_view() -> Response:
        store, policy = context()
        params = _params()
        who = caller(policy)
        try:
            req = actions.reject(store, policy, who, _request_id(params),
                                 comment=_text(params, "comment", required=False))
        except GovernanceError as exc:
            raise _as_mlflow(exc) from None
        return answer(store, req)

    @catch_mlflow_exception
    def cancel_view() -> Response:
        store, policy = context()
        params = _params()
        who = caller(policy)
        try:
            with actions.governance_engine(store).begin() as conn:
                request_id = actions.request_in_workspace(store, conn, _request_id(params)).id
                req = workflow.cancel(conn, request_id, actor=who.user,
                                      comment=_text(params, "comment", required=False),
                                      policy_digest=policy.digest, now_ms=actions.now_ms())
        except GovernanceError as exc:
            raise _as_mlflow(exc) from None
        return answer(store, req)

    @catch_mlflow_exception
    def list_view() -> Response:
        store, _policy = context()
        params = _params()
        status_text = _text(params, "status", required=False)
        try:
            status = RequestStatus(status_text) if status_text else None
        except ValueError:
            raise MlflowException(
                f"Parameter 'status' must be one of {', '.join(s.value for s in RequestStatus)}.",
                INVALID_PARAMETER_VALUE) from None
        max_results = _text(params, "max_results", required=False) or "100"
        token = _text(params, "page_token", required=False)
        if not max_results.isdigit() or (token is not None and not token.isdigit()):
            raise MlflowException("max_results and page_token must be positive integers.",
                                  INVALID_PARAMETER_VALUE)
        with actions.governance_engine(store).connect() as conn:
            items, next_token = workflow.list_requests(
                conn, model_name=_text(params, "name", required=False),
                version=_text(params, "version", required=False), status=status,
                max_results=int(max_results), page_token=int(token) if token else None,
                workspace=actions.active_workspace(store))
        return jsonify({"requests": [r.as_dict() for r in items],
                        "next_page_token": str(next_token) if next_token else None})

    @catch_mlflow_exception
    def get_view() -> Response:
        store, _policy = context()
        try:
            with actions.governance_engine(store).connect() as conn:
                req = actions.request_in_workspace(store, conn, _request_id(_params()))
        except GovernanceError as exc:
            raise _as_mlflow(exc) from None
        return answer(store, req)

    views = {"create": create_view, "approve": approve_view, "reject": reject_view,
             "cancel": cancel_view, "list": list_view, "get": get_view}
    for action, view in views.items():
        for path in paths(f"{PREFIX}/{action}"):
            app.add_url_rule(path, endpoint=f"mlflow_supplychain_tr_{action}:{path}",
                             view_func=view, methods=list(ENDPOINTS[action]))

