"""What the relay and clients compute identically: capability hashes and base64url."""

from __future__ import annotations

import pytest

from hramada.core import crypto, wire


def test_cap_hash_is_keyed_blake2b_and_refuses_other_sizes():
    cap = bytes(range(32))
    assert wire.cap_hash(cap) == crypto.hash32("hramada:v1:cap-hash", cap)
    assert wire.cap_hash(cap) != cap
    for bad in (b"", bytes(31), bytes(33)):
        with pytest.raises(ValueError):
            wire.cap_hash(bad)


@pytest.mark.parametrize(("data", "text"), [
    (b"", ""), (b"\x00", "AA"), (b"\xfb\xff", "-_8"), (bytes(range(5)), "AAECAwQ"),
])
def test_base64url_without_padding(data, text):
    assert wire.b64e(data) == text
    assert wire.b64d(text) == data
    assert wire.b64d(text + "=" * (-len(text) % 4)) == data  # padding is optional


@pytest.mark.parametrize("text", ["A", "AB", "+/8", "AA==AA", "A A", "AB\n", "é"])
def test_base64url_refuses_malformed_or_non_canonical_text(text):
    with pytest.raises(ValueError, match="seq"):
        wire.b64d(text, field="seq")


def test_base64url_checks_the_size_and_type():
    assert wire.b64d(wire.b64e(bytes(16)), 16) == bytes(16)
    with pytest.raises(ValueError, match="mailbox must be 16 bytes"):
        wire.b64d(wire.b64e(bytes(15)), 16, field="mailbox")
    with pytest.raises(ValueError):
        wire.b64d(b"AAAA")
    with pytest.raises(ValueError):
        wire.b64d("A" * (8 * 1024 * 1024 + 4))
