"""Runtime settings of the sidecar, shared by the receiver, the queue workers and reconcile.

They travel as environment variables so that every process the sidecar starts (uvicorn, huey
workers) sees the same values; secrets are never put on a command line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from mlflow_supplychain.errors import Problem, SupplyChainError

QUEUE_ENV = "MLFLOW_SUPPLYCHAIN_SIDECAR_QUEUE"
SECRET_ENV = "MLFLOW_SUPPLYCHAIN_WEBHOOK_SECRET"  # noqa: S105 - a variable name
PRIVATE_KEY_ENV = "MLFLOW_SUPPLYCHAIN_ATTESTATION_PRIVATE_KEY"
SCRATCH_ENV = "MLFLOW_SUPPLYCHAIN_SIDECAR_SCRATCH"
MAX_BYTES_ENV = "MLFLOW_SUPPLYCHAIN_SIDECAR_MAX_BYTES"
RESCAN_AFTER_ENV = "MLFLOW_SUPPLYCHAIN_SIDECAR_RESCAN_AFTER"
COMPENSATE_ENV = "MLFLOW_SUPPLYCHAIN_SIDECAR_COMPENSATE"
WINDOW_ENV = "MLFLOW_SUPPLYCHAIN_WEBHOOK_WINDOW_SECONDS"
TRACKING_ENV = "MLFLOW_TRACKING_URI"
POLICY_ENV = "MLFLOW_SUPPLYCHAIN_POLICY"
# Tests only: sleep this long inside each scan job (to kill a sidecar mid-scan).
TEST_SCAN_DELAY_ENV = "_MLFLOW_SUPPLYCHAIN_TEST_SCAN_DELAY"

DEFAULT_MAX_BYTES = 20 * 1024**3
DEFAULT_RESCAN_AFTER = 900.0


class SidecarConfigError(SupplyChainError):
    """The sidecar is missing a setting it cannot run without."""


@dataclass(frozen=True)
class SidecarSettings:
    """Everything a sidecar process needs, read from the environment."""

    tracking_uri: str
    policy_path: Path
    queue_url: str
    private_key_path: Path
    webhook_secret: SecretStr
    scratch_dir: Path
    max_bytes: int = DEFAULT_MAX_BYTES
    rescan_after: float = DEFAULT_RESCAN_AFTER
    compensate: bool = False
    window_seconds: int = 300
    test_scan_delay: float = 0.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SidecarSettings:
        """Read the settings.

        Raises:
            SidecarConfigError: a required variable is missing.
        """
        env = os.environ if environ is None else environ
        missing = [name for name in (TRACKING_ENV, POLICY_ENV, QUEUE_ENV, PRIVATE_KEY_ENV,
                                     SECRET_ENV, SCRATCH_ENV) if not env.get(name)]
        if missing:
            raise SidecarConfigError("The sidecar is not configured", [Problem(
                name, "is not set", "start it with 'mlflow-supplychain sidecar' (or 'server')")
                for name in missing])
        return cls(tracking_uri=env[TRACKING_ENV], policy_path=Path(env[POLICY_ENV]),
                   queue_url=env[QUEUE_ENV], private_key_path=Path(env[PRIVATE_KEY_ENV]),
                   webhook_secret=SecretStr(env[SECRET_ENV]), scratch_dir=Path(env[SCRATCH_ENV]),
                   max_bytes=int(env.get(MAX_BYTES_ENV, DEFAULT_MAX_BYTES)),
                   rescan_after=float(env.get(RESCAN_AFTER_ENV, DEFAULT_RESCAN_AFTER)),
                   compensate=env.get(COMPENSATE_ENV, "").lower() in ("1", "true", "yes"),
                   window_seconds=int(env.get(WINDOW_ENV, "300")),
                   test_scan_delay=float(env.get(TEST_SCAN_DELAY_ENV, "0") or 0))
