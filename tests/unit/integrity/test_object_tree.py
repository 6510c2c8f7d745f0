"""Which keys under a prefix are an artifact's files: the same paths a download would make."""

from __future__ import annotations

import pytest

from mlflow_supplychain.errors import ArtifactReadError
from mlflow_supplychain.integrity.object_tree import objects_under


def _rels(prefix: str, keys: dict[str, int]) -> list[str]:
    return [o.rel for o in objects_under(prefix, ((k, s, '"e"') for k, s in keys.items()),
                                         where="s3://b/p")]


def test_keys_under_the_prefix_become_relative_paths() -> None:
    assert _rels("p/m", {"p/m/b": 1, "p/m/a/c": 2, "p/m2/x": 3, "p/m/dir/": 0}) == ["a/c", "b"]


def test_the_prefix_itself_is_a_single_file_artifact() -> None:
    assert _rels("p/model.pkl", {"p/model.pkl": 5}) == ["model.pkl"]


def test_a_whole_bucket() -> None:
    assert _rels("", {"a": 1, "d/b": 2}) == ["a", "d/b"]


@pytest.mark.parametrize("key", ["p/m/a//b", "p/m/./b", "p/m/a/../../etc", "p/m/..",
                                 "p/m/x/", "p/m/a\x00b"])
def test_odd_keys_are_refused(key: str) -> None:
    with pytest.raises(ArtifactReadError) as info:
        _rels("p/m", {key: 3, "p/m/ok": 1})
    assert "path segment" in info.value.one_line()


def test_a_path_both_file_and_directory_is_refused() -> None:
    with pytest.raises(ArtifactReadError, match="Cannot re-hash") as info:
        _rels("p/m", {"p/m/a": 1, "p/m/a/b": 1})
    assert "both a file and a directory" in info.value.one_line()


def test_nothing_there_is_an_error() -> None:
    with pytest.raises(ArtifactReadError, match="Nothing to re-hash"):
        _rels("p/m", {"p/m2/x": 1, "p/m/marker/": 0})
