"""The per-address rate limit: a flooding address gets 429 with Retry-After, and
every other address keeps being served."""

from __future__ import annotations

import pytest

from hramada.relay.ratelimit import TokenBuckets, client_key

from .conftest import METRICS_AUTH, METRICS_TOKEN, db_dump, new_mailbox

pytestmark = pytest.mark.anyio


async def test_flooding_address_is_limited_others_are_not(relay_asgi):
    relay = await relay_asgi(rate=1.0, burst=5, metrics_token=METRICS_TOKEN)
    flooder = await relay.client("198.51.100.7")
    other = await relay.client("198.51.100.8")
    mb = await new_mailbox(other)
    statuses = [(await flooder.get("/v1/health")).status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429] * 3
    before = db_dump(relay.db_path)
    r = await flooder.post(mb.path("/items"), headers=mb.auth, json={"items": ["AQ"]})
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1
    assert db_dump(relay.db_path) == before  # refused before anything was read or written
    r = await other.post(mb.path("/items"), headers=mb.auth, json={"items": ["AQ"]})
    assert r.status_code == 201
    metrics = (await other.get("/v1/metrics", headers=METRICS_AUTH)).text
    assert 'hramada_relay_rejected_total{code="rate_limited"} 4' in metrics
    assert "198.51.100" not in metrics


async def test_ipv6_addresses_share_a_bucket_per_64(relay_asgi):
    relay = await relay_asgi(rate=1.0, burst=2)
    a1 = await relay.client("2001:db8:1:2::1")
    a2 = await relay.client("2001:db8:1:2:ffff::9")
    b = await relay.client("2001:db8:1:3::1")
    assert (await a1.get("/v1/health")).status_code == 200
    assert (await a2.get("/v1/health")).status_code == 200
    assert (await a1.get("/v1/health")).status_code == 429
    assert (await a2.get("/v1/health")).status_code == 429
    assert (await b.get("/v1/health")).status_code == 200


async def test_rate_zero_is_off(relay_asgi):
    relay = await relay_asgi(rate=0.0)
    client = await relay.client()
    assert {(await client.get("/v1/health")).status_code for _ in range(300)} == {200}


def test_buckets_refill_at_the_rate():
    now = [100.0]
    buckets = TokenBuckets(rate=2.0, burst=3, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)   # one token comes back in 1/rate s
    now[0] += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(0.5)
    now[0] += 100
    assert [buckets.take("a") for _ in range(3)] == [0.0] * 3  # never more than burst
    assert buckets.take("a") > 0


def test_buckets_are_bounded_in_number():
    buckets = TokenBuckets(rate=1.0, burst=1, clock=lambda: 0.0, max_clients=10)
    for i in range(100):
        buckets.take(f"10.0.0.{i}")
    assert len(buckets) == 10
    # The most recently seen addresses are the ones remembered.
    assert buckets.take("10.0.0.99") > 0


def test_client_keys():
    assert client_key("192.0.2.1") == "192.0.2.1"
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert client_key(None) == ""
    with pytest.raises(ValueError):
        TokenBuckets(rate=0, burst=1)
