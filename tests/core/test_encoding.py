"""Canonical encoding: one value has exactly one encoding, and nothing else is read.

Signatures and hashes are computed over encoded bytes, so if two encodings of one
value were accepted, a relay could change bytes without changing meaning (or the
other way round). These tests pin the accepted subset of CBOR.
"""

from __future__ import annotations

import time

import pytest

from hramada.core.encoding import MAX_ITEMS, decode, encode, expect, fields
from hramada.errors import EncodingError, HramadaError


@pytest.mark.parametrize(("value", "hex_"), [
    (0, "00"),
    (23, "17"),
    (24, "1818"),
    (255, "18ff"),
    (256, "190100"),
    (2**32, "1b0000000100000000"),
    (2**64 - 1, "1bffffffffffffffff"),
    (-1, "20"),
    (-(2**63), "3b7fffffffffffffff"),
    (b"", "40"),
    (b"\x01\x02", "420102"),
    ("", "60"),
    ("ü", "62c3bc"),
    (True, "f5"),
    (False, "f4"),
    (None, "f6"),
    ([], "80"),
    ([1, [2]], "82018102"),
    ({}, "a0"),
    # map keys sort by their encoding: shorter keys first, then bytewise
    ({"b": 1, "a": 2, "aa": 3}, "a3616102616201626161" + "03"),
])
def test_known_encodings(value, hex_):
    assert encode(value).hex() == hex_
    assert decode(bytes.fromhex(hex_)) == value


def test_map_key_order_is_independent_of_insertion_order():
    a = {"kind": "x", "v": 1, "author": b"\x00", "body": {}}
    b = dict(reversed(list(a.items())))
    assert encode(a) == encode(b)


def test_tuples_encode_as_arrays_and_decode_as_lists():
    assert encode((1, 2)) == encode([1, 2])
    assert decode(encode((1, 2))) == [1, 2]


def test_decode_accepts_bytearray_and_memoryview():
    data = encode({"a": [1, b"x"]})
    assert decode(bytearray(data)) == decode(memoryview(data)) == {"a": [1, b"x"]}


@pytest.mark.parametrize("value", [
    1.0, float("nan"), 1.5, {1: 2}, {b"k": 1}, {("a",): 1}, {None: 1}, set(), frozenset(),
    bytearray(b"x"), object(), 2**64, -(2**63) - 1, [1, 2.0], {"a": {"b": 0.5}},
])
def test_encode_refuses_values_outside_the_subset(value):
    with pytest.raises(EncodingError):
        encode(value)


@pytest.mark.parametrize(("why", "hex_"), [
    ("half float", "f93c00"),
    ("double float", "fb3ff0000000000000"),
    ("tag 1 (epoch time)", "c11a514b67b0"),
    ("tag 2 (bignum) of a small number", "c24101"),
    ("tag 2 (bignum) out of range", "c249010000000000000000"),
    ("tag 3 (negative bignum)", "c34101"),
    ("tag 24 (embedded CBOR)", "d8184101"),
    ("tag 258 (set)", "d9010281" + "01"),
    ("tag 28 (shared value)", "d81c01"),
    ("indefinite byte string", "5f4101ff"),
    ("indefinite text string", "7f6161ff"),
    ("indefinite array", "9f01ff"),
    ("indefinite map", "bf616101ff"),
    ("undefined", "f7"),
    ("simple value 16", "f0"),
    ("simple value 255", "f8ff"),
    ("integer not in shortest form", "1801"),
    ("length not in shortest form", "580100"),
    ("duplicate map key", "a2616101616102"),
    ("map keys out of order", "a2616201616101"),
    ("integer map key", "a10101"),
    ("byte-string map key", "a1410101"),
    ("array map key", "a1810101"),
    ("trailing bytes", "0100"),
    ("two values", "8080"),
    ("empty input", ""),
    ("truncated byte string", "4201"),
    ("truncated array", "8201"),
    ("huge declared array", "9b7fffffffffffffff"),
    ("huge declared byte string", "5b7fffffffffffffff"),
    ("huge declared map", "bb7fffffffffffffff"),
    ("integer below -2**63", "3b8000000000000000"),
    ("integer -2**64", "3bffffffffffffffff"),
    ("invalid UTF-8 text", "61ff"),
    ("lone break code", "ff"),
    ("reserved additional info", "1c"),
])
def test_decode_refuses_non_canonical_or_foreign_forms(why, hex_):
    with pytest.raises(EncodingError):
        decode(bytes.fromhex(hex_))


def test_decode_refuses_non_bytes():
    for value in ("00", 0, None, [0]):
        with pytest.raises(EncodingError):
            decode(value)


def test_nesting_is_limited_on_both_sides():
    def nested(depth):
        value = 1
        for _ in range(depth):
            value = [value]
        return value
    # 16 levels of containers are fine ...
    assert decode(encode(nested(16))) == nested(16)
    # ... 17 are not, whether encoding or decoding
    with pytest.raises(EncodingError):
        encode(nested(17))
    with pytest.raises(EncodingError):
        decode(bytes.fromhex("81" * 17 + "01"))
    with pytest.raises(EncodingError):
        encode({"a": nested(16)})


def test_an_empty_container_counts_as_a_level():
    assert decode(bytes.fromhex("81" * 15 + "80")) is not None      # 16 containers
    assert decode(bytes.fromhex("81" * 15 + "a0")) is not None
    for data in ("81" * 16 + "80", "81" * 16 + "a0"):                # 17 containers
        with pytest.raises(EncodingError):
            decode(bytes.fromhex(data))


@pytest.mark.timeout(10)
def test_absurdly_deep_input_fails_cleanly_and_fast():
    for data in (b"\x81" * 100_000 + b"\x01", b"\x81" * 100_000,
                 bytes.fromhex("a16161") * 50_000 + b"\x01", b"\x9f" * 100_000):
        with pytest.raises(EncodingError):
            decode(data)


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise ValueError(n)


def _shared_bomb(fan: int, levels: int) -> bytes:
    """cbor2's shared values (tags 28/29): level k is an array of ``fan`` references to
    level k - 1, so about 2 KB stand for fan**levels items."""
    def level(k: int, index: int) -> bytes:
        if k == 0:
            return _head(6, 28) + _head(4, fan) + b"\x00" * fan
        return (_head(6, 28) + _head(4, fan) + level(k - 1, index + 1)
                + (_head(6, 29) + _head(0, index + 1)) * (fan - 1))
    return level(levels, 0)


# Generous for a loaded machine; the inputs below took minutes (or forever) before.
WORK_BOUND_SECONDS = 2.0


@pytest.mark.parametrize("data", [
    _shared_bomb(200, 3),                                      # 2 KB that stand for 8 million
    _head(4, 4 * 2**20 - 5) + b"\x00" * (4 * 2**20 - 5),        # 4 MiB array of zeros
    _head(5, 2**20) + b"\x60\x00" * 2**20,                       # a million map entries
    b"\xd9\xd9\xf7" * 100_000 + b"\x00",                        # 100,000 nested tags
], ids=["shared-values", "flat-4MiB", "big-map", "tag-chain"])
def test_decoding_work_is_bounded_not_only_the_bytes(data):
    """A relay-served entry (up to 4 MiB) must not make the decoder spend seconds."""
    start = time.perf_counter()
    with pytest.raises(EncodingError):
        decode(data)
    assert time.perf_counter() - start < WORK_BOUND_SECONDS


def test_the_item_cap_lets_real_values_through():
    big = [b"x" * 8] * 30_000  # a key block for 15,000 members is about this
    assert decode(encode(big)) == big
    with pytest.raises(EncodingError, match="data items"):
        decode(encode([0] * (MAX_ITEMS + 1)))


def test_encoding_errors_are_hramada_errors_and_value_errors():
    with pytest.raises(HramadaError):
        decode(b"\xff")
    with pytest.raises(ValueError):
        decode(b"\xff")


def test_fields_checks_exact_keys_and_types():
    spec = {"a": int, "b": bytes}
    assert fields({"a": 1, "b": b""}, "thing", spec) == {"a": 1, "b": b""}
    assert fields({"a": 1, "b": b"", "c": "x"}, "thing", spec, {"c": str})["c"] == "x"
    bad = [
        ({"a": 1}, "missing key"),
        ({"a": 1, "b": b"", "z": 0}, "unknown key"),
        ({"a": "1", "b": b""}, "wrong type"),
        ({"a": True, "b": b""}, "a bool is not an int"),
        ({"a": 1, "b": b"", "c": 1}, "optional key of the wrong type"),
        ([1, b""], "not a map"),
    ]
    for value, why in bad:
        with pytest.raises(EncodingError, match="thing"):
            fields(value, "thing", spec, {"c": str})


def test_expect_names_what_was_malformed():
    expect(True, "anything")
    with pytest.raises(EncodingError, match="malformed widget"):
        expect(False, "widget")


def test_a_lone_surrogate_is_refused_as_an_encoding_error():
    with pytest.raises(EncodingError):
        encode({"name": "a\ud800b"})
