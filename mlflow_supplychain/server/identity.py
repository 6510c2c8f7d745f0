"""Who is calling our governance endpoints: see :mod:`mlflow_supplychain.registry.caller`.

Re-exported here for the routes and pages; the message below is what they answer when nobody
is identified.
"""

from __future__ import annotations

from mlflow_supplychain.registry.caller import DEV_USER_HEADER as DEV_USER_HEADER
from mlflow_supplychain.registry.caller import Caller as Caller
from mlflow_supplychain.registry.caller import resolve_caller as resolve_caller

UNKNOWN_CALLER_FIX = (
    "run the server with authentication ('mlflow-supplychain server --auth', app "
    "'supplychain-auth') and send credentials (MLFLOW_TRACKING_USERNAME/PASSWORD), or name "
    "the header of your authenticating proxy in the policy (identity.trusted_proxy_user_header) "
    "and send requests through that proxy"
)
