"""TorchScript archives are their own format, with their own verdict in the policy."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest

from mlflow_supplychain.policy.schema import Formats
from mlflow_supplychain.scanning.format_policy import DEFAULT, from_formats

from . import payloads as p
from .conftest import ScanBytes, codes


def _x(text: str) -> bytes:
    return b"X" + struct.pack("<I", len(text)) + text.encode()


def scripted_data_pkl(extra: bytes = b"", module: str = "__torch__.Net") -> bytes:
    """What TorchScript's pickler writes for a scripted module holding one tensor: a
    ``__torch__`` class, ``torch._utils._rebuild_tensor_v2`` over a persistent storage id,
    and a ``torch.jit._pickle`` list helper (written by hand: no torch needed)."""
    pkg, _, cls = module.rpartition(".")
    tensor = (b"ctorch._utils\n_rebuild_tensor_v2\n(" + p.legacy_storage_pid("0", 4)
              + b"K\x00K\x04\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR")
    ints = b"ctorch.jit._pickle\nbuild_intlist\n](K\x01K\x02e\x85R"
    return (b"\x80\x02" + f"c{pkg}\n{cls}\n".encode() + b")\x81}(" + _x("training") + b"\x88"
            + _x("weight") + tensor + _x("sizes") + ints + extra + b"ub.")


def torchscript_zip(data_pkl: bytes, *, marker: bool = True) -> bytes:
    members = {"net/data.pkl": data_pkl, "net/code/__torch__.py": b"class Net(Module):\n  pass\n",
               "net/code/__torch__.py.debug_pkl": pickle.dumps((("x", 1),), protocol=2),
               "net/data/0": np.arange(4, dtype=np.float32).tobytes(), "net/version": b"6\n",
               "net/byteorder": b"little"}
    if marker:
        members["net/constants.pkl"] = pickle.dumps((), protocol=2)
    return p.zip_of(members)


def test_torchscript_archive_is_its_own_format(scan_bytes: ScanBytes) -> None:
    result = scan_bytes(torchscript_zip(scripted_data_pkl()), name="model.pt")
    assert "torchscript" in result.formats and "pickle_unsafe" not in result.formats
    assert result.verdict_name == "sandboxed", result.findings


def test_the_verdict_comes_from_the_policy(scan_bytes: ScanBytes) -> None:
    strict = Formats(prohibited=(*Formats().prohibited, "torchscript"),
                     sandboxed=("pickle_allowlisted", "requirements_unpinned"))
    result = scan_bytes(torchscript_zip(scripted_data_pkl()), formats=strict)
    assert result.verdict_name == "prohibited"
    assert DEFAULT == from_formats(Formats()) and "torchscript" in DEFAULT.sandboxed


def test_torchscript_globals_outside_a_torchscript_archive_are_unsafe(
        scan_bytes: ScanBytes) -> None:
    result = scan_bytes(torchscript_zip(scripted_data_pkl(), marker=False))
    assert result.verdict_name == "prohibited"
    assert "PICKLE_UNSAFE_GLOBAL" in codes(result)
    assert scan_bytes(scripted_data_pkl()).verdict_name == "prohibited"


@pytest.mark.parametrize("data", [
    scripted_data_pkl(_x("x") + b"cos\nsystem\n" + _x("id") + b"\x85R"),
    scripted_data_pkl(module="__torch__.__builtins__.eval"),
    scripted_data_pkl(_x("x") + b"ctorch.jit._pickle\nloads\n)R"),
], ids=["os.system", "dunder", "unknown-jit-helper"])
def test_other_globals_in_a_torchscript_archive_are_judged_as_usual(
        scan_bytes: ScanBytes, data: bytes) -> None:
    result = scan_bytes(torchscript_zip(data))
    assert result.verdict_name == "prohibited", result.findings


def test_torchscript_archive_nested_in_a_zip(scan_bytes: ScanBytes) -> None:
    outer = p.zip_of({"model/model.pt": torchscript_zip(scripted_data_pkl())})
    result = scan_bytes(outer)
    assert result.verdict_name == "sandboxed" and "torchscript" in result.formats


def test_real_torch_jit_save(tmp_path, scan_bytes: ScanBytes) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4, 2),
                                                        torch.nn.ReLU())), path)
    result = scan_bytes(path.read_bytes())
    assert result.verdict_name == "sandboxed" and "torchscript" in result.formats, result
