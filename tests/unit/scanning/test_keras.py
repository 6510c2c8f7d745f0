"""Keras: .keras archives with or without metadata.json, the Keras object allowlist, and
legacy .h5 model configs read as HDF5 attributes (decoys and odd key orders included)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from mlflow_supplychain.scanning import json_tree
from mlflow_supplychain.scanning.limits import ScanLimits

from . import payloads as p
from .conftest import ScanBytes, codes

pytest.importorskip("h5py")


def _obj(module: str | None, cls: str, config: Any = None, registered: str | None = None
         ) -> dict[str, Any]:
    return {"module": module, "class_name": cls, "config": {} if config is None else config,
            "registered_name": registered}


DTYPE = _obj("keras", "DTypePolicy", {"name": "float32"})


def keras3_config(*extra_layers: dict[str, Any]) -> dict[str, Any]:
    """A Sequential model config as Keras 3 writes it (model.to_json / config.json)."""
    dense = _obj("keras.layers", "Dense", {
        "name": "dense", "trainable": True, "dtype": DTYPE, "units": 8, "activation": "relu",
        "use_bias": True,
        "kernel_initializer": _obj("keras.initializers", "GlorotUniform", {"seed": None}),
        "bias_initializer": _obj("keras.initializers", "Zeros"),
        "kernel_regularizer": _obj("keras.regularizers", "L2", {"l2": 0.01}),
        "bias_regularizer": None, "kernel_constraint": _obj("keras.constraints", "MaxNorm",
                                                            {"max_value": 2, "axis": 0}),
        "bias_constraint": None})
    dense["build_config"] = {"input_shape": [None, 4]}
    head = _obj("keras.layers", "Dense", {"name": "head", "units": 1, "dtype": DTYPE,
                                          "activation": _obj("keras.activations", "function",
                                                             "sigmoid", "sigmoid")})
    layers = [_obj("keras.layers", "InputLayer", {"batch_shape": [None, 4], "dtype": "float32",
                                                  "sparse": False, "name": "input_layer"}),
              dense, _obj("keras.layers", "Dropout", {"rate": 0.1, "seed": None}),
              _obj("keras.layers", "BatchNormalization", {"axis": -1, "momentum": 0.99}),
              head, *extra_layers]
    model = _obj("keras", "Sequential", {"name": "sequential", "trainable": True,
                                         "dtype": DTYPE, "layers": layers})
    model["compile_config"] = {
        "optimizer": _obj("keras.optimizers", "Adam", {
            "learning_rate": _obj("keras.optimizers.schedules", "ExponentialDecay",
                                  {"initial_learning_rate": 0.01, "decay_steps": 10,
                                   "decay_rate": 0.9})}),
        "loss": _obj("keras.losses", "BinaryCrossentropy", {"from_logits": False}),
        "metrics": [_obj("keras.metrics", "AUC", {"num_thresholds": 200}), "accuracy"],
        "loss_weights": None, "weighted_metrics": None, "run_eagerly": False,
        "steps_per_execution": 1, "jit_compile": False}
    return model


def keras_zip(config: dict[str, Any], *, metadata: bool = True) -> bytes:
    members = {"config.json": json.dumps(config).encode(),
               "model.weights.h5": p.h5_with_attrs({})}
    if metadata:
        members["metadata.json"] = b'{"keras_version": "3.10.0", "date_saved": "2026-01-01"}'
    return p.zip_of(members)


TORCH_WRAPPER = _obj("keras.layers", "TorchModuleWrapper",
                     {"name": "torch_module_wrapper", "module": "gASVAAAAAAAAAA=="})
GET_FILE = _obj("keras.layers", "Dense", {"units": 1, "activation": _obj(
    "keras.utils", "function", "get_file")})
UNSAFE_SWITCH = _obj("keras.layers", "Dense", {"units": 1, "kernel_initializer": _obj(
    "keras.config", "function", "enable_unsafe_deserialization")})
SRC_SAVING = _obj("keras.src.saving.serialization_lib", "function", "enable_unsafe_deserialization")
TFSM = _obj("keras.layers", "TFSMLayer", {"filepath": "/tmp/x", "call_endpoint": "serve"})
KERAS_HUB = _obj("keras_hub.src.models.bert.bert_backbone", "BertBackbone")
FAKE_KERAS = _obj("kerasx.layers", "Dense", {"units": 1})
REGISTERED = _obj("keras.layers", "Dense", {"units": 1}, "mypkg>Dense")
LAMBDA_ACT = _obj("keras.layers", "Dense", {"units": 1, "activation": {
    "class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA", "defaults": None}}})


def test_benign_keras3_model_is_permitted(scan_bytes: ScanBytes) -> None:
    for data in (keras_zip(keras3_config()), keras_zip(keras3_config(), metadata=False),
                 p.h5_with_attrs({"model_config": json.dumps(keras3_config()).encode()})):
        result = scan_bytes(data, "model.keras")
        assert result.verdict_name == "permitted", result.findings
        assert "keras" in result.formats


@pytest.mark.parametrize("layer,code", [
    (p.LAMBDA_LAYER, "KERAS_LAMBDA"), (LAMBDA_ACT, "KERAS_LAMBDA"),
    (TORCH_WRAPPER, "KERAS_CUSTOM_OBJECT"), (GET_FILE, "KERAS_CUSTOM_OBJECT"),
    (UNSAFE_SWITCH, "KERAS_CUSTOM_OBJECT"), (SRC_SAVING, "KERAS_CUSTOM_OBJECT"),
    (TFSM, "KERAS_CUSTOM_OBJECT"), (KERAS_HUB, "KERAS_CUSTOM_OBJECT"),
    (FAKE_KERAS, "KERAS_CUSTOM_OBJECT"), (REGISTERED, "KERAS_CUSTOM_OBJECT"),
    (p.CUSTOM_LAYER, "KERAS_CUSTOM_OBJECT"),
])
def test_dangerous_objects_are_flagged_with_and_without_metadata(
        scan_bytes: ScanBytes, layer: dict[str, Any], code: str) -> None:
    config = keras3_config(layer)
    for data in (keras_zip(config), keras_zip(config, metadata=False),
                 p.h5_with_attrs({"model_config": json.dumps(config).encode()})):
        result = scan_bytes(data, "model.keras")
        assert result.verdict_name == "prohibited"
        assert code in codes(result)


def test_finding_messages_do_not_echo_long_names(scan_bytes: ScanBytes) -> None:
    layer = _obj("x" * 5000 + "\x1b[2J", "Evil\n" * 1000)
    result = scan_bytes(keras_zip(keras3_config(layer)))
    assert result.verdict_name == "prohibited"
    for finding in result.findings:
        assert len(finding.message) < 400 and "\x1b" not in finding.message
        assert "\n" not in finding.message


def _lambda_model() -> dict[str, Any]:
    return keras3_config(p.LAMBDA_LAYER)


@pytest.mark.parametrize("attrs,libver", [
    ({"model_config": json.dumps(_lambda_model())}, None),  # variable-length str
    ({"model_config": np.bytes_(json.dumps(_lambda_model()).encode())}, None),  # fixed length
    # the config's first key is "config", not "class_name"/"module"
    ({"model_config": json.dumps({"config": _lambda_model()["config"],
                                  "class_name": "Sequential"}).encode()}, None),
    # large attribute in dense storage, the Lambda layer at the end
    ({"model_config": json.dumps(keras3_config(*[p.DENSE_LAYER] * 2000,
                                               p.LAMBDA_LAYER)).encode()}, "latest"),
    # training_config naming a gadget function as the loss
    ({"model_config": json.dumps(keras3_config()).encode(),
      "training_config": json.dumps({"loss": _obj("keras.utils", "function",
                                                  "get_file")}).encode()}, None),
])
def test_h5_model_config_is_read_as_keras_reads_it(
        scan_bytes: ScanBytes, attrs: dict[str, object], libver: str | None) -> None:
    result = scan_bytes(p.h5_with_attrs(attrs, libver=libver), "model.h5")
    assert result.verdict_name == "prohibited", result.findings
    assert codes(result) & {"KERAS_LAMBDA", "KERAS_CUSTOM_OBJECT"}


def test_h5_decoy_json_before_the_config_does_not_hide_it(scan_bytes: ScanBytes) -> None:
    decoy = json.dumps({"class_name": "Sequential", "config": {"layers": []}}).encode()
    data = p.h5_with_attrs({"model_config": json.dumps(_lambda_model()).encode()},
                           dataset=decoy * 3)
    result = scan_bytes(data, "model.h5")
    assert result.verdict_name == "prohibited" and "KERAS_LAMBDA" in codes(result)


def test_h5_attribute_with_a_decoy_object_in_front_is_invalid(scan_bytes: ScanBytes) -> None:
    # Keras' json.loads rejects it; so does the scanner -- never clean.
    value = b'{"class_name": "Dense"} ' + json.dumps(_lambda_model()).encode()
    result = scan_bytes(p.h5_with_attrs({"model_config": value}), "model.h5")
    assert result.verdict_name is None and codes(result) == {"KERAS_INVALID"}


def test_h5_without_model_config_is_weights_only(scan_bytes: ScanBytes) -> None:
    result = scan_bytes(p.h5_with_attrs({"backend": b"tensorflow"}), "weights.h5")
    assert result.verdict_name == "permitted" and result.formats == ("hdf5",)


def test_h5_model_config_over_the_limit_is_undecided(scan_bytes: ScanBytes) -> None:
    data = p.h5_with_attrs({"model_config": json.dumps(keras3_config()).encode()})
    result = scan_bytes(data, "model.h5", limits=ScanLimits(max_json=100))
    assert result.verdict_name is None and codes(result) == {"LIMIT_REACHED"}


def test_config_json_over_the_limit_is_undecided(scan_bytes: ScanBytes) -> None:
    data = keras_zip(keras3_config(p.LAMBDA_LAYER), metadata=False)
    result = scan_bytes(data, limits=ScanLimits(max_json=200))
    assert result.verdict_name is None and "LIMIT_REACHED" in codes(result)


@pytest.mark.parametrize("padding_first", [True, False])
def test_lambda_behind_a_million_nodes_is_never_clean(
        scan_bytes: ScanBytes, monkeypatch: pytest.MonkeyPatch, padding_first: bool) -> None:
    monkeypatch.setattr(json_tree, "MAX_NODES", 5_000)  # same walk, smaller document
    padding = {"class_name": "Dense", "config": {"pad": list(range(6_000))}}
    layers = [padding, p.LAMBDA_LAYER] if padding_first else [p.LAMBDA_LAYER, padding]
    for data in (keras_zip(keras3_config(*layers), metadata=False),
                 p.h5_with_attrs({"model_config": json.dumps(keras3_config(*layers)).encode()})):
        result = scan_bytes(data)
        assert result.verdict_name != "permitted" and result.verdict_name != "sandboxed"
        assert codes(result) & {"LIMIT_REACHED", "KERAS_LAMBDA"}
        assert "LIMIT_REACHED" in codes(result)


def test_skops_schema_past_the_node_limit_is_undecided(
        scan_bytes: ScanBytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_tree, "MAX_NODES", 5_000)
    schema = {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
              "content": {"pad": list(range(6_000)),
                          "f": {"__loader__": "FunctionNode", "__class__": "function",
                                "__module__": "builtins",
                                "content": {"module_path": "os", "function": "system"}}}}
    result = scan_bytes(p.zip_of({"schema.json": json.dumps(schema).encode()}))
    assert result.verdict_name in ("prohibited", None)
    assert "LIMIT_REACHED" in codes(result) or "SKOPS_UNTRUSTED_TYPE" in codes(result)


def test_hdf5_config_inside_a_gzip_is_checked(scan_bytes: ScanBytes) -> None:
    import gzip

    data = p.h5_with_attrs({"model_config": json.dumps(_lambda_model()).encode()})
    result = scan_bytes(gzip.compress(data), "model.h5.gz")
    assert result.verdict_name == "prohibited" and "KERAS_LAMBDA" in codes(result)


def test_legacy_tf_keras_h5_with_its_own_optimizer_names_is_permitted(scan_bytes: ScanBytes) -> None:
    legacy = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4]}},
        {"class_name": "Dense", "config": {"units": 2, "activation": "relu",
                                           "kernel_initializer": {"class_name": "GlorotUniform",
                                                                  "config": {"seed": None}}}}]}}
    training = {"loss": "mse", "metrics": ["mae"], "optimizer_config": {
        "class_name": "Custom>Adam", "config": {"learning_rate": 0.001}}}
    data = p.h5_with_attrs({"model_config": json.dumps(legacy).encode(),
                            "training_config": json.dumps(training).encode(),
                            "keras_version": b"2.13.1", "backend": b"tensorflow"})
    assert scan_bytes(data, "model.h5").verdict_name == "permitted"
    training["optimizer_config"]["class_name"] = "Custom>Backdoor"  # type: ignore[index]
    data = p.h5_with_attrs({"model_config": json.dumps(legacy).encode(),
                            "training_config": json.dumps(training).encode()})
    assert scan_bytes(data, "model.h5").verdict_name == "prohibited"


def test_decoy_schema_json_does_not_switch_off_the_keras_check(scan_bytes: ScanBytes) -> None:
    data = p.zip_of({"config.json": json.dumps(keras3_config(p.LAMBDA_LAYER)).encode(),
                     "schema.json": b'{"__class__": "dict", "__module__": "builtins"}'})
    result = scan_bytes(data, "model.keras")
    assert result.verdict_name == "prohibited" and "KERAS_LAMBDA" in codes(result)


def test_h5_with_many_attributes_in_dense_storage_is_read(scan_bytes: ScanBytes) -> None:
    attrs: dict[str, object] = {f"note{i}": b"v" for i in range(12)}
    attrs["model_config"] = json.dumps(_lambda_model()).encode()
    result = scan_bytes(p.h5_with_attrs(attrs, libver="latest"), "model.h5")
    assert result.verdict_name == "prohibited" and "KERAS_LAMBDA" in codes(result)


def test_h5_with_a_filtered_attribute_heap_is_undecided(scan_bytes: ScanBytes) -> None:
    attrs: dict[str, object] = {f"note{i}": b"v" for i in range(12)}
    data = bytearray(p.h5_with_attrs(attrs, libver="latest"))
    heap = data.find(b"FRHP")
    assert heap > 0
    data[heap + 7:heap + 9] = b"\x10\x00"  # declare an I/O filter pipeline on the heap
    result = scan_bytes(bytes(data), "model.h5")
    assert result.verdict_name is None and codes(result) == {"KERAS_INVALID"}
