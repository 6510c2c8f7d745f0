"""The policy a server process enforces: loaded once at start, reloaded when the file changes.

A reload that fails keeps the last good policy (a typo in the file must not open the gate,
nor close the registry) and is reported by :meth:`PolicyHolder.state`, the status endpoint and
an ERROR log line. The file is looked at no more often than every ``check_interval`` seconds,
so the cost on the request path is one clock read.

Every process (each uvicorn/gunicorn worker) has its own holder; they converge within one
interval of a change.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from mlflow_supplychain.errors import PolicyError, Problem
from mlflow_supplychain.policy.loader import load_policy
from mlflow_supplychain.policy.schema import Policy

POLICY_ENV_VAR = "MLFLOW_SUPPLYCHAIN_POLICY"
"""Absolute path of the policy file, set by ``mlflow-supplychain server`` for the server."""
RELOAD_INTERVAL_ENV_VAR = "MLFLOW_SUPPLYCHAIN_POLICY_RELOAD_SECONDS"
DEFAULT_RELOAD_INTERVAL = 2.0

_logger = logging.getLogger(__name__)

_Signature = tuple[int, int, int]


@dataclass(frozen=True)
class PolicyState:
    """What the holder enforces now, and whether the file on disk disagrees."""

    policy: Policy
    path: str
    loaded_at: float
    """Wall-clock time (epoch seconds) the enforced policy was loaded."""
    reload_error: str | None = None
    """Diagnostics of the last failed reload; None when the file on disk is what is enforced."""


def _signature(path: str) -> _Signature:
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class PolicyHolder:
    """Holds the enforced policy and reloads it on change, keeping the last good one."""

    def __init__(self, path: str, *, check_interval: float = DEFAULT_RELOAD_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Load the policy at ``path``.

        Raises:
            PolicyError: the file is missing or invalid (the server must not start).
        """
        self._path = path
        self._interval = check_interval
        self._clock = clock
        self._lock = threading.Lock()
        signature = _signature_or_error(path)
        self._state = PolicyState(load_policy(path), path, time.time())
        self._signature = signature
        self._next_check = clock() + check_interval
        self._listeners: list[Callable[[str, PolicyState, str | None], None]] = []
        _logger.info("mlflow-supplychain policy loaded from %s (mode %s, digest %s)",
                     path, self._state.policy.mode.value, self._state.policy.digest)

    @classmethod
    def from_env(cls) -> PolicyHolder:
        """Build from ``MLFLOW_SUPPLYCHAIN_POLICY``.

        Raises:
            PolicyError: the variable is unset or relative, or the policy is missing/invalid.
        """
        path = os.environ.get(POLICY_ENV_VAR, "")
        if not path:
            raise PolicyError("No mlflow-supplychain policy configured", [Problem(
                POLICY_ENV_VAR, "is not set; the gate refuses to run without a policy",
                f"start with 'mlflow-supplychain server --policy FILE', or export "
                f"{POLICY_ENV_VAR}=/absolute/path/policy.yaml before 'mlflow server'")])
        if not os.path.isabs(path):
            raise PolicyError("mlflow-supplychain policy path must be absolute", [Problem(
                POLICY_ENV_VAR, f"is {path!r}; server workers may run in another directory",
                "use an absolute path")])
        raw = os.environ.get(RELOAD_INTERVAL_ENV_VAR)
        try:
            interval = float(raw) if raw else DEFAULT_RELOAD_INTERVAL
        except ValueError:
            raise PolicyError("Invalid policy reload interval", [Problem(
                RELOAD_INTERVAL_ENV_VAR, f"{raw!r} is not a number", "write seconds, e.g. 2")
            ]) from None
        return cls(path, check_interval=max(interval, 0.0))

    def add_listener(self, listener: Callable[[str, PolicyState, str | None], None]) -> None:
        """Call ``listener(event, state, previous digest)`` on ``policy.reload`` and
        ``policy.reload_failed``."""
        self._listeners.append(listener)

    def _notify(self, event: str, previous: str | None = None) -> None:
        for listener in self._listeners:
            listener(event, self._state, previous)

    @property
    def policy(self) -> Policy:
        """The policy to enforce now (reloading first if the file changed)."""
        if self._clock() >= self._next_check:
            self._maybe_reload()
        return self._state.policy

    def state(self) -> PolicyState:
        """The enforced policy with its provenance and the last reload error, if any."""
        if self._clock() >= self._next_check:
            self._maybe_reload()
        return self._state

    def _maybe_reload(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # another thread is reloading; keep serving the current policy
        try:
            self._next_check = self._clock() + self._interval
            try:
                signature = _signature(self._path)
            except OSError as exc:
                self._fail(None, f"policy file {self._path} cannot be read: {exc.strerror}")
                return
            if signature == self._signature:
                return
            try:
                policy = load_policy(self._path)
            except PolicyError as exc:
                self._fail(signature, exc.diagnostics())
                return
            old = self._state.policy.digest
            self._state = PolicyState(policy, self._path, time.time())
            self._signature = signature
            _logger.info("mlflow-supplychain policy reloaded from %s: digest %s -> %s (mode %s)",
                         self._path, old, policy.digest, policy.mode.value)
            self._notify("policy.reload", old)
        finally:
            self._lock.release()

    def _fail(self, signature: _Signature | None, message: str) -> None:
        changed = self._state.reload_error != message
        if changed:
            _logger.error("mlflow-supplychain policy reload failed; still enforcing the last good "
                          "policy (digest %s). %s", self._state.policy.digest, message)
        self._state = replace(self._state, reload_error=message)
        if changed:
            self._notify("policy.reload_failed")
        if signature is not None:
            self._signature = signature  # do not re-parse the same bad file every interval


def _signature_or_error(path: str) -> _Signature:
    try:
        return _signature(path)
    except OSError:
        return (0, 0, 0)  # load_policy reports the missing file with a proper message


_holder: PolicyHolder | None = None
_holder_lock = threading.Lock()


def get_policy_holder() -> PolicyHolder:
    """The process-wide holder, built from the environment on first use.

    Raises:
        PolicyError: no policy configured, or it is missing/invalid.
    """
    global _holder  # noqa: PLW0603 - one lazily built holder per process
    if _holder is None:
        with _holder_lock:
            if _holder is None:
                _holder = PolicyHolder.from_env()
    return _holder
