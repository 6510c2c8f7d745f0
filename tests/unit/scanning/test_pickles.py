"""Pickle detection: every import/call technique, every protocol, nested and compressed."""

from __future__ import annotations

import pickle
from collections import OrderedDict

import numpy as np
import pytest

from mlflow_supplychain.scanning.allowlist import Allowlist
from mlflow_supplychain.scanning.format_policy import DEFAULT

from . import payloads as p
from .conftest import ScanBytes, codes


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize("obj", [p.Exec(), p.Evaluate()], ids=["os.system", "eval"])
def test_reduce_of_dangerous_global_is_prohibited_in_every_protocol(
        scan_bytes: ScanBytes, protocol: int, obj: object) -> None:
    result = scan_bytes(pickle.dumps(obj, protocol=protocol), name="weights.safetensors")
    assert result.verdict_name == "prohibited"
    assert "PICKLE_UNSAFE_GLOBAL" in codes(result)
    finding = result.findings[0]
    assert finding.location.offset is not None and finding.fix


@pytest.mark.parametrize("build", [
    p.stack_global_via_memo, p.inst_opcode, p.obj_opcode, p.newobj_unlisted_class,
    p.protocol0_no_header, p.family_dotted_traversal, p.family_dunder,
])
def test_import_techniques_are_caught(scan_bytes: ScanBytes, build) -> None:  # type: ignore[no-untyped-def]
    result = scan_bytes(build())
    assert result.verdict_name == "prohibited", result
    assert "PICKLE_UNSAFE_GLOBAL" in codes(result)


def test_stack_global_names_resolve_through_the_memo(scan_bytes: ScanBytes) -> None:
    result = scan_bytes(p.stack_global_via_memo())
    assert any("os.system" in f.message for f in result.findings)


@pytest.mark.parametrize("build,code", [
    (p.extension_registry, "PICKLE_EXTENSION_REGISTRY"),
    (p.unresolved_stack_global, "PICKLE_UNRESOLVED_GLOBAL"),
    (p.computed_call, "PICKLE_UNSAFE_CALL"),
    (p.family_function_call, "PICKLE_UNSAFE_CALL"),
])
def test_call_techniques_are_caught(scan_bytes: ScanBytes, build, code: str) -> None:  # type: ignore[no-untyped-def]
    result = scan_bytes(build())
    assert result.verdict_name == "prohibited"
    assert code in codes(result)


def test_nested_pickle_inside_bytes_payload(scan_bytes: ScanBytes) -> None:
    result = scan_bytes(p.nested_in_bytes())
    assert result.verdict_name == "prohibited"
    assert any(f.location.member and "@" in f.location.member for f in result.findings)


@pytest.mark.parametrize("member", ["archive/data.pkl", "weird/name.bin", "x"])
def test_pickle_in_torch_zip_under_any_member_name(scan_bytes: ScanBytes, member: str) -> None:
    result = scan_bytes(p.torch_like_zip(pickle.dumps(p.Exec(), protocol=2), member))
    assert result.verdict_name == "prohibited"
    assert result.findings[0].location.member == member


def test_pickle_hidden_as_torch_storage_is_found(scan_bytes: ScanBytes) -> None:
    data = p.zip_of({"archive/data.pkl": pickle.dumps({"a": 1}, protocol=2),
                     "archive/data/0": pickle.dumps(p.Exec(), protocol=2)})
    assert scan_bytes(data).verdict_name == "prohibited"


def test_benign_torch_like_zip_is_sandboxed(scan_bytes: ScanBytes) -> None:
    data = p.torch_like_zip(pickle.dumps(OrderedDict(w=np.zeros(3)), protocol=2))
    assert scan_bytes(data).verdict_name == "sandboxed"


def test_legacy_torch_consecutive_pickles(scan_bytes: ScanBytes) -> None:
    assert scan_bytes(p.legacy_torch_raw(evil=True)).verdict_name == "prohibited"
    assert scan_bytes(p.legacy_torch_raw(evil=False)).verdict_name == "sandboxed"


def test_legacy_torch_tar(scan_bytes: ScanBytes) -> None:
    data = p.tar_of({"sys_info": pickle.dumps({}, protocol=2),
                     "pickle": pickle.dumps(p.Exec(), protocol=2),
                     "storages": pickle.dumps(0, protocol=2)})
    assert scan_bytes(data).verdict_name == "prohibited"


@pytest.mark.parametrize("evil_in", [None, "storages", "tensors"])
def test_legacy_torch_tar_layout_walks_every_entry(scan_bytes: ScanBytes,
                                                   evil_in: str | None) -> None:
    pytest.importorskip("torch")
    result = scan_bytes(p.legacy_torch_tar(evil_in))
    assert result.verdict_name == ("sandboxed" if evil_in is None else "prohibited")
    if evil_in:
        assert result.findings[0].location.member == evil_in


@pytest.mark.parametrize("kind", ["gzip", "bz2", "xz", "lzma", "zlib", "zstd"])
def test_compressed_pickles(scan_bytes: ScanBytes, kind: str) -> None:
    if kind == "zstd":
        pytest.importorskip("zstandard")
    bad = scan_bytes(p.compressed(kind, pickle.dumps(p.Exec(), protocol=4)))
    assert bad.verdict_name == "prohibited"
    good = scan_bytes(p.compressed(kind, pickle.dumps({"a": np.arange(3)}, protocol=4)))
    assert good.verdict_name == "sandboxed"


@pytest.mark.parametrize("compress", [0, 3, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("xz", 3),
                                      ("lzma", 3)])
def test_joblib_files(tmp_path, compress) -> None:  # type: ignore[no-untyped-def]
    joblib = pytest.importorskip("joblib")
    from mlflow_supplychain.scanning.scanner import scan_path

    good, bad = tmp_path / "good.joblib", tmp_path / "bad.joblib"
    joblib.dump({"a": np.arange(1000.0), "s": np.array(["x", "yy"]),
                 "o": np.array([1, "a", None], dtype=object)}, good, compress=compress)
    joblib.dump({"a": np.arange(10.0), "evil": p.Exec()}, bad, compress=compress)
    assert scan_path(good).verdict_name == "sandboxed"
    assert scan_path(bad).verdict_name == "prohibited"


def test_joblib_object_array_with_evil_element(tmp_path) -> None:  # type: ignore[no-untyped-def]
    joblib = pytest.importorskip("joblib")
    from mlflow_supplychain.scanning.scanner import scan_path

    target = tmp_path / "m.joblib"
    joblib.dump({"o": np.array([p.Exec(), 1], dtype=object)}, target)
    assert scan_path(target).verdict_name == "prohibited"


def test_cloudpickle_is_its_own_format(scan_bytes: ScanBytes) -> None:
    cloudpickle = pytest.importorskip("cloudpickle")
    result = scan_bytes(cloudpickle.dumps(lambda x: x + 1))
    assert "cloudpickle" in result.formats
    assert result.verdict_name == "prohibited"


def test_policy_allowlist_extension_turns_unsafe_into_sandboxed(scan_bytes: ScanBytes) -> None:
    data = pickle.dumps(OrderedDict(x=p.Exec()), protocol=4)
    assert scan_bytes(data).verdict_name == "prohibited"
    policy = type(DEFAULT)(DEFAULT.permitted, DEFAULT.sandboxed, DEFAULT.prohibited,
                           ("posix.system", "os.*"))
    assert scan_bytes(data, formats=policy).verdict_name == "sandboxed"


def test_allowlist_rules() -> None:
    allow = Allowlist()
    assert allow.check("numpy.core.multiarray", "_reconstruct").callable
    assert allow.check("sklearn.linear_model._logistic", "LogisticRegression").callable
    assert not allow.check("sklearn.utils", "resample").callable
    assert allow.check("sklearn.utils", "resample").allowed  # a reference is harmless
    assert not allow.check("sklearn.datasets", "fetch_openml").allowed
    assert not allow.check("numpy.f2py", "compile").allowed
    assert not allow.check("builtins", "eval").allowed
    assert not allow.check("sklearn.base", "os.system").allowed
    assert allow.check("torch", "FloatStorage").allowed
    assert Allowlist(["mypkg.*"]).check("mypkg.sub", "Thing").callable


def test_benign_sklearn_pickles_every_protocol(scan_bytes: ScanBytes) -> None:
    sklearn = pytest.importorskip("sklearn")
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    del sklearn
    rng = np.random.default_rng(0)
    x, y = rng.random((60, 4)), rng.integers(0, 2, 60)
    model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3,
                                                                   random_state=0)).fit(x, y)
    for protocol in range(2, 6):
        result = scan_bytes(pickle.dumps(model, protocol=protocol))
        assert result.verdict_name == "sandboxed", result.findings


def test_benign_sklearn_cython_reconstructors(scan_bytes: ScanBytes) -> None:
    pytest.importorskip("sklearn")
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    model = HistGradientBoostingClassifier(max_iter=3).fit(rng.random((60, 3)),
                                                           rng.integers(0, 3, 60))
    data = pickle.dumps(model, protocol=5)
    assert b"__pyx_unpickle_" in data
    assert scan_bytes(data).verdict_name == "sandboxed"


def test_torch_checkpoints_when_torch_is_installed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    from mlflow_supplychain.scanning.scanner import scan_path

    good = tmp_path / "good.pt"
    torch.save({"w": torch.zeros(3, 4), "b": torch.ones(2, dtype=torch.float16)}, good)
    assert scan_path(good).verdict_name == "sandboxed"
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(3)}, legacy, _use_new_zipfile_serialization=False)
    assert scan_path(legacy).verdict_name == "sandboxed"
    bad = tmp_path / "bad.pt"
    torch.save({"w": torch.zeros(3), "x": p.Exec()}, bad)
    assert scan_path(bad).verdict_name == "prohibited"
