"""Without --auth the server says so loudly and keeps webhook administration locked
(issue #14 class 10): an anonymous caller cannot unplug the scan sidecar's webhook."""

from __future__ import annotations

import requests

from mlflow_supplychain.cli.server_cmd import ADMIN_TOKEN_FILE
from mlflow_supplychain.testing.pytest_plugin import RunningServer

HOOK = {"name": "scanner", "url": "https://scanner.example.com/hook",
        "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]}


def _call(server: RunningServer, method: str, path: str, token: str | None = None,
          **kwargs: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.request(method, f"{server.url}{path}", headers=headers, timeout=30,
                            **kwargs)  # type: ignore[arg-type]


def test_webhook_administration_needs_the_admin_token(gate_server: RunningServer) -> None:
    token = (gate_server.data_dir / ADMIN_TOKEN_FILE).read_text().strip()
    for root in ("/api/2.0", "/ajax-api/2.0"):
        hooks = f"{root}/mlflow/webhooks"
        anonymous = {
            "patch": _call(gate_server, "PATCH", f"{hooks}/some-id", json={"status": "DISABLED"}),
            "delete": _call(gate_server, "DELETE", f"{hooks}/some-id"),
            "create": _call(gate_server, "POST", hooks, json=HOOK),
            "list": _call(gate_server, "GET", hooks),
            "wrong token": _call(gate_server, "PATCH", f"{hooks}/some-id", token + "x",
                                 json={"status": "DISABLED"}),
            "basic header": _call(gate_server, "GET", hooks, token=None,
                                  auth=("admin", token)),
        }
        assert {k: r.status_code for k, r in anonymous.items()} == {k: 403 for k in anonymous}
        assert "without authentication" in anonymous["patch"].json()["message"]
        # the token holder (the sidecar, the operator) reaches MLflow's own handlers
        assert _call(gate_server, "GET", hooks, token).status_code == 200
        assert _call(gate_server, "PATCH", f"{hooks}/some-id", token,
                     json={"status": "DISABLED"}).status_code == 404


def test_unauthenticated_mode_is_announced(gate_server: RunningServer) -> None:
    status = _call(gate_server, "GET", "/api/2.0/mlflow-supplychain/status").json()
    assert status["auth"] is False
    assert any(w.startswith("UNAUTHENTICATED MODE") for w in status["warnings"])
    page = _call(gate_server, "GET", "/supplychain/")
    assert page.status_code == 200 and "UNAUTHENTICATED MODE" in page.text
    assert "WARNING" in gate_server.log_text() and "UNAUTHENTICATED MODE" in \
        gate_server.log_text()
