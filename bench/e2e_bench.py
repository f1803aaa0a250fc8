"""End to end: members posting bulletins through the public client API to a real relay.

    .venv/bin/python bench/e2e_bench.py              # 4 members x 500 posts, 3 runs
    .venv/bin/python bench/e2e_bench.py --quick      # 4 members x 40 posts, 1 run
    .venv/bin/python bench/e2e_bench.py --help       # --members, --posts, --runs, --one-process

Shaped like a chat server's ingest benchmark: a relay process on 127.0.0.1 (SQLite,
rate limit off), one group, ``--members`` members each posting 400-character
bulletins one at a time (the next post starts when the previous one returned), all
members at once. Each member is its own process with its own profile, as on separate
devices (``--one-process`` runs them on one event loop instead). A post is
``Hramada.post``: seal, queue in the local journal, send, mark sent.

Prints posts per second over the whole run (first start to last finish) and the
median and 95th percentile of one post's latency; with several runs, the median of
each.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hramada.client import Hramada

PASSPHRASE = "bench passphrase, long enough to pass any strength check 1848"
TEXT = ("Food bank open Saturday 10-14 at the community centre; bring bags. " * 7)[:400]
TARGET_RATE, TARGET_P50_MS = 700, 10.0


def start_relay(folder: Path) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRAMADA_RELAY_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hramada.relay", "serve", "--host", "127.0.0.1", "--port", "0",
         "--db", f"sqlite:///{folder / 'relay.sqlite3'}", "--rate", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("hramada relay listening on "):
            return proc, line.split(" on ", 1)[1].strip()
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("the relay did not start")


async def make_group(folder: Path, url: str, members: int) -> str:
    """The first member creates the group; the others are invited, vouched for and admitted."""
    people = [Hramada.init(folder / f"m{i}", PASSPHRASE, f"Member {i}") for i in range(members)]
    admin = people[0]
    try:
        g = (await admin.create_group("Bench", url)).group
        for newcomer in people[1:]:
            join = await newcomer.join((await admin.invite(g))["code"])
            await admin.vouch(g, join.request)
            await admin.admit(g, join.request)
            await newcomer.sync()
        for p in people:
            await p.sync()
        return g
    finally:
        for p in people:
            await p.close()


async def post_loop(h: Hramada, g: str, posts: int) -> list[float]:
    latencies = []
    for _ in range(posts):
        t = time.perf_counter()
        await h.post(g, TEXT)
        latencies.append(time.perf_counter() - t)
    return latencies


def member_process(home: str, g: str, posts: int, ready, go, results) -> None:
    async def run() -> None:
        async with Hramada.open(Path(home), PASSPHRASE) as h:
            await h.post(g, "warm-up")  # loads and verifies the group, opens the connection
            ready.release()
            while not go.is_set():
                await asyncio.sleep(0.001)
            start, cpu = time.perf_counter(), time.process_time()
            latencies = await post_loop(h, g, posts)
            results.put((start, time.perf_counter(), latencies, time.process_time() - cpu))
    asyncio.run(run())


def run_processes(folder: Path, g: str, members: int, posts: int) -> tuple[float, list[float], float]:
    ctx = mp.get_context("spawn")
    ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=member_process, args=(str(folder / f"m{i}"), g, posts, ready, go, results))
             for i in range(members)]
    for p in procs:
        p.start()
    for _ in procs:
        if not ready.acquire(timeout=120):
            raise SystemExit("a member did not start")
    go.set()
    outcomes = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    # perf_counter is system-wide (CLOCK_MONOTONIC) on Linux, so processes compare
    wall = max(o[1] for o in outcomes) - min(o[0] for o in outcomes)
    return wall, [x for o in outcomes for x in o[2]], sum(o[3] for o in outcomes)


async def run_one_loop(folder: Path, g: str, members: int, posts: int) -> tuple[float, list[float], float]:
    people = [Hramada.open(folder / f"m{i}", PASSPHRASE) for i in range(members)]
    try:
        for h in people:
            await h.post(g, "warm-up")
        start, cpu = time.perf_counter(), time.process_time()
        per_member = await asyncio.gather(*(post_loop(h, g, posts) for h in people))
        return time.perf_counter() - start, [x for lat in per_member for x in lat], time.process_time() - cpu
    finally:
        for h in people:
            await h.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--posts", type=int, default=500, help="posts per member per run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--one-process", action="store_true", help="all members on one event loop")
    ap.add_argument("--quick", action="store_true", help="40 posts per member, one run")
    args = ap.parse_args()
    if args.quick:
        args.posts, args.runs = 40, 1

    rates, p50s, p95s = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        relay, url = start_relay(folder)
        try:
            g = asyncio.run(make_group(folder, url, args.members))
            for run in range(1, args.runs + 1):
                relay_cpu = cpu_seconds(relay.pid)
                if args.one_process:
                    wall, lat, client_cpu = asyncio.run(run_one_loop(folder, g, args.members, args.posts))
                else:
                    wall, lat, client_cpu = run_processes(folder, g, args.members, args.posts)
                relay_cpu = cpu_seconds(relay.pid) - relay_cpu
                rate, p50, p95 = len(lat) / wall, percentile(lat, 0.5) * 1000, percentile(lat, 0.95) * 1000
                rates.append(rate)
                p50s.append(p50)
                p95s.append(p95)
                print(f"run {run}: {len(lat)} posts by {args.members} members in {wall:.2f} s: "
                      f"{rate:,.0f} posts/s  p50 {p50:.1f} ms  p95 {p95:.1f} ms  "
                      f"(CPU per post: client {client_cpu / len(lat) * 1e6:,.0f} us, "
                      f"relay {relay_cpu / len(lat) * 1e6:,.0f} us)", flush=True)
        finally:
            relay.terminate()
            relay.wait(15)
    rate, p50, p95 = statistics.median(rates), statistics.median(p50s), statistics.median(p95s)
    print(f"\nmedian of {args.runs} run(s): {rate:,.0f} posts/s (target >= {TARGET_RATE}: "
          f"{'ok' if rate >= TARGET_RATE else 'BELOW'}), p50 {p50:.1f} ms (target <= {TARGET_P50_MS:.0f}: "
          f"{'ok' if p50 <= TARGET_P50_MS else 'ABOVE'}), p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
