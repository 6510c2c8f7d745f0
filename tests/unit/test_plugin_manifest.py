"""plugin_manifest.yaml must say what setup.cfg and the code actually provide."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

from mlflow_supplychain.policy.schema import SCHEMA_VERSION, Policy

REPO = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((REPO / "plugin_manifest.yaml").read_text())


def _setup_cfg_entry_points() -> dict[str, dict[str, str]]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    groups: dict[str, dict[str, str]] = {}
    for group, body in cfg["options.entry_points"].items():
        entries = {}
        for line in body.strip().splitlines():
            name, target = (part.strip() for part in line.split("=", 1))
            entries[name] = target
        groups[group] = entries
    return groups


def _install_requires() -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return [r.strip() for r in cfg["options"]["install_requires"].strip().splitlines()]


def test_entry_points_agree_with_setup_cfg() -> None:
    assert MANIFEST["entry_points"] == _setup_cfg_entry_points()


def test_entry_point_targets_exist() -> None:
    import importlib
    import importlib.util

    for entries in MANIFEST["entry_points"].values():
        for target in entries.values():
            module, _, attr = target.partition(":")
            if module.endswith(".wsgi"):  # builds the server app on import; only locate it
                assert importlib.util.find_spec(module) is not None, target
                continue
            mod = importlib.import_module(module)
            if attr:
                assert callable(getattr(mod, attr)), target


def test_mlflow_range_agrees_with_setup_cfg() -> None:
    # mlflow[auth]: basic-auth (approvals need identity) is part of the default install
    assert f"mlflow[auth]{MANIFEST['supported_mlflow']}" in _install_requires()


def test_schema_version_and_namespace_agree_with_code() -> None:
    assert MANIFEST["policy_schema_version"] == SCHEMA_VERSION
    assert MANIFEST["reserved_tag_namespace"] == Policy.model_fields["reserved_tag_prefix"].default
    assert MANIFEST["intake_tag_namespace"] == MANIFEST["reserved_tag_namespace"] + "intake."


def test_webhook_events_are_mlflow_event_names() -> None:
    for event in MANIFEST["webhook_events"]:
        entity, _, action = event.partition(".")
        assert entity in {"model_version", "model_version_tag", "model_version_alias",
                          "registered_model"}, event
        assert action in {"created", "set", "deleted", "updated"}, event


def test_endpoints_agree_with_the_routes() -> None:
    from mlflow_supplychain.server import attestation_routes, request_routes, routes

    declared = {e["path"]: tuple(e["methods"]) for e in MANIFEST["endpoints"]}
    served = {routes.EVALUATE: ("GET", "POST"), routes.STATUS: ("GET",),
              attestation_routes.SUBMIT: ("POST",), attestation_routes.GET: ("GET",)}
    served |= {f"{request_routes.PREFIX}/{a}": m for a, m in request_routes.ENDPOINTS.items()}
    assert {p: declared.get(p) for p in served} == served


def test_pages_agree_with_the_routes() -> None:
    from mlflow_supplychain.server import pages

    declared = {e["path"]: tuple(e["methods"]) for e in MANIFEST["pages"]}
    assert declared == pages.PAGES
