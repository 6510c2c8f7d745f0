"""The labelled benchmark corpus: malicious files (harmless payloads) and benign real files.

Reuses the test suite's payload builders so the benchmark and the tests agree on what each
technique looks like. Nothing here is ever unpickled.
"""

from __future__ import annotations

import importlib.util
import io
import pickle
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np

_PAYLOADS = Path(__file__).resolve().parents[1] / "tests" / "unit" / "scanning" / "payloads.py"


def _payloads():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_payloads", _PAYLOADS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_payloads"] = module
    spec.loader.exec_module(module)
    return module


def _peer_samples():  # type: ignore[no-untyped-def]
    root = str(_PAYLOADS.parents[3])
    if root not in sys.path:
        sys.path.insert(0, root)
    from tests.unit.scanning.peer_corpus import samples

    return samples()


def build(root: Path) -> list[tuple[Path, bool]]:
    """Write the corpus under ``root`` (the peer-derived samples, then this project's own);
    returns ``(path, is_malicious)`` pairs."""
    paths = _build_own(root)
    for sample in _peer_samples():
        data = sample.build()
        path = root / f"peer_{sample.name}{_extension(sample.name, data)}"
        path.write_bytes(data)
        paths.append((path, sample.malicious))
    return paths


def _extension(name: str, data: bytes) -> str:
    """The extension the file would have in the wild: the peers pick their parsers by
    extension, so a fair comparison names each sample as its producer would."""
    from mlflow_supplychain.scanning.formats import Kind, sniff

    kind = sniff(data[:512])
    hints = (("joblib", ".joblib"), ("npz", ".npz"), ("keras", ".keras"), ("torch", ".pt"),
             ("pytorch", ".pt"), ("gguf", ".gguf"), ("onnx", ".onnx"), ("safetensors",
             ".safetensors"), ("readme", ".md"), ("json", ".json"))
    for hint, ext in hints:
        if hint in name:
            return ext
    by_kind = {Kind.ZIP: ".zip", Kind.TAR: ".tar", Kind.NUMPY: ".npy", Kind.GZIP: ".gz",
               Kind.BZIP2: ".bz2", Kind.XZ: ".xz", Kind.ZSTD: ".zst"}
    return by_kind.get(kind, ".pkl")


def _build_own(root: Path) -> list[tuple[Path, bool]]:
    p = _payloads()
    evil2 = pickle.dumps(p.Exec(), protocol=2)
    evil4 = pickle.dumps(p.Exec(), protocol=4)
    malicious: dict[str, bytes] = {
        **{f"reduce_p{i}.pkl": pickle.dumps(p.Exec(), protocol=i) for i in range(6)},
        "eval_p4.pkl": pickle.dumps(p.Evaluate(), protocol=4),
        "stack_global_memo.pkl": p.stack_global_via_memo(),
        "inst_opcode.pkl": p.inst_opcode(),
        "obj_opcode.pkl": p.obj_opcode(),
        "newobj_popen.pkl": p.newobj_unlisted_class(),
        "extension_registry.pkl": p.extension_registry(),
        "unresolved_global.pkl": p.unresolved_stack_global(),
        "computed_call.pkl": p.computed_call(),
        "sklearn_function_call.pkl": p.family_function_call(),
        "dotted_traversal.pkl": p.family_dotted_traversal(),
        "proto0_no_header.bin": p.protocol0_no_header(),
        "nested_in_bytes.pkl": p.nested_in_bytes(),
        "renamed_pickle.safetensors": evil4,
        "torch_zip.pt": p.torch_like_zip(evil2),
        "torch_zip_odd_member.pt": p.torch_like_zip(evil2, "weights/blob.bin"),
        "torch_storage_hidden.pt": p.zip_of({"archive/data.pkl": pickle.dumps({}, protocol=2),
                                             "archive/data/0": evil2}),
        "torch_legacy_raw.pt": p.legacy_torch_raw(evil=True),
        "torch_legacy_tar.pt": p.tar_of({"sys_info": pickle.dumps({}, protocol=2),
                                         "pickle": evil2, "storages": pickle.dumps(0)}),
        **{f"compressed.{k}": p.compressed(k, evil4) for k in ("gzip", "bz2", "xz", "zstd")},
        "object_array.npy": p.npy(np.array([p.Exec()], dtype=object)),
        "keras_lambda.keras": p.keras_archive(p.LAMBDA_LAYER),
        "keras_lambda.h5": p.fake_h5(p.keras_config(p.LAMBDA_LAYER)),
        "keras_custom.keras": p.keras_archive(p.CUSTOM_LAYER),
        "onnx_custom_op.onnx": p.onnx_model(domain="com.evil.ops"),
        "onnx_external_escape.onnx": p.onnx_model(external="../../../etc/passwd"),
        "zip_traversal.zip": p.zip_of({"../../evil.sh": b"echo hi\n"}),
        "zip_symlink.zip": p.zip_with_symlink(),
    }
    benign: dict[str, bytes] = {}
    import joblib
    from safetensors.numpy import save
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x, y = rng.random((200, 8)), rng.integers(0, 2, 200)
    forest = make_pipeline(StandardScaler(), RandomForestClassifier(10, random_state=0)).fit(x, y)
    linear = LogisticRegression().fit(x, y)
    for proto in (2, 4, 5):
        benign[f"sklearn_forest_p{proto}.pkl"] = pickle.dumps(forest, protocol=proto)
    benign["sklearn_linear.pkl"] = pickle.dumps(linear)
    benign["state_dict_like.pkl"] = pickle.dumps(OrderedDict(w=np.zeros((4, 4))), protocol=4)
    benign["numbers.npy"] = p.npy(np.arange(100.0))
    out = io.BytesIO()
    np.savez_compressed(out, a=np.arange(10), b=np.ones((3, 3)))
    benign["arrays.npz"] = out.getvalue()
    benign["weights.safetensors"] = save({"w": np.zeros((16, 16), np.float32)})
    benign["model.onnx"] = p.onnx_model()
    benign["dense.keras"] = p.keras_archive(p.DENSE_LAYER)
    benign["model.gguf"] = p.gguf(tensors=2)
    benign["config.json"] = b'{"hidden_size": 16}'
    benign["README.md"] = b"# model card\n"
    paths: list[tuple[Path, bool]] = []
    root.mkdir(parents=True, exist_ok=True)
    for name, data in malicious.items():
        (root / name).write_bytes(data)
        paths.append((root / name, True))
    for name, data in benign.items():
        (root / name).write_bytes(data)
        paths.append((root / name, False))
    for name, compress in (("forest.joblib", 0), ("forest_zlib.joblib", 3)):
        joblib.dump(forest, root / name, compress=compress)
        paths.append((root / name, False))
    joblib.dump({"m": linear, "evil": p.Exec()}, root / "evil.joblib")
    paths.append((root / "evil.joblib", True))
    import skops.io

    skops.io.dump(linear, root / "linear.skops")
    paths.append((root / "linear.skops", False))
    try:
        import torch
    except ImportError:
        return paths
    (root / "torch_legacy_tar_storage_entry.pt").write_bytes(p.legacy_torch_tar("storages"))
    paths.append((root / "torch_legacy_tar_storage_entry.pt", True))
    (root / "torch_legacy_tar_ok.pt").write_bytes(p.legacy_torch_tar(None))
    paths.append((root / "torch_legacy_tar_ok.pt", False))
    torch.save({"w": torch.zeros(8, 8), "b": torch.ones(8)}, root / "torch_state.pt")
    torch.save({"w": torch.zeros(8)}, root / "torch_legacy.pt", _use_new_zipfile_serialization=False)
    paths += [(root / "torch_state.pt", False), (root / "torch_legacy.pt", False)]
    return paths
