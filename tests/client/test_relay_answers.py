"""Parsing a relay's answers: every answer a relay can send is either read exactly as
the protocol defines it or refused with a RelayError; nothing else ever escapes."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hramada.client import answers
from hramada.client.answers import AnswerError, parse_json
from hramada.client.transport import Relay, RelayProtocolError
from hramada.core.wire import b64e
from hramada.errors import RelayError, RelayUnreachable

MAILBOX, DROP, CAP = bytes(range(16)), bytes(range(16, 32)), bytes(32)

# -- bounded JSON -------------------------------------------------------------------


@pytest.mark.parametrize("raw, why", [
    (b'{"head": 1e999}', "fraction or exponent"),
    (b'{"head": 1.5}', "fraction or exponent"),
    (b'{"head": NaN}', "non-number"),
    (b'{"head": -Infinity}', "non-number"),
    (b'{"head": ' + b"9" * 5000 + b"}", "more than 16 digits"),
    (b"[" * 100_000 + b"]" * 100_000, "lists and objects"),
    (b"[" * 9 + b"]" * 9, "nested more than 8 deep"),
    (b'{"a": 1, "a": 2}', "repeated key"),
    (b'{"a": "\xff"}', "not UTF-8"),
    (b'{"a": ', "not JSON"),
    (b"", "not JSON"),
])
def test_json_that_python_would_choke_on_is_refused_with_a_reason(raw: bytes, why: str) -> None:
    with pytest.raises(AnswerError, match=why):
        parse_json(raw)


def test_a_full_page_of_5000_entries_is_accepted() -> None:
    page = {"entries": [{"seq": i + 1, "prev": b64e(bytes(32)), "ciphertext": b64e(bytes(1500)),
                         "hash": b64e(bytes(32))} for i in range(5000)],
            "head": {"seq": 5000, "hash": b64e(bytes(32))}}
    assert len(parse_json(json.dumps(page).encode())["entries"]) == 5000


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 60), 1 << 60) | st.text(max_size=20)
    | st.sampled_from(["AAAAAAAAAAAAAAAAAAAAAA", b64e(bytes(32)), "", "guest", "member"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["entries", "items", "messages", "head", "seq", "hash", "prev", "cursor",
                         "ciphertext", "drop", "from", "message", "first", "last", "log", "drops",
                         "changed", "mailbox", "closed", "used", "ok", "version", "error", "code",
                         "message", "x"]), inner, max_size=5),
    max_leaves=12)

hostile_bytes = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"1e999", b"-1e999", b"NaN", b"[" * 5000, b'{"head":' * 3000,
                     b'{"items": [], "head": 1e999}', b'{"first": 1}', b"{}", b"null",
                     b'{"entries": [], "head": {"seq": 9007199254740992, "hash": "' + b"A" * 43 + b'"}}']),
)


@settings(max_examples=400, deadline=None)
@given(hostile_bytes)
def test_the_json_parser_only_ever_answers_or_refuses(raw: bytes) -> None:
    try:
        parse_json(raw)
    except AnswerError:
        pass


# -- whole answers, through the transport ---------------------------------------------

CALLS = {
    "health": lambda r: r.health(),
    "create_mailbox": lambda r: r.create_mailbox(MAILBOX, bytes(32), bytes(32)),
    "read_log": lambda r: r.read_log(MAILBOX, CAP, 0, 10),
    "append_log": lambda r: r.append_log(MAILBOX, CAP, 1, bytes(32), b"x"),
    "append_items": lambda r: r.append_items(MAILBOX, CAP, [b"x", b"y"]),
    "read_items": lambda r: r.read_items(MAILBOX, CAP, 0, 10),
    "open_drop": lambda r: r.open_drop(MAILBOX, CAP, DROP, bytes(32)),
    "close_drop": lambda r: r.close_drop(MAILBOX, CAP, DROP),
    "mark_drop_used": lambda r: r.mark_drop_used(MAILBOX, CAP, DROP),
    "post_to_drop": lambda r: r.post_to_drop(MAILBOX, CAP, DROP, b"x"),
    "read_drops": lambda r: r.read_drops(MAILBOX, CAP, 0, 10),
    "guest_post": lambda r: r.guest_post(DROP, CAP, b"x"),
    "guest_read": lambda r: r.guest_read(DROP, CAP, 0, 10),
    "wait": lambda r: r.wait(MAILBOX, CAP, 0, 0, 0, 0),
}
STATUS = {"create_mailbox": 201, "append_log": 201, "append_items": 201, "open_drop": 201,
          "post_to_drop": 201, "guest_post": 201}


def _call(name: str, status: int, body: bytes, headers: dict | None = None) -> object:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, stream=httpx.ByteStream(body),
                              headers={"content-type": "application/json", **(headers or {})})

    async def go() -> object:
        relay = Relay("http://relay.test", transport=httpx.MockTransport(handler))
        try:
            return await CALLS[name](relay)
        finally:
            await relay.close()
    return asyncio.run(go())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(CALLS)), st.sampled_from([200, 201, 204, 302, 400, 409, 500, 503]),
       hostile_bytes)
def test_any_answer_to_any_call_is_read_or_refused_as_a_relay_error(name: str, status: int,
                                                                    body: bytes) -> None:
    try:
        _call(name, status, body)
    except RelayError as exc:
        assert str(exc).startswith(("the relay at http://relay.test ", "could not reach")), exc


@pytest.mark.parametrize("name, body, why", [
    ("read_items", b'{"items": [{"cursor": 1e999, "ciphertext": "AA"}], "head": 1}', "exponent"),
    ("append_items", b"{}", "lacks the field 'first'"),
    ("append_items", b'{"first": 1, "last": 5}', "cursors 1 to 5 for 2 items"),
    ("read_log", b"[" * 50_000 + b"]" * 50_000, "lists and objects"),
    ("read_log", b'{"entries": [], "head": {"seq": -1, "hash": "' + b64e(bytes(32)).encode() + b'"}}',
     "from 0 to 2"),
    ("read_log", b'{"entries": [], "head": {"seq": 9007199254740992, "hash": "'
     + b64e(bytes(32)).encode() + b'"}}', "from 0 to 2"),
    ("read_log", b'{"entries": [], "head": {"seq": 1, "hash": "AAAA"}}', "must be 32 bytes"),
    ("read_log", b'{"entries": [], "head": {"seq": true, "hash": "' + b64e(bytes(32)).encode() + b'"}}',
     "from 0 to 2"),
    ("read_items", json.dumps({"items": [{"cursor": i + 1, "ciphertext": "AA"} for i in range(11)],
                               "head": 11}).encode(), "more than the 10 records"),
    ("read_items", b'{"items": [], "head": 0, "extra": 1}', "fields the protocol does not define"),
    ("read_drops", json.dumps({"messages": [{"cursor": 1, "drop": b64e(DROP), "from": "admin",
                                             "message": "AA"}], "head": 1}).encode(), "is not one of"),
    ("wait", b'{"log": 0, "items": 0, "drops": 0, "changed": 1}', "not true or false"),
    ("create_mailbox", json.dumps({"mailbox": b64e(DROP)}).encode(), "another mailbox"),
    ("health", b'{"ok": true, "version": "\\u001b[31m"}', "printable text"),
])
def test_malformed_answers_are_refused_saying_what_is_wrong(name: str, body: bytes, why: str) -> None:
    with pytest.raises(RelayProtocolError, match="does not follow the protocol") as info:
        _call(name, STATUS.get(name, 200), body)
    assert why in str(info.value)


def test_well_formed_answers_are_read_exactly() -> None:
    h = b64e(bytes(range(32)))
    body = json.dumps({"entries": [{"seq": 1, "prev": b64e(bytes(32)), "ciphertext": "AQI", "hash": h}],
                       "head": {"seq": 1, "hash": h}}).encode()
    entries, head = _call("read_log", 200, body)
    assert [(e.seq, e.ciphertext, e.hash) for e in entries] == [(1, b"\x01\x02", bytes(range(32)))]
    assert head == (1, bytes(range(32)))
    assert _call("append_items", 201, b'{"first": 7, "last": 8}') == (7, 8)
    assert _call("wait", 200, b'{"log": 3, "items": 0, "drops": 2, "changed": true}') == \
        {"log": 3, "items": 0, "drops": 2, "changed": True}


def test_a_refusal_keeps_its_code_and_shows_only_printable_text() -> None:
    body = json.dumps({"error": {"code": "log_conflict", "message": "no\x1b[2J\u202e way",
                                 "head": {"seq": 4, "hash": b64e(bytes(32))}}}).encode()
    with pytest.raises(RelayError) as info:
        _call("append_log", 409, body)
    assert info.value.code == "log_conflict" and info.value.detail["head"]["seq"] == 4
    assert "\x1b" not in str(info.value) and "\u202e" not in str(info.value)
    with pytest.raises(RelayError) as info:
        _call("read_log", 400, json.dumps({"error": {"code": "made_up", "message": "x" * 10_000}}).encode())
    assert info.value.code is None and len(str(info.value)) < 300
    with pytest.raises(RelayError) as info:
        _call("read_log", 409, b'{"error": {"code": ["log_conflict"], "message": {"a": 1}}}')
    assert info.value.code is None


def test_oversized_or_compressed_answers_are_refused_before_they_are_read() -> None:
    with pytest.raises(RelayProtocolError, match="announced as over"):
        _call("read_log", 200, b"{}", {"content-length": "9" * 40})
    with pytest.raises(RelayProtocolError, match="compressed"):
        _call("read_log", 200, b"{}", {"content-encoding": "gzip"})


def test_a_gateway_error_or_a_full_relay_is_unreachable_not_a_refusal() -> None:
    with pytest.raises(RelayUnreachable, match="unavailable right now"):
        _call("read_log", 503, b"<html>down</html>")
    with pytest.raises(RelayUnreachable, match="unavailable right now"):
        _call("read_log", 503, b'{"error": {"code": "unavailable", "message": "at its connection limit"}}')


def test_nothing_but_answer_errors_leave_the_schema_helpers() -> None:
    with pytest.raises(AnswerError):
        answers.obj([], "x", {})
