"""A labelled corpus mirroring the peers' own test suites and public advisories.

Every sample is generated here by code: malicious ones name dangerous globals with harmless
arguments (``true``, ``echo``), and nothing is ever unpickled or loaded. ``source`` says which
peer test, advisory or CVE write-up the sample mirrors:

* picklescan: ``mmaitre314/picklescan`` ``tests/test_scanner.py`` (``initialize_pickle_files``,
  ``Malicious*`` classes, the ``data2/GHSA-*`` stdlib-gadget series);
* fickling: ``trailofbits/fickling`` ``test/test_bypasses.py`` (GHSA advisories) and
  ``test/test_benign_edge_cases.py``;
* modelscan: ``protectai/modelscan`` ``tests/test_modelscan.py``;
* modelaudit: ``promptfoo/modelaudit`` CVE pattern tests;
* CVE / CPython issue write-ups, and this project's issue #16.

Custom classes of an application's own module (fickling's enum and dataclass edge cases)
are left out of the benign set: no scanner can tell such an import is harmless, which is
what the policy's ``pickle_allowlist`` is for.
"""

from __future__ import annotations
import __future__

import bz2
import collections
import datetime
import decimal
import fractions
import gzip
import io
import lzma
import pathlib
import pickle
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import payloads as p

CMD = "true"
"""The harmless command every malicious sample would run."""


@dataclass(frozen=True)
class Sample:
    name: str
    source: str
    malicious: bool
    build: Callable[[], bytes]


# -- opcode helpers ------------------------------------------------------------------------------

def _args(args: tuple[object, ...], protocol: int) -> bytes:
    """The opcodes that push ``args`` as one tuple (no header, no STOP)."""
    body = pickle.dumps(args, protocol=min(protocol, 3))
    return body[2:-1] if protocol >= 2 else body[:-1]


def _global(module: str, name: str, protocol: int) -> bytes:
    if protocol >= 4:
        return p.op_str(module) + p.op_str(name) + b"\x93"
    return f"c{module}\n{name}\n".encode()


def call(module: str, name: str, *args: object, protocol: int = 4) -> bytes:
    """A pickle of ``module.name(*args)`` (REDUCE), written by hand so the callee need not
    be importable here."""
    head = bytes([0x80, protocol]) if protocol >= 2 else b""
    return head + _global(module, name, protocol) + _args(args, protocol) + b"R."


def chain(*steps: bytes, protocol: int = 4) -> bytes:
    """Several call expressions; each step is an opcode fragment leaving one value."""
    return bytes([0x80, protocol]) + b"0".join(steps) + b"."


def _str(text: str) -> bytes:
    return p.op_str(text)


def getattr_of(owner: bytes, attribute: str) -> bytes:
    return _global("builtins", "getattr", 4) + owner + _str(attribute) + b"\x86R"


class Reduce:
    """Pickles as ``func(*args)`` for stdlib callables that are importable here."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return self.func, self.args


def dumps(obj: object, protocol: int = 4) -> bytes:
    return pickle.dumps(obj, protocol=protocol)


def npy_descr(descr: str, body: bytes) -> bytes:
    header = f"{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}".encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


def _frame_straddle() -> bytes:
    hidden = _str("os") + _str("system") + b"\x93" + _str(CMD) + b"\x85R0"
    inside = _str("w") + b"C" + bytes([len(hidden) + 4]) + b"\x00" * 4
    body = inside + hidden + b"."
    return b"\x80\x04\x95" + struct.pack("<Q", len(inside)) + body


# -- malicious samples ------------------------------------------------------------------------

_PS = "picklescan tests/test_scanner.py"
_PS2 = "picklescan tests/data2 GHSA stdlib-gadget series"
_FK = "fickling test/test_bypasses.py"
_MS = "modelscan tests/test_modelscan.py"
_MA = "modelaudit CVE pattern tests"

_SOUR = (b"c__builtin__\nglobals\n(tRp100\n0c__builtin__\ncompile\n(S'fl=open(\"/dev/null\")'\nS''"
         b"\nS'exec'\ntRp101\n0c__builtin__\neval\n(g101\ng100\ntRp102\n0c__builtin__\ngetattr\n"
         b"(c__builtin__\ndict\nS'get'\ntRp103\n0c__builtin__\napply\n(g103\n(g100\nS'x'\nltRp104"
         b"\n0g104\n.")
_UNICODE_GET = (b"Vos\np2\n0Vsystem\np3\n0Vtorch\np0\n0VLongStorage\np1\n0g2\ng3\n\x93(V" + CMD.encode()
                + b"\nt" + b"R.")


def _gadgets() -> list[Sample]:
    """Calls of stdlib and library functions that run commands, load code or touch files
    (one per advisory; protocols vary)."""
    table = [
        ("ps_malicious3_httplib", "http.client", "HTTPSConnection", (CMD,), 0, _PS + " Malicious3"),
        ("ps_malicious4_requests", "requests.api", "get", ("http://127.0.0.1/",), 4, _PS + " Malicious4"),
        ("ps_malicious5_aiohttp", "aiohttp.client", "ClientSession", (), 4, _PS + " Malicious5"),
        ("ps_malicious7_socket", "socket", "create_connection", (("127.0.0.1", 9),), 4, _PS + " Malicious6"),
        ("ps_malicious8_subprocess", "subprocess", "run", ([CMD],), 4, _PS + " Malicious7"),
        ("ps_malicious9_sys_exit", "sys", "exit", (0,), 4, _PS + " Malicious8"),
        ("ps_malicious13a_pickle_loads", "pickle", "loads", (b"I12345\n.",), 0, _PS + " Malicious13 (p0)"),
        ("ps_malicious13b__pickle_loads", "_pickle", "loads", (b"I12345\n.",), 4, _PS + " Malicious13 (p4)"),
        ("ps_malicious14_runpy", "runpy", "_run_code", ("pass", {}), 4, _PS + " Malicious14"),
        ("ps_malicious16_pip", "pip", "main", (["--version"],), 0, _PS + " Malicious16"),
        ("ps_malicious17_inductor", "torch._inductor.codecache", "compile_file", ("", "", [CMD]), 4, _PS + " Malicious17"),
        ("ps_malicious18_pydoc_pager", "pydoc", "pipepager", ("", CMD), 4, _PS + " Malicious18"),
        ("ps_malicious20_venv", "venv", "create", ("venv", False, False, True, False, CMD), 4, _PS + " Malicious20"),
        ("ps_ghsa_aix_support", "_aix_support", "_read_cmd_output", (CMD,), 4, _PS2 + " GHSA-g38g-8gr9-h9xp"),
        ("ps_ghsa_imaplib", "imaplib", "IMAP4_stream", (CMD,), 4, _PS2 + " GHSA-g38g-8gr9-h9xp"),
        ("ps_ghsa_osx_support", "_osx_support", "_read_output", (CMD,), 4, _PS2 + " GHSA-g38g-8gr9-h9xp"),
        ("ps_ghsa_pyrepl_pager", "_pyrepl.pager", "pipe_pager", ("", CMD), 4, _PS2 + " GHSA-g38g-8gr9-h9xp"),
        ("ps_ghsa_test_support", "test.support.script_helper", "assert_python_ok", ("-c", "pass"), 4, _PS2 + " GHSA-g38g-8gr9-h9xp"),
        ("ps_ghsa_uuid", "uuid", "_get_command_stdout", (CMD,), 4, _PS2 + " GHSA-g38g-8gr9-h9xp"),
        ("ps_io_fileio", "io", "FileIO", ("/dev/null", "w"), 4, _PS2 + " io_FileIO.pkl"),
        ("ps_logging_filehandler", "logging", "FileHandler", ("/dev/null",), 4, _PS2 + " logging_FileHandler.pkl"),
        ("ps_importlib_bypass", "importlib", "import_module", ("os",), 4, _PS2 + " importlib_bypass.pkl"),
        ("ps_timeit", "timeit", "timeit", ("pass",), 2, _PS2 + " (timeit gadget)"),
        ("ps_cprofile_runctx", "cProfile", "runctx", ("pass", {}, {}), 4, _PS2 + " (cProfile gadget)"),
        ("ps_trace", "trace", "Trace", (), 4, _PS2 + " (trace gadget)"),
        ("ps_shutil_rmtree", "shutil", "rmtree", ("/nonexistent",), 4, _PS2 + " (shutil gadget)"),
        ("ps_webbrowser", "webbrowser", "open", ("http://127.0.0.1/",), 4, _PS2 + " (webbrowser gadget)"),
        ("ps_asyncio_shell", "asyncio.subprocess", "create_subprocess_shell", (CMD,), 4, _PS2 + " (asyncio gadget)"),
        ("ps_distutils_spawn", "distutils.spawn", "spawn", ([CMD],), 2, _PS2 + " (distutils gadget)"),
        ("ps_idlelib", "idlelib.pyshell", "ModifiedInterpreter", (None,), 4, _PS2 + " (idlelib gadget)"),
        ("ps_smtplib", "smtplib", "SMTP", ("127.0.0.1",), 4, _PS2 + " (network gadget)"),
        ("ps_urllib", "urllib.request", "urlopen", ("http://127.0.0.1/",), 4, _PS2 + " (network gadget)"),
        ("fk_runpy_run_path", "runpy", "run_path", ("/nonexistent.py",), 5, _FK + " GHSA-wfq2-52f7-7qvj"),
        ("fk_cprofile_run", "cProfile", "run", ("pass",), 5, _FK + " GHSA-p523-jq9w-64x9"),
        ("fk_pydoc_locate", "pydoc", "locate", ("os.system",), 0, _FK + " GHSA-5hvc-6wx8-mvv4"),
        ("fk_multiprocessing", "multiprocessing.util", "spawnv_passfds", (b"/bin/true", [b"true"], ()), 5, _FK + " GHSA-q5qq-mvfm-j35x"),
        ("fk_pty_spawn_p0", "pty", "spawn", (CMD,), 0, _FK + " pull 108"),
        ("ma_numpy_runstring", "numpy.testing._private.utils", "runstring", ("pass", {}), 4, _MA + " (numpy eval wrapper)"),
        ("ma_numpy_load", "numpy", "load", ("x.npy", None, True), 4, _MA + " CVE-2019-6446 (allow_pickle)"),
        ("ma_torch_load", "torch", "load", ("x.pt",), 4, _MA + " (nested torch.load)"),
        ("ma_torch_jit_annotations", "torch.jit.annotations", "parse_type_line", ("# type: (int) -> int", None, 0), 4, "CVE-2022-45907 write-up"),
        ("ma_dill_create_code", "dill._dill", "_create_code", (0,), 4, _MA + " (dill code objects)"),
        ("ma_joblib_load", "joblib", "load", ("x.joblib",), 4, _MA + " (nested joblib.load)"),
        ("ma_keras_get_file", "keras.utils", "get_file", ("x", "http://127.0.0.1/"), 4, "CVE-2025-9906 class"),
        ("ma_transformers_load", "transformers.modeling_utils", "load_state_dict", ("x.bin",), 4, "CVE-2024-3568 class"),
        ("ms_webbrowser_p2", "webbrowser", "open_new", ("http://127.0.0.1/",), 2, _MS + " (webbrowser)"),
        ("ms_builtins_exec", "builtins", "exec", ("pass",), 4, _MS + " (builtins.exec)"),
        ("ms_os_popen", "os", "popen", (CMD,), 3, _MS + " (os.popen)"),
        ("ms_sklearn_fetch", "sklearn.datasets", "fetch_openml", ("x",), 4, "issue #16 (family function call)"),
        ("ms_ctypes_cdll", "ctypes", "CDLL", ("libc.so.6",), 4, _MS + " test_ctypes_blocklist.py"),
    ]
    return [Sample(name, src, True, lambda m=m, n=n, a=a, pr=pr: call(m, n, *a, protocol=pr))
            for name, m, n, a, pr, src in table]


def _structural() -> list[Sample]:
    evil4, evil2 = dumps(p.Exec(), 4), dumps(p.Exec(), 2)
    evil0 = b"cos\nsystem\n(S'" + CMD.encode() + b"'\ntR."
    rows: list[tuple[str, str, Callable[[], bytes]]] = [
        ("ps_malicious0_sour_pickles", _PS + " malicious0 (BH US 2011 Sour Pickles)", lambda: _SOUR),
        *((f"ps_malicious1_v{v}_eval", _PS + " Malicious1", lambda v=v: dumps(p.Evaluate(), v))
          for v in (0, 3, 4)),
        *((f"ps_malicious2_v{v}_os_system", _PS + " Malicious2", lambda v=v: dumps(p.Exec(), v))
          for v in (0, 3, 4)),
        ("ps_malicious6_second_pickle", _PS + " malicious6 (benign pickle then requests.get)",
         lambda: dumps(["a", "b", "c"], 4) + call("requests.api", "get", "http://127.0.0.1/")),
        ("ps_malicious10_inst_exec", _PS + " malicious10 (INST)",
         lambda: b"(S'pass'\ni__builtin__\nexec\n."),
        ("ps_malicious11_unicode_get", _PS + " malicious11 (imaginaryctf Safe Pickle)", lambda: _UNICODE_GET),
        ("ps_malicious_invalid_bytes", _PS + " malicious-invalid-bytes", lambda: _UNICODE_GET + b"\n\n\t\t"),
        ("ps_broken_model", _PS + " broken_model.pkl (truncated BINUNICODE)",
         lambda: b"cbuiltins\nexec\n(X>\npass; pass; pass; pass; pass; pass; passtRX."),
        ("ps_malicious12_attrgetter", _PS + " malicious12 (operator.attrgetter + __import__)",
         lambda: chain(_global("operator", "attrgetter", 4) + _str("system") + b"\x85R\x94"
                       + _global("builtins", "__import__", 4) + _str("os") + b"\x85R\x85R"
                       + _str(CMD) + b"\x85R")),
        ("ps_malicious15_bdb_run", _PS + " Malicious15 (bdb.Bdb.run)",
         lambda: b"\x80\x04" + _global("bdb", "Bdb.run", 4) + _global("bdb", "Bdb", 4)
         + b")\x81" + _str(CMD) + b"\x86R."),
        ("ps_malicious15a_bdb_run_p2", _PS + " Malicious15 (p2: getattr(bdb.Bdb, 'run'))",
         lambda: b"\x80\x02" + b"c__builtin__\ngetattr\ncbdb\nBdb\nX\x03\x00\x00\x00run\x86R"
         + b"cbdb\nBdb\n)\x81X\x04\x00\x00\x00true\x86R."),
        ("ps_malicious19_partial_torch_load", _PS + " Malicious19 (functools.partial(torch.load))",
         lambda: b"\x80\x04" + _global("functools", "partial", 4) + _global("torch", "load", 4)
         + b"\x85R" + _global("torch", "load", 4) + _str("x.bin") + b"\x85}" + _str("weights_only")
         + b"\x89sN\x94tb)R."),
        ("ps_malicious1_zip", _PS + " malicious1.zip", lambda: p.zip_of({"data.pkl": dumps(p.Evaluate(), 4)})),
        ("ps_malicious1_wrong_ext_zip", _PS + " malicious1_wrong_ext.zip",
         lambda: p.zip_of({"data.txt": dumps(p.Evaluate(), 4)})),
        ("ps_malicious1_central_directory_zip", _PS + " malicious1_central_directory.zip",
         lambda: p.zip_of({"data.pkl": dumps(p.Evaluate(), 4)}).replace(b"data.pkl", b"datap.kl", 1)),
        ("ps_pytorch_zip_hf", _PS + " MockHTTPSConnection totally-harmless-model",
         lambda: p.zip_of({"archive/data.pkl": dumps(p.Evaluate(), 2)})),
        ("ps_pytorch_magic_bypass", _PS + " pytorch_magic_bypass.pt (legacy layout)",
         lambda: p.legacy_torch_raw(evil=True)),
        ("ps_object_array_npy", _PS + " object_array.npy / modelscan malicious npy",
         lambda: p.npy(np.array([p.Exec()], dtype=object))),
        ("ps_dns_exfiltration_npy", _PS2 + " dns_exfiltration.npy",
         lambda: npy_descr("'|O'", call("socket", "gethostbyname", "example.invalid", protocol=3))),
        ("ps_object_arrays_npz", _PS + " object_arrays.npz",
         lambda: p.zip_of({"a.npy": p.npy(np.array([p.Exec()], dtype=object))})),
        ("ps_cloudpickle_codeinjection", _PS2 + " cloudpickle_codeinjection.pkl",
         lambda: call("cloudpickle.cloudpickle", "_make_function", None, {}, None, None, None)),
        ("ps_sys_modules_override", _PS2 + " sys_module_override_sploit.pkl",
         lambda: chain(_global("builtins", "getattr", 4) + _global("sys", "modules", 4)
                       + _str("get") + b"\x86R" + _str("os") + b"\x85R")),
        ("fk_pty_spawn_frame", _FK + " GHSA-r7v6-mfhq-g3m2 (Frame(26) shorter than the body)",
         lambda: b"\x80\x04\x95" + struct.pack("<Q", 26) + _str("pty") + b"\x94" + _str("spawn")
         + b"\x94\x93\x94" + _str("id") + b"\x94\x85\x94R\x94" + _str("gottem") + b"\x94b."),
        ("fk_pty_spawn_obj", _FK + " pull 108 (OBJ)", lambda: b"(cpty\nspawn\nS'true'\no."),
        ("fk_marshal_function", _FK + " GHSA-565g-hwwr-4pp3 (marshal + types.FunctionType)",
         lambda: b"\x80\x04" + _global("marshal", "loads", 4) + b"C\x04\xe3\x00\x00\x00\x85R\x94"
         + _global("types", "FunctionType", 4) + b"h\x00}\x86R)R."),
        ("fk_ctypes_getattr", _FK + " GHSA-q5qq-mvfm-j35x (getattr(ctypes.CDLL(...), 'system'))",
         lambda: chain(getattr_of(_global("ctypes", "CDLL", 5) + _str("libc.so.6") + b"\x85R",
                                  "system") + b"C\x04true\x85R", protocol=5)),
        ("fk_importlib_getattr", _FK + " GHSA-q5qq-mvfm-j35x (getattr(import_module('os'), ...))",
         lambda: chain(getattr_of(_global("importlib", "import_module", 5) + _str("os") + b"\x85R",
                                  "system") + _str(CMD) + b"\x85R", protocol=5)),
        ("fk_code_interpreter", _FK + " GHSA-q5qq-mvfm-j35x (code.InteractiveInterpreter)",
         lambda: chain(getattr_of(_global("code", "InteractiveInterpreter", 5) + b")R",
                                  "runsource") + _str("pass") + b"\x85R", protocol=5)),
        ("fk_getattr_str_dunder", "issue #16 (getattr on a builtin type, dunder attribute)",
         lambda: chain(getattr_of(_global("builtins", "str", 4), "__class__"))),
        ("gh154848_frame_straddle", "CPython gh-154848 (BINBYTES across a FRAME end)", _frame_straddle),
        ("issue16_protocol0_then_evil", "issue #16 (I12345 then a second pickle)",
         lambda: b"I12345\n." + evil0),
        ("issue16_legacy_torch_hidden", "issue #16 (legacy torch: pickle after the storages)",
         lambda: p.legacy_torch_raw(evil=False, tail=evil0)),
        ("issue16_npy_object_spelling", "issue #16 (.npy descr 'object')",
         lambda: npy_descr("'object'", dumps(p.Exec(), 3))),
        ("issue16_npy_structured_object", "issue #16 (.npy field list with an object field)",
         lambda: npy_descr("[('a', '<f8'), ('b', 'O')]", dumps(p.Exec(), 3))),
        ("bench_nested_in_bytes", "this project's corpus (pickle inside a bytes value)", p.nested_in_bytes),
        ("bench_gzip_in_bytes", "issue #16 (a bytes value that decompresses to a pickle)",
         lambda: dumps({"blob": gzip.compress(evil4)}, 4)),
        ("ms_joblib_evil", _MS + " (joblib with a malicious object)",
         lambda: p.compressed("zlib", dumps({"m": [1.0], "evil": p.Exec()}, 4))),
        ("ma_gzip", _MA + " (compressed pickles)", lambda: p.compressed("gzip", evil4)),
        ("ma_bz2", _MA + " (compressed pickles)", lambda: bz2.compress(evil2)),
        ("ma_xz", _MA + " (compressed pickles)", lambda: lzma.compress(evil4)),
        ("ma_torch_storage_hidden", _MA + " (pickle hidden as a tensor storage)",
         lambda: p.zip_of({"archive/data.pkl": dumps({}, 2), "archive/data/0": evil2})),
        ("ma_legacy_tar", _MA + " (legacy torch tar)",
         lambda: p.tar_of({"sys_info": dumps({}, 2), "pickle": evil2, "storages": dumps(0)})),
        ("ma_stack_global_memo", _MA + " (STACK_GLOBAL names through the memo)", p.stack_global_via_memo),
        ("ma_extension_registry", _MA + " (copyreg extension registry)", p.extension_registry),
        ("ma_computed_call", _MA + " (call of a computed object)", p.computed_call),
        ("ma_dotted_traversal", _MA + " (dotted name inside an allowlisted module)", p.family_dotted_traversal),
    ]
    return [Sample(name, src, True, build) for name, src, build in rows]


# -- benign samples ---------------------------------------------------------------------------

def _sklearn_models() -> dict[str, object]:
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.ensemble import GradientBoostingClassifier, IsolationForest, RandomForestClassifier
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import LabelEncoder, OneHotEncoder, StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    x, y = rng.random((120, 6)), rng.integers(0, 2, 120)
    docs = ["the cat sat", "The Dog ran", "a cat and a dog"]
    return {
        "sk_forest_pipeline": make_pipeline(StandardScaler(), RandomForestClassifier(5, random_state=0)).fit(x, y),
        "sk_logistic": LogisticRegression().fit(x, y),
        "sk_ridge": Ridge().fit(x, y),
        "sk_svc": SVC().fit(x, y),
        "sk_tree": DecisionTreeClassifier(max_depth=3).fit(x, y),
        "sk_gboost": GradientBoostingClassifier(n_estimators=5).fit(x, y),
        "sk_isolation_forest": IsolationForest(n_estimators=5, random_state=0).fit(x),
        "sk_kmeans": KMeans(3, n_init=1, random_state=0).fit(x),
        "sk_pca": PCA(2).fit(x),
        "sk_knn": KNeighborsClassifier(3).fit(x, y),
        "sk_onehot": OneHotEncoder().fit([["a"], ["b"]]),
        "sk_label_encoder": LabelEncoder().fit(["x", "y"]),
        "sk_count_vectorizer": CountVectorizer().fit(docs),
        "sk_tfidf": TfidfVectorizer().fit(docs),
        "sk_tfidf_str_lower": TfidfVectorizer(preprocessor=str.lower).fit(docs),
    }


def _benign() -> list[Sample]:
    rows: list[tuple[str, str, Callable[[], bytes]]] = []
    models = _sklearn_models()
    for name, model in models.items():
        for proto in (2, 4):
            rows.append((f"{name}_p{proto}", ("scikit-learn model (peers' sklearn/joblib tests; "
                         "TfidfVectorizer(preprocessor=str.lower) from issue #16)"),
                         lambda m=model, pr=proto: dumps(m, pr)))
    rows.append(("sk_forest_pipeline_p5", "scikit-learn model, protocol 5",
                 lambda: dumps(models["sk_forest_pipeline"], 5)))
    for compress in (0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)):
        label = compress if isinstance(compress, int) else compress[0]
        rows.append((f"joblib_forest_{label}", "joblib.dump (modelscan/modelaudit joblib tests)",
                     lambda c=compress: _joblib(models["sk_forest_pipeline"], c)))
    values: dict[str, tuple[str, object]] = {
        "ps_benign0": (_PS + " benign0 (['a','b','c'])", ["a", "b", "c"]),
        "fk_primitives": ("fickling test_benign_edge_cases primitives", [42, 3.14, "hello", True, None]),
        "fk_large_list": ("fickling test_benign_edge_cases large list", list(range(10000))),
        "fk_large_dict": ("fickling test_benign_edge_cases large dict", {f"key_{i}": i for i in range(1000)}),
        "fk_unicode": ("fickling test_benign_edge_cases unicode", "Hello \u4e16\u754c \U0001f30d"),
        "fk_nested": ("fickling test_benign_edge_cases nested", [[[[[[1, 2, 3]]]]]]),
        "fk_code_strings": ("fickling test_benign_edge_cases dangerous-looking strings",
                            {"exec": "import os\nos.system('rm -rf /')", "__reduce__": "eval"}),
        "fk_datetime": ("fickling test_benign_edge_cases datetime",
                        [datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.date(2024, 1, 2),
                         datetime.time(12, 30), datetime.timedelta(days=1), datetime.timezone.utc]),
        "fk_uuid_decimal_fraction": ("fickling test_benign_edge_cases uuid/decimal/fraction",
                                     [uuid.UUID(int=1), decimal.Decimal("1.5"), fractions.Fraction(1, 3)]),
        "fk_pathlib": ("fickling test_benign_edge_cases pathlib", pathlib.PurePosixPath("/usr/local/bin")),
        "fk_collections": ("fickling test_benign_edge_cases collections",
                           [collections.OrderedDict(a=1), collections.Counter("abca"),
                            collections.deque([1, 2]), collections.defaultdict(list, a=[1])]),
        "fk_sets_complex": ("fickling test_benign_edge_cases builtins", [{1, 2}, frozenset({3}), 1 + 2j,
                                                                         bytearray(b"ab"), range(3), slice(1, 2)]),
        "fk_numpy_arrays": ("fickling test_benign_edge_cases numpy",
                            [np.arange(5), np.zeros((2, 3)), np.int32(42), np.float64(3.14)]),
        "fk_numpy_structured": ("fickling test_benign_edge_cases numpy structured",
                                np.array([("a", 25, 55.0)], dtype=[("n", "U10"), ("a", "i4"), ("w", "f8")])),
        "np_random_state": ("numpy RandomState / Generator pickles",
                            [np.random.RandomState(0), np.random.default_rng(0)]),
        "issue16_builtins": ("issue #16 (builtins.len and friends)", {"f": len, "g": sorted, "e": Ellipsis}),
        "issue16_future": ("issue #16 (__future__ features)", [__future__.annotations, __future__.division]),
        "issue16_str_methods": ("issue #16 (constant method lookups)", [str.lower, str.strip, bytes.decode]),
        "issue16_gzip_magic_bytes": ("issue #16 (bytes value starting with the gzip magic)",
                                     {"token": b"\x1f\x8b" + bytes(range(64))}),
        "issue16_zip_magic_bytes": ("issue #16 (bytes value starting with a zip magic)",
                                    {"token": b"PK\x03\x04" + bytes(range(64))}),
        "issue16_gzip_of_data": ("issue #16 (bytes value that is gzip of plain data)",
                                 {"blob": gzip.compress(bytes(range(256)) * 16)}),
        "state_dict_like": ("this project's corpus", collections.OrderedDict(w=np.zeros((4, 4)))),
        "large_bytes_p5": ("pickle protocol 5 framing with large payloads", {"b": b"\x01" * 300_000}),
    }
    for name, (src, value) in values.items():
        for proto in ((0, 2, 4) if name in ("ps_benign0", "fk_primitives", "issue16_builtins") else (4,)):
            rows.append((f"{name}_p{proto}", src, lambda v=value, pr=proto: dumps(v, pr)))
    out = io.BytesIO()
    np.savez_compressed(out, a=np.arange(3), b=np.arange(3.0))
    npz_compressed = out.getvalue()
    out = io.BytesIO()
    np.savez(out, a=np.arange(3), b=np.arange(3.0))
    npz = out.getvalue()
    rows += [
        ("ps_int_array_npy", _PS + " int_array.npy", lambda: p.npy(np.array([[1, 2], [3, 4]]))),
        ("ps_int_arrays_npz", _PS + " int_arrays.npz", lambda: npz),
        ("ps_int_arrays_compressed_npz", _PS + " int_arrays_compressed.npz", lambda: npz_compressed),
        ("np_datetime_npy", "numpy datetime array", lambda: p.npy(np.zeros(3, dtype="<M8[ns]"))),
        ("np_strings_npy", "numpy unicode array", lambda: p.npy(np.array(["ab", "c"]))),
        ("ps_pytorch_zip_like", _PS + " pytorch_model.bin (zip layout, hand-written)",
         lambda: p.torch_like_zip(dumps(collections.OrderedDict(w=np.zeros(3)), 2))),
        ("ps_pytorch_legacy_like", _PS + " pytorch_model.bin (legacy layout, hand-written)",
         lambda: p.legacy_torch_raw(evil=False)),
        ("several_pickles", "issue #16 (several harmless pickles back to back)",
         lambda: b"I12345\n." + dumps([1], 0) + dumps({"a": 1}, 4)),
        ("safetensors_weights", "safetensors", lambda: p.safetensors_raw(
            {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\x00" * 8)),
        ("onnx_model", "ONNX", p.onnx_model),
        ("keras_dense", "Keras 3 archive", lambda: p.keras_archive(p.DENSE_LAYER)),
        ("gguf_model", "GGUF", lambda: p.gguf(tensors=2)),
        ("config_json", "JSON config", lambda: b'{"hidden_size": 16}'),
        ("readme_md", "model card", lambda: b"# model card\n\nimport os; os.system('x') is text\n"),
    ]
    return [Sample(name, src, False, build) for name, src, build in rows]


def _joblib(model: object, compress: object) -> bytes:
    import joblib

    out = io.BytesIO()
    joblib.dump(model, out, compress=compress)
    return out.getvalue()


def samples() -> list[Sample]:
    """Every sample, malicious first."""
    return [*_gadgets(), *_structural(), *_benign()]
