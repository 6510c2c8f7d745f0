"""Field types for the pydantic models that carry digests (manifests, attestations, evidence).

Every such model refuses a malformed digest with the same message. Kept apart from
``digests`` so that module stays free of pydantic (the scan and hash commands import it).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from mlflow_supplychain.digests import require_digest, require_file_hashes

Digest = Annotated[str, AfterValidator(require_digest)]
"""A ``sha256:<64 lowercase hex>`` digest."""

FileHashes = Annotated[dict[str, str], AfterValidator(require_file_hashes)]
"""A file manifest: relative POSIX path -> sha256 hex."""
