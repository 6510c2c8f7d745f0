"""Ask for a promotion to production and approve it as a second person (separation of duties).

    MLFLOW_TRACKING_URI=http://127.0.0.1:5000 \
    REQUESTER_USERNAME=alice REQUESTER_PASSWORD=... \
    APPROVER_USERNAME=ml-lead APPROVER_PASSWORD=... \
        python examples/scripts/request_and_approve.py NAME VERSION [--target production]

The server must run with basic-auth (``mlflow-supplychain server --policy examples/policy.yaml
--auth``), so the server knows who asks and who approves; the example policy lets
``user:ml-lead`` (or members of ``group:ml-security``) approve ``production``. The approver
must be neither the requester nor the version's creator: the server enforces that.

Prints the request, the approval and the decision the server returns after the approval (what
is still missing, if anything). Exit 0 when the request was approved, 1 when the server refused,
2 on any other error.
"""

from __future__ import annotations

import argparse
import os
import sys

from mlflow_supplychain.client import SupplyChainClient
from mlflow_supplychain.errors import RequestRefused, SupplyChainError


def _client(uri: str, role: str) -> SupplyChainClient:
    """A client that authenticates as ``<role>_USERNAME`` / ``<role>_PASSWORD``."""
    user = os.environ.get(f"{role}_USERNAME")
    password = os.environ.get(f"{role}_PASSWORD")
    if not user or not password:
        print(f"error: set {role}_USERNAME and {role}_PASSWORD", file=sys.stderr)
        raise SystemExit(2)
    return SupplyChainClient(uri, environ={"MLFLOW_TRACKING_USERNAME": user,
                                           "MLFLOW_TRACKING_PASSWORD": password})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("version")
    parser.add_argument("--target", default="production")
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"))
    args = parser.parse_args(argv)
    if not args.tracking_uri:
        parser.error("give --tracking-uri or set MLFLOW_TRACKING_URI")

    requester = _client(args.tracking_uri, "REQUESTER")
    approver = _client(args.tracking_uri, "APPROVER")
    try:
        created = requester.create_request(args.name, args.version, args.target,
                                           comment="example: promote after review")
        request_id = int(created["request"]["id"])
        print(f"request {request_id}: {args.name}/{args.version} -> {args.target}, "
              f"status {created['request']['status']}")
        approved = approver.approve_request(request_id, comment="evidence reviewed")
    except RequestRefused as exc:
        print(f"refused: {exc.diagnostics()}", file=sys.stderr)
        return 1
    except SupplyChainError as exc:
        print(f"error: {exc.diagnostics()}", file=sys.stderr)
        return 2
    print(f"request {request_id}: status {approved['request']['status']}")
    decision = approved.get("decision") or {}
    if decision.get("allowed"):
        print("the promotion is allowed now; set the alias (or approve with apply=True)")
    else:
        print("still missing before the promotion is allowed:")
        for violation in decision.get("violations", []):
            print(f"  - {violation['code']}: {violation['remediation']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
