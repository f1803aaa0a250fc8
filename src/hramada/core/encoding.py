"""Canonical encoding: deterministic CBOR (RFC 8949 §4.2.1 core deterministic encoding).

Every signed or hashed structure in Hramada is encoded with :func:`encode` and read
back with :func:`decode`, which refuses anything that would not re-encode to exactly
the same bytes. So one value has one encoding, and a signature over it means one thing.

The values allowed are a small subset of CBOR: unsigned and negative integers,
byte strings, text strings, arrays, maps with text keys, ``True``, ``False`` and
``None``. No floats, no tags, no indefinite lengths.
"""

from __future__ import annotations

from typing import Any

import cbor2

from hramada.errors import EncodingError

Value = Any  # int | bytes | str | bool | None | list[Value] | dict[str, Value]

_MAX_DEPTH = 16
MAX_ITEMS = 65536  # data items (integers, strings, containers, ...) in one decoded value
_MISSING = object()


def _no_tags(decoder: object) -> None:
    raise cbor2.CBORDecodeError("tags are not part of the encoding")


# cbor2 gives meaning to some tags while it decodes (shared values, string references,
# dates, ...). Shared values turn a few bytes into a value whose tree is exponentially
# larger, so every tag cbor2 knows is refused *while* decoding; any other tag comes out
# as a CBORTag, which the subset check refuses.
_REFUSE_TAGS = {tag: _no_tags for tag in range(65536)}


_ORDER: dict[str, tuple[int, bytes]] = {}
_LEAVES = frozenset({bytes, str, bool, type(None)})


def _key_order(key: str) -> tuple[int, bytes]:
    order = _ORDER.get(key)
    if order is None:
        raw = key.encode()
        order = (len(raw), raw)
        if len(_ORDER) < 4096:
            _ORDER[key] = order
    return order


def _check(value: Value, depth: int = 0) -> bool:
    """Raise for values outside the subset; return True if every map's keys are
    already in canonical order (then plain encoding is canonical encoding)."""
    t = type(value)
    if t in _LEAVES:
        return True
    if t is int:
        if not -(2**63) <= value < 2**64:
            raise EncodingError("integer out of range")
        return True
    if depth >= _MAX_DEPTH:
        raise EncodingError("value nested too deeply")
    ordered = True
    if t is list or t is tuple:
        for v in value:
            if type(v) not in _LEAVES:
                ordered = _check(v, depth + 1) and ordered
        return ordered
    if t is dict:
        last = None
        for k, v in value.items():
            if type(k) is not str:
                raise EncodingError("map keys must be text")
            here = _key_order(k)
            if last is not None and here <= last:
                ordered = False
            last = here
            if type(v) not in _LEAVES:
                ordered = _check(v, depth + 1) and ordered
        return ordered
    raise EncodingError(f"cannot encode a value of type {t.__name__}")


def encode(value: Value) -> bytes:
    """Encode ``value`` canonically. Raises :class:`EncodingError` for unsupported values."""
    # Map keys are sorted by (length, bytes) — RFC 8949's length-first canonical order.
    canonical = not _check(value)
    try:
        return cbor2.dumps(value, canonical=canonical)
    except UnicodeEncodeError:  # a lone surrogate: text must be well-formed Unicode
        raise EncodingError("text is not well-formed Unicode") from None


def encode_prechecked(value: Value) -> bytes:
    """Encode a value the caller built from checked leaves with every map's keys already
    in canonical order; the result equals :func:`encode`'s (the tests hold it to that).
    For the hot path of sealing items only."""
    return cbor2.dumps(value)


def decode(data: bytes) -> Value:
    """Decode canonical bytes; refuse trailing data, non-canonical forms and foreign types."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise EncodingError("expected bytes")
    data = bytes(data)
    if len(data) > MAX_ITEMS:  # a shorter input cannot hold more items than it has bytes
        _count_items(data)
    try:
        # With tags refused, every value in the result comes from its own bytes of the
        # input, so checking and re-encoding it is linear in the input's length.
        value = cbor2.loads(data, semantic_decoders=_REFUSE_TAGS, max_depth=_MAX_DEPTH + 1,
                            allow_indefinite=False)
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise EncodingError(f"malformed encoding: {exc}") from None
    if not _check(value):
        raise EncodingError("not in canonical form (map keys out of order)")
    try:
        again = cbor2.dumps(value)
    except Exception as exc:
        raise EncodingError(f"unsupported value: {exc}") from None
    if again != data:
        raise EncodingError("not in canonical form")
    return value


def _count_items(data: bytes) -> None:
    """Refuse an input of more than ``MAX_ITEMS`` data items, looking at no more than
    that many heads: every head (integer, string, container, tag, simple value) is one
    item, and a string's contents are skipped. Malformed heads are left to the decoder."""
    i, n, items = 0, len(data), 0
    while i < n:
        items += 1
        if items > MAX_ITEMS:
            raise EncodingError(f"more than {MAX_ITEMS} data items in one value")
        head = data[i]
        info = head & 31
        if info < 24:
            arg, i = info, i + 1
        elif info < 28:
            size = 1 << (info - 24)
            arg, i = int.from_bytes(data[i + 1:i + 1 + size], "big"), i + 1 + size
        else:
            return
        if head >> 5 in (2, 3):
            i += arg


def expect(condition: object, what: str) -> None:
    """Raise :class:`EncodingError` saying ``what`` was malformed unless ``condition``."""
    if not condition:
        raise EncodingError(f"malformed {what}")


def _typed(v: object, typ: type) -> bool:
    return type(v) is typ or (typ is not int and isinstance(v, typ))


def fields(value: object, what: str, required: dict[str, type], optional: dict[str, type] | None = None) -> dict:
    """Check that ``value`` is a map with exactly these keys of these types; return it.
    (``bool`` is not an ``int`` here.)"""
    if type(value) is not dict:
        raise EncodingError(f"malformed {what}")
    for key, typ in required.items():
        v = value.get(key, _MISSING)
        if v is _MISSING:
            raise EncodingError(f"malformed {what}")
        if not _typed(v, typ):
            raise EncodingError(f"malformed {what} (field {key!r})")
    extra = len(value) - len(required)
    if extra:
        for key, typ in (optional or {}).items():
            if key in value:
                if not _typed(value[key], typ):
                    raise EncodingError(f"malformed {what} (field {key!r})")
                extra -= 1
        if extra:
            raise EncodingError(f"malformed {what}")
    return value
