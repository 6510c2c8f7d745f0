"""The governance page: server-rendered HTML under ``<static prefix>/supplychain/``.

- ``GET  /supplychain/``        protected aliases (the version each points to, its compliance)
                                and pending transition requests, both paginated server-side;
- ``GET  /supplychain/version`` ``?name=&version=``: the evidence checklist per protected
                                target, scan findings, requests with approve/reject forms;
- ``GET  /supplychain/audit``   ``?name=``: the model's audit trail, newest first, paginated;
- ``GET  /supplychain/policy``  the active policy, its history and the impact of the last
                                change (admins only under basic-auth);
- ``POST /supplychain/action``  approve (optionally apply) or reject, from the forms; while the
                                gate would refuse the promotion for other reasons than the
                                approval, "approve & promote" is refused and "approve" needs
                                ``confirm_blocked=yes``;
- ``GET  /supplychain/static/supplychain.css``.

Routes are thin: gather with the gate and the workflow, build view models (``page_views``),
render. Actions go through ``request_actions`` -- the same code the REST endpoints use -- after
a CSRF check (``csrf``). Without an authenticated user the page is read-only.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import sqlalchemy
import yaml
from flask import Flask, Response, redirect, request
from jinja2 import Environment, PackageLoader, select_autoescape
from mlflow.exceptions import MlflowException
from mlflow.server.handlers import _add_static_prefix

from mlflow_supplychain.errors import ApprovalRefused, GovernanceError
from mlflow_supplychain.governance import attestations, audit, policy_history
from mlflow_supplychain.governance import requests as workflow
from mlflow_supplychain.governance.requests import RequestStatus
from mlflow_supplychain.policy.evidence import Target, TargetKind
from mlflow_supplychain.policy.schema import Policy
from mlflow_supplychain.registry import evidence_reader as facts
from mlflow_supplychain.server import csrf, lineage_view, page_views
from mlflow_supplychain.server import request_actions as actions
from mlflow_supplychain.server.identity import resolve_caller
from mlflow_supplychain.server.model_access import read_check
from mlflow_supplychain.server.numbers import parse_optional, version_text

_logger = logging.getLogger(__name__)

ROOT = "/supplychain"
OVERVIEW = ROOT + "/"
VERSION = ROOT + "/version"
AUDIT = ROOT + "/audit"
POLICY = ROOT + "/policy"
ACTION = ROOT + "/action"
STYLESHEET = ROOT + "/static/supplychain.css"
PAGES: dict[str, tuple[str, ...]] = {OVERVIEW: ("GET",), VERSION: ("GET",), AUDIT: ("GET",),
                                     POLICY: ("GET",), ACTION: ("POST",),
                                     STYLESHEET: ("GET",)}
PAGE_SIZE = 25
SECRET_ENV_VAR = "MLFLOW_FLASK_SERVER_SECRET_KEY"  # noqa: S105 - a variable name, not a secret
NOTICES = {"approved": "Approval recorded.", "applied": "Approved and promoted.",
           "not_applied": "Approval recorded; the promotion is still blocked (see checklist).",
           "rejected": "Request rejected."}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    # An approve button must not be clickjacked (MLflow's security middleware may still
    # downgrade X-Frame-Options to SAMEORIGIN; frame-ancestors in the CSP wins in browsers).
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_env = Environment(loader=PackageLoader("mlflow_supplychain.server", "templates"),
                   autoescape=select_autoescape(default=True), trim_blocks=True,
                   lstrip_blocks=True)


def url(path: str, **params: Any) -> str:
    """A page URL with MLflow's static prefix and the non-empty query parameters."""
    query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
    return _add_static_prefix(path) + (f"?{query}" if query else "")


def mlflow_model_url(name: str, version: str | None = None) -> str:
    """MLflow's own UI page of a model (or version); its router lives in the URL fragment."""
    from urllib.parse import quote

    base = _add_static_prefix("/") + "#/models/" + quote(name, safe="")
    return base + (f"/versions/{quote(version, safe='')}" if version else "")


_env.globals.update(url=url, mlflow_model_url=mlflow_model_url, OVERVIEW=OVERVIEW,
                    VERSION=VERSION, AUDIT=AUDIT, POLICY=POLICY, ACTION=ACTION,
                    STYLESHEET=STYLESHEET)


def _html(template: str, status: int = 200, **context: Any) -> Response:
    body = _env.get_template(template).render(**context)
    return Response(body, status=status, mimetype="text/html", headers=_SECURITY_HEADERS)


def _secret() -> str | None:
    return os.environ.get(SECRET_ENV_VAR) or None


def _viewer(policy: Policy) -> page_views.Viewer:
    who = resolve_caller(policy)
    if who is None:
        return page_views.Viewer(None, (), False)
    # The development header can be set by anyone and cannot come from a browser form.
    can_post = who.via != "unauthenticated-header" and _secret() is not None
    return page_views.Viewer(who.user, who.groups, can_post)


_exposure: list[Callable[[], tuple[str, ...]]] = []
"""The running server's exposure warnings (set by :func:`register`), shown on every page."""


def _common(policy: Policy, viewer: page_views.Viewer) -> dict[str, Any]:
    token = (csrf.issue_token(_secret() or "", viewer.user, int(time.time()))
             if viewer.can_post and viewer.user else None)
    warnings = [w for get in _exposure for w in get()]
    return {"viewer": viewer, "csrf_token": token, "policy_digest": policy.digest,
            "mode": policy.mode.value, "exposure_warnings": warnings}


def _number(text: str | None, name: str) -> int | None:
    """An optional number from the query or form (strict: see ``server.numbers``).

    Raises:
        MlflowException: INVALID_PARAMETER_VALUE, shown as a 400 page by ``_strict``.
    """
    return parse_optional(text, name)


def _strict(view: Callable[[], Response]) -> Callable[[], Response]:
    """Render a malformed parameter as a 400 page (never a 500)."""
    def wrapped() -> Response:
        try:
            return view()
        except MlflowException as exc:
            if exc.error_code != "INVALID_PARAMETER_VALUE":
                raise
            return Response(_env.get_template("error.html").render(
                message=exc.message, viewer=page_views.Viewer(None, (), False),
                csrf_token=None, policy_digest="", mode="", exposure_warnings=[]),
                status=400, mimetype="text/html", headers=_SECURITY_HEADERS)
    return wrapped


def register(app: Flask, store_getter: Callable[[], Any],
             exposure: Callable[[], tuple[str, ...]] = tuple) -> None:
    """Add the governance page's routes to MLflow's Flask ``app``; ``exposure`` gives the
    warnings every page shows (e.g. unauthenticated mode)."""
    _exposure[:] = [exposure]

    def context() -> tuple[Any, Policy]:
        store = store_getter()
        return store, store.gate.holder.policy

    def overview_view() -> Response:
        store, policy = context()
        viewer = _viewer(policy)
        after_name, after_alias = request.args.get("after_name"), request.args.get("after_alias")
        after = (after_name, after_alias) if after_name and after_alias is not None else None
        with store.ManagedSessionMaker() as session:
            page, next_after = facts.protected_alias_page(
                store, session, list(policy.protected.aliases), after=after, limit=PAGE_SIZE)
        # Models the viewer may not read are left out, as in MLflow's own model list (a page
        # may then be short; the "next" link still continues after it).
        can_read = read_check()
        rows = []
        for name, alias, version in page:
            if not can_read(name):
                continue
            try:
                decision = store.gate.evaluate(store, name, version,
                                               Target(kind=TargetKind.ALIAS, name=alias))
            except MlflowException:
                decision = None
            rows.append(page_views.alias_row(name, alias, str(version), decision))
        token = _number(request.args.get("req_token"), "req_token")
        with actions.governance_engine(store).connect() as conn:
            pending, next_token = workflow.list_requests(
                conn, status=RequestStatus.PENDING, max_results=PAGE_SIZE, page_token=token,
                workspace=actions.active_workspace(store))
        pending = [r for r in pending if can_read(r.model_name)]
        pending_rows = []
        for req in pending:  # a page of at most PAGE_SIZE: one evaluation each
            try:
                decision = store.gate.evaluate(store, req.model_name, req.version,
                                               Target.parse(req.target))
            except MlflowException:
                decision = None
            pending_rows.append((req, page_views.compliance(decision)))
        return _html("overview.html", aliases=rows, pending=pending_rows,
                     next_aliases=url(OVERVIEW, after_name=next_after[0],
                                      after_alias=next_after[1]) if next_after else None,
                     next_requests=url(OVERVIEW, req_token=next_token) if next_token else None,
                     **_common(policy, viewer))

    def version_page(store: Any, policy: Policy, name: str, version: str, *,
                     status: int = 200, error: str | None = None) -> Response:
        viewer = _viewer(policy)
        if not read_check()(name):
            return _html("error.html", status=403, message="Permission denied: you cannot "
                         "read this registered model.", **_common(policy, viewer))
        targets = [Target(kind=TargetKind.ALIAS, name=a) for a in policy.protected.aliases]
        targets += [Target(kind=TargetKind.STAGE, name=s) for s in policy.protected.stages]
        try:
            assessments = [store.gate.assess(store, name, version, t) for t in targets]
        except MlflowException as exc:
            return _html("error.html", status=exc.get_http_status_code(),
                         message=exc.message, **_common(policy, viewer))
        evidence = assessments[0][1] if assessments else None
        eng = actions.governance_engine(store)
        identity = evidence.identity_digest if evidence else None
        with eng.connect() as conn:  # this version's evidence only: keyed by its identity
            stored = attestations.latest(conn, identity) if identity else None
            reqs = workflow.list_requests(conn, identity_digest=identity,
                                          max_results=50)[0] if identity else []
        scan = None
        if stored is not None:
            scan = page_views.scan_view(stored.payload,
                                        stored.verified(attestations.configured_public_key()))
        decisions = {d.target: d for d, _e in assessments}
        rows = []
        for req in reqs:
            rows.append(page_views.request_row(req, viewer,
                                               actions.approval_rule(policy, req.target),
                                               evidence.creator if evidence else None,
                                               decisions.get(req.target)))
        with_lineage = next((e for _d, e in assessments if e.lineage), None)
        own = ("compliant" if assessments and any(d.allowed for d, _e in assessments)
               else "not compliant for any protected target")
        picture = lineage_view.diagram(
            name, version, with_lineage.lineage if with_lineage else (), own,
            link=lambda n, v: url(VERSION, name=n, version=v))
        return _html("version.html", status=status, name=name, version=version,
                     lineage=picture,
                     evidence=evidence, intake=page_views.intake_rows(evidence) if evidence
                     else [], checklists=page_views.checklists(assessments), scan=scan,
                     requests=rows, error=error,
                     notice=NOTICES.get(request.args.get("notice", "")),
                     **_common(policy, viewer))

    def version_view() -> Response:
        store, policy = context()
        name = request.args.get("name", "")
        raw = request.args.get("version", "")
        if not name or not raw:
            return _html("error.html", status=400, message="Give a model name and a version "
                         "number: ?name=<model>&version=<n>.", **_common(policy, _viewer(policy)))
        return version_page(store, policy, name, version_text(raw))

    def audit_view() -> Response:
        store, policy = context()
        name = request.args.get("name", "")
        if not name or "/" in name or ":" in name:
            # MLflow forbids '/' and ':' in model names; refusing them keeps the subject
            # prefix below from reaching into another model's records.
            return _html("error.html", status=400, message="Give a model name: ?name=<model>.",
                         **_common(policy, _viewer(policy)))
        if not read_check()(name):
            return _html("error.html", status=403, message="Permission denied: you cannot "
                         "read this registered model.", **_common(policy, _viewer(policy)))
        before = _number(request.args.get("before"), "before")
        with actions.governance_engine(store).connect() as conn:
            records, next_seq = audit.page_by_subject_prefix(conn, f"models:/{name}/",
                                                             before_seq=before, limit=50)
        return _html("audit.html", name=name, records=page_views.audit_rows(records),
                     next_page=url(AUDIT, name=name, before=next_seq) if next_seq else None,
                     **_common(policy, _viewer(policy)))

    def action_view() -> Response:
        store, policy = context()
        who = resolve_caller(policy)
        form = request.form
        if who is None or who.via == "unauthenticated-header":
            return _html("error.html", status=403, message="Approvals from this page need an "
                         "authenticated session: run the server with --auth (app "
                         "supplychain-auth) and sign in.", **_common(policy, _viewer(policy)))
        if not csrf.same_origin(request.host_url, request.headers.get("Origin"),
                                request.headers.get("Referer")) or not csrf.token_valid(
                _secret(), who.user, form.get("csrf_token"), int(time.time())):
            return _html("error.html", status=403, message="This form could not be verified "
                         "(CSRF check failed). Reload the page and try again.",
                         **_common(policy, _viewer(policy)))
        request_id = _number(form.get("request_id"), "request_id")
        action = form.get("action", "")
        comment = (form.get("comment") or "").strip()[:5000] or None
        if request_id is None or action not in ("approve", "approve_apply", "reject"):
            return _html("error.html", status=400, message="Unknown request or action.",
                         **_common(policy, _viewer(policy)))
        with actions.governance_engine(store).connect() as conn:
            try:
                subject = workflow.get_request(conn, request_id)
            except GovernanceError as exc:
                return _html("error.html", status=404, message=exc.diagnostics(),
                             **_common(policy, _viewer(policy)))
        if not read_check()(subject.model_name):
            return _html("error.html", status=403, message="Permission denied: you cannot "
                         "read this registered model.", **_common(policy, _viewer(policy)))
        if action != "reject":
            refusal = _blocked_approval(store, request_id, action, form.get("confirm_blocked"))
            if refusal is not None:
                req_now, message = refusal
                return version_page(store, policy, req_now.model_name, req_now.version,
                                    status=409, error=message)
        try:
            if action == "reject":
                req = actions.reject(store, policy, who, request_id, comment=comment)
                notice = "rejected"
            else:
                req, applied = actions.approve(store, policy, who, request_id, comment=comment,
                                               apply=action == "approve_apply")
                notice = ("applied" if applied else "not_applied") \
                    if action == "approve_apply" else "approved"
        except GovernanceError as exc:
            with actions.governance_engine(store).connect() as conn:
                try:
                    current = workflow.get_request(conn, request_id)
                except GovernanceError:
                    return _html("error.html", status=404, message=exc.diagnostics(),
                                 **_common(policy, _viewer(policy)))
            return version_page(store, policy, current.model_name, current.version,
                                status=403 if isinstance(exc, ApprovalRefused) else 409,
                                error=exc.diagnostics())
        except MlflowException as exc:
            return _html("error.html", status=exc.get_http_status_code(),
                         message=exc.message, **_common(policy, _viewer(policy)))
        target = url(VERSION, name=req.model_name, version=req.version, notice=notice)
        answer: Response = redirect(target, code=303)  # type: ignore[assignment]
        return answer

    def policy_view() -> Response:
        store, policy = context()
        viewer = _viewer(policy)
        state = store.gate.holder.state()
        with actions.governance_engine(store).connect() as conn:
            entries = policy_history.history(conn, limit=20)
            previous_digest = next((e.digest for e in entries if e.digest != policy.digest),
                                   None)
            previous = (policy_history.policy_content(conn, previous_digest)
                        if previous_digest else None)
        impact = None
        if previous is not None:
            try:
                impact = store.gate.impact_between(store, Policy.model_validate(previous),
                                                   policy)
            except (ValueError, sqlalchemy.exc.SQLAlchemyError) as exc:
                _logger.error("impact of the last policy change: %s", type(exc).__name__)
        return _html("policy.html", state=state, history=[
            (e, page_views.when(e.first_loaded_at)) for e in entries],
            active_yaml=yaml.safe_dump(policy.model_dump(mode="json"), sort_keys=False),
            previous_digest=previous_digest, impact=impact,
            **_common(policy, viewer))

    def stylesheet_view() -> Response:
        css = resources.files("mlflow_supplychain.server").joinpath(
            "static/supplychain.css").read_text(encoding="utf-8")
        return Response(css, mimetype="text/css",
                        headers={"Cache-Control": "max-age=300", "X-Content-Type-Options":
                                 "nosniff"})

    views = {OVERVIEW: overview_view, VERSION: version_view, AUDIT: audit_view,
             POLICY: policy_view, ACTION: action_view, STYLESHEET: stylesheet_view}
    for path, view in views.items():
        full = _add_static_prefix(path)
        app.add_url_rule(full, endpoint=f"mlflow_supplychain_page:{full}", view_func=_strict(view),
                         methods=list(PAGES[path]))


def _blocked_approval(store: Any, request_id: int, action: str, confirmed: str | None
                      ) -> tuple[Any, str] | None:
    """Refuse approving a promotion the gate would refuse for other reasons than approvals:
    "approve & promote" always, "approve" unless explicitly confirmed. Returns the request
    and the message, or None when the approval may go ahead (or the request is unknown: the
    workflow reports that)."""
    try:
        with actions.governance_engine(store).connect() as conn:
            req = workflow.get_request(conn, request_id)
        decision = store.gate.evaluate(store, req.model_name, req.version,
                                       Target.parse(req.target))
    except GovernanceError:
        return None
    except MlflowException:
        decision = None
    stops = page_views.blocking(decision)
    if not stops:
        return None
    codes = ", ".join(m.code for m in stops)
    if action == "approve_apply":
        return req, (f"Promotion is disabled while the gate would refuse it ({codes}); "
                     "fix the evidence first, or approve only (with confirmation).")
    if confirmed != "yes":
        return req, (f"The evidence cannot pass now ({codes}); tick the confirmation to "
                     "approve it anyway.")
    return None


def page_routes() -> list[tuple[str, str, str]]:
    """(route, path with static prefix, method) of every page route, for basic-auth."""
    return [(p, _add_static_prefix(p), m) for p, methods in PAGES.items() for m in methods]
