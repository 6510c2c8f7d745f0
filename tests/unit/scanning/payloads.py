"""Build malicious and benign model files with code, at test time.

Every "malicious" payload is harmless: it names ``os.system`` or ``builtins.eval`` with an
``echo`` argument, but nothing here (or in the scanner) ever unpickles it.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import pickle
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

ECHO = "echo harmless-test-payload"


class Exec:
    """Pickles as ``os.system(ECHO)``."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (ECHO,))


class Evaluate:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (eval, ("1+1",))


# -- hand-written opcode streams ------------------------------------------------------------

def op_str(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


def proto4(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def stack_global_via_memo() -> bytes:
    """'os' and 'system' memoized, then fetched with BINGET before STACK_GLOBAL."""
    return proto4(op_str("os") + b"\x94" + op_str("system") + b"\x94" + b"0" + b"0"
                  + b"h\x00h\x01\x93" + op_str(ECHO) + b"\x85R")


def inst_opcode() -> bytes:
    return b"(S'" + ECHO.encode() + b"'\nios\nsystem\n."


def obj_opcode() -> bytes:
    return proto4(b"(" + b"cos\nsystem\n" + op_str(ECHO) + b"o")


def newobj_unlisted_class() -> bytes:
    return proto4(b"csubprocess\nPopen\n" + b")\x81")


def extension_registry() -> bytes:
    return proto4(b"\x82\x01)R")


def unresolved_stack_global() -> bytes:
    """Module name computed by a call: cannot be resolved statically."""
    return proto4(b"cnumpy\ndtype\n" + op_str("f8") + b"\x85R" + op_str("system") + b"\x93")


def computed_call() -> bytes:
    """Calls the result of an allowlisted call (gadget-chain shape)."""
    return proto4(b"cnumpy\ndtype\n" + op_str("f8") + b"\x85R" + b")R")


def family_function_call() -> bytes:
    return proto4(b"csklearn.utils\nresample\n)R")


def family_dotted_traversal() -> bytes:
    return proto4(op_str("sklearn.base") + op_str("os.system") + b"\x93" + op_str(ECHO)
                  + b"\x85R")


def family_dunder() -> bytes:
    return proto4(b"cnumpy\n__builtins__\n")


def protocol0_no_header() -> bytes:
    return b"cos\nsystem\n(S'" + ECHO.encode() + b"'\ntR."


def nested_in_bytes() -> bytes:
    inner = pickle.dumps(Exec(), protocol=4)
    return pickle.dumps({"blob": inner + b"\x00" * 32}, protocol=4)


def legacy_storage_pid(key: str = "0", numel: int = 4, storage: str = "FloatStorage") -> bytes:
    """Opcodes of a legacy torch persistent id: ('storage', torch.<storage>, key, 'cpu',
    numel, None) then BINPERSID (written by hand: no torch needed)."""
    return (b"(" + b"X" + struct.pack("<I", 7) + b"storage" + f"ctorch\n{storage}\n".encode()
            + b"X" + struct.pack("<I", len(key)) + key.encode() + b"X\x03\x00\x00\x00cpu"
            + b"J" + struct.pack("<i", numel) + b"NtQ")


def legacy_torch_raw(evil: bool = True, *, tail: bytes = b"") -> bytes:
    """Legacy torch.save layout: magic, protocol, sys_info, the object (a dict holding one
    storage by persistent id, or ``os.system`` when ``evil``), the storage keys, then each
    storage's int64 element count and raw bytes."""
    main = (pickle.dumps(Exec(), protocol=2) if evil
            else b"\x80\x02}X\x01\x00\x00\x00w" + legacy_storage_pid() + b"s.")
    parts = [pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2), pickle.dumps(1001, protocol=2),
             pickle.dumps({"protocol_version": 1001}, protocol=2), main,
             pickle.dumps([] if evil else ["0"], protocol=2)]
    storages = b"" if evil else struct.pack("<q", 4) + b"\x00" * 16
    return b"".join(parts) + storages + tail


def legacy_torch_tar(evil_in: str | None = None) -> bytes:
    """The pre-1.6 torch.save tar layout (sys_info, pickle, storages, tensors), with
    ``os.system`` hidden in the named member's second entry when ``evil_in`` is given."""
    import torch

    storages = pickle.dumps(2, protocol=2)
    for i in range(2):
        location = Exec() if evil_in == "storages" and i == 1 else "cpu"
        storages += pickle.dumps((str(i), location, torch.FloatStorage), protocol=2)
        storages += struct.pack("<q", 3) + b"\x00" * 12
    storages += pickle.dumps([], protocol=2)
    tensors = pickle.dumps(2, protocol=2)
    for i in range(2):
        header = (i, str(i), torch.FloatTensor)
        tensors += pickle.dumps((i, Exec(), torch.FloatTensor) if evil_in == "tensors" and i == 1
                                else header, protocol=2)
        tensors += struct.pack("<i", 1) + b"\x00" * 4 + struct.pack("<qqq", 3, 1, 0)
    return tar_of({"sys_info": pickle.dumps({"protocol_version": 1001}, protocol=2),
                   "pickle": pickle.dumps({"w": 1}, protocol=2), "storages": storages,
                   "tensors": tensors})


# -- containers -------------------------------------------------------------------------------

def torch_like_zip(pickle_bytes: bytes, member: str = "archive/data.pkl") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(member, pickle_bytes)
        zf.writestr("archive/version", "3\n")
        zf.writestr("archive/data/0", np.arange(64, dtype=np.float32).tobytes())
    return out.getvalue()


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def zip_with_symlink() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    return out.getvalue()


def zip_with_duplicates() -> bytes:
    import warnings

    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as zf:
        warnings.simplefilter("ignore")
        zf.writestr("a.txt", "one")
        zf.writestr("a.txt", "two")
    return out.getvalue()


def zip_bomb(size: int = 64 << 20) -> bytes:
    out = io.BytesIO()
    chunk = b"\x00" * (1 << 20)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf, \
            zf.open("zeros.bin", "w", force_zip64=True) as member:
        for _ in range(size >> 20):
            member.write(chunk)
    return out.getvalue()


def nested_zips(depth: int, core: bytes) -> bytes:
    data = core
    for i in range(depth):
        data = zip_of({f"level{i}.bin": data})
    return data


def tar_of(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return out.getvalue()


def compressed(kind: str, data: bytes) -> bytes:
    if kind == "gzip":
        return gzip.compress(data)
    if kind == "bz2":
        return bz2.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    if kind == "lzma":
        return lzma.compress(data, format=lzma.FORMAT_ALONE)
    if kind == "zlib":
        return zlib.compress(data)
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    raise ValueError(kind)


# -- numpy --------------------------------------------------------------------------------------

def npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=True)
    return out.getvalue()


# -- safetensors -------------------------------------------------------------------------------

def safetensors_raw(header: dict | bytes, data: bytes, length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


# -- ONNX (protobuf by hand) -------------------------------------------------------------------

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def onnx_model(*, domain: str = "", external: str | None = None) -> bytes:
    node = _field(1, b"x") + _field(2, b"y") + _field(4, b"Relu") + (
        _field(7, domain.encode()) if domain else b"")
    tensor = _field(1, 1) + _field(2, 1) + _field(8, b"w")
    if external is not None:
        tensor += _field(13, _field(1, b"location") + _field(2, external.encode())) + _field(14, 1)
    else:
        tensor += _field(9, b"\x00\x00\x80\x3f")
    graph = _field(1, node) + _field(2, b"g") + _field(5, tensor)
    opset = _field(8, _field(1, domain.encode()) + _field(2, 1)) if domain else _field(8, _field(2, 17))
    return _field(1, 8) + _field(2, b"test") + _field(7, graph) + opset


# -- Keras -------------------------------------------------------------------------------------

def keras_config(layer: dict) -> dict:
    return {"module": "keras", "class_name": "Sequential", "config": {"layers": [
        {"module": "keras.layers", "class_name": "Dense", "config": {"units": 1}}, layer]}}


LAMBDA_LAYER = {"module": "keras.layers", "class_name": "Lambda",
                "config": {"function": {"class_name": "__lambda__",
                                        "config": {"code": "4wEAAAAAAAAA"}}}}
CUSTOM_LAYER = {"module": "my_company.layers", "class_name": "Backdoor",
                "registered_name": "my_company>Backdoor", "config": {}}
DENSE_LAYER = {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2}}


def keras_archive(layer: dict) -> bytes:
    return zip_of({"metadata.json": json.dumps({"keras_version": "3.0.0"}).encode(),
                   "config.json": json.dumps(keras_config(layer)).encode(),
                   "model.weights.h5": b"\x89HDF\r\n\x1a\n" + b"\x00" * 64})


def fake_h5(config: dict | None) -> bytes:
    """A real HDF5 file (h5py) whose root ``model_config`` attribute holds ``config`` as
    Keras 2 writes it (UTF-8 bytes), next to a weights dataset."""
    return h5_with_attrs({} if config is None else {"model_config": json.dumps(config).encode()})


def h5_with_attrs(attrs: dict[str, object], *, libver: str | None = None,
                  dataset: bytes = b"") -> bytes:
    """A real HDF5 file with the given root attributes and a small weights dataset (plus
    ``dataset`` bytes stored as a uint8 dataset, to place decoys in the data)."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w", libver=libver) as f:  # type: ignore[arg-type]
        f.create_dataset("model_weights/dense/kernel", data=np.ones((4, 4), dtype="float32"))
        if dataset:
            f.create_dataset("notes", data=np.frombuffer(dataset, dtype="uint8"))
        for name, value in attrs.items():
            f.attrs[name] = value
    return buf.getvalue()


# -- GGUF --------------------------------------------------------------------------------------

def gguf(*, tensors: int = 1, kv_count: int | None = None, truncate: int = 0,
         strings: tuple[tuple[str, str], ...] = ()) -> bytes:
    def s(text: str) -> bytes:
        raw = text.encode("utf-8", "surrogatepass")
        return struct.pack("<Q", len(raw)) + raw

    kvs = s("general.architecture") + struct.pack("<I", 8) + s("llama")
    kvs += s("general.alignment") + struct.pack("<I", 4) + struct.pack("<I", 32)
    for key, value in strings:
        kvs += s(key) + struct.pack("<I", 8) + s(value)
    infos = b"".join(s(f"t{i}") + struct.pack("<I", 1) + struct.pack("<Q", 8)
                     + struct.pack("<IQ", 0, 32 * i) for i in range(tensors))
    count = 2 + len(strings) if kv_count is None else kv_count
    header = b"GGUF" + struct.pack("<IQQ", 3, tensors, count)
    body = header + kvs + infos
    body += b"\x00" * (-len(body) % 32) + b"\x00" * 32 * tensors
    return body[:len(body) - truncate] if truncate else body


# -- MLflow model directory ----------------------------------------------------------------------

def mlflow_model_dir(root: Path, *, python_model: bool = False, code_path: bool = False,
                     from_code: bool = False, requirements: str = "mlflow==3.4.0\n") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    pyfunc: dict = {"loader_module": "mlflow.sklearn", "python_version": "3.11.7",
                    "env": {"virtualenv": "python_env.yaml"}}
    if python_model:
        pyfunc = {"loader_module": "mlflow.pyfunc.model", "python_model": "python_model.pkl"}
        (root / "python_model.pkl").write_bytes(pickle.dumps({"w": 1}))
    if from_code:
        pyfunc["model_code_path"] = "model.py"
        (root / "model.py").write_text("print('hello')\n")
    if code_path:
        pyfunc["code"] = "code"
        (root / "code").mkdir(exist_ok=True)
        (root / "code" / "helpers.py").write_text("X = 1\n")
    import yaml

    (root / "MLmodel").write_text(yaml.safe_dump({"flavors": {"python_function": pyfunc}}))
    (root / "requirements.txt").write_text(requirements)
    (root / "python_env.yaml").write_text(yaml.safe_dump({
        "python": "3.11.7", "build_dependencies": ["pip==24.0"],
        "dependencies": ["-r requirements.txt"]}))
    return root
