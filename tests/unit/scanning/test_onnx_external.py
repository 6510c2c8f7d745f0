"""ONNX external data is checked wherever a tensor can live: dense and sparse initializers,
Constant attributes (value, sparse_value), training graphs and function attributes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import ScanBytes, codes

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


def _external(name: str, location: str) -> TensorProto:
    tensor = helper.make_tensor(name, TensorProto.FLOAT, [2], [0.0, 0.0])
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "8")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _sparse(location: str) -> onnx.SparseTensorProto:
    values = _external("sp_values", location)
    indices = helper.make_tensor("sp_indices", TensorProto.INT64, [2], [0, 3])
    return helper.make_sparse_tensor(values, indices, [4])


def _model(*, nodes: list | None = None, sparse: list | None = None,
           training: bool = False, functions: list | None = None, location: str = "") -> bytes:
    relu = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [*(nodes or []), relu], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        sparse_initializer=sparse or [])
    model = helper.make_model(graph, functions=functions or [])
    if training:
        init = helper.make_graph([], "init", [], [], initializer=[_external("w", location)])
        model.training_info.add().initialization.CopyFrom(init)
    return bytes(model.SerializeToString())


def _sparse_initializer(location: str) -> bytes:
    return _model(sparse=[_sparse(location)])


def _constant_sparse_value(location: str) -> bytes:
    node = helper.make_node("Constant", [], ["c"], sparse_value=_sparse(location))
    return _model(nodes=[node])


def _constant_value(location: str) -> bytes:
    node = helper.make_node("Constant", [], ["c"], value=_external("v", location))
    return _model(nodes=[node])


def _training_initializer(location: str) -> bytes:
    return _model(training=True, location=location)


def _function_attribute(location: str) -> bytes:
    attr = helper.make_attribute("t", _sparse(location))
    fn = helper.make_function("local", "f", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])],
                              [helper.make_opsetid("", 17)], attributes=[])
    fn.attribute_proto.append(attr)
    return _model(functions=[fn])


BUILDERS: dict[str, Callable[[str], bytes]] = {
    "sparse_initializer": _sparse_initializer,
    "constant_sparse_value": _constant_sparse_value,
    "constant_value": _constant_value,
    "training_initializer": _training_initializer,
    "function_attribute": _function_attribute,
}


@pytest.mark.parametrize("where", sorted(BUILDERS))
@pytest.mark.parametrize("location", ["../../etc/passwd", "/etc/passwd", "a/../../x.bin",
                                      "C:\\\\Windows\\\\win.ini"])
def test_escaping_external_data_is_prohibited(scan_bytes: ScanBytes, where: str,
                                              location: str) -> None:
    result = scan_bytes(BUILDERS[where](location), "model.onnx")
    assert result.verdict_name == "prohibited", result.findings
    assert "ONNX_EXTERNAL_DATA_ESCAPE" in codes(result)


@pytest.mark.parametrize("where", sorted(BUILDERS))
def test_relative_external_data_inside_the_directory_is_permitted(scan_bytes: ScanBytes,
                                                                  where: str) -> None:
    result = scan_bytes(BUILDERS[where]("weights/w.bin"), "model.onnx")
    assert result.verdict_name == "permitted", result.findings


def test_nested_onnx_over_the_in_memory_limit_is_undecided(scan_bytes: ScanBytes) -> None:
    from mlflow_supplychain.scanning.limits import ScanLimits

    from . import payloads as p

    model = _sparse_initializer("weights/w.bin")
    zipped = p.zip_of({"model.onnx": model})
    small = ScanLimits(max_spool=len(model) - 8)
    result = scan_bytes(zipped, limits=small)
    assert result.verdict_name is None and "LIMIT_REACHED" in codes(result)
    assert scan_bytes(zipped).verdict_name == "permitted"
