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


def _check(value: Value, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise EncodingError("value nested too deeply")
    if value is None or isinstance(value, (bool, int, bytes, str)):
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
            raise EncodingError("integer out of range")
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            _check(v, depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise EncodingError("map keys must be text")
            _check(v, depth + 1)
        return
    raise EncodingError(f"cannot encode a value of type {type(value).__name__}")


def encode(value: Value) -> bytes:
    """Encode ``value`` canonically. Raises :class:`EncodingError` for unsupported values."""
    _check(value)
    return cbor2.dumps(value, canonical=True)


def decode(data: bytes) -> Value:
    """Decode canonical bytes; refuse trailing data, non-canonical forms and foreign types."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise EncodingError("expected bytes")
    data = bytes(data)
    try:
        value = cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise EncodingError(f"malformed encoding: {exc}") from None
    try:
        again = encode(value)
    except EncodingError:
        raise
    except Exception as exc:
        raise EncodingError(f"unsupported value: {exc}") from None
    if again != data:
        raise EncodingError("not in canonical form")
    return value


def expect(condition: object, what: str) -> None:
    """Raise :class:`EncodingError` saying ``what`` was malformed unless ``condition``."""
    if not condition:
        raise EncodingError(f"malformed {what}")


def fields(value: object, what: str, required: dict[str, type], optional: dict[str, type] | None = None) -> dict:
    """Check that ``value`` is a map with exactly these keys of these types; return it."""
    optional = optional or {}
    expect(isinstance(value, dict), what)
    keys = set(value)
    expect(set(required) <= keys <= set(required) | set(optional), what)
    for key, typ in {**required, **optional}.items():
        if key in value:
            v = value[key]
            ok = isinstance(v, typ) and not (typ is int and isinstance(v, bool))
            expect(ok, f"{what} (field {key!r})")
    return value
