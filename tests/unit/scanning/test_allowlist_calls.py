"""False alarms on harmless globals, and the one ``getattr`` shape that is safe."""

from __future__ import annotations
import __future__

import pickle

import pytest

from . import payloads as p
from .conftest import ScanBytes, codes


@pytest.mark.parametrize("value", [len, abs, sorted, max, Ellipsis, NotImplemented,
                                   __future__.annotations, __future__.division],
                         ids=["len", "abs", "sorted", "max", "Ellipsis", "NotImplemented",
                              "annotations", "division"])
def test_harmless_builtins_and_future_features_pass(scan_bytes: ScanBytes, value: object) -> None:
    for protocol in (0, 2, 4):
        result = scan_bytes(pickle.dumps({"v": value}, protocol=protocol))
        assert result.verdict_name == "sandboxed", (value, protocol, result.findings)


def test_tfidf_with_str_lower_preprocessor_passes(scan_bytes: ScanBytes) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    model = TfidfVectorizer(preprocessor=str.lower).fit(["Hello world", "hello there"])
    for protocol in (2, 4, 5):
        assert scan_bytes(pickle.dumps(model, protocol=protocol)).verdict_name == "sandboxed"


def test_constant_method_lookups_on_builtin_types_pass(scan_bytes: ScanBytes) -> None:
    data = pickle.dumps([str.lower, str.strip, bytes.decode, dict.get, str.lower], protocol=4)
    assert scan_bytes(data).verdict_name == "sandboxed"


def _getattr(owner: bytes, attribute: bytes, tail: bytes = b"") -> bytes:
    return p.proto4(b"cbuiltins\ngetattr\n\x94" + owner + p.op_str(attribute.decode())
                    + b"\x86R" + tail)


@pytest.mark.parametrize("data", [
    _getattr(b"cbuiltins\nstr\n", b"__class__"),  # dunder
    _getattr(b"cbuiltins\nstr\n", b"format"),  # format strings walk attributes
    _getattr(b"cbuiltins\nobject\n", b"__subclasses__"),
    _getattr(b"cnumpy\nndarray\n", b"tofile"),  # not a builtin type
    _getattr(b"cbuiltins\nstr\n", b"lower", b")R"),  # the result called
    _getattr(b"cbuiltins\nstr\n", b"lower", b"0h\x00" + b"cbuiltins\ndict\n" + p.op_str("x")
             + b"\x86R"),  # the same getattr reused for a non-constant lookup
    _getattr(b"cbuiltins\nstr\n", b"lower", b"0h\x00\x85"),  # getattr itself kept as a value
    p.proto4(b"cbuiltins\ngetattr\n" + b"(cbuiltins\nstr\n" + p.op_str("lower") + b"o"
             + b"cbuiltins\ngetattr\n\x85"),
    p.proto4(b"cbuiltins\ngetattr\n" + b"cbuiltins\nstr\n" + p.op_str("lower")
             + p.op_str("x") + b"\x87R"),  # three arguments
], ids=["dunder", "format", "subclasses", "numpy-owner", "called", "reused", "as-value",
        "second-import-as-value", "three-args"])
def test_getattr_anything_else_is_prohibited(scan_bytes: ScanBytes, data: bytes) -> None:
    result = scan_bytes(data)
    assert result.verdict_name == "prohibited", result.findings
    assert codes(result) & {"PICKLE_UNSAFE_GLOBAL", "PICKLE_UNSAFE_CALL"}


def test_eval_and_friends_stay_prohibited(scan_bytes: ScanBytes) -> None:
    for name in ("eval", "exec", "open", "__import__", "getattr", "setattr", "print", "type",
                 "compile", "input", "breakpoint", "vars", "globals"):
        data = p.proto4(f"cbuiltins\n{name}\n".encode() + p.op_str("x") + b"\x85R")
        assert scan_bytes(data).verdict_name == "prohibited", name


def test_sklearn_newobj_needs_an_allowlisted_class(scan_bytes: ScanBytes) -> None:
    new_obj = b"csklearn.neighbors._kd_tree\nnewObj\n"
    good = p.proto4(new_obj + b"csklearn.neighbors._kd_tree\nKDTree\n\x85R")
    bad = p.proto4(new_obj + b"csubprocess\nPopen\n\x85R")
    assert scan_bytes(good).verdict_name == "sandboxed"
    assert scan_bytes(bad).verdict_name == "prohibited"


def test_pathlib_values_pass(scan_bytes: ScanBytes) -> None:
    import pathlib

    assert scan_bytes(pickle.dumps(pathlib.PurePosixPath("/a"), 4)).verdict_name == "sandboxed"
