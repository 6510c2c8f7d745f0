"""The immutable identity of one model version: what every piece of evidence is bound to.

A model version is *not* its name and number. Names move (``rename_registered_model``), numbers
come back (delete a registered model and create it again: its first version is ``1`` again),
copies share bytes (``copy_model_version``) and workspaces share names. Evidence stored under
``(name, version)`` would be inherited by whatever answers to that pair later, so every
attestation, transition request, approval and audit record is keyed by a
:class:`VersionIdentity` instead, and every lookup by name recomputes the identity of the
version it finds and compares digests.

The identity is made of facts MLflow fixes when it creates the version and never changes
afterwards, plus the name (a rename must not carry evidence over, see the docs):

- ``workspace``: MLflow's workspace (``default`` when workspaces are off);
- ``name`` and ``version``;
- ``created_at``: the version row's ``creation_time`` (milliseconds);
- ``storage_location``: where MLflow fixed the bytes at creation (the ``storage_location``
  column, what ``get_model_version_download_uri`` returns and what loaders read);
- ``uid``: a random id the registry plugin writes as a reserved tag when it creates the version
  (empty for versions created without the plugin). It tells apart a version deleted and created
  again within the same millisecond from the same location.

Pure: no MLflow, no I/O.
"""

from __future__ import annotations

import secrets

from pydantic import BaseModel, ConfigDict, Field

from mlflow_supplychain.digests import digest_of

DEFAULT_WORKSPACE = "default"
"""MLflow's workspace name for registries without workspaces (``DEFAULT_WORKSPACE_NAME``)."""

UID_PATTERN = r"^(|[0-9a-f]{32})$"


def new_uid() -> str:
    """A fresh random version uid (128 bits, hex)."""
    return secrets.token_hex(16)


class VersionIdentity(BaseModel):
    """Who a model version is, for evidence: immutable facts fixed at its creation.

    Two versions have the same :meth:`digest` only when every field is equal, so a renamed,
    deleted-and-re-created, copied or other-workspace version never matches evidence of
    another one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    workspace: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=256)
    version: str = Field(pattern=r"^[1-9][0-9]{0,18}$")
    created_at: int = Field(ge=0, description="creation_time of the version row (ms).")
    storage_location: str = Field(max_length=2000,
                                  description="Where MLflow fixed the version's bytes.")
    uid: str = Field("", pattern=UID_PATTERN,
                     description="Random id the plugin tags the version with at creation.")

    def digest(self) -> str:
        """``sha256:<hex>`` over the canonical JSON of every field."""
        return digest_of(self.model_dump(mode="json"))

    def describe(self) -> str:
        """``models:/<name>/<version>`` with the workspace when it is not the default one."""
        where = "" if self.workspace == DEFAULT_WORKSPACE else f" (workspace {self.workspace})"
        return f"models:/{self.name}/{self.version}{where}"
