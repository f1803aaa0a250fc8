"""A rotation's key block under suite 1 and suite 2, side by side, in one run.

    .venv/bin/python bench/rotation_bench.py [--runs 3] [--sizes 10,100,1000,10000]

For each group size N and each suite: **build** (``keys.make_key_block`` to N members —
suite 1 sealing under one ephemeral X25519 key, suite 2 one HPKE ``MLKEM768_X25519``
box each through the client's ``OsSealer`` —, the block encoded as it travels in the
entry, and for a paged suite-2 block its pages split and hashed) and **verify** (what
one member's device does with it: decode the entry's block, check the authorisation
under the old generation, compute every remaining member's label and compare the set,
then open its own box, checking the one page that holds it). Members' public keys are
parsed once beforehand, as the group state holds them; what parsing them at every
rotation would add is printed too. Then, per box, what ML-KEM costs against HPKE with
X25519 alone (same library). Medians of ``--runs`` runs, wall and CPU time.
Target (issue 6): a suite-2 rotation at 10,000 members builds in at most 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from hramada.client.sealing import OsSealer
from hramada.core import crypto, pages, suite2
from hramada.core.encoding import decode, encode
from hramada.core.keys import (Generation, KeyBlock, box_label, key_block_author, make_key_block,
                               open_key_block)

R = os.urandom
GROUP = R(16)
SEQ = 1234
AUTHOR = crypto.SigningKey.from_seed(R(32))


def timed(fn, runs: int) -> tuple[float, float, object]:
    """Median (wall, cpu) seconds of ``fn()`` over ``runs`` runs, and its last result."""
    walls, cpus, out = [], [], None
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), out


def members(suite: int, n: int) -> list:
    if suite == 1:
        return [crypto.BoxPrivateKey.from_secret(R(32)) for _ in range(n)]
    return [suite2.HybridPrivateKey.from_secret(R(32)) for _ in range(n)]


def build(suite: int, publics: list, prev: Generation, new: Generation) -> tuple[bytes, list[bytes]]:
    block = make_key_block(prev, new, publics, R(32) if suite == 1 else b"", author=AUTHOR, group=GROUP,
                           seq=SEQ, auth_nonce=R(24), sealer=OsSealer() if suite == 2 else None)
    return encode(block.to_value()), block.pages()


def verify(entry_part: bytes, page_blobs: list[bytes], me, publics: list, prev: Generation) -> Generation:
    block = KeyBlock.from_value(decode(entry_part))
    signer, _ = key_block_author(block, prev, GROUP, SEQ)
    assert signer == AUTHOR.public.raw
    expected = {box_label(prev, pk) for pk in publics}
    assert len(block.boxes) == len(expected) and block.labels == expected
    at_hand = {}
    if block.paged:  # fetch the one page that holds my box (here: from memory)
        mine = box_label(prev, me.public)
        index = [lab for lab, _ in block.boxes].index(mine) // pages.PAGE_BOXES
        at_hand = {block.page_digests[index]: page_blobs[index]}
    return open_key_block(block, prev, me, group=GROUP, seq=SEQ, pages_at_hand=at_hand)


def per_box(runs: int, count: int = 1000) -> dict[str, float]:
    """CPU µs per box: the suite-2 HPKE seal, HPKE with X25519 alone, ML-KEM-768
    encapsulation alone, suite 1's one X25519 multiplication per recipient."""
    hybrid = [suite2.HybridPrivateKey.from_secret(R(32)).public for _ in range(count)]
    dh_only = [x25519.X25519PrivateKey.generate().public_key() for _ in range(count)]
    kem = [mlkem.MLKEM768PrivateKey.generate().public_key() for _ in range(count)]
    box1 = [crypto.BoxPrivateKey.from_secret(R(32)).public for _ in range(count)]
    x_suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    seed, info = R(32), suite2.hybrid_info(suite2.KEY_BLOCK_BOX, GROUP, SEQ)
    cases = {
        "suite 2 box (HPKE MLKEM768-X25519)": lambda: OsSealer().seal(hybrid, info, seed),
        "HPKE with X25519 alone (DHKEM(X25519), same library)":
            lambda: [x_suite.encrypt(seed, k, info=info) for k in dh_only],
        "ML-KEM-768 encapsulation alone": lambda: [k.encapsulate() for k in kem],
        "suite 1 box (one X25519 multiplication, shared ephemeral)": lambda: crypto.seal_many(box1, R(32), seed),
        "parsing + checking a suite-2 public key": lambda: [suite2.HybridPublicKey(k.raw) for k in hybrid],
    }
    return {name: timed(fn, runs)[1] / count * 1e6 for name, fn in cases.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="10,100,1000,10000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    prev, new = Generation(7, R(32)), Generation(8, R(32))
    print(f"rotation key blocks, medians of {args.runs} runs (wall / CPU ms); "
          f"os.cpu_count() = {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")
    print(f"{'N':>7} {'suite':>5} {'build wall':>11} {'build cpu':>10} {'verify wall':>12} "
          f"{'verify cpu':>11} {'entry KB':>9} {'pages':>6} {'page KB':>8}")
    for n in sizes:
        for suite in (1, 2):
            keys = members(suite, n)
            publics = [k.public for k in keys]
            bw, bc, (entry_part, blobs) = timed(lambda: build(suite, publics, prev, new), args.runs)
            vw, vc, got = timed(lambda: verify(entry_part, blobs, keys[n // 2], publics, prev), args.runs)
            assert got.seed == new.seed
            largest = max((len(b) for b in blobs), default=0)
            print(f"{n:>7} {suite:>5} {bw * 1e3:>11.1f} {bc * 1e3:>10.1f} {vw * 1e3:>12.1f} {vc * 1e3:>11.1f} "
                  f"{len(entry_part) / 1e3:>9.1f} {len(blobs):>6} {largest / 1e3:>8.1f}")
    print("\nper box, CPU µs (1,000 boxes, median of runs):")
    for name, us in per_box(args.runs).items():
        print(f"  {name:<58} {us:8.1f}")


if __name__ == "__main__":
    main()
