"""Model URIs a deployment may name, and why the others are refused. Pure: no MLflow.

A deployment pins one registered version. ``models:/name/3`` is pinned already;
``models:/name@alias`` is resolved once, at manifest time, to the version behind the alias.
``models:/name/latest`` and stage URIs (``models:/name/Production``) are mutable: what they
name changes without the deployment knowing, so they are refused, as are ``runs:/`` and raw
storage URIs (nothing in the registry vouches for them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from mlflow_supplychain.errors import ExitCode, Problem, SupplyChainError

_VERSION = re.compile(r"^[1-9][0-9]{0,18}$")
_STAGES = {"none", "staging", "production", "archived"}


class ReferenceRefused(SupplyChainError):
    """A model URI that cannot be pinned for a deployment (mutable or unregistered)."""

    exit_code = ExitCode.DENIED


@dataclass(frozen=True)
class ModelRef:
    """A registered model version, by number or by alias (resolved later)."""

    name: str
    version: str | None = None
    alias: str | None = None

    def __post_init__(self) -> None:
        if (self.version is None) == (self.alias is None):
            raise ValueError("exactly one of version and alias")

    @property
    def uri(self) -> str:
        return (f"models:/{self.name}/{self.version}" if self.version
                else f"models:/{self.name}@{self.alias}")


def _refuse(uri: str, what: str, fix: str) -> ReferenceRefused:
    return ReferenceRefused(f"{uri} cannot be pinned for a deployment", [Problem(uri, what, fix)])


def parse_model_uri(uri: str) -> ModelRef:
    """Parse a deployable model URI.

    Raises:
        ReferenceRefused: ``latest``, a stage, ``runs:/``, a storage URI, or a malformed URI.
    """
    text = uri.strip()
    if text.startswith("runs:/"):
        raise _refuse(uri, "is a run artifact: no registered version, scan or approval covers it",
                      "register the model and deploy models:/<name>/<version> or @<alias>")
    if not text.startswith("models:/"):
        raise _refuse(uri, "is not a registry URI", "use models:/<name>/<version> or "
                      "models:/<name>@<alias>")
    body = text[len("models:/"):].strip("/")
    if "@" in body:
        name, _, alias = body.rpartition("@")
        if not name or not alias or "/" in name or "/" in alias:
            raise _refuse(uri, "is malformed", "use models:/<name>@<alias>")
        if alias.lower() == "latest":
            raise _refuse(uri, "'latest' moves with every registration",
                          "name a version or a protected alias")
        return ModelRef(name=unquote(name), alias=alias)
    name, _, ref = body.rpartition("/")
    if not name or not ref or "/" in name:
        raise _refuse(uri, "is malformed (or names a logged model id, which is not registered)",
                      "use models:/<name>/<version> or models:/<name>@<alias>")
    if ref.lower() == "latest":
        raise _refuse(uri, "'latest' moves with every registration",
                      "name the version (models:/<name>/<N>) or a protected alias")
    if ref.lower() in _STAGES:
        raise _refuse(uri, f"stage {ref!r} is a mutable reference (stages are deprecated and "
                      "move without the deployment knowing)",
                      "name the version or a protected alias (models:/<name>@production)")
    if not _VERSION.match(ref):
        raise _refuse(uri, f"{ref!r} is not a version number", "use models:/<name>/<N>")
    return ModelRef(name=unquote(name), version=ref)


def strip_credentials(uri: str) -> str:
    """``https://user:pw@host/x`` -> ``https://host/x`` (manifests never carry secrets)."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@", r"\1", uri)
