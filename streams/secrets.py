"""Secret values, and the masking of every one the process holds, in every form it is sent.

A ``Secret`` never prints itself, and creating one registers its value with ``MASKER``:
a value read from the environment, from a secrets file, again after a rotation, an API
token, a DSN's password. ``MASKER.mask`` replaces each of them — raw, URL-quoted,
base64 (an HTTP Basic header), JSON-escaped, and, for ``key:token`` pairs a connector
sends apart, each half — so one call covers error texts, log lines, outcomes and dead
letters alike, whichever connector or library wrote the text.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_CHARS = 4  # shorter forms would mask ordinary words
PROBE = MIN_CHARS  # forms are looked up by their first PROBE characters


class SecretMasker:
    """Finds held secrets in a text by their first characters: one dict probe per position,
    whatever the number of secrets (a worker holds one per store)."""

    MAX_HELD = 20_000  # oldest first out: a rotated token needs masking for a while only

    def __init__(self) -> None:
        self._held: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        # first PROBE characters -> forms starting with them, longest first (replaced whole)
        self._index: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def add(self, value: str, *, halves: bool = False) -> None:
        """Mask ``value`` from now on; with ``halves``, each ``:``-separated part too."""
        values = [value, *(value.split(":") if halves else ())]
        with self._lock:
            for item in values:
                if len(item) < MIN_CHARS or item in self._held:
                    continue
                self._held[item] = forms(item)
                for form in self._held[item]:
                    self._link(form)
            while len(self._held) > self.MAX_HELD:
                _, dropped = self._held.popitem(last=False)
                for form in dropped:
                    self._unlink(form)

    def _link(self, form: str) -> None:
        probe = form[:PROBE]
        known = self._index.get(probe, ())
        if form not in known:
            # replaced, never mutated: mask() reads without the lock
            self._index[probe] = tuple(sorted((*known, form), key=len, reverse=True))

    def _unlink(self, form: str) -> None:
        probe = form[:PROBE]
        left = tuple(f for f in self._index.get(probe, ()) if f != form)
        if left:
            self._index[probe] = left
        else:
            self._index.pop(probe, None)

    def mask(self, text: str) -> str:
        index = self._index
        if not index or len(text) < MIN_CHARS:
            return text
        out: list[str] = []
        start = i = 0
        end = len(text)
        while i <= end - PROBE:
            candidates = index.get(text[i : i + PROBE])
            if candidates is not None:
                found = _match(text, i, candidates)
                if found:
                    out += (text[start:i], MASK)
                    i = start = i + found
                    continue
            i += 1
        if start == 0:
            return text
        out.append(text[start:])
        return "".join(out)


def _match(text: str, i: int, candidates: tuple[str, ...]) -> int:
    """Length of the form found at ``i``; a form cut off by the end of the text counts (an
    excerpt cut at a fixed length may end with a secret half-written)."""
    rest = len(text) - i
    for form in candidates:
        if text.startswith(form, i):
            return len(form)
        if rest < len(form) and form.startswith(text[i:]):
            return rest
    return 0


def forms(value: str) -> tuple[str, ...]:
    """Every encoding a connector or a platform's echo may give ``value``."""
    raw = value.encode()
    candidates = {
        value,
        quote(value, safe=""),
        quote_plus(value),
        json.dumps(value)[1:-1],
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    }
    candidates |= {c.rstrip("=") for c in candidates}
    return tuple(sorted(c for c in candidates if len(c) >= MIN_CHARS))


MASKER = SecretMasker()


class Secret:
    """A credential value that never prints itself, masked wherever it shows."""

    __slots__ = ("_value",)

    def __init__(self, value: str, *, halves: bool = False) -> None:
        self._value = value
        MASKER.add(value, halves=halves)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
