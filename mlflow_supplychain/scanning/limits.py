"""Resource limits that keep the scanner's time and memory bounded on hostile input."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScanLimits:
    """Every limit the scanner enforces; exceeding one is a finding, never a crash."""

    max_depth: int = 6
    """Containers inside containers (zip in gzip in pickle payload...)."""
    max_members: int = 100_000
    """Entries in one archive."""
    max_ratio: float = 1000.0
    """Largest uncompressed/compressed ratio for a member of more than ``ratio_floor`` bytes."""
    ratio_floor: int = 1 << 20
    max_unpacked: int = 64 << 30
    """Largest total uncompressed size of one archive or decompressed stream."""
    max_spool: int = 1 << 30
    """Largest decompressed stream copied to a temporary file (zip inside gzip...)."""
    max_payload_in_memory: int = 64 << 20
    """Largest nested payload read into memory when its stream cannot seek."""
    max_json: int = 64 << 20
    """Largest JSON/YAML document parsed (configs, MLmodel, safetensors/keras metadata)."""
    max_dir_depth: int = 128
    """Directory levels below the scanned root; deeper trees are "could not decide"."""


DEFAULT_LIMITS = ScanLimits()
