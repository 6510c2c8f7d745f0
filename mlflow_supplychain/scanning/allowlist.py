"""Which pickle globals an ML model may import, and which it may call.

Allowlist, not blocklist: a global that is not listed here (or added by the policy's
``formats.pickle_allowlist``) makes the pickle unsafe. Two kinds of entries:

* **exact** ``module.name`` entries may be imported and called (REDUCE): the numpy array and
  dtype reconstructors, torch tensor rebuild functions, ``copyreg._reconstructor``, plain
  containers;
* **type families** (``sklearn``, ``scipy.sparse``, ``torch.nn.modules``...) may be imported
  under a simple, non-dunder name; calling one through REDUCE is allowed only when the name
  looks like a class (``CamelCase``), because a family module also contains functions with
  side effects (``sklearn.datasets.fetch_openml`` downloads, ``numpy.f2py`` compiles). Dotted
  names are refused in families: ``sklearn.utils._testing`` + ``os.system`` would otherwise
  reach ``os.system`` through attribute traversal.

Policy extensions (``module.name`` or ``module.*``) are trusted fully: the admin asked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")
_TORCH_REBUILD = (
    "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
    "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_sparse_tensor",
    "_rebuild_device_tensor_from_numpy", "_rebuild_meta_tensor_no_storage",
    "_rebuild_wrapper_subclass", "_rebuild_nested_tensor", "_rebuild_device_tensor_from_cpu_tensor",
)
_TORCH_DTYPES = (
    "float32", "float", "float64", "double", "float16", "half", "bfloat16", "complex32",
    "complex64", "complex128", "cfloat", "cdouble", "uint8", "uint16", "uint32", "uint64",
    "int8", "int16", "short", "int32", "int", "int64", "long", "bool", "qint8", "quint8",
    "qint32", "quint4x2", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
    "strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc", "_mkldnn",
    "contiguous_format", "channels_last", "channels_last_3d", "preserve_format",
    "per_tensor_affine", "per_channel_affine", "per_tensor_symmetric", "per_channel_symmetric",
)

EXACT: frozenset[str] = frozenset({
    *(f"{m}.{n}" for m in _NUMPY_CORE for n in ("_reconstruct", "scalar")),
    "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer",
    "numpy.dtype", "numpy.ndarray", "numpy.core.multiarray.dtype",
    "numpy.random._pickle.__randomstate_ctor", "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor",
    "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
    *(f"torch._utils.{n}" for n in _TORCH_REBUILD),
    "torch._tensor._rebuild_from_type_v2", "torch.serialization._get_layout",
    "torch.Size", "torch.device", "torch.Tensor", "torch.nn.parameter.Parameter",
    "torch.storage.UntypedStorage", "torch.storage.TypedStorage",
    *(f"torch.{n}" for n in _TORCH_DTYPES),
    "collections.OrderedDict", "collections.defaultdict", "collections.Counter",
    "collections.deque",
    "copyreg._reconstructor", "copy_reg._reconstructor", "copyreg.__newobj__",
    "copyreg.__newobj_ex__", "_codecs.encode",
    *(f"{b}.{n}" for b in ("builtins", "__builtin__") for n in (
        "set", "frozenset", "complex", "slice", "range", "bytearray", "bytes", "object",
        "dict", "list", "tuple", "int", "float", "str", "bool", "unicode", "long",
        # pure functions of their arguments: no I/O, no attribute lookup by name, no import
        "len", "abs", "min", "max", "sum", "round", "sorted", "reversed", "enumerate", "zip",
        "map", "filter", "any", "all", "hash", "repr", "ascii", "ord", "chr", "divmod", "pow",
        "iter", "next", "isinstance", "issubclass", "hex", "oct", "bin", "format")),
    "__future__._Feature",
    *(f"{m}.{n}" for m in ("pathlib", "pathlib._local") for n in (
        "PurePath", "PurePosixPath", "PureWindowsPath", "Path", "PosixPath", "WindowsPath")),
    "array.array", "array._array_reconstructor",
    "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta",
    "datetime.timezone", "decimal.Decimal", "fractions.Fraction", "uuid.UUID",
    "joblib.numpy_pickle.NumpyArrayWrapper", "joblib.numpy_pickle.NDArrayWrapper",
    "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
})

FAMILIES: tuple[str, ...] = ("numpy", "sklearn", "scipy.sparse", "torch.nn.modules")
"""Module trees whose classes are ML value types (import freely, construct CamelCase)."""

FAMILY_EXCLUSIONS: tuple[str, ...] = (
    "numpy.f2py", "numpy.distutils", "numpy.testing", "numpy.ctypeslib", "numpy.lib.npyio",
    "numpy.lib._npyio_impl", "sklearn.datasets", "sklearn.utils._testing", "sklearn.externals",
    "sklearn.utils._show_versions",
)

CLOUDPICKLE_MARKER = "cloudpickle"

KNOWN_DANGEROUS: frozenset[str] = frozenset({
    "os", "posix", "nt", "subprocess", "sys", "socket", "shutil", "runpy", "importlib", "pty",
    "webbrowser", "pickle", "_pickle", "marshal", "types", "code", "ctypes", "asyncio",
    "multiprocessing", "http", "urllib", "requests", "pip", "commands", "platform",
})
KNOWN_DANGEROUS_BUILTINS: frozenset[str] = frozenset({
    "eval", "exec", "compile", "__import__", "getattr", "setattr", "delattr", "open",
    "globals", "locals", "vars", "breakpoint", "input", "apply", "execfile",
})

CONSTANTS: frozenset[str] = frozenset({
    *(f"{b}.{n}" for b in ("builtins", "__builtin__") for n in ("Ellipsis", "NotImplemented")),
    *(f"__future__.{n}" for n in (
        "annotations", "division", "absolute_import", "print_function", "unicode_literals",
        "generators", "nested_scopes", "with_statement", "generator_stop", "barry_as_FLUFL")),
})
"""Globals that are plain values: may be imported, never called."""

_STR_METHODS = frozenset({
    "lower", "upper", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines",
    "casefold", "title", "capitalize", "swapcase", "isdigit", "isalpha", "isalnum", "isspace",
    "islower", "isupper", "isnumeric", "isdecimal", "istitle", "startswith", "endswith", "join",
    "replace", "count", "find", "rfind", "index", "rindex", "partition", "rpartition", "zfill",
    "center", "ljust", "rjust", "expandtabs", "removeprefix", "removesuffix"})
SAFE_METHODS: dict[str, frozenset[str]] = {
    "str": _STR_METHODS | {"encode"}, "unicode": _STR_METHODS | {"encode"},
    "bytes": _STR_METHODS | {"decode", "hex"}, "bytearray": _STR_METHODS | {"decode", "hex"},
    "dict": frozenset({"get", "keys", "values", "items", "copy"}),
    "list": frozenset({"copy", "count", "index"}), "tuple": frozenset({"count", "index"}),
    "set": frozenset({"union", "intersection", "difference", "issubset", "issuperset", "copy"}),
    "frozenset": frozenset({"union", "intersection", "difference", "issubset", "issuperset"}),
    "int": frozenset({"bit_length", "conjugate", "as_integer_ratio"}),
    "float": frozenset({"is_integer", "conjugate", "as_integer_ratio", "hex"}),
}
"""Methods of builtin types that read their own value only: ``getattr(str, 'lower')`` (what
``TfidfVectorizer(preprocessor=str.lower)`` pickles) is a constant lookup of one of these.
``format``/``format_map`` are left out: a format string can walk attributes."""


def safe_method(type_name: str, attribute: str) -> bool:
    """Is ``getattr(builtins.<type_name>, attribute)`` a harmless method lookup?"""
    return attribute in SAFE_METHODS.get(type_name, frozenset())


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DUNDER = re.compile(r"__\w+__")
_PYX_UNPICKLE = re.compile(r"__pyx_unpickle_[A-Z_]\w*")


@dataclass(frozen=True)
class GlobalCheck:
    """The allowlist's answer for one global."""

    allowed: bool
    callable: bool
    reason: str = ""


class Allowlist:
    """The built-in ML allowlist, extended by the policy's ``pickle_allowlist`` entries."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self._extra_exact: set[str] = set()
        self._extra_modules: list[str] = []
        for entry in extra:
            if entry.endswith(".*"):
                self._extra_modules.append(entry[:-2])
            else:
                self._extra_exact.add(entry)

    def check(self, module: str, name: str) -> GlobalCheck:
        """Is ``module.name`` allowed to be imported, and may it be called?"""
        full = f"{module}.{name}"
        if full in EXACT or full in self._extra_exact:
            return GlobalCheck(True, True)
        if full in CONSTANTS:
            return GlobalCheck(True, False)
        if any(_within(module, m) for m in self._extra_modules) and _plain(name, dotted=True):
            return GlobalCheck(True, True)
        if module == "torch" and name.endswith(("Storage", "Tensor")) \
                and _plain(name, dotted=False):
            return GlobalCheck(True, False)  # storage/tensor types named by torch.save
        if _within_any(module, FAMILIES) and not _within_any(module, FAMILY_EXCLUSIONS):
            if not _plain(name, dotted=False):
                return GlobalCheck(False, False, "attribute traversal or dunder name inside an "
                                   "allowlisted module")
            # CamelCase names are classes; Cython's __pyx_unpickle_<Class> rebuilds one, and
            # sklearn's Cython newObj(cls) is cls.__new__(cls) (its argument is checked too)
            return GlobalCheck(True, name[:1].isupper() or bool(_PYX_UNPICKLE.fullmatch(name))
                               or (name == "newObj" and module.startswith("sklearn.")))
        return GlobalCheck(False, False, describe(module, name))


def describe(module: str, name: str) -> str:
    """Why a non-allowlisted global is dangerous, in words."""
    root = module.split(".", 1)[0]
    if module in ("builtins", "__builtin__") and name in KNOWN_DANGEROUS_BUILTINS:
        return "a known code-execution primitive"
    if root in KNOWN_DANGEROUS:
        return f"from '{root}', which can run commands or load code"
    if CLOUDPICKLE_MARKER in module:
        return "cloudpickle code reconstruction"
    return NOT_LISTED


NOT_LISTED = "not on the ML allowlist"


def is_cloudpickle(module: str) -> bool:
    """True for cloudpickle's reconstruction helpers (pickled functions and classes)."""
    return CLOUDPICKLE_MARKER in module


def _within(module: str, root: str) -> bool:
    return module == root or module.startswith(root + ".")


def _within_any(module: str, roots: Iterable[str]) -> bool:
    return any(_within(module, r) for r in roots)


def _plain(name: str, *, dotted: bool) -> bool:
    parts = name.split(".") if dotted else [name]
    return all(_IDENT.fullmatch(p) and not _DUNDER.fullmatch(p) for p in parts)
