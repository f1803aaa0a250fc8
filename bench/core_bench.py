"""Client-side cost of the protocol, measured against raw libsodium in the same run.

    .venv/bin/python bench/core_bench.py [--quick]

1. per item: Hramada's encrypt+sign (seal_item) and verify+decrypt (open_item) vs the
   same libsodium calls made directly (Ed25519 sign / open, XChaCha20-Poly1305);
2. key rotation (a removal) for groups of 10, 100, 1,000 and 10,000 members.

Prints medians of several repetitions. Pure CPU, no network.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time

from nacl._sodium import ffi, lib

from hramada.core import build, items as items_mod
from hramada.core.identity import Identity
from hramada.core.keys import Generation
from hramada.core.state import GroupLog, Keyring, Member

R = os.urandom


def new_group() -> tuple[Identity, GroupLog, Keyring, Generation]:
    """A group just created by ``me``, as ``me``'s client holds it."""
    me = Identity.from_secrets(R(32), R(32), R(32))
    mailbox = R(16)
    ne, gen0 = build.create_group(mailbox=mailbox, name="bench", creator=me, creator_name="me",
                                  vouches=1, seed=R(32), group_nonce=R(16), nonce=R(24))
    log = GroupLog(mailbox)
    keys = Keyring(me.boxing, {0: gen0})
    log.apply(ne.seq, ne.prev, ne.ciphertext, keys)
    return me, log, keys, gen0


def per_item(n: int, reps: int) -> None:
    me, log, keys, gen0 = new_group()
    body = {"title": "Food bank", "text": "x" * 200}
    nonces = [R(24) for _ in range(n)]

    def ours_seal() -> list[bytes]:
        return [items_mod.seal_item(group=log.group, kind="bulletin", body=body, author=me.signing,
                                    seq=i + 1, head=log.head, time=1_700_000_000_000, generation=gen0,
                                    nonce=nonces[i])[1] for i in range(n)]

    sk = me.signing._expanded
    key = gen0.content_key
    payload = os.urandom(290)  # about the size of an encoded, signed item

    # The baseline: the same libsodium calls (Ed25519 sign / open, XChaCha20-Poly1305
    # encrypt / decrypt) made directly through PyNaCl's cffi binding, with no encoding,
    # no ids, no checks: the floor any implementation in Python pays.
    def raw_sign(m: bytes) -> bytes:
        out = ffi.new("unsigned char[]", len(m) + 64)
        lib.crypto_sign(out, ffi.NULL, m, len(m), sk)
        return ffi.buffer(out, 64)[:]

    def raw_encrypt(m: bytes, nonce: bytes) -> bytes:
        out = ffi.new("unsigned char[]", len(m) + 16)
        lib.crypto_aead_xchacha20poly1305_ietf_encrypt(out, ffi.NULL, m, len(m), ffi.NULL, 0, ffi.NULL, nonce, key)
        return ffi.buffer(out, len(m) + 16)[:]

    def raw_decrypt(c: bytes, nonce: bytes) -> bytes:
        out = ffi.new("unsigned char[]", len(c) - 16)
        if lib.crypto_aead_xchacha20poly1305_ietf_decrypt(out, ffi.NULL, ffi.NULL, c, len(c), ffi.NULL, 0, nonce, key):
            raise ValueError
        return ffi.buffer(out, len(c) - 16)[:]

    def raw_verify(sm: bytes) -> None:
        out = ffi.new("unsigned char[]", len(sm))
        mlen = ffi.new("unsigned long long *")
        if lib.crypto_sign_open(out, mlen, sm, len(sm), pk):
            raise ValueError

    def raw_seal() -> list[bytes]:
        return [raw_encrypt(raw_sign(payload) + payload, nonces[i]) for i in range(n)]

    pk = me.signing.public.raw  # items are signed by the device key
    sealed = ours_seal()
    raw = raw_seal()

    def ours_open() -> None:
        for i, ct in enumerate(sealed):
            items_mod.open_item(ct, i + 1, log, keys.generations)

    def raw_open() -> None:
        for i, ct in enumerate(raw):
            raw_verify(raw_decrypt(ct, nonces[i]))

    for name, ours, base in (("encrypt+sign", ours_seal, raw_seal), ("verify+decrypt", ours_open, raw_open)):
        t_ours, t_raw = [], []
        for _ in range(reps):
            t = time.perf_counter(); base(); t_raw.append((time.perf_counter() - t) / n)
            t = time.perf_counter(); ours(); t_ours.append((time.perf_counter() - t) / n)
        o, b = statistics.median(t_ours), statistics.median(t_raw)
        print(f"per item {name:15s} hramada {o * 1e6:7.1f} µs   raw libsodium {b * 1e6:7.1f} µs   ratio {o / b:.2f}")


def rotation(sizes: list[int], reps: int) -> None:
    """An admin removes one member of a group of ``size``: building the entry (a fresh seed
    sealed to everyone who remains), and a remaining member verifying and applying it
    (the authorisation, the exact set of recipients, their own box, the signature)."""
    for size in sizes:
        me, log, keys, gen0 = new_group()
        # members as the log holds them after admissions (their keys are what matters here)
        others = [Identity.from_secrets(R(32), R(32), R(32)) for _ in range(size - 1)]
        for i, ident in enumerate(others):
            m = log.members[ident.public.id] = Member(f"m{i}", ident.public, "member", since=1)
            log._record_device(m, ident.device_record(log.group), 1)
        victim, reader = others[0], others[-1]
        t_build, t_apply = [], []
        for _ in range(reps):
            t = time.perf_counter()
            entry = build.rotation(log, author=me, keys=keys, seed=R(32), ephemeral_secret=R(32),
                                   nonce=R(24), auth_nonce=R(24), items_cutoff={}, remove=victim.public.id)
            t_build.append(time.perf_counter() - t)
            view = copy.deepcopy(log)
            t = time.perf_counter()
            applied = view.apply(entry.seq, entry.prev, entry.ciphertext, Keyring(reader.boxing, {0: gen0}))
            t_apply.append(time.perf_counter() - t)
            if applied is None:
                raise SystemExit(f"the rotation for {size} members was void: {view.warnings[-1]}")
        print(f"rotation (removal) for {size:6d} members: build {statistics.median(t_build) * 1000:8.1f} ms"
              f"   verify+apply by a member {statistics.median(t_apply) * 1000:8.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    per_item(2000 if args.quick else 10000, 3 if args.quick else 7)
    rotation([10, 100, 1000, 10000], 3 if args.quick else 5)


if __name__ == "__main__":
    sys.exit(main())
