"""``sandboxed`` at load time: the restricted unpickler resolves only what the scan accepted,
and models that cannot be loaded that way are refused."""

from __future__ import annotations

import collections
import pickle
from pathlib import Path

import numpy as np
import pytest

from mlflow_supplychain.deploy.sandbox import GlobalRefused, plan, restricted_unpickling
from mlflow_supplychain.scanning.results import FileResult, ScanReport
from mlflow_supplychain.scanning.scanner import scan_path


def _report(*files: FileResult) -> ScanReport:
    return ScanReport("x", files)


def _file(formats: tuple[str, ...], verdict: str = "sandboxed",
          globals_: tuple[str, ...] = ()) -> FileResult:
    return FileResult("model.pkl", "pickle", formats, verdict, (), 1, globals_)


def test_only_accepted_globals_resolve() -> None:
    data = pickle.dumps(collections.OrderedDict(a=1), protocol=4)
    with restricted_unpickling({"collections.OrderedDict"}) as stats:
        assert pickle.loads(data) == {"a": 1}
        assert stats.resolved == 1
    with restricted_unpickling(set()) as stats, pytest.raises(GlobalRefused):
        pickle.loads(data)
    assert stats.refused == ["collections.OrderedDict"]


def test_every_entry_point_is_restricted_and_restored(tmp_path: Path) -> None:
    import cloudpickle
    import joblib

    originals = (pickle.load, pickle.loads, pickle.Unpickler, pickle._Unpickler.find_class,
                 cloudpickle.load, cloudpickle.loads)
    data = pickle.dumps(collections.Counter("ab"), protocol=2)
    joblib.dump({"c": collections.Counter("ab"), "a": np.arange(3)}, tmp_path / "m.joblib")
    with restricted_unpickling(set()):
        for load in (pickle.loads, cloudpickle.loads,
                     lambda d: pickle.Unpickler(__import__("io").BytesIO(d)).load(),
                     pickle._loads):
            with pytest.raises(GlobalRefused):
                load(data)
        with pytest.raises(GlobalRefused):
            joblib.load(tmp_path / "m.joblib")
    assert originals == (pickle.load, pickle.loads, pickle.Unpickler,
                         pickle._Unpickler.find_class, cloudpickle.load, cloudpickle.loads)


def test_a_global_the_scan_did_not_accept_cannot_run_at_load(tmp_path: Path) -> None:
    """A scanner miss stays harmless: the scan of one file accepted its globals; a pickle
    naming anything else (here print, standing in for a missed gadget) is refused."""
    good = tmp_path / "good.pkl"
    good.write_bytes(pickle.dumps({"w": np.zeros(3)}, protocol=4))
    accepted = scan_path(good).files[0].globals
    assert accepted and all("print" not in g for g in accepted)
    with restricted_unpickling(accepted):
        assert pickle.loads(good.read_bytes())["w"].shape == (3,)
        with pytest.raises(GlobalRefused):
            pickle.loads(b"\x80\x04cbuiltins\nprint\nX\x02\x00\x00\x00hi\x85R.")


def test_plan() -> None:
    pickled = _file(("pickle_allowlisted",), globals_=("numpy.dtype",))
    restricted = plan(_report(pickled), "mlflow.sklearn")
    assert restricted.restricted and restricted.allowed == {"numpy.dtype"}
    assert not restricted.refusals
    assert plan(_report(pickled), "mlflow.pytorch").refusals
    assert plan(_report(pickled), None).refusals
    assert plan(_report(_file(("torchscript",))), "mlflow.pytorch").refusals
    assert plan(_report(_file(("unknown",))), "mlflow.sklearn").refusals
    inert = plan(_report(_file(("requirements_unpinned", "text"))), "mlflow.pytorch")
    assert not inert.restricted and not inert.refusals
    permitted = plan(_report(_file(("safetensors",), "permitted")), None)
    assert not permitted.restricted and not permitted.refusals


def test_mlflow_sklearn_model_loads_restricted(tmp_path: Path) -> None:
    import mlflow
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(preprocessor=str.lower), LogisticRegression())
    model.fit(["good day", "bad day", "Good Show", "BAD show"], [1, 0, 1, 0])
    target = tmp_path / "model"
    mlflow.sklearn.save_model(model, str(target), serialization_format="cloudpickle")
    report = scan_path(target)
    decided = plan(report, "mlflow.sklearn")
    assert report.verdict_name == "sandboxed" and decided.restricted and not decided.refusals
    with restricted_unpickling(decided.allowed) as stats:
        loaded = mlflow.pyfunc.load_model(str(target))
    assert stats.resolved > 0 and not stats.refused
    assert list(loaded.predict(["GOOD morning"])) == [1]
