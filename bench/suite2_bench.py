"""Suite 1 and suite 2 key delivery side by side, in one run.

    .venv/bin/python bench/suite2_bench.py [--quick]

1. per recipient: sealing and opening one 32-byte seed under suite 1 (X25519
   ``crypto_box`` through ``crypto.seal_many`` / ``open_sealed``) and suite 2 (HPKE
   ``MLKEM768_X25519`` through ``OsSealer`` / ``suite2.open_box``), and the primitives
   underneath: one X25519 scalar multiplication (libsodium), one ML-KEM-768
   encapsulation and decapsulation (pyca), and parsing a suite-2 public key;
2. sealing one seed to 10, 100, 1,000 and 10,000 recipients: suite 1, suite 2 on one
   thread, suite 2 split over a thread pool (does pyca release the GIL?), and over a
   process pool (already started, as a client would keep one; and cold);
3. a rotation at 10,000 members today, and with suite 2's sealing in place of suite 1's;
4. what a key block of 10,000 members weighs under each suite, against the relay's
   4 MiB entry limit.

Medians of several repetitions, in wall time and CPU time. On a shared machine the CPU
figures are the steady ones: "worker cpu" is the busiest pool worker's own CPU time
(what the pool's wall time would be on idle cores), "parent cpu" what this process
spends sending keys and receiving boxes. Pure CPU, no network.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import nacl.bindings as sodium
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from hramada.client.sealing import OsSealer
from hramada.core import crypto, suite2
from hramada.core.encoding import encode

R = os.urandom
SEED = R(32)
INFO = suite2.hybrid_info(suite2.KEY_BLOCK_BOX, R(16), 12345)


def timed(fn, reps: int) -> tuple[float, float]:
    """Median (wall, cpu) seconds of ``fn()`` over ``reps`` runs."""
    walls, cpus = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def per_recipient(n: int, reps: int) -> None:
    s1 = [crypto.BoxPrivateKey.from_secret(R(32)) for _ in range(n)]
    s2 = [suite2.HybridPrivateKey.from_secret(R(32)) for _ in range(n)]
    pub1, pub2 = [k.public for k in s1], [k.public for k in s2]
    raw2 = [k.public.raw for k in s2]
    epk, boxes1 = crypto.seal_many(pub1, R(32), SEED)
    boxes2 = suite2.seal_many(OsSealer(), pub2, INFO, SEED)
    kem_pub = [mlkem.MLKEM768PublicKey.from_public_bytes(k.public.mlkem) for k in s2]
    kem_keys = [mlkem.MLKEM768PrivateKey.from_seed_bytes(suite2.derive(k.secret, suite2.MLKEM_PURPOSE, 64))
                for k in s2]
    kem_cts = [kp.encapsulate()[1] for kp in kem_pub]
    x_secret = R(32)
    # HPKE with X25519 alone (DHKEM(X25519, HKDF-SHA256)) through the same library: the
    # fair "without ML-KEM" baseline for suite 2's seal and open.
    dh_only = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    dh_keys = [x25519.X25519PrivateKey.from_private_bytes(R(32)) for _ in range(n)]
    dh_pubs = [k.public_key() for k in dh_keys]
    dh_boxes = [dh_only.encrypt(SEED, p, INFO) for p in dh_pubs]

    rows = [
        ("suite 1 seal (X25519 crypto_box)", lambda: crypto.seal_many(pub1, R(32), SEED)),
        ("suite 2 seal (HPKE MLKEM768_X25519)", lambda: suite2.seal_many(OsSealer(), pub2, INFO, SEED)),
        ("suite 1 open", lambda: [crypto.open_sealed(k, epk, b) for k, b in zip(s1, boxes1)]),
        ("suite 2 open", lambda: [suite2.open_box(k, INFO, b) for k, b in zip(s2, boxes2)]),
        ("HPKE X25519 alone seal (pyca)", lambda: [dh_only.encrypt(SEED, p, INFO) for p in dh_pubs]),
        ("HPKE X25519 alone open (pyca)", lambda: [dh_only.decrypt(b, k, INFO) for k, b in zip(dh_keys, dh_boxes)]),
        ("  X25519 scalar mult (libsodium)", lambda: [sodium.crypto_scalarmult(x_secret, p.raw) for p in pub1]),
        ("  X25519 keygen+exchange (pyca)",
         lambda: [x25519.X25519PrivateKey.generate().exchange(p) for p in dh_pubs]),
        ("  ML-KEM-768 encapsulate (pyca)", lambda: [kp.encapsulate() for kp in kem_pub]),
        ("  ML-KEM-768 decapsulate (pyca)", lambda: [k.decapsulate(c) for k, c in zip(kem_keys, kem_cts)]),
        ("  suite 2 public key parse+check", lambda: [suite2.HybridPublicKey(r) for r in raw2]),
    ]
    print(f"per recipient (median of {reps} runs over {n} recipients)")
    print(f"  {'':38s} {'wall µs':>9s} {'cpu µs':>9s}")
    for name, fn in rows:
        w, c = timed(fn, reps)
        print(f"  {name:38s} {w / n * 1e6:9.1f} {c / n * 1e6:9.1f}")


# Workers of the pools: they get raw public keys (pyca key objects do not cross
# processes) and return boxes.

def _seal_chunk(raws: list[bytes]) -> tuple[list[bytes], float]:
    """Boxes for these raw keys, and the CPU seconds this worker spent (parsing included)."""
    c = time.process_time()
    boxes = suite2.seal_many(OsSealer(), [suite2.HybridPublicKey(r) for r in raws], INFO, SEED)
    return boxes, time.process_time() - c


def _seal_chunk_parsed(keys: list[suite2.HybridPublicKey]) -> list[bytes]:
    return suite2.seal_many(OsSealer(), keys, INFO, SEED)


def _chunks(items: list, k: int) -> list[list]:
    size = -(-len(items) // k)
    return [items[i:i + size] for i in range(0, len(items), size)]


def fan_out(sizes: list[int], reps: int, workers: int) -> None:
    print(f"\nsealing one seed to N recipients (median of {reps}; pools of {workers}; "
          f"{os.cpu_count()} CPUs on this machine)")
    print(f"  {'N':>6s} {'suite 1':>10s} {'s1 cpu':>10s} {'suite 2':>10s} {'s2 cpu':>10s} {'s2 threads':>11s} "
          f"{'thr cpu':>10s} {'s2 procs':>10s} {'worker cpu':>11s} {'parent cpu':>11s} {'s2 cold':>10s}   (ms)")
    with ThreadPoolExecutor(workers) as threads, ProcessPoolExecutor(workers) as procs:
        list(procs.map(_seal_chunk, [[]] * workers))  # start the workers
        for n in sizes:
            pub1 = [crypto.BoxPrivateKey.from_secret(R(32)).public for _ in range(n)]
            pub2 = [suite2.HybridPrivateKey.from_secret(R(32)).public for _ in range(n)]
            raws = [p.raw for p in pub2]
            s1, s1cpu = timed(lambda: crypto.seal_many(pub1, R(32), SEED), reps)
            s2, s2cpu = timed(lambda: suite2.seal_many(OsSealer(), pub2, INFO, SEED), reps)
            th, thcpu = timed(lambda: list(threads.map(_seal_chunk_parsed, _chunks(pub2, workers))), reps)
            worker_cpu: list[float] = []

            def pooled() -> None:
                worker_cpu.append(max(c for _, c in procs.map(_seal_chunk, _chunks(raws, workers))))
            pr, prcpu = timed(pooled, reps)

            def cold() -> None:
                with ProcessPoolExecutor(workers) as fresh:
                    list(fresh.map(_seal_chunk, _chunks(raws, workers)))
            co, _ = timed(cold, max(1, reps // 2))
            print(f"  {n:6d} {s1 * 1e3:10.1f} {s1cpu * 1e3:10.1f} {s2 * 1e3:10.1f} {s2cpu * 1e3:10.1f} {th * 1e3:11.1f} "
                  f"{thcpu * 1e3:10.1f} {pr * 1e3:10.1f} {statistics.median(worker_cpu) * 1e3:11.1f} "
                  f"{prcpu * 1e3:11.1f} {co * 1e3:10.1f}")


def rotation_estimate(n: int, reps: int) -> None:
    """Today's rotation build (suite 1, ``build.rotation`` as bench/core_bench.py runs it)
    at ``n`` members, and the same with suite 1's sealing swapped for suite 2's: what a
    suite-2 rotation will cost before any other change (CPU time, steadier than wall)."""
    from core_bench import Identity, Member, build, new_group  # bench/ is on sys.path
    me, log, keys, _ = new_group()
    others = [Identity.from_secrets(R(32), R(32), R(32)) for _ in range(n - 1)]
    for i, ident in enumerate(others):
        m = log.members[ident.public.id] = Member(f"m{i}", ident.public, "member", since=1)
        log._record_device(m, ident.device_record(log.group), 1)
    victim = others[0].public.id
    pub1 = [o.boxing.public for o in others[1:]] + [me.boxing.public]
    pub2 = [suite2.HybridPrivateKey.from_secret(R(32)).public for _ in pub1]
    wb, cb = timed(lambda: build.rotation(log, author=me, keys=keys, seed=R(32), ephemeral_secret=R(32),
                                          nonce=R(24), auth_nonce=R(24), items_cutoff={}, remove=victim), reps)
    w1, c1 = timed(lambda: crypto.seal_many(pub1, R(32), SEED), reps)
    w2, c2 = timed(lambda: suite2.seal_many(OsSealer(), pub2, INFO, SEED), reps)
    boxes2 = suite2.seal_many(OsSealer(), pub2, INFO, SEED)
    pairs = [[crypto.keyed_hash(R(32), "hramada:v1:box-label", p.x25519, 8), b] for p, b in zip(pub2, boxes2)]
    we, ce = timed(lambda: crypto.hash32("hramada:v1:key-block", encode({"e": b"", "b": sorted(pairs)})), reps)
    wp, cp = timed(lambda: [suite2.HybridPublicKey(p.raw) for p in pub2], reps)
    print(f"\nrotation (removal) at {n} members, CPU ms (wall in brackets), median of {reps}:")
    print(f"  suite 1 build today            {cb * 1e3:8.1f} ({wb * 1e3:.1f})")
    print(f"  of which sealing (suite 1)     {c1 * 1e3:8.1f} ({w1 * 1e3:.1f})")
    print(f"  suite 2 sealing                {c2 * 1e3:8.1f} ({w2 * 1e3:.1f})")
    print(f"  suite 2 boxes encoded+hashed   {ce * 1e3:8.1f} ({we * 1e3:.1f})")
    print(f"  suite 2 build, estimated       {(cb - c1 + c2 + ce) * 1e3:8.1f}   target 1,500 ms"
          f"   (keys parsed once when they enter the state; parsing them per rotation adds {cp * 1e3:.1f})")


def key_block_size(n: int) -> None:
    """The boxes of a key block (``b``: label and box per member) under each suite."""
    label = bytes(8)
    s1 = len(encode([[label, bytes(32 + crypto.BOX_TAG_BYTES)]] * n))
    s2 = len(encode([[label, bytes(32 + suite2.BOX_OVERHEAD)]] * n))
    limit = 4 * 1024 * 1024
    print(f"\nkey block boxes for {n} members: suite 1 {s1 / 1e6:.2f} MB ({s1 / n:.0f} B each), "
          f"suite 2 {s2 / 1e6:.2f} MB ({s2 / n:.0f} B each); relay entry limit 4 MiB: "
          f"suite 2 needs {-(-s2 // limit)} entries, at most {limit // (s2 // n)} members per entry")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes, few repetitions")
    ap.add_argument("--workers", type=int, default=2, help="threads / processes in the pools")
    args = ap.parse_args()
    if args.quick:
        per_recipient(100, 3)
        fan_out([10, 100, 1000], 3, args.workers)
        rotation_estimate(1000, 3)
    else:
        per_recipient(1000, 5)
        fan_out([10, 100, 1000, 10000], 5, args.workers)
        rotation_estimate(10000, 5)
    key_block_size(10000)


if __name__ == "__main__":
    main()
