"""Reading a relay's answers: bounded JSON, then an exact schema per answer.

Nothing a relay says is trusted before it is parsed here. :func:`parse_json` refuses
what Python's ``json`` would turn into a crash or a resource drain (non-finite
numbers, floats, integers of more than 16 digits, nesting deeper than
:data:`MAX_DEPTH`, more containers than an answer can hold, duplicate keys,
invalid UTF-8); the schema helpers then check each answer's exact shape: the fields
it must have and no others, their types, ranges (sequence numbers and cursors from
0 to 2^53 − 1) and byte lengths, and list lengths. Anything else raises
:class:`AnswerError`, which :mod:`hramada.client.transport` turns into a
``RelayProtocolError`` naming the relay.

Meaning is not checked here: whether entries come in order, whether the head fits
the entries, whether a ciphertext opens. That is the sync engine's job, and a lie
that contradicts signed data is an alarm there, not a protocol error here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hramada.core.names import name_char
from hramada.core.wire import b64d

MAX_COUNTER = (1 << 53) - 1     # integers any JSON implementation represents exactly
MAX_INT_DIGITS = 16             # 2^53 has 16 digits; more is never a valid answer
MAX_DEPTH = 8                   # the deepest answer nests 4 levels
MAX_CONTAINERS = 2 * 5000 + 16  # one object per record, at most 5,000 records a page
MAX_TEXT_CHARS = 200            # free text from a relay (versions, error messages)

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class AnswerError(ValueError):
    """A relay's answer is not what the protocol allows (the text says what)."""


# -- bounded JSON ---------------------------------------------------------------------

def _no_float(text: str) -> Any:
    raise AnswerError("a number with a fraction or exponent where only integers belong")


def _no_constant(text: str) -> Any:
    raise AnswerError(f"the non-number {text}")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise AnswerError(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(text)


def _object(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise AnswerError("an object with a repeated key")
    return out


def _check_structure(raw: bytes) -> None:
    """Refuse too many containers or too deep nesting before the recursive parser runs.

    Brackets are counted in the raw bytes, inside strings too (in UTF-8 these bytes
    never occur inside a multi-byte character). That over-counts only for strings
    holding brackets, which no answer of the protocol has (binary fields are base64url).
    """
    skeleton = raw.translate(None, _NOT_BRACKETS)
    if len(skeleton) > 2 * MAX_CONTAINERS:
        raise AnswerError(f"more than {MAX_CONTAINERS} lists and objects")
    depth = 0
    for bracket in skeleton:
        depth += 1 if bracket in b"[{" else -1
        if depth > MAX_DEPTH:
            raise AnswerError(f"lists or objects nested more than {MAX_DEPTH} deep")


def parse_json(raw: bytes) -> Any:
    """Parse one answer body, or raise :class:`AnswerError`."""
    _check_structure(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AnswerError("text that is not UTF-8") from None
    try:
        return json.loads(text, parse_float=_no_float, parse_constant=_no_constant,
                          parse_int=_int, object_pairs_hook=_object)
    except AnswerError:
        raise
    except (ValueError, RecursionError):
        raise AnswerError("something that is not JSON") from None


# -- schema ---------------------------------------------------------------------------

Check = Callable[[Any, str], Any]


def obj(value: Any, what: str, spec: dict[str, Check]) -> dict:
    """An object with exactly the fields of ``spec``, each passed through its check."""
    if not isinstance(value, dict):
        raise AnswerError(f"{what} is not an object")
    missing = [k for k in spec if k not in value]
    if missing:
        raise AnswerError(f"{what} lacks the field {missing[0]!r}")
    if len(value) != len(spec):
        raise AnswerError(f"{what} has fields the protocol does not define")
    return {k: check(value[k], f"{what}.{k}") for k, check in spec.items()}


def record(spec: dict[str, Check]) -> Check:
    return lambda value, what: obj(value, what, spec)


def counter(lowest: int = 0) -> Check:
    """A sequence number or cursor: a JSON integer from ``lowest`` to 2^53 − 1."""
    def check(value: Any, what: str) -> int:
        if type(value) is not int or not lowest <= value <= MAX_COUNTER:
            raise AnswerError(f"{what} is not an integer from {lowest} to 2^53 - 1")
        return value
    return check


def binary(size: int | None = None) -> Check:
    """Base64url bytes: exactly ``size`` bytes, or at least one byte if ``size`` is None."""
    def check(value: Any, what: str) -> bytes:
        try:
            data = b64d(value, size, field=what)
        except ValueError as exc:
            raise AnswerError(str(exc)) from None
        if not data:
            raise AnswerError(f"{what} is empty")
        return data
    return check


def boolean(value: Any, what: str) -> bool:
    if type(value) is not bool:
        raise AnswerError(f"{what} is not true or false")
    return value


def literal(*allowed: Any) -> Check:
    def check(value: Any, what: str) -> Any:
        if not any(type(value) is type(a) and value == a for a in allowed):
            raise AnswerError(f"{what} is not one of {', '.join(json.dumps(a) for a in allowed)}")
        return value
    return check


def text(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS \
            or not all(c == " " or name_char(c) for c in value):
        raise AnswerError(f"{what} is not printable text of at most {MAX_TEXT_CHARS} characters")
    return value


def items_of(check: Check, most: int) -> Check:
    """A list of at most ``most`` elements, each passed through ``check``."""
    def check_list(value: Any, what: str) -> list:
        if not isinstance(value, list):
            raise AnswerError(f"{what} is not a list")
        if len(value) > most:
            raise AnswerError(f"{what} has more than the {most} records asked for")
        return [check(v, f"{what}[{i}]") for i, v in enumerate(value)]
    return check_list


HEAD = record({"seq": counter(), "hash": binary(32)})
