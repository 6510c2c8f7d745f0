"""Register a scikit-learn model with its intake evidence, then ask the gate what is missing.

    python examples/scripts/register_with_evidence.py --tracking-uri http://127.0.0.1:5000 \
        [--name fraud-preprocessor] [--target staging]

The tracking URI can also come from ``MLFLOW_TRACKING_URI``. The server must run the
mlflow-supplychain plugin (``mlflow-supplychain server --policy examples/policy.yaml``).

What it shows: a data scientist keeps using ``mlflow.sklearn.log_model``; right after it,
``apply_intake`` writes the intake record (owner, intended use, license review, evaluation
run) as ``supplychain.intake.*`` tags; the gate's ``evaluate`` endpoint then lists what the
target's profile still needs (with the example policy: a signed scan attestation, which the
scanner sidecar writes). Exit 0 when registration worked, whatever the gate says.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import uuid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"))
    parser.add_argument("--name", default=f"fraud-preprocessor-{uuid.uuid4().hex[:6]}")
    parser.add_argument("--target", default="staging", help="Protected alias to evaluate.")
    args = parser.parse_args(argv)
    if not args.tracking_uri:
        parser.error("give --tracking-uri or set MLFLOW_TRACKING_URI")

    import mlflow
    import numpy as np
    import sklearn
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlflow_supplychain.client import SupplyChainClient
    from mlflow_supplychain.intake import apply_intake

    mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_registry_uri(args.tracking_uri)
    mlflow.set_experiment("supplychain-examples")

    features = np.random.default_rng(0).normal(size=(200, 4))
    pipeline = make_pipeline(StandardScaler()).fit(features)

    # MLflow prints run links on stdout; keep stdout for this script's own result.
    with contextlib.redirect_stdout(sys.stderr), mlflow.start_run() as run:
        mlflow.log_metric("mean_abs_scaled", float(np.abs(pipeline.transform(features)).mean()))
        # Pinned requirements: the scanner flags unpinned ones, and naming them spares MLflow
        # its slow requirement inference (it reloads the model in a subprocess).
        info = mlflow.sklearn.log_model(
            pipeline, name="model", registered_model_name=args.name,
            pip_requirements=[f"scikit-learn=={sklearn.__version__}",
                              f"numpy=={np.__version__}"])
    version = str(info.registered_model_version)

    record = {
        "artifact_class": "preprocessor",
        "owner": "fraud-ml@example.com",
        "intended_use": "Feature scaling for the card fraud models",
        "limitations": "Expects the payments schema v7",
        "license": {"id": "LicenseRef-Proprietary", "outcome": "approved",
                    "reviewer": "legal@example.com", "date": "2026-02-15"},
        # the run that logged the model holds its evaluation metric here
        "eval": {"ref": f"runs:/{run.info.run_id}"},
    }
    apply_intake(args.name, version, record)
    print(f"registered models:/{args.name}/{version} with intake evidence")

    decision = SupplyChainClient(args.tracking_uri).evaluate(args.name, version, args.target)
    verdict = "allowed" if decision.allowed else "not yet allowed"
    print(f"promotion to {args.target}: {verdict}")
    for violation in decision.violations:
        print(f"  - {violation.code}: {violation.message} (fix: {violation.remediation})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
