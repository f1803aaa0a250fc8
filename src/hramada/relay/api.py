"""What every route shares: the JSON error shape, and strict parsing of requests.

Every refusal is an :class:`ApiError`, turned into
``{"error": {"code": CODE, "message": TEXT, ...}}`` with the status from the table
in ``docs/spec/relay-api-v1.md``. Checks run in a fixed order (documented in the
spec), so a request with several faults always gets the same answer:

1. route and method (404, 405), after the rate limit (429);
2. path ids and query parameters (400);
3. the ``Authorization`` header's form (401);
4. content type (415), body size (413), JSON and fields (400, 413 for oversized values);
5. the capability against storage (401, 403), then an admin append's signature against
   the mailbox's admin set (403 ``not_admin``), then the operation (409, 404, 413).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hramada.core.wire import CAP_BYTES, MAILBOX_CAP_BYTES, b64d, b64e, cap_hash
from hramada.relay.storage.base import position_pad

MAX_INT = 2**63 - 1  # what SQLite (and PostgreSQL BIGINT) can hold
# Set in a request's ASGI scope by the connection layer when it closed the connection
# because the body stalled (so the request is counted as a timeout, not a client abort).
SCOPE_BODY_TIMEOUT = "hramada.body_timeout"
_DIGITS = re.compile(r"[0-9]{1,19}")

STATUS_OF = {
    "bad_request": 400,
    "unauthorized": 401,
    "retired_capability": 403,
    "not_admin": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "request_timeout": 408,
    "log_conflict": 409,
    "exists": 409,
    "missing_pages": 409,
    "drop_used": 410,
    "drop_expired": 410,
    "too_large": 413,
    "uri_too_long": 414,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "too_many_connections": 429,
    "headers_too_large": 431,
    "internal": 500,
    "unavailable": 503,
}


class ApiError(Exception):
    """A refusal with its error code; ``extra`` goes into the error object."""

    def __init__(self, code: str, message: str, *, headers: Mapping[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.status = STATUS_OF[code]
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra


def json_response(payload: Any, status: int = 200,
                  headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(body, status, headers=headers, media_type="application/json")


def error_body(code: str, message: str, extra: Mapping[str, Any] | None = None) -> bytes:
    error = {"code": code, "message": message}
    error.update(extra or {})
    return json.dumps({"error": error}, separators=(",", ":")).encode()


def error_response(err: ApiError) -> Response:
    return Response(error_body(err.code, err.message, err.extra), err.status,
                    headers=err.headers, media_type="application/json")


def bad(message: str) -> ApiError:
    return ApiError("bad_request", message)


def too_large(message: str) -> ApiError:
    return ApiError("too_large", message)


Handler = Callable[[Request], Awaitable[Response]]


def route(path: str, **handlers: Handler) -> Route:
    """One route for one path, with a handler per method (``GET=..., POST=...``), so
    that a wrong method gets 405 with the full ``Allow`` list."""
    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return Route(path, dispatch, methods=list(handlers), name=path)


# -- path, query and headers -------------------------------------------------------

def path_id(request: Request, name: str, size: int) -> bytes:
    """A binary id from the path (b64u of ``size`` bytes)."""
    try:
        return b64d(request.path_params[name], size, field=name)
    except ValueError as exc:
        raise bad(str(exc)) from None


def query_ints(request: Request, spec: Mapping[str, tuple[int, int, int]]) -> dict[str, int]:
    """Query parameters as integers: ``spec`` maps each allowed name to
    ``(default, minimum, maximum)``. Unknown, repeated, non-decimal or out-of-range
    parameters are a bad_request."""
    params = request.query_params
    values = {name: default for name, (default, _, _) in spec.items()}
    for name in params.keys():
        if name not in spec:
            raise bad(f"unknown query parameter {name!r}")
        raw = params.getlist(name)
        if len(raw) != 1:
            raise bad(f"query parameter {name!r} given more than once")
        _, lo, hi = spec[name]
        if not _DIGITS.fullmatch(raw[0]) or not lo <= int(raw[0]) <= hi:
            raise bad(f"{name} must be an integer from {lo} to {hi}")
        values[name] = int(raw[0])
    return values


def bearer_cap_hash(request: Request) -> bytes:
    """``cap_hash`` of the bearer capability, or 401 if it is missing or malformed."""
    return cap_hash(bearer_capability(request))


def bearer_cap(request: Request) -> tuple[bytes, bytes]:
    """``(cap_hash, position_pad)`` of the bearer capability (401 if missing or
    malformed): the pad opens the sealed retirement position of this capability.
    Only routes that may need that position pay for the second hash."""
    cap = bearer_capability(request)
    return cap_hash(cap), position_pad(cap)


def bearer_capability(request: Request) -> bytes:
    """The bearer capability itself (32 bytes, or 64 for a mailbox capability that
    carries its append key), or 401 if it is missing or malformed."""
    header = request.headers.get("authorization")
    if header is None:
        raise unauthorized("a capability is required (Authorization: Bearer ...)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise unauthorized("use Authorization: Bearer <capability>")
    try:
        cap = b64d(token.strip(), field="capability")
    except ValueError:
        raise unauthorized("malformed capability") from None
    if len(cap) not in (CAP_BYTES, MAILBOX_CAP_BYTES):
        raise unauthorized("malformed capability")
    return cap


def unauthorized(message: str = "unknown mailbox or capability") -> ApiError:
    return ApiError("unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


# -- bodies --------------------------------------------------------------------------

# What read_json counts as it reads: the characters that separate JSON values or open
# containers. No base64url string and no integer holds one, so every valid body has
# only a few (or one per item of a batch).
_STRUCTURE = b",:{["
_WINDOW = 65536  # a chunk's first bytes are counted on their own first (a bomb is dense)
MAX_JSON_CONTAINERS = 4  # no valid body opens more than two (an object, a batch's list)


def _structure_refusal(start: bytes) -> ApiError:
    """400 for a body that nests more containers than any request (an object and one
    list), 413 for one with more values; either way the connection is closed."""
    close = {"Connection": "close"}
    if start.count(b"{") + start.count(b"[") > MAX_JSON_CONTAINERS:
        return ApiError("bad_request", "the body nests more objects or lists than any request "
                        "takes", headers=close)
    return ApiError("too_large", "the body holds more JSON values than any request takes",
                    headers=close)


def content_length(request: Request) -> int | None:
    """The ``Content-Length`` header as a number (None if absent). Anything but
    decimal digits is a bad_request; a number too long to be a size is ``MAX_INT + 1``
    (so it is refused as too large), never handed to ``int()`` whole."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    digits = raw.strip()
    if not digits or not digits.isascii() or not digits.isdigit():
        raise bad("malformed Content-Length: it must be decimal digits")
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 19 else MAX_INT + 1


async def read_json(request: Request, max_bytes: int, max_values: int = 16) -> dict[str, Any]:
    """The request body as a JSON object, refusing a wrong content type (415), and a
    body over ``max_bytes`` (413) before or while reading it — never buffering more.

    While reading, it also counts the body's structural characters (``,`` ``:`` ``{``
    ``[``) and refuses a body with more than ``max_values`` + 4 of them (and closes
    the connection): 400 if it nests more than :data:`MAX_JSON_CONTAINERS` objects and
    lists, else 413. A body of a million tiny keys, or nested a million deep, is never
    parsed — parsing one would hold the event loop for a second or more. Every valid
    body is far inside the bound."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise ApiError("unsupported_media_type", "the body must be application/json")
    length = content_length(request)
    if length is not None and length > max_bytes:
        raise too_large(f"the body is over {max_bytes} bytes")
    bound = max_values + 4
    body = bytearray()
    structure = 0
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise too_large(f"the body is over {max_bytes} bytes")
        head = chunk[:_WINDOW]
        counted = len(head) - len(head.translate(None, _STRUCTURE))
        if len(chunk) > _WINDOW and structure + counted <= bound:
            rest = chunk[_WINDOW:]
            counted += len(rest) - len(rest.translate(None, _STRUCTURE))
        structure += counted
        if structure > bound:
            raise _structure_refusal(bytes(body[:_WINDOW]))
    try:  # UTF-8 only (json.loads would also take UTF-16 and UTF-32), each key once
        value = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError):
        raise bad("the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise bad("the body must be a JSON object")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("a key repeated in a JSON object")
    return value


def check_fields(body: Mapping[str, Any], required: tuple[str, ...],
                 optional: tuple[str, ...] = ()) -> None:
    for name in required:
        if name not in body:
            raise bad(f"missing field {name!r}")
    for name in body:
        if name not in required and name not in optional:
            raise bad(f"unknown field {name!r}")


def b64_field(value: Any, name: str, *, size: int | None = None,
              max_bytes: int | None = None) -> bytes:
    """A base64url field: exactly ``size`` bytes, or 1 to ``max_bytes`` bytes (413 past it)."""
    if not isinstance(value, str):
        raise bad(f"{name} must be a base64url string")
    if max_bytes is not None and len(value) > -(-4 * max_bytes // 3):
        raise too_large(f"{name} is over {max_bytes} bytes")
    try:
        data = b64d(value, size, field=name)
    except ValueError as exc:
        raise bad(str(exc)) from None
    if max_bytes is not None:
        if len(data) > max_bytes:
            raise too_large(f"{name} is over {max_bytes} bytes")
        if not data:
            raise bad(f"{name} must not be empty")
    return data


def int_field(value: Any, name: str, minimum: int = 0) -> int:
    if type(value) is not int or not minimum <= value <= MAX_INT:
        raise bad(f"{name} must be an integer from {minimum} to {MAX_INT}")
    return value


def head_json(seq: int, digest: bytes) -> dict[str, Any]:
    return {"seq": seq, "hash": b64e(digest)}
