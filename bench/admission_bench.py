"""Admissions, one after another, through the public client API against a real relay.

    .venv/bin/python bench/admission_bench.py [--admissions 100] [--runs 3] [--history since-join|all]
    .venv/bin/python bench/admission_bench.py --quick

Starts a relay process on 127.0.0.1 (SQLite, rate limit off), an admin's profile and
one profile per newcomer, and a group (needing one vouch). Then, timed, for each
newcomer in turn: ``invite`` (admin) → ``join`` (newcomer) → ``vouch`` → ``admit``
(admin) — the four calls of an admission, each a full command as the CLI runs it.
The newcomer's first sync (receiving the welcome and verifying the log) is timed
apart. Profiles are made with libsodium's minimum Argon2id cost before the clock
starts: unlocking a profile is not part of an admission. Target: ≥ 40 admissions/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nacl.bindings as sodium

from hramada.client import Hramada
from hramada.core import crypto

PASSPHRASE = "correct horse battery staple admission bench"
TARGET = 40.0


def start_relay(folder: Path) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRAMADA_RELAY_")}
    p = subprocess.Popen([sys.executable, "-m", "hramada.relay", "serve", "--host", "127.0.0.1",
                          "--port", "0", "--rate", "0", "--db", f"sqlite:///{folder / 'relay.sqlite3'}"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert p.stdout is not None
    for _ in range(100):
        m = re.search(r"listening on (http://\S+)", p.stdout.readline())
        if m:
            return p, m.group(1)
    p.kill()
    raise SystemExit("the relay did not start")


def cheap_profiles() -> None:
    """Profiles for the benchmark with the minimum passphrase cost (setup only)."""
    crypto.ARGON2_OPSLIMIT = sodium.crypto_pwhash_argon2id_OPSLIMIT_MIN
    crypto.ARGON2_MEMLIMIT = sodium.crypto_pwhash_argon2id_MEMLIMIT_MIN


async def one_run(folder: Path, url: str, n: int, history: str) -> tuple[float, float, list[float]]:
    admin = Hramada.init(folder / "admin", PASSPHRASE, "Ales")
    newcomers = [Hramada.init(folder / f"n{i}", PASSPHRASE, f"Newcomer {i}") for i in range(n)]
    try:
        g = (await admin.create_group("Bench", url, history=history)).group
        each: list[float] = []
        start = time.perf_counter()
        for person in newcomers:
            t = time.perf_counter()
            code = (await admin.invite(g))["code"]
            join = await person.join(code)
            await admin.vouch(g, join.request)
            await admin.admit(g, join.request)
            each.append(time.perf_counter() - t)
        admitted = time.perf_counter() - start
        start = time.perf_counter()
        for person in newcomers:
            [info] = await person.sync()
            if info.status != "active":
                raise SystemExit(f"a newcomer is {info.status}, not active")
        synced = time.perf_counter() - start
        return admitted, synced, each
    finally:
        for h in (admin, *newcomers):
            await h.close()


async def main(n: int, runs: int, history: str) -> None:
    cheap_profiles()
    rates, firsts, p50s = [], [], []
    for r in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            proc, url = start_relay(Path(tmp))
            try:
                admitted, synced, each = await one_run(Path(tmp) / f"run{r}", url, n, history)
            finally:
                proc.terminate()
                proc.wait(timeout=15)
        rate = n / admitted
        rates.append(rate)
        firsts.append(synced / n * 1000)
        p50s.append(statistics.median(each) * 1000)
        print(f"run {r + 1}: {rate:6.1f} admissions/s  p50 {p50s[-1]:6.1f} ms  "
              f"newcomer's first sync {firsts[-1]:6.1f} ms")
    rate = statistics.median(rates)
    print(f"\nhistory {history}, {n} admissions per run, {runs} runs")
    print(f"admissions (invite + join + vouch + admit): median {rate:.1f}/s "
          f"(target {TARGET:.0f}/s: {'ok' if rate >= TARGET else 'BELOW'}), "
          f"p50 {statistics.median(p50s):.1f} ms per admission")
    print(f"newcomer's first sync (welcome + whole log verified): median {statistics.median(firsts):.1f} ms")


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
