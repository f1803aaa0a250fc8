"""``/v1/metrics``: Prometheus text with request, rejection and append counters, and
nothing that identifies a mailbox, a capability or a client."""

from __future__ import annotations

import os
import re

import pytest

from hramada.core.wire import b64e
from hramada.relay.config import RelayConfig

from .conftest import METRICS_AUTH, METRICS_TOKEN, append_chain, bearer

pytestmark = pytest.mark.anyio


def value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not in metrics")


async def test_metrics_count_requests_rejections_and_appends(client, mailbox):
    await append_chain(client, mailbox, [b"a", b"b"])
    await client.post(mailbox.path("/items"), headers=mailbox.auth,
                      json={"items": ["AQ", "Ag", "Aw"]})
    await client.get(mailbox.path("/log"), headers=bearer(os.urandom(32)))
    await client.get("/nowhere")
    r = await client.get("/v1/metrics", headers=METRICS_AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    assert value(text, 'hramada_relay_requests_total{route="/v1/mailboxes/{mailbox}/log",'
                       'method="POST",status="201"}') == 2
    assert value(text, 'hramada_relay_requests_total{route="/v1/mailboxes/{mailbox}/log",'
                       'method="GET",status="401"}') == 1
    assert value(text, 'hramada_relay_requests_total{route="unmatched",method="GET",'
                       'status="404"}') == 1
    assert value(text, 'hramada_relay_appended_total{kind="entry"}') == 2
    assert value(text, 'hramada_relay_appended_total{kind="item"}') == 3
    assert value(text, 'hramada_relay_appended_total{kind="mailbox"}') == 1
    assert value(text, 'hramada_relay_rejected_total{code="unauthorized"}') == 1
    assert value(text, 'hramada_relay_rejected_total{code="not_found"}') == 1
    assert value(text, "hramada_relay_waiting") == 0
    # Nothing identifying: no ids, no capabilities.
    assert mailbox.b64 not in text and b64e(mailbox.cap) not in text
    for line in text.splitlines():
        assert line.startswith("#") or re.fullmatch(
            r'[a-z_]+(\{([a-z]+="[^"]*",?)+\})? [0-9.e+]+', line), line


async def test_odd_methods_do_not_grow_the_label_set(client):
    for method in ("BREW", "PROPFIND", "X-ANYTHING"):
        r = await client.request(method, "/v1/health")
        assert r.status_code == 405
    text = (await client.get("/v1/metrics", headers=METRICS_AUTH)).text
    assert value(text, 'hramada_relay_requests_total{route="/v1/health",method="other",'
                       'status="405"}') == 3
    assert "BREW" not in text


async def test_metrics_are_off_unless_a_token_is_set(relay_asgi):
    relay = await relay_asgi()
    client = await relay.client()
    r = await client.get("/v1/metrics")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_metrics_need_the_token(relay_asgi):
    relay = await relay_asgi(metrics_token=METRICS_TOKEN)
    client = await relay.client()
    for headers in ({}, {"authorization": "Bearer " + "x" * len(METRICS_TOKEN)},
                    {"authorization": f"Basic {METRICS_TOKEN}"}):
        r = await client.get("/v1/metrics", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert "hramada_relay" not in r.text
    r = await client.get("/v1/metrics", headers=METRICS_AUTH)
    assert r.status_code == 200 and "hramada_relay_requests_total" in r.text


def test_a_short_metrics_token_is_refused():
    with pytest.raises(ValueError, match="metrics_token"):
        RelayConfig(metrics_token="short")
