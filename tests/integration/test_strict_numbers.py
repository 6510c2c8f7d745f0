"""Every id and number our routes and pages take is parsed strictly: a 400 that names the
parameter, never a 500 (SQLite overflows past 64 bits; ``isdigit`` takes Unicode digits)."""

from __future__ import annotations

from typing import Any

import requests

from mlflow_supplychain.testing.pytest_plugin import RunningServer

API = "/api/2.0/mlflow-supplychain"
BAD = ["99999999999999999999999", "9" * 19, "\u0661\u0662", "\u00b2", "-1", "+1", " 1", "1 ",
       "1_0", "0x1", "1.5"]


def _routes(name: str, bad: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, request kwargs) of every route and page that takes a number."""
    return [
        ("GET", f"{API}/evaluate", {"params": {"name": name, "version": bad,
                                                "target": "production"}}),
        ("POST", f"{API}/evaluate", {"json": {"name": name, "version": bad,
                                              "target": "production"}}),
        ("POST", f"{API}/transition-requests/create",
         {"json": {"name": name, "version": bad, "target": "production"}}),
        ("GET", f"{API}/transition-requests/get", {"params": {"request_id": bad}}),
        ("GET", f"{API}/transition-requests/list", {"params": {"max_results": bad}}),
        ("GET", f"{API}/transition-requests/list", {"params": {"page_token": bad}}),
        ("GET", f"{API}/transition-requests/list", {"params": {"version": bad}}),
        ("POST", f"{API}/transition-requests/approve", {"json": {"request_id": bad}}),
        ("POST", f"{API}/transition-requests/reject", {"json": {"request_id": bad}}),
        ("POST", f"{API}/transition-requests/cancel", {"json": {"request_id": bad}}),
        ("GET", f"{API}/attestations/get", {"params": {"name": name, "version": bad}}),
        ("POST", f"{API}/deployments/record",
         {"json": {"name": name, "version": bad, "manifest_digest": "sha256:" + "a" * 64,
                   "artifact_digest": "sha256:" + "b" * 64, "host": "h"}}),
        ("GET", "/supplychain/version", {"params": {"name": name, "version": bad}}),
        ("GET", "/supplychain/audit", {"params": {"name": name, "before": bad}}),
        ("GET", "/supplychain/", {"params": {"req_token": bad}}),
    ]


def test_malformed_numbers_get_400(gate_server: RunningServer, unique_model_name: str) -> None:
    client = gate_server.client()
    client.create_registered_model(unique_model_name)
    client.create_model_version(unique_model_name, "s3://corp-models/a")
    answers = {}
    for bad in BAD:
        for method, path, kwargs in _routes(unique_model_name, bad):
            response = requests.request(method, gate_server.url + path, timeout=30, **kwargs)
            key = f"{method} {path} {sorted(next(iter(kwargs.values())))} {bad!r}"
            answers[key] = response.status_code
    assert answers == {k: 400 for k in answers}
    assert "Traceback" not in gate_server.log_text()


def test_json_integers_past_64_bits_get_400(gate_server: RunningServer) -> None:
    for body in ({"request_id": 2 ** 64}, {"request_id": -1}, {"request_id": True}):
        response = requests.post(f"{gate_server.url}{API}/transition-requests/approve",
                                 json=body, timeout=30)
        assert response.status_code == 400, body
        assert "'request_id'" in response.json()["message"]
    assert "Traceback" not in gate_server.log_text()
