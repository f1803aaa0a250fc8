"""When two display names are the same name, for a group's purposes.

A newcomer must not take a member's name, nor one that only *looks* the same (Cyrillic
"а" for Latin "a", "rn" for "m", a full-width "Ａ", another case). Two names collide
when their :func:`name_keys` share a key. A name has two keys, ``K(n)`` and
``K(casefold(n))`` with ``n = NFKC(name)`` (inner whitespace runs made one space) and

    K(x) = the fixed point of  x -> NFKC(skeleton(casefold(NFKC(x)))),  starting from skeleton(x)

where ``skeleton`` is Unicode Technical Standard #39's: NFD, each character replaced by
its prototype from ``confusables.txt``, NFD again. Prototypes are case-sensitive (a
capital "I" is confusable with "l", a Cyrillic capital "Н" with "H", a lower-case "н"
only with a small capital), hence one key from the name as written and one from its
case-folded form.

The data file is constant (``core/data/confusables.txt``, see its README); reading it
once is not I/O in the sense of the core's rules (no state, no network, no clock).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from importlib import resources

_DATA = "confusables.txt"


@lru_cache(maxsize=1)
def _prototypes() -> dict[str, str]:
    table: dict[str, str] = {}
    text = resources.files("hramada.core.data").joinpath(_DATA).read_text(encoding="utf-8-sig")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        source, prototype = (part.strip() for part in line.split(";")[:2])
        table[chr(int(source, 16))] = "".join(chr(int(cp, 16)) for cp in prototype.split())
    return table


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of ``text``."""
    table = _prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(table.get(ch, ch) for ch in decomposed))


def _fixed(text: str) -> str:
    key = skeleton(text)
    for _ in range(4):  # a fixed point in one or two rounds for real names
        new = unicodedata.normalize("NFKC", skeleton(unicodedata.normalize("NFKC", key).casefold()))
        if new == key:
            break
        key = new
    return key


@lru_cache(maxsize=4096)
def name_keys(name: str) -> frozenset[str]:
    """What two names of one group must not share (see the module docstring). Kept for
    the names seen lately: every request and admit compares one name with every member's."""
    n = unicodedata.normalize("NFKC", " ".join(name.split()))
    return frozenset((_fixed(n), _fixed(n.casefold())))


def names_collide(a: str, b: str) -> bool:
    return not name_keys(a).isdisjoint(name_keys(b))
