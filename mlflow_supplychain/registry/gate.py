"""The registry gate: what the store checks before each write, and how a "no" is reported.

The store (``store.py``) stays a thin subclass that calls one method here before delegating to
MLflow. This module gathers facts (``evidence_reader``), asks the pure core (``policy.engine``,
``registry.tags``) and translates the answer into MLflow errors:

- an unmet promotion profile, a reserved-tag write, a forbidden source, removing a promoted
  version -> ``PERMISSION_DENIED`` (HTTP 403; never a 5xx, which MLflow's client retries);
- an invalid intake tag value -> ``INVALID_PARAMETER_VALUE`` (HTTP 400).

In audit mode nothing is refused: each would-be denial is logged at WARNING, and promotion
decisions are also recorded on the version as a reserved ``supplychain.gate.decision.*`` tag.

Prompts are never blocked (see :attr:`VersionRecord.is_prompt` for how one is recognised).
Unprotected aliases/stages and tags outside our namespace cost one dict lookup or one
``startswith``; only protected targets and our own tags reach the database.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mlflow.entities.model_registry import ModelVersionTag
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.utils.validation import _validate_model_name, _validate_model_version

from mlflow_supplychain.errors import Problem
from mlflow_supplychain.governance.recorder import AuditRecorder
from mlflow_supplychain.policy.decision import Decision
from mlflow_supplychain.policy.engine import evaluate, source_violation
from mlflow_supplychain.policy.evidence import Evidence, Target, TargetKind
from mlflow_supplychain.policy.impact import ImpactReport
from mlflow_supplychain.policy.schema import Mode, Policy
from mlflow_supplychain.registry import evidence_reader as facts
from mlflow_supplychain.registry import tags as tagrules
from mlflow_supplychain.registry.caller import Caller, resolve_caller
from mlflow_supplychain.registry.evidence_reader import EvidenceReader, VersionRecord
from mlflow_supplychain.registry.identity import current_user
from mlflow_supplychain.registry.impact import assess_impact
from mlflow_supplychain.registry.uids import reissue_uids
from mlflow_supplychain.server.policy_holder import PolicyHolder
from mlflow_supplychain.version_identity import DEFAULT_WORKSPACE, VersionIdentity, new_uid

_logger = logging.getLogger(__name__)

_FIXED_MODEL_SOURCE = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>[1-9][0-9]*)/?$")


def _tag_pairs(tags: Iterable[Any] | None) -> list[tuple[str, str]]:
    return [(t.key, t.value or "") for t in tags or ()]


def _is_prompt_tagged(tags: Iterable[Any] | None) -> bool:
    return any(t.key == facts.IS_PROMPT_TAG_KEY and (t.value or "").lower() == "true"
               for t in tags or ())


def _reserved_writes(tags: Iterable[Any], prefix: str) -> list[Problem]:
    return [tagrules.reserved_problem(t.key, "writes", prefix) for t in tags
            if tagrules.classify(t.key, prefix) is tagrules.TagKind.RESERVED
            and not tagrules.is_plugin_write()]


def _tag_change_problems(key: str, value: str | None, prefix: str) -> tagrules.TagProblems:
    """What is wrong with setting (``value``) or deleting (None) tag ``key``; empty when the
    tag is outside our namespace or the change is fine."""
    if tagrules.classify(key, prefix) is tagrules.TagKind.OTHER:
        return tagrules.TagProblems()
    if value is None:
        problem = tagrules.check_tag_delete(key, prefix)
        return tagrules.TagProblems(reserved=(problem,) if problem else ())
    return tagrules.check_tag_writes([(key, value)], prefix)


def protected_target(policy: Policy, target: Target) -> tuple[Target, str] | None:
    """The protected spelling of ``target`` and its profile, or None when unprotected.

    Aliases match case-insensitively: on MySQL (case-insensitive collations) setting
    'PRODUCTION' would move the 'production' alias, so every spelling is guarded.
    """
    if target.kind is TargetKind.STAGE:
        profile = policy.profile_for_stage(target.name)
        return (target, profile) if profile else None
    profile = policy.profile_for_alias(target.name)
    if profile is not None:
        return target, profile
    lowered = target.name.lower()
    for alias, name in policy.protected.aliases.items():
        if alias.lower() == lowered:
            return Target(kind=TargetKind.ALIAS, name=alias), name
    return None


def _message(summary: str, problems: Sequence[Problem]) -> str:
    return "\n".join([summary, *(f"  - {p.render()}" for p in problems)])


def _with_creator(tags: list[Any], prefix: str, creator: Caller | None) -> list[Any]:
    """``tags`` with the creator's reserved tag: whoever the request identifies (basic-auth,
    pinned proxy or the development header), written inside ``create_model_version`` so it
    lives and dies with the version row. Callers cannot send it (it is reserved); without an
    identity it is absent, and separation of duties then refuses every approval."""
    key = prefix + tagrules.CREATED_BY_SUFFIX
    kept = [t for t in tags if t.key != key]
    if creator is not None:
        kept.append(ModelVersionTag(key, creator.user))
    return kept


class PromotionBlocked(MlflowException):
    """A promotion the policy denies; carries the Decision so the store can audit it."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.explain(), error_code=PERMISSION_DENIED)
        self.decision = decision


class RegistryGate:
    """Checks registry writes against the current policy; raises MlflowException to refuse."""

    def __init__(self, holder: PolicyHolder, reader: EvidenceReader) -> None:
        self._holder = holder
        self._reader = reader
        self._recorder: AuditRecorder | None = None

    def bind_database(self, engine: Any) -> None:
        """Use the store's database for our evidence providers (approvals, attestations) and
        the audit log, migrating our tables first.

        Raises:
            RegistryError: our tables cannot be created or migrated.
        """
        self._recorder = AuditRecorder.for_store_engine(engine)
        self._reader.bind(engine)
        state = self._holder.state()
        self._recorder.policy_event("policy.load", state.path, state.policy,
                                    loaded_at=state.loaded_at)
        recorder = self._recorder
        self._holder.add_listener(lambda event, st, previous: recorder.policy_event(
            event, st.path, st.policy, loaded_at=st.loaded_at, previous=previous,
            detail=st.reload_error))

    @property
    def recorder(self) -> AuditRecorder | None:
        return self._recorder

    def serving_processes(self) -> list[dict[str, object]]:
        """Every server process seen in the last ten minutes and the policy digest it serves
        (this one refreshed first); [] when no database is bound."""
        if self._recorder is None:
            return []
        state = self._holder.state()
        return self._recorder.serving(state.policy.digest, state.loaded_at)

    def audit(self, decision: Decision | None, *, applied: bool = False) -> None:
        """Append a protected-target decision to the audit log (after the registry write);
        ``applied`` says the promotion was written."""
        if decision is not None and self._recorder is not None:
            self._recorder.decision(decision, current_user(), applied=applied)

    def audit_applied_in(self, session: Any, decision: Decision | None) -> None:
        """Append the decision of a promotion being written in ``session`` to the audit log,
        in that same transaction: the promotion and its record commit together or neither
        does (a failure propagates and the write is refused)."""
        if decision is not None and self._recorder is not None:
            self._recorder.decision_in(session.connection(), decision, current_user(),
                                       applied=True)

    @property
    def holder(self) -> PolicyHolder:
        return self._holder

    # -- refusing --------------------------------------------------------------------------

    def _refuse(self, policy: Policy, error_code: int, summary: str,
                problems: Sequence[Problem]) -> None:
        message = _message(summary, problems)
        if policy.mode is Mode.AUDIT:
            _logger.warning("audit mode, not enforced: %s", message)
            return
        _logger.info("refused: %s", summary)
        raise MlflowException(message, error_code=error_code)

    def _refuse_tags(self, policy: Policy, summary: str, reserved: Sequence[Problem],
                     invalid: Sequence[Problem]) -> None:
        if reserved:
            self._refuse(policy, PERMISSION_DENIED, summary, [*reserved, *invalid])
        elif invalid:
            self._refuse(policy, INVALID_PARAMETER_VALUE, summary, invalid)

    # -- registered models -----------------------------------------------------------------

    def check_create_registered_model(self, name: str, tags: Iterable[Any] | None) -> None:
        """Refuse reserved tags and invalid intake tags on a new registered model.

        Raises:
            MlflowException: PERMISSION_DENIED or INVALID_PARAMETER_VALUE (enforce mode).
        """
        pairs = _tag_pairs(tags)
        if not pairs:
            return
        policy = self._holder.policy
        problems = tagrules.check_tag_writes(pairs, policy.reserved_tag_prefix)
        if _is_prompt_tagged(tags):  # prompts: intake rules do not apply, reserved tags do
            problems = tagrules.TagProblems(reserved=problems.reserved)
        if problems:
            self._refuse_tags(policy, f"Registered model {name!r} cannot be created with these "
                              "tags", problems.reserved, problems.invalid)

    def check_registered_model_tag(self, store: Any, name: str, key: str,
                                   value: str | None) -> None:
        """Refuse a reserved-tag write/delete, or an invalid intake value, on a registered model.

        ``value`` None means the tag is being deleted.

        Raises:
            MlflowException: PERMISSION_DENIED or INVALID_PARAMETER_VALUE (enforce mode).
        """
        def is_prompt() -> bool:
            with store.ManagedSessionMaker() as session:
                return facts.registered_model_is_prompt(store, session, name)

        self._check_tag_change(key, value, f"registered model {name!r}", is_prompt)

    def check_registered_model_removal(self, store: Any, name: str, action: str) -> None:
        """Refuse renaming/deleting a registered model while one of its versions is promoted.

        Raises:
            MlflowException: PERMISSION_DENIED (enforce mode).
        """
        _validate_model_name(name)
        self._refuse_if_promoted(
            store, name, None,
            f"Registered model {name!r} cannot be {action}: it has promoted versions")

    def after_removal(self, store: Any, name: str, *, version: Any = None,
                      new_name: str | None = None) -> None:
        """After a rename (``new_name``) or delete of a registered model, or the delete of one
        ``version``: audit it and mark its open requests stale. A rename also gives every
        version a new identity (new uid), so no evidence gathered under the old name counts
        again, even after renaming back.

        Never raises: the registry change already happened; a failure is logged.
        """
        policy = self._holder.policy
        reissued = 0
        if new_name is not None:
            try:
                reissued = reissue_uids(store, new_name,
                                        policy.reserved_tag_prefix + tagrules.VERSION_UID_SUFFIX)
            except Exception as exc:  # noqa: BLE001 - identities still differ by name
                _logger.error("could not reissue version uids of %r: %s", new_name,
                              type(exc).__name__)
        if self._recorder is None:
            return
        action = ("registry.rename" if new_name is not None else
                  "registry.delete_version" if version is not None else "registry.delete")
        workspace = getattr(store, "_get_active_workspace", lambda: DEFAULT_WORKSPACE)()
        self._recorder.removal(action=action, workspace=str(workspace), name=name,
                               version=str(version) if version is not None else None,
                               new_name=new_name, user=current_user(),
                               policy_digest=policy.digest, reissued=reissued)

    # -- model versions --------------------------------------------------------------------

    def prepare_version_tags(self, store: Any, name: str, source: str,
                             tags: Iterable[Any] | None) -> list[Any]:
        """Check a new version's tags and source; return the tags to store.

        Reserved tags a caller sends are refused, except those copied verbatim from the source
        version of ``copy_model_version`` (``source`` = ``models:/<name>/<version>``): they
        are dropped, not copied, because evidence is bound to one name and version. The
        creator (any identity source) is recorded as a reserved tag for separation of duties.

        Raises:
            MlflowException: PERMISSION_DENIED (reserved tag, source not allowed) or
                INVALID_PARAMETER_VALUE (intake value) in enforce mode.
        """
        tag_list = list(tags or ())
        policy = self._holder.policy
        prefix = policy.reserved_tag_prefix
        uid_key = prefix + tagrules.VERSION_UID_SUFFIX
        if tagrules.is_plugin_write():
            return [*(t for t in tag_list if t.key != uid_key), ModelVersionTag(uid_key, new_uid())]
        if _is_prompt_tagged(tag_list) and source in facts.PROMPT_SOURCES:
            # Prompts are never gated, but they may not carry reserved tags either: a prompt
            # whose marker is removed later must not leave forged evidence on a version.
            self._refuse_tags(policy, f"A prompt version of {name!r} cannot be created",
                              _reserved_writes(tag_list, prefix), ())
            return tag_list
        kept: list[Any] = []
        reserved: list[Problem] = []
        invalid: list[Problem] = []
        copied: dict[str, str] | None = None
        dropped = 0
        for tag in tag_list:
            kind = tagrules.classify(tag.key, prefix)
            if kind is tagrules.TagKind.RESERVED:
                if copied is None:
                    copied = self._copied_reserved_tags(store, source, prefix)
                if copied.get(tag.key) == (tag.value or ""):
                    dropped += 1
                    continue
                reserved.append(tagrules.reserved_problem(tag.key, "writes", prefix))
            elif kind is tagrules.TagKind.INTAKE and (
                    problem := tagrules.intake_problem(tag.key, tag.value, prefix)):
                invalid.append(problem)
            kept.append(tag)
        violation = source_violation(policy, source)
        if violation is not None:
            reserved.append(Problem("source", violation.message, violation.remediation))
        self._refuse_tags(policy, f"A version of {name!r} cannot be created", reserved, invalid)
        if dropped:
            _logger.info("not copying %d governance tag(s) from %s to a new version of %r: "
                         "evidence is bound to the original version", dropped, source, name)
        kept = _with_creator(kept, prefix, resolve_caller(policy))
        # part of the version's identity: tells a re-created version from the one before it
        kept = [t for t in kept if t.key != uid_key]
        kept.append(ModelVersionTag(uid_key, new_uid()))
        return kept

    def _copied_reserved_tags(self, store: Any, source: str, prefix: str) -> dict[str, str]:
        match = _FIXED_MODEL_SOURCE.match(source or "")
        if match is None:
            return {}
        with store.ManagedSessionMaker() as session:
            record = facts.read_version(store, session, match["name"], int(match["version"]))
        if record is None:
            return {}
        return {k: v for k, v in record.tags.items()
                if tagrules.classify(k, prefix) is tagrules.TagKind.RESERVED}

    def check_version_tag(self, store: Any, name: str, version: Any, key: str,
                          value: str | None) -> None:
        """Refuse a reserved-tag write/delete, or an invalid intake value, on a version.

        Raises:
            MlflowException: PERMISSION_DENIED or INVALID_PARAMETER_VALUE (enforce mode).
        """
        def is_prompt() -> bool:
            record = self._record(store, name, version)
            return record is not None and record.is_prompt

        self._check_tag_change(key, value, f"{name!r} version {version}", is_prompt)

    def check_version_removal(self, store: Any, name: str, version: Any) -> None:
        """Refuse deleting a version that a protected alias or stage holds.

        Raises:
            MlflowException: PERMISSION_DENIED (enforce mode).
        """
        _validate_model_name(name)
        number = _validate_model_version(version)
        self._refuse_if_promoted(store, name, number,
                                 f"Version {number} of {name!r} cannot be deleted: it is promoted")

    # -- shared by registered models and versions ------------------------------------------

    def _check_tag_change(self, key: str, value: str | None, owner: str,
                          is_prompt: Callable[[], bool]) -> None:
        """Refuse setting (``value``) or deleting (None) tag ``key`` of ``owner`` when our tag
        rules object to it. ``is_prompt`` is asked (it reads the database) only then: prompts
        are never blocked."""
        policy = self._holder.policy
        action = "deleted" if value is None else "set"
        # normalised like reserved keys: MySQL matches tag keys case-insensitively
        if key.strip().lower() == facts.IS_PROMPT_TAG_KEY and not tagrules.is_plugin_write():
            # Changing the marker turns a prompt into a model or back, across the gate's
            # exemption; a prompt stays a prompt (create a model version instead).
            self._refuse(policy, PERMISSION_DENIED, f"Tag {key!r} of {owner} cannot be "
                         f"{action}", [Problem(f"tag {key!r}", "marks prompts, which the gate "
                                               "exempts; it cannot be changed after creation",
                                               "register a model version (or create a prompt) "
                                               "instead of converting one into the other")])
        problems = _tag_change_problems(key, value, policy.reserved_tag_prefix)
        if not problems:
            return
        if not problems.reserved and is_prompt():
            return  # prompts are exempt from intake rules, never from the reserved namespace
        self._refuse_tags(policy, f"Tag {key!r} of {owner} cannot be {action}",
                          problems.reserved, problems.invalid)

    def _refuse_if_promoted(self, store: Any, name: str, version: int | None,
                            summary: str) -> None:
        """Refuse removing ``name`` (every version when ``version`` is None) while a protected
        alias or stage holds one of its versions."""
        policy = self._holder.policy
        with store.ManagedSessionMaker() as session:
            promoted = self._promoted(store, session, policy, name, version=version)
        if promoted:
            self._refuse(policy, PERMISSION_DENIED, summary, promoted)

    def _promoted(self, store: Any, session: Any, policy: Policy, name: str,
                  version: int | None) -> list[Problem]:
        """Problems naming each protected alias/stage holding a (non-prompt) version."""
        holders: dict[int, list[str]] = {}
        aliases = facts.protected_alias_versions(store, session, name,
                                                 list(policy.protected.aliases))
        for alias, number in aliases.items():
            holders.setdefault(number, []).append(f"alias {alias!r}")
        stages = facts.versions_in_stages(store, session, name, list(policy.protected.stages))
        for number, stage in stages.items():
            holders.setdefault(number, []).append(f"stage {stage!r}")
        if version is not None:
            holders = {version: holders[version]} if version in holders else {}
        problems = []
        for number, where in sorted(holders.items()):
            record = facts.read_version(store, session, name, number)
            if record is None or record.is_prompt:
                continue
            problems.append(Problem(
                f"version {number}", f"is held by protected {', '.join(where)}",
                "point the alias at another version (or delete the alias) and move the version "
                "out of the protected stage first"))
        return problems

    # -- promotion -------------------------------------------------------------------------

    def guard(self, target: Target) -> Target | None:
        """The protected spelling of ``target``, or None when it is not protected (cheap)."""
        guarded = protected_target(self._holder.policy, target)
        return guarded[0] if guarded else None

    def check_promotion(self, store: Any, name: str, version: Any,
                        target: Target) -> Decision | None:
        """Evaluate a promotion to ``target``; refuse it when the policy is not met.

        Returns the Decision for protected targets (None for unprotected ones, prompts and
        missing versions, which MLflow reports itself), so the caller can :meth:`record` it
        after the write.

        Raises:
            MlflowException: PERMISSION_DENIED when the decision blocks (enforce mode).
        """
        if self.guard(target) is None:
            return None  # unprotected: no database work at all
        with store.ManagedSessionMaker() as session:
            return self.check_promotion_in(store, session, name, version, target)[1]

    def check_promotion_in(self, store: Any, session: Any, name: str, version: Any,
                           target: Target) -> tuple[VersionRecord | None, Decision | None]:
        """:meth:`check_promotion` inside the caller's (write) ``session``; also returns the
        version record it read (None when the version does not exist).

        Raises:
            MlflowException: PERMISSION_DENIED when the decision blocks (enforce mode).
        """
        policy = self._holder.policy
        guarded = protected_target(policy, target)
        record = self._record(store, name, version, session=session)
        if guarded is None or record is None or record.is_prompt:
            return record, None
        target = guarded[0]
        decision = self._decide(policy, record, target)
        _logger.info("gate decision model=%r version=%s target=%s verdict=%s policy=%s user=%s",
                     name, record.version, target, decision.verdict, decision.policy_digest,
                     current_user())
        if decision.blocks:
            raise PromotionBlocked(decision)
        return record, decision

    def record(self, store: Any, decision: Decision | None) -> None:
        """In audit mode, record ``decision`` on the version as a reserved tag."""
        if decision is None or decision.enforced:
            return
        prefix = self._holder.policy.reserved_tag_prefix
        value = json.dumps({
            "verdict": "allowed" if decision.allowed else "denied",
            "policy_digest": decision.policy_digest,
            "evidence_digest": decision.evidence_digest,
            "violations": [v.code for v in decision.violations],
            "user": current_user(),
        }, sort_keys=True, separators=(",", ":"))
        tag = ModelVersionTag(tagrules.decision_tag_key(prefix, decision.target), value)
        with tagrules.plugin_writes():
            store.set_model_version_tag(decision.model_name, decision.version, tag)

    def evaluate(self, store: Any, name: str, version: Any, target: Target) -> Decision:
        """The Decision for a promotion, without making it (the ``evaluate`` endpoint).

        Raises:
            MlflowException: RESOURCE_DOES_NOT_EXIST when the version does not exist.
        """
        return self.assess(store, name, version, target)[0]

    def assess(self, store: Any, name: str, version: Any,
               target: Target) -> tuple[Decision, Evidence]:
        """The Decision for a promotion and the Evidence it was made on.

        Raises:
            MlflowException: RESOURCE_DOES_NOT_EXIST when the version does not exist.
        """
        decision, evidence, _record = self.assess_record(store, name, version, target)
        return decision, evidence

    def assess_record(self, store: Any, name: str, version: Any,
                      target: Target) -> tuple[Decision, Evidence, VersionRecord]:
        """:meth:`assess`, plus the version record read (its identity keys new evidence).

        Raises:
            MlflowException: RESOURCE_DOES_NOT_EXIST when the version does not exist.
        """
        policy = self._holder.policy
        record = self._record(store, name, version)
        if record is None:
            raise MlflowException(f"Model Version (name={name}, version={version}) not found",
                                  RESOURCE_DOES_NOT_EXIST)
        decision, evidence = self._assess(policy, record, target)
        return decision, evidence, record

    def impact(self, store: Any, proposed: Policy) -> ImpactReport:
        """What ``proposed`` would decide, next to the policy in force, for every promoted
        version and open request (read-only; see ``registry.impact``).

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed.
        """
        return assess_impact(store, self._reader, self._holder.policy, proposed)

    def impact_between(self, store: Any, old: Policy, new: Policy) -> ImpactReport:
        """:meth:`impact` of going from ``old`` to ``new`` (the policy page's "last change").

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed.
        """
        return assess_impact(store, self._reader, old, new)

    def current_identity(self, store: Any, name: str, version: Any) -> VersionIdentity | None:
        """The identity of the live version ``name``/``version`` in the caller's workspace, or
        None when there is no such version (one query)."""
        record = self._record(store, name, version)
        return record.identity(self._holder.policy.reserved_tag_prefix) if record else None

    def _decide(self, policy: Policy, record: VersionRecord, target: Target) -> Decision:
        return self._assess(policy, record, target)[0]

    def _assess(self, policy: Policy, record: VersionRecord,
                target: Target) -> tuple[Decision, Evidence]:
        guarded = protected_target(policy, target)
        if guarded is not None:
            target = guarded[0]
        artifact_class = tagrules.intake_values(record.tags, policy.reserved_tag_prefix).get(
            "artifact_class")
        requirements = policy.requirements_for(guarded[1], artifact_class) if guarded else ()
        evidence = self._reader.evidence(record, policy, requirements)
        return evaluate(policy, evidence, target), evidence

    def _record(self, store: Any, name: str, version: Any, *,
                session: Any = None) -> VersionRecord | None:
        _validate_model_name(name)
        number = _validate_model_version(version)
        if session is not None:
            return facts.read_version(store, session, name, number)
        with store.ManagedSessionMaker() as own_session:
            return facts.read_version(store, own_session, name, number)
