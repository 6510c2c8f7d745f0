"""The bounded JSON walk the Keras and skops checks share."""

from __future__ import annotations

from typing import Any

import pytest

from mlflow_supplychain.scanning import json_tree
from mlflow_supplychain.scanning.json_tree import walk_objects


def test_yields_every_object_at_any_depth() -> None:
    doc = {"a": [{"b": 1}, [{"c": {"d": 2}}]], "e": "x"}
    names = sorted(tuple(sorted(o)) for o in walk_objects(doc))
    assert names == [("a", "e"), ("b",), ("c",), ("d",)]


def test_deep_nesting_does_not_recurse() -> None:
    doc: Any = {"leaf": True}
    for _ in range(50_000):
        doc = [{"x": doc}]
    assert sum(1 for o in walk_objects(doc) if "leaf" in o) == 1


def test_stops_after_the_node_budget_with_an_error(monkeypatch: Any) -> None:
    # The budget counts arrays and scalars too: list, {"c"}, 3, {"b"} -- then it stops, loudly:
    # a limit is never a clean walk.
    monkeypatch.setattr(json_tree, "MAX_NODES", 4)
    seen: list[dict[str, int]] = []
    with pytest.raises(json_tree.TooManyNodes):
        seen.extend(walk_objects([{"a": 1}, {"b": 2}, {"c": 3}]))
    assert seen == [{"c": 3}, {"b": 2}]
    monkeypatch.setattr(json_tree, "MAX_NODES", 7)
    assert len(list(walk_objects([{"a": 1}, {"b": 2}, {"c": 3}]))) == 3


def test_scalars_yield_nothing() -> None:
    assert list(walk_objects("text")) == []
    assert list(walk_objects(None)) == []
