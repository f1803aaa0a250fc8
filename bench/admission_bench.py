"""Admissions, one after another, through the public client API against a real relay.

    .venv/bin/python bench/admission_bench.py [--admissions 100] [--runs 3] [--history since-join|all]
    .venv/bin/python bench/admission_bench.py --quick

Starts a relay process on 127.0.0.1 (SQLite, rate limit off), an admin's profile and
one profile per newcomer, and a group (needing one vouch). Then, timed, for each
newcomer in turn: ``invite`` (admin) → ``join`` (newcomer) → ``vouch`` → ``admit``
(admin) — the four calls of an admission, each a full command of the public API, as
the CLI runs it (``people.admit``). The newcomer's first sync (receiving the welcome
and verifying the log) is timed apart. Profiles are made with libsodium's minimum
Argon2id cost before the clock starts: unlocking a profile is not part of an
admission. Besides the rate, it prints what one admission costs: requests to the
relay, CPU in the client process (the admin and the newcomers) and in the relay.
Target: ≥ 40 admissions/s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from people import Relay, admit, cheap_profiles, profiles

TARGET = 40.0


@dataclass
class Run:
    rate: float           # admissions per second
    p50_ms: float         # one admission's median time
    first_sync_ms: float  # a newcomer's first sync, mean
    requests: float       # relay requests per admission
    client_cpu_ms: float  # per admission, the client process (admin and newcomers)
    relay_cpu_ms: float   # per admission, the relay process


async def one_run(folder: Path, relay: Relay, n: int, history: str) -> Run:
    admin, *newcomers = profiles(folder, ["Ales", *(f"Newcomer {i}" for i in range(n))])
    try:
        g = (await admin.create_group("Bench", relay.url, history=history)).group
        each: list[float] = []
        requests, relay_cpu, cpu = relay.requests(), relay.cpu(), time.process_time()
        start = time.perf_counter()
        for person in newcomers:
            t = time.perf_counter()
            await admit(admin, person, g)
            each.append(time.perf_counter() - t)
        admitted = time.perf_counter() - start
        cpu, relay_cpu, requests = (time.process_time() - cpu, relay.cpu() - relay_cpu,
                                    relay.requests() - requests)
        start = time.perf_counter()
        for person in newcomers:
            [info] = await person.sync()
            if info.status != "active":
                raise SystemExit(f"a newcomer is {info.status}, not active")
        synced = time.perf_counter() - start
        return Run(n / admitted, statistics.median(each) * 1000, synced / n * 1000, requests / n,
                   cpu / n * 1000, relay_cpu / n * 1000)
    finally:
        for h in (admin, *newcomers):
            await h.close()


async def main(n: int, runs: int, history: str) -> None:
    cheap_profiles()
    done: list[Run] = []
    for r in range(runs):
        with tempfile.TemporaryDirectory() as tmp, Relay(Path(tmp)) as relay:
            done.append(run := await one_run(Path(tmp) / f"run{r}", relay, n, history))
        print(f"run {r + 1}: {run.rate:6.1f} admissions/s  p50 {run.p50_ms:6.1f} ms  "
              f"newcomer's first sync {run.first_sync_ms:6.1f} ms  per admission: {run.requests:.1f} requests, "
              f"CPU client {run.client_cpu_ms:.1f} ms, relay {run.relay_cpu_ms:.1f} ms", flush=True)

    def med(field: str) -> float:
        return statistics.median(getattr(run, field) for run in done)
    rate = med("rate")
    print(f"\nhistory {history}, {n} admissions per run, {runs} runs")
    print(f"admissions (invite + join + vouch + admit): median {rate:.1f}/s "
          f"(target {TARGET:.0f}/s: {'ok' if rate >= TARGET else 'BELOW'}), "
          f"p50 {med('p50_ms'):.1f} ms per admission")
    print(f"per admission: {med('requests'):.1f} relay requests, CPU {med('client_cpu_ms'):.1f} ms in the "
          f"client, {med('relay_cpu_ms'):.1f} ms in the relay")
    print(f"newcomer's first sync (welcome + whole log verified): median {med('first_sync_ms'):.1f} ms")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--admissions", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--history", choices=["since-join", "all"], default="since-join")
    ap.add_argument("--quick", action="store_true", help="10 admissions, 1 run (a smoke test)")
    a = ap.parse_args()
    if a.quick:
        a.admissions, a.runs = 10, 1
    asyncio.run(main(a.admissions, a.runs, a.history))
