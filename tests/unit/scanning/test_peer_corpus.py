"""The peer-derived corpus: every sample that can execute code is flagged, and benign
samples are flagged or undecided at most 2 in 80 (see peer_corpus.py for provenance)."""

from __future__ import annotations

from pathlib import Path

from mlflow_supplychain.scanning.scanner import scan_path

from .peer_corpus import samples


def test_corpus_is_large_enough_and_uniquely_named() -> None:
    all_samples = samples()
    names = [s.name for s in all_samples]
    assert len(names) == len(set(names))
    assert sum(s.malicious for s in all_samples) >= 90
    assert sum(not s.malicious for s in all_samples) >= 80
    assert all(s.source for s in all_samples)


def test_every_malicious_sample_is_flagged_and_few_benign_ones(tmp_path: Path) -> None:
    missed, false_alarms = [], []
    for sample in samples():
        path = tmp_path / f"{sample.name}.bin"
        path.write_bytes(sample.build())
        verdict = scan_path(path).verdict_name
        clean = verdict in ("permitted", "sandboxed")
        if sample.malicious and clean:
            missed.append(sample.name)
        if not sample.malicious and not clean:
            false_alarms.append((sample.name, verdict))
    assert not missed, missed
    benign = sum(not s.malicious for s in samples())
    assert len(false_alarms) * 80 <= 2 * benign, false_alarms
