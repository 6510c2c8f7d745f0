"""The pickle opcode table (protocols 0-5): how many argument bytes each opcode has.

Derived from CPython's ``pickletools`` documentation, restated as a 256-entry table so the
walker decodes an opcode with one list index instead of ``pickletools.genops``' object
machinery (which also reads every payload into memory).
"""

from __future__ import annotations

NONE, U1, U2, I4, U8, LINE, TWO_LINES, LEN1, LEN4, LEN8, F8 = range(11)

ARG: list[int | None] = [None] * 256
"""Argument kind per opcode byte; None marks an invalid opcode."""

_TABLE: dict[bytes, int] = {
    b"(": NONE, b".": NONE, b"0": NONE, b"1": NONE, b"2": NONE, b"F": LINE, b"I": LINE,
    b"J": I4, b"K": U1, b"L": LINE, b"M": U2, b"N": NONE, b"P": LINE, b"Q": NONE, b"R": NONE,
    b"S": LINE, b"T": LEN4, b"U": LEN1, b"V": LINE, b"X": LEN4, b"a": NONE, b"b": NONE,
    b"c": TWO_LINES, b"d": NONE, b"}": NONE, b"e": NONE, b"g": LINE, b"h": U1,
    b"i": TWO_LINES, b"j": I4, b"l": NONE, b"]": NONE, b"o": NONE, b"p": LINE, b"q": U1,
    b"r": I4, b"s": NONE, b"t": NONE, b")": NONE, b"u": NONE, b"G": F8, b"\x80": U1,
    b"\x81": NONE, b"\x82": U1, b"\x83": U2, b"\x84": I4, b"\x85": NONE, b"\x86": NONE,
    b"\x87": NONE, b"\x88": NONE, b"\x89": NONE, b"\x8a": LEN1, b"\x8b": LEN4, b"\x8c": LEN1,
    b"\x8d": LEN8, b"\x8e": LEN8, b"\x8f": NONE, b"\x90": NONE, b"\x91": NONE, b"\x92": NONE,
    b"\x93": NONE, b"\x94": NONE, b"\x95": U8, b"\x96": LEN8, b"\x97": NONE, b"\x98": NONE,
    b"B": LEN4, b"C": LEN1,
}
for _op, _kind in _TABLE.items():
    ARG[_op[0]] = _kind

STRING_PAYLOAD = frozenset(b"TUX\x8c\x8d")
"""Counted payloads that unpickle to ``str`` (BINSTRING/SHORT_BINSTRING are py2 str)."""
BYTES_PAYLOAD = frozenset(b"BC\x8e\x96TU")
"""Counted payloads that may carry binary data (and so a nested pickle or archive)."""
LONG_PAYLOAD = frozenset(b"\x8a\x8b")

PICKLE_HEADS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
"""First bytes of a protocol 2-5 pickle."""
