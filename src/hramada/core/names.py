"""What a name may be, and when two display names are the same name.

**Valid names** (``docs/spec/invitations.md`` §3) are defined without reference to any
programming language's notion of "printable": a name is 1 to 64 Unicode code points,
each U+0020 SPACE or a code point assigned in Unicode 14.0.0 with a general category
of L*, M*, N*, P* or S* (``core/data/name-chars.txt``), and it neither begins nor ends
with U+0020. Control, format (bidirectional overrides, zero-width joiners), separator,
surrogate, private-use and unassigned code points are refused. Pinning the table makes
the rule the same under every Python (3.11 ships Unicode 14.0.0, 3.12 15.0.0); and
since Unicode's stability policies fix the normalization and case folding of assigned
code points, the keys below are the same under every later Unicode version too.
:func:`check_name` is what a reader checks; :func:`clean_name` is what a writer does to
typed input first (white space made U+0020, runs made one, ends trimmed).

**Look-alike names.**

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
from bisect import bisect_right
from functools import lru_cache
from importlib import resources

_DATA = "confusables.txt"
_NAME_CHARS = "name-chars.txt"
NAME_UNICODE_VERSION = "14.0.0"
MAX_NAME_CHARS = 64
# Code points that typed input may use as white space; a writer turns each into U+0020.
WHITE_SPACE = frozenset(map(chr, (*range(0x09, 0x0E), *range(0x1C, 0x21), 0x85, 0xA0, 0x1680,
                                  *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F,
                                  0x3000)))


class NameRefused(ValueError):
    """A name that breaks the name rule. ``code`` is one of ``name-type``, ``name-empty``,
    ``name-too-long`` (``limit``), ``name-spaces`` (begins or ends with a space) and
    ``name-character`` (``char``: the first refused code point, as ``U+XXXX``)."""

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.code, self.params = code, params


@lru_cache(maxsize=1)
def _name_ranges() -> tuple[tuple[int, ...], tuple[int, ...]]:
    firsts: list[int] = []
    lasts: list[int] = []
    text = resources.files("hramada.core.data").joinpath(_NAME_CHARS).read_text(encoding="ascii")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            first, last = line.split("..")
            firsts.append(int(first, 16))
            lasts.append(int(last, 16))
    return tuple(firsts), tuple(lasts)


def name_char(ch: str) -> bool:
    """May a name hold this code point (U+0020 included)?"""
    if ch == " ":
        return True
    firsts, lasts = _name_ranges()
    i = bisect_right(firsts, ord(ch)) - 1
    return i >= 0 and ord(ch) <= lasts[i]


def check_name(name: object) -> str:
    """``name`` if it is a valid display or group name, exactly as given; else
    :class:`NameRefused`. This is what every reader of a record checks."""
    if not isinstance(name, str):
        raise NameRefused("name-type", "a name must be text")
    if not name:
        raise NameRefused("name-empty", "a name cannot be empty")
    if len(name) > MAX_NAME_CHARS:
        raise NameRefused("name-too-long", f"a name is at most {MAX_NAME_CHARS} characters",
                          limit=MAX_NAME_CHARS)
    if name[0] == " " or name[-1] == " ":
        raise NameRefused("name-spaces", "a name cannot begin or end with a space")
    for ch in name:
        if not name_char(ch):
            code = f"U+{ord(ch):04X}"
            raise NameRefused("name-character", f"a name cannot contain the character {code} "
                              "(control, formatting and invisible characters are refused)",
                              char=code)
    return name


def clean_name(text: object) -> str:
    """Typed input made a name: each white-space character becomes U+0020, runs of them
    one, and the ends are trimmed; then :func:`check_name`."""
    if not isinstance(text, str):
        raise NameRefused("name-type", "a name must be text")
    spaced = "".join(" " if ch in WHITE_SPACE else ch for ch in text)
    return check_name(" ".join(part for part in spaced.split(" ") if part))


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
