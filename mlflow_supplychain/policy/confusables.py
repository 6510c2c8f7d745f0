"""Principals that look alike: ``user:alice`` and ``user:аlice`` (a Cyrillic ``а``) are two
people to the gate and one to a reviewer reading the policy, so ``min: 2`` could be met by one
person holding both accounts. Pure functions, no I/O.

Follows Unicode TR #39 (security mechanisms) in a reduced form:

* **skeleton**: NFKC (folds fullwidth and mathematical letters), then each character mapped to
  its prototype through a small table of the confusables that matter in user and group names
  (Cyrillic, Greek and Armenian letters drawn like Latin ones; ``0``/``o``, ``1``/``l``/``I``,
  ``rn``/``m``), invisible format characters dropped, and case folded (stricter than TR #39,
  which keeps case). Two different names with one skeleton are reported as a warning;
* **mixed script**: a name whose letters come from more than one script (Latin with Cyrillic,
  say) is refused, except the combinations TR #39 calls highly restrictive (Latin with Han and
  Japanese kana, Han with Bopomofo or Hangul); so is a name holding an invisible character.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

# Prototype for each confusable character (after NFKC), from Unicode's confusables.txt.
_PROTOTYPE = {
    # Cyrillic
    "а": "a", "в": "B", "е": "e", "ё": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x",
    "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l",
    "ɡ": "g", "ь": "b", "ү": "y", "ҫ": "c", "ԑ": "e", "ո": "n",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "Ѕ": "S", "І": "l", "Ј": "J", "Ү": "Y", "Ԛ": "Q", "Ԝ": "W", "Ӏ": "l",
    # Greek
    "α": "a", "ο": "o", "ν": "v", "ρ": "p", "ι": "i", "κ": "k", "υ": "u", "χ": "x", "γ": "y",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "l", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Armenian
    "օ": "o", "ս": "u", "ց": "g", "հ": "h", "զ": "q",
    # Latin and digits that pass for one another
    "0": "o", "1": "l", "I": "l", "|": "l", "ı": "i", "ȷ": "j", "ℓ": "l",
}
_SEQUENCES = (("rn", "m"), ("vv", "w"))
_ALLOWED_MIXES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


@dataclass(frozen=True)
class PrincipalIssue:
    """One finding about a principal's name."""

    principal: str
    what: str
    refused: bool
    """True: the policy is invalid; False: a warning."""


def skeleton(name: str) -> str:
    """The TR #39-style skeleton of ``name``: equal for names drawn alike."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(_PROTOTYPE.get(c, c) for c in text if unicodedata.category(c) != "Cf")
    # case folded last: 'Bob' and 'bob' are two accounts a reader takes for one ('I' and 'l'
    # are mapped before folding)
    text = text.casefold()
    for sequence, prototype in _SEQUENCES:
        text = text.replace(sequence, prototype)
    return unicodedata.normalize("NFD", text)


def scripts(name: str) -> frozenset[str]:
    """The scripts of the letters in ``name`` (digits and punctuation belong to none)."""
    found = set()
    for char in unicodedata.normalize("NFKC", name):
        if not unicodedata.category(char).startswith("L"):
            continue
        first = unicodedata.name(char, "UNKNOWN").split(" ")[0]
        if first in {"MODIFIER"}:
            continue
        found.add("HAN" if first == "CJK" else first)
    return frozenset(found)


def check_principals(principals: Iterable[str]) -> list[PrincipalIssue]:
    """Refusals (mixed scripts, invisible characters) and warnings (look-alike pairs) for
    ``principals`` written ``kind:name``."""
    issues = []
    by_skeleton: dict[tuple[str, str], set[str]] = defaultdict(set)
    for principal in dict.fromkeys(principals):
        kind, _, name = principal.partition(":")
        if any(unicodedata.category(c) == "Cf" for c in name):
            issues.append(PrincipalIssue(principal, "contains an invisible (format) character",
                                         refused=True))
        mix = scripts(name)
        if len(mix) > 1 and not any(mix <= allowed for allowed in _ALLOWED_MIXES):
            issues.append(PrincipalIssue(
                principal, f"mixes scripts ({', '.join(sorted(s.title() for s in mix))}): it "
                "can pass for another name", refused=True))
        by_skeleton[(kind, skeleton(name))].add(principal)
    for group in by_skeleton.values():
        if len(group) > 1:
            names = sorted(group)
            issues.append(PrincipalIssue(
                names[0], f"looks like {', '.join(ascii(n) for n in names[1:])}: one person "
                "holding both could count twice", refused=False))
    return issues
