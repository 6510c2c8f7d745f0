"""What changed between two policies, section by section, in words.

Pure: two validated :class:`~mlflow_supplychain.policy.schema.Policy` values in, a list of
:class:`PolicyChange` out. Sections whose meaning an admin cares about (who may approve, which
targets are protected, which formats pass, the mode) get sentences of their own; any other
field is described generically from the policy's JSON form, so a new policy key is never
silently left out of a diff.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlflow_supplychain.policy.schema import Policy

_VERDICTS = ("permitted", "sandboxed", "prohibited")


@dataclass(frozen=True)
class PolicyChange:
    """One difference between two policies."""

    section: str
    """Top-level policy key the change is under (``profiles``, ``formats``...)."""
    path: str
    """Dotted path of the changed field, e.g. ``profiles.prod.approvals.approvers``."""
    text: str
    """The change in words, for an admin reviewing a policy pull request."""


def diff_policies(old: Policy, new: Policy) -> list[PolicyChange]:
    """Every difference between ``old`` and ``new``, in policy-file order.

    An empty list means the two policies decide every promotion the same way (their digests
    are equal).
    """
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    changes: list[PolicyChange] = []
    for section in after:
        describe = _SECTIONS.get(section, _generic)
        changes.extend(describe(section, before.get(section), after.get(section)))
    return changes


# -- sections with their own words ---------------------------------------------------------------


def _mode(section: str, old: Any, new: Any) -> Iterator[PolicyChange]:
    if old == new:
        return
    effect = {"enforce": "non-compliant promotions will be blocked",
              "audit": "non-compliant promotions will be recorded but no longer blocked"}
    yield PolicyChange(section, section,
                       f"mode changes from {old} to {new}: {effect.get(new, 'see the docs')}")


def _protected(section: str, old: Any, new: Any) -> Iterator[PolicyChange]:
    for kind, noun in (("aliases", "alias"), ("stages", "stage")):
        before, after = (old or {}).get(kind, {}), (new or {}).get(kind, {})
        for target in _keys(before, after):
            path = f"{section}.{kind}.{target}"
            was, now = before.get(target), after.get(target)
            if was == now:
                continue
            if was is None:
                yield PolicyChange(section, path,
                                   f"{noun} '{target}' becomes protected by profile '{now}'")
            elif now is None:
                yield PolicyChange(section, path,
                                   f"{noun} '{target}' is no longer protected (was profile "
                                   f"'{was}')")
            else:
                yield PolicyChange(section, path,
                                   f"{noun} '{target}' moves from profile '{was}' to '{now}'")


def _profiles(section: str, old: Any, new: Any) -> Iterator[PolicyChange]:
    before, after = old or {}, new or {}
    for name in _keys(before, after):
        path = f"{section}.{name}"
        if name not in before:
            yield PolicyChange(section, path, f"adds profile '{name}' requiring "
                               + _listing(after[name]["require"]))
            continue
        if name not in after:
            yield PolicyChange(section, path, f"removes profile '{name}'")
            continue
        yield from _profile(section, path, name, before[name], after[name])


def _profile(section: str, path: str, name: str, old: Mapping[str, Any],
             new: Mapping[str, Any]) -> Iterator[PolicyChange]:
    added, removed = _set_change(old["require"], new["require"])
    if added:
        yield PolicyChange(section, f"{path}.require",
                           f"profile '{name}' now also requires {_listing(added)}")
    if removed:
        yield PolicyChange(section, f"{path}.require",
                           f"profile '{name}' no longer requires {_listing(removed)}")
    verdicts_added, verdicts_removed = _set_change(old["allowed_scan_verdicts"],
                                                   new["allowed_scan_verdicts"])
    if verdicts_added or verdicts_removed:
        yield PolicyChange(section, f"{path}.allowed_scan_verdicts",
                           f"profile '{name}' accepts scan verdicts "
                           f"{_listing(new['allowed_scan_verdicts'])} (was "
                           f"{_listing(old['allowed_scan_verdicts'])})")
    yield from _approvals(section, f"{path}.approvals", name, old["approvals"], new["approvals"])


def _approvals(section: str, path: str, profile: str, old: Any,
               new: Any) -> Iterator[PolicyChange]:
    if old == new:
        return
    if old is None:
        yield PolicyChange(section, path, f"profile '{profile}' gains an approval rule: "
                           f"{new['min']} of {_listing(new['approvers'])}")
        return
    if new is None:
        yield PolicyChange(section, path, f"profile '{profile}' drops its approval rule")
        return
    added, removed = _set_change(old["approvers"], new["approvers"])
    if added:
        yield PolicyChange(section, f"{path}.approvers",
                           f"{_listing(added)} may now approve under profile '{profile}'")
    if removed:
        yield PolicyChange(section, f"{path}.approvers",
                           f"{_listing(removed)} may no longer approve under profile "
                           f"'{profile}': their recorded approvals stop counting")
    if old["min"] != new["min"]:
        yield PolicyChange(section, f"{path}.min",
                           f"profile '{profile}' needs {new['min']} approval(s) instead of "
                           f"{old['min']}")
    if old["separation_of_duties"] != new["separation_of_duties"]:
        state = "on" if new["separation_of_duties"] else "OFF"
        yield PolicyChange(section, f"{path}.separation_of_duties",
                           f"profile '{profile}': separation of duties turns {state}")


def _formats(section: str, old: Any, new: Any) -> Iterator[PolicyChange]:
    before, after = _verdict_of(old or {}), _verdict_of(new or {})
    for name in _keys(before, after):
        was, now = before.get(name), after.get(name)
        if was == now:
            continue
        path = f"{section}.{now or was}"
        if was is None:
            yield PolicyChange(section, path, f"format '{name}' becomes {now} (was unlisted, "
                               "which counts as unknown)")
        elif now is None:
            yield PolicyChange(section, path, f"format '{name}' is no longer listed (was {was}); "
                               "it now counts as unknown")
        else:
            yield PolicyChange(section, path, f"format '{name}' moves from {was} to {now}")
    added, removed = _set_change((old or {}).get("pickle_allowlist", ()),
                                 (new or {}).get("pickle_allowlist", ()))
    if added:
        yield PolicyChange(section, f"{section}.pickle_allowlist",
                           f"pickles may now import {_listing(added)}")
    if removed:
        yield PolicyChange(section, f"{section}.pickle_allowlist",
                           f"pickles may no longer import {_listing(removed)}")


def _verdict_of(formats: Mapping[str, Any]) -> dict[str, str]:
    return {name: verdict for verdict in _VERDICTS for name in formats.get(verdict, ())}


# -- everything else -----------------------------------------------------------------------------


def _generic(section: str, old: Any, new: Any) -> Iterator[PolicyChange]:
    yield from _walk(section, section, old, new)


def _walk(section: str, path: str, old: Any, new: Any) -> Iterator[PolicyChange]:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in _keys(old, new):
            sub = f"{path}.{key}"
            if key not in old:
                yield PolicyChange(section, sub, f"{sub} is added: {_show(new[key])}")
            elif key not in new:
                yield PolicyChange(section, sub, f"{sub} is removed (was {_show(old[key])})")
            else:
                yield from _walk(section, sub, old[key], new[key])
        return
    if _is_string_list(old) and _is_string_list(new):
        added, removed = _set_change(old, new)
        parts = ([f"adds {_listing(added)}"] if added else []) + (
            [f"removes {_listing(removed)}"] if removed else [])
        yield PolicyChange(section, path, f"{path} " + ("; ".join(parts) or "is reordered"))
        return
    yield PolicyChange(section, path, f"{path} changes from {_show(old)} to {_show(new)}")


# -- small pieces --------------------------------------------------------------------------------


def _keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Keys of both mappings: ``old``'s order first, then keys only ``new`` has."""
    return list(old) + [k for k in new if k not in old]


def _set_change(old: Any, new: Any) -> tuple[list[str], list[str]]:
    before, after = list(old or ()), list(new or ())
    return [x for x in after if x not in before], [x for x in before if x not in after]


def _is_string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _listing(items: Any) -> str:
    return ", ".join(f"'{x}'" for x in items) or "nothing"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "unset"
    return repr(value)


_SECTIONS: dict[str, Callable[[str, Any, Any], Iterator[PolicyChange]]] = {
    "mode": _mode,
    "protected": _protected,
    "profiles": _profiles,
    "formats": _formats,
}
