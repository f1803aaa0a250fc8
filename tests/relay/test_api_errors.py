"""Every malformed request gets the exact JSON error of the spec, changes nothing in
the database, and leaves the relay serving."""

from __future__ import annotations

import os
from json import dumps
from collections.abc import AsyncIterator

import pytest

from hramada.core.wire import b64e, cap_hash

from .conftest import Mailbox, append_chain, bearer, db_dump, new_mailbox

pytestmark = pytest.mark.anyio

LIMITS = {"max_body_bytes": 4096, "max_entry_bytes": 1000, "max_item_bytes": 100,
          "max_batch_items": 5, "max_read_limit": 50, "default_read_limit": 20,
          "max_drop_message_bytes": 64, "max_wait_seconds": 5, "default_wait_seconds": 1}

B32 = b64e(bytes(range(32)))
B16 = b64e(bytes(range(16)))
B64 = b64e(bytes(range(64)))


class World:
    """A relay with a mailbox that has a log entry, items and an open drop."""

    def __init__(self, relay, client, mb: Mailbox, head: bytes, drop: bytes, drop_cap: bytes):
        self.relay, self.client, self.mb, self.head = relay, client, mb, head
        self.drop, self.drop_cap = drop, drop_cap

    def expand(self, path: str) -> str:
        return path.replace("{mb}", self.mb.b64).replace("{drop}", b64e(self.drop))

    def auth(self, kind: str) -> dict[str, str]:
        return {
            "mailbox": self.mb.auth,
            "drop": bearer(self.drop_cap),
            "none": {},
            "basic": {"authorization": "Basic dXNlcjpwYXNz"},
            "garbage": {"authorization": "Bearer !!!not-base64!!!"},
            "short": {"authorization": f"Bearer {b64e(os.urandom(31))}"},
            "unknown": bearer(os.urandom(32)),
            "empty": {"authorization": "Bearer "},
        }[kind]


@pytest.fixture
async def world(relay_asgi) -> World:
    relay = await relay_asgi(**LIMITS)
    client = await relay.client()
    mb = await new_mailbox(client)
    head = await append_chain(client, mb, [b"create"])
    r = await client.post(mb.path("/items"), headers=mb.auth, json={"items": [b64e(b"i1")]})
    assert r.status_code == 201
    drop, drop_cap = os.urandom(16), os.urandom(32)
    r = await client.post(mb.path("/drops"), headers=mb.auth,
                          json={"drop": b64e(drop), "cap_hash": b64e(cap_hash(drop_cap))})
    assert r.status_code == 201
    return World(relay, client, mb, head, drop, drop_cap)


async def expect_refused(world: World, method: str, path: str, *, auth: str = "mailbox",
                         status: int, code: str, json=None, content=None,
                         content_type: str | None = "application/json") -> dict:
    """Send one bad request; check the error, that the database is unchanged, and
    that the relay still serves."""
    before = db_dump(world.relay.db_path)
    headers = dict(world.auth(auth))
    if content_type is not None and (json is not None or content is not None):
        headers["content-type"] = content_type
    if json is not None:
        content = dumps(json).encode()
    r = await world.client.request(method, world.expand(path), headers=headers, content=content)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in r.text
    assert db_dump(world.relay.db_path) == before
    assert (await world.client.get("/v1/health")).status_code == 200
    r2 = await world.client.get(world.mb.path("/log"), headers=world.mb.auth)
    assert r2.json()["head"] == {"seq": 1, "hash": b64e(world.head)}
    return body["error"]


# -- bodies --------------------------------------------------------------------------

POSTS = [
    ("/v1/mailboxes", "none"),
    ("/v1/mailboxes/{mb}/log", "mailbox"),
    ("/v1/mailboxes/{mb}/items", "mailbox"),
    ("/v1/mailboxes/{mb}/drops", "mailbox"),
    ("/v1/mailboxes/{mb}/drops/{drop}/messages", "mailbox"),
    ("/v1/drops/{drop}/messages", "drop"),
]


MALFORMED = {
    "malformed": b"{not json",
    "empty": b"",
    "not an object": b"[1, 2]",
    "a string": b'"text"',
    "not UTF-8": b"\xff\xfe\x00{",
    "nested deeply": b"[" * 2000 + b"]" * 2000,
    "truncated": b'{"a": NaN',
    "UTF-16": '{"items": ["AQ"]}'.encode("utf-16"),
    "UTF-32": '{"items": ["AQ"]}'.encode("utf-32-le"),
    "byte order mark": b'\xef\xbb\xbf{"items": ["AQ"]}',
    "a repeated key": b'{"items": ["AQ"], "items": ["AQ"]}',
}


@pytest.mark.parametrize("path, auth", POSTS)
@pytest.mark.parametrize("why", MALFORMED)
async def test_malformed_json(world, path, auth, why):
    content = MALFORMED[why]
    await expect_refused(world, "POST", path, auth=auth, content=content,
                         status=400, code="bad_request")


@pytest.mark.parametrize("path, auth", POSTS)
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/jsonx", "multipart/form-data"])
async def test_wrong_content_type(world, path, auth, content_type):
    await expect_refused(world, "POST", path, auth=auth, content=b"{}",
                         content_type=content_type, status=415, code="unsupported_media_type")


async def test_json_with_charset_is_accepted(world):
    r = await world.client.post(world.mb.path("/items"), content=b'{"items": ["AQ"]}', headers={
        **world.mb.auth, "content-type": "Application/JSON; charset=utf-8"})
    assert r.status_code == 201


@pytest.mark.parametrize("path, auth", POSTS)
async def test_body_over_the_limit_by_content_length(world, path, auth):
    await expect_refused(world, "POST", path, auth=auth, json={"pad": "x" * 5000},
                         status=413, code="too_large")


async def test_body_over_the_limit_is_refused_while_streaming(world):
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:
            sent += 1
            yield b" " * 1024

    r = await world.client.post(world.mb.path("/items"), content=endless(), headers={
        **world.mb.auth, "content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert sent <= 6  # 4 KiB limit: it stopped reading right after the limit


LOG = "/v1/mailboxes/{mb}/log"


@pytest.mark.parametrize("body, status, code", [
    ({"prev": B32, "ciphertext": "eA"}, 400, "bad_request"),                 # seq missing
    ({"seq": 2, "ciphertext": "eA"}, 400, "bad_request"),                    # prev missing
    ({"seq": 2, "prev": B32}, 400, "bad_request"),                           # ciphertext missing
    ({"seq": 2, "prev": B32, "ciphertext": "eA", "extra": 1}, 400, "bad_request"),
    ({"seq": "2", "prev": B32, "ciphertext": "eA"}, 400, "bad_request"),
    ({"seq": 2.0, "prev": B32, "ciphertext": "eA"}, 400, "bad_request"),
    ({"seq": True, "prev": B32, "ciphertext": "eA"}, 400, "bad_request"),
    ({"seq": None, "prev": B32, "ciphertext": "eA"}, 400, "bad_request"),
    ({"seq": 0, "prev": B32, "ciphertext": "eA"}, 400, "bad_request"),
    ({"seq": -1, "prev": B32, "ciphertext": "eA"}, 400, "bad_request"),
    ({"seq": 2**63, "prev": B32, "ciphertext": "eA"}, 400, "bad_request"),
    ({"seq": 2, "prev": "!!!!", "ciphertext": "eA"}, 400, "bad_request"),
    ({"seq": 2, "prev": b64e(bytes(31)), "ciphertext": "eA"}, 400, "bad_request"),
    ({"seq": 2, "prev": b64e(bytes(33)), "ciphertext": "eA"}, 400, "bad_request"),
    ({"seq": 2, "prev": 12345, "ciphertext": "eA"}, 400, "bad_request"),
    ({"seq": 2, "prev": B32, "ciphertext": ""}, 400, "bad_request"),
    ({"seq": 2, "prev": B32, "ciphertext": "eB"}, 400, "bad_request"),        # not canonical
    ({"seq": 2, "prev": B32, "ciphertext": "e+A/"}, 400, "bad_request"),      # not url-safe
    ({"seq": 2, "prev": B32, "ciphertext": ["eA"]}, 400, "bad_request"),
    ({"seq": 2, "prev": B32, "ciphertext": "eA", "new_cap_hash": B16}, 400, "bad_request"),
    ({"seq": 2, "prev": B32, "ciphertext": "eA", "new_cap_hash": 7}, 400, "bad_request"),
    ({"seq": 2, "prev": B32, "ciphertext": "eA", "new_cap_hash": B32, "admin_key": B32}, 400, "bad_request"),
    ({"seq": 2, "prev": B32, "ciphertext": "eA", "admin_key": B32, "admin_sig": B64}, 400, "bad_request"),
    ({"seq": 2, "prev": B32, "ciphertext": "eA", "new_cap_hash": B32, "admin_key": B16,
      "admin_sig": B64}, 400, "bad_request"),
    ({"seq": 2, "prev": B32, "ciphertext": "eA", "admins": B32}, 400, "bad_request"),
    ({"seq": 2, "prev": B32, "ciphertext": "eA", "admins": [B32, B32]}, 400, "bad_request"),  # repeated
    ({"seq": 2, "prev": B32, "ciphertext": "eA", "admins": [B16]}, 400, "bad_request"),
    ({"seq": 2, "prev": B32, "ciphertext": b64e(bytes(1001))}, 413, "too_large"),
])
async def test_bad_log_appends(world, body, status, code):
    await expect_refused(world, "POST", LOG, json=body, status=status, code=code)


async def test_entry_at_the_size_limit_is_accepted(world):
    r = await world.client.post(world.mb.path("/log"), headers=world.mb.auth, json={
        "seq": 2, "prev": b64e(world.head), "ciphertext": b64e(bytes(1000))})
    assert r.status_code == 201


@pytest.mark.parametrize("body, status", [
    ({}, 400),
    ({"items": "AQ"}, 400),
    ({"items": []}, 400),
    ({"items": [1]}, 400),
    ({"items": [None]}, 400),
    ({"items": ["AQ", "!"]}, 400),
    ({"items": ["AQ", ""]}, 400),
    ({"items": ["AQ"], "more": []}, 400),
    ({"items": [b64e(bytes(101))]}, 413),
    ({"items": ["AQ"] * 6}, 413),
])
async def test_bad_item_batches(world, body, status):
    await expect_refused(world, "POST", "/v1/mailboxes/{mb}/items", json=body, status=status,
                         code="bad_request" if status == 400 else "too_large")


@pytest.mark.parametrize("body", [
    {}, {"mailbox": B16}, {"cap_hash": B32}, {"mailbox": B32, "cap_hash": B32},
    {"mailbox": B16, "cap_hash": B16}, {"mailbox": "*", "cap_hash": B32},
    {"mailbox": B16, "cap_hash": B32, "x": 1}, {"mailbox": 16, "cap_hash": B32},
    {"mailbox": B16, "cap_hash": B32}, {"mailbox": B16, "cap_hash": B32, "admin": B16},
    {"mailbox": B16, "cap_hash": B32, "admin": None},
])
async def test_bad_mailbox_creation(world, body):
    await expect_refused(world, "POST", "/v1/mailboxes", auth="none", json=body,
                         status=400, code="bad_request")


@pytest.mark.parametrize("body", [
    {}, {"drop": B16}, {"drop": B32, "cap_hash": B32}, {"drop": B16, "cap_hash": "x"},
    {"drop": B16, "cap_hash": B32, "extra": True},
])
async def test_bad_drop_opening(world, body):
    await expect_refused(world, "POST", "/v1/mailboxes/{mb}/drops", json=body,
                         status=400, code="bad_request")


@pytest.mark.parametrize("path, auth", POSTS[4:])
@pytest.mark.parametrize("body, status", [
    ({}, 400), ({"message": ""}, 400), ({"message": 5}, 400), ({"message": "%%"}, 400),
    ({"message": "AQ", "to": "x"}, 400), ({"message": b64e(bytes(65))}, 413),
])
async def test_bad_drop_messages(world, path, auth, body, status):
    await expect_refused(world, "POST", path, auth=auth, json=body, status=status,
                         code="bad_request" if status == 400 else "too_large")


# -- authentication ----------------------------------------------------------------------

AUTHED = [
    ("GET", "/v1/mailboxes/{mb}/log", None),
    ("POST", "/v1/mailboxes/{mb}/log", {"seq": 2, "prev": B32, "ciphertext": "eA"}),
    ("GET", "/v1/mailboxes/{mb}/items", None),
    ("POST", "/v1/mailboxes/{mb}/items", {"items": ["eA"]}),
    ("POST", "/v1/mailboxes/{mb}/drops", {"drop": B16, "cap_hash": B32}),
    ("DELETE", "/v1/mailboxes/{mb}/drops/{drop}", None),
    ("POST", "/v1/mailboxes/{mb}/drops/{drop}/messages", {"message": "eA"}),
    ("GET", "/v1/mailboxes/{mb}/drops/messages", None),
    ("GET", "/v1/mailboxes/{mb}/wait?timeout=0", None),
    ("POST", "/v1/drops/{drop}/messages", {"message": "eA"}),
    ("GET", "/v1/drops/{drop}/messages", None),
]


@pytest.mark.parametrize("method, path, body", AUTHED)
@pytest.mark.parametrize("auth", ["none", "basic", "garbage", "short", "unknown", "empty"])
async def test_unauthenticated(world, method, path, body, auth):
    await expect_refused(world, method, path, auth=auth, json=body, status=401,
                         code="unauthorized")


@pytest.mark.parametrize("method, path, body", AUTHED)
async def test_unknown_mailbox_or_drop(world, method, path, body):
    """An unknown mailbox (whatever the drop) and an unknown drop reached with a
    guest's capability are both 401: the relay does not say what exists."""
    path = path.replace("{mb}", b64e(os.urandom(16))).replace("{drop}", b64e(os.urandom(16)))
    auth = "drop" if path.startswith("/v1/drops") else "mailbox"
    await expect_refused(world, method, path, auth=auth, json=body, status=401,
                         code="unauthorized")


@pytest.mark.parametrize("method, path, body", [a for a in AUTHED if "{drop}" in a[1]
                                                and a[1].startswith("/v1/mailboxes")])
async def test_unknown_drop_of_a_known_mailbox_is_not_found(world, method, path, body):
    path = path.replace("{drop}", b64e(os.urandom(16)))
    await expect_refused(world, method, path, json=body, status=404, code="not_found")


# -- paths and query parameters ------------------------------------------------------

@pytest.mark.parametrize("bad_id", ["abc", b64e(bytes(15)), b64e(bytes(17)), "A" * 22 + "!"])
@pytest.mark.parametrize("method, path, body", AUTHED)
async def test_malformed_ids_in_the_path(world, method, path, body, bad_id):
    path = path.replace("{mb}", bad_id).replace("{drop}", bad_id)
    auth = "drop" if path.startswith("/v1/drops") else "mailbox"
    await expect_refused(world, method, path, auth=auth, json=body, status=400,
                         code="bad_request")


READS = ["/v1/mailboxes/{mb}/log", "/v1/mailboxes/{mb}/items",
         "/v1/mailboxes/{mb}/drops/messages", "/v1/drops/{drop}/messages"]


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("query", [
    "after=-1", "after=abc", "after=1.5", "after=", "after=1e3", "after=+1", "after= 1",
    "after=99999999999999999999", "after=9223372036854775808", "after=1&after=2",
    "limit=0", "limit=51", "limit=-5", "limit=x", "cursor=3", "after=%00",
])
async def test_bad_read_queries(world, path, query):
    auth = "drop" if path.startswith("/v1/drops") else "mailbox"
    await expect_refused(world, "GET", f"{path}?{query}", auth=auth, status=400,
                         code="bad_request")


@pytest.mark.parametrize("query", ["timeout=6", "timeout=-1", "log=x", "items=-1", "drops=1.0",
                                   "after=1", "timeout=1&timeout=1"])
async def test_bad_wait_queries(world, query):
    await expect_refused(world, "GET", f"/v1/mailboxes/{{mb}}/wait?{query}", status=400,
                         code="bad_request")


async def test_largest_query_values_are_accepted(world):
    r = await world.client.get(world.mb.path(f"/items?after={2**63 - 1}&limit=50"),
                               headers=world.mb.auth)
    assert r.status_code == 200 and r.json() == {"items": [], "head": 1}


# -- routes ----------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("GET", "/"), ("GET", "/v1"), ("GET", "/v1/health/"), ("GET", "/v2/health"),
    ("POST", "/v1/mailboxes/{mb}"), ("GET", "/v1/mailboxes/{mb}/log/1"),
    ("GET", "/v1/drops/{drop}"),
])
async def test_unknown_routes(world, method, path):
    await expect_refused(world, method, path, status=404, code="not_found")


@pytest.mark.parametrize("method, path, allowed", [
    ("PUT", "/v1/mailboxes", {"POST"}),
    ("GET", "/v1/mailboxes", {"POST"}),
    ("DELETE", "/v1/mailboxes/{mb}/log", {"GET", "HEAD", "POST"}),
    ("PATCH", "/v1/mailboxes/{mb}/items", {"GET", "HEAD", "POST"}),
    ("POST", "/v1/health", {"GET", "HEAD"}),
    ("POST", "/v1/mailboxes/{mb}/wait", {"GET", "HEAD"}),
    ("GET", "/v1/mailboxes/{mb}/drops/{drop}", {"DELETE"}),
    ("DELETE", "/v1/drops/{drop}/messages", {"GET", "HEAD", "POST"}),
])
async def test_wrong_methods(world, method, path, allowed):
    r = await world.client.request(method, world.expand(path))
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"
    assert {m.strip() for m in r.headers["allow"].split(",")} == allowed


async def test_head_of_a_read(world):
    r = await world.client.head("/v1/health")
    assert r.status_code == 200 and r.content == b""


# -- failures of the relay itself --------------------------------------------------------

async def test_an_unavailable_database_is_a_500_without_details(world, caplog):
    await world.relay.app.state.relay.storage.close()  # the database went away
    for method, path, body in AUTHED[:4]:
        r = await world.client.request(method, world.expand(path), json=body,
                                       headers=world.mb.auth)
        assert r.status_code == 500, path
        assert r.json() == {"error": {"code": "internal",
                                      "message": "internal error; nothing was half-written"}}
    assert (await world.client.get("/v1/health")).status_code == 200
    logged = caplog.text
    assert "internal error answering" in logged
    assert world.mb.b64 not in logged and b64e(world.mb.cap) not in logged


async def raw_asgi_post(app, path: str, headers: list[tuple[bytes, bytes]], body: bytes):
    """Send one request straight to the ASGI app, with headers exactly as given
    (an HTTP client would fix a bogus Content-Length), and collect the answer."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    status = sent[0]["status"]
    return status, b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize("length, status, code", [
    (b"0" * 5000 + b"2", 400, "bad_request"),   # "{}" after thousands of zeros: missing fields
    (b"9" * 5000, 413, "too_large"),
    (b"12x", 400, "bad_request"),
    (b"-1", 400, "bad_request"),
    (b"", 400, "bad_request"),
])
async def test_a_malformed_or_endless_content_length_is_a_clear_error(relay_asgi, length,
                                                                       status, code):
    relay = await relay_asgi()
    before = db_dump(relay.db_path)
    got, body = await raw_asgi_post(relay.app, "/v1/mailboxes", [
        (b"content-type", b"application/json"), (b"content-length", length)], b"{}")
    assert got == status and dumps(code) in body.decode()
    assert db_dump(relay.db_path) == before


async def test_a_body_of_many_tiny_values_is_refused_before_it_is_parsed(world):
    bomb = b"{" + b",".join(b'"%x":0' % i for i in range(400)) + b"}"  # under the 4 KiB limit
    before = db_dump(world.relay.db_path)
    for path, auth in (("/v1/mailboxes", "none"), ("/v1/mailboxes/{mb}/log", "mailbox")):
        r = await world.client.post(world.expand(path), content=bomb, headers={
            **world.auth(auth), "content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        assert "more JSON values" in r.json()["error"]["message"]
        assert r.headers["connection"] == "close"
    # A batch of items may hold up to the batch limit's worth of values, no more.
    batch = dumps({"items": ["AQ"] * (LIMITS["max_batch_items"] * 10)}).encode()
    r = await world.client.post(world.mb.path("/items"), content=batch, headers={
        **world.mb.auth, "content-type": "application/json"})
    assert r.status_code == 413 and "more JSON values" in r.json()["error"]["message"]
    assert db_dump(world.relay.db_path) == before
