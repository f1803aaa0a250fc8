"""Relay throughput over loopback, with the real relay process and httpx.

Run: .venv/bin/python bench/relay_bench.py [--runs 5] [--single 3000] [--batches 40]

Starts ``python -m hramada.relay serve`` on 127.0.0.1 with a temporary SQLite
database and the rate limit off, then measures, each ``--runs`` times:

  (a) items appended one item per request, 16 requests in flight (httpx);
  (a') the same with a minimal raw-socket HTTP/1.1 client, which costs far less CPU
       than httpx and so shows what the relay itself sustains on a small machine;
  (b) items appended in batches of 1,000;
  (c) items read back after a cursor (pages of 5,000);

and reports the medians, the relay's CPU time per item (its own cost, whatever the
load generator costs), and the relay's peak RSS (VmHWM). Items are 300 random bytes.
Everything is bounded in count, and each run in time (--run-timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from hramada.core.wire import b64e, cap_hash

ITEM_BYTES = 300
IN_FLIGHT = 16
BATCH = 1000
PAGE = 5000
TARGETS = {"single": 2_000, "raw": 2_000, "batch": 50_000, "read": 60_000, "rss_mb": 70}


@dataclass
class Relay:
    proc: subprocess.Popen
    url: str

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=15)


def start_relay(db: Path, synchronous: str) -> Relay:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRAMADA_RELAY_")}
    env["HRAMADA_RELAY_SQLITE_SYNCHRONOUS"] = synchronous
    proc = subprocess.Popen(
        [sys.executable, "-m", "hramada.relay", "serve", "--host", "127.0.0.1", "--port", "0",
         "--db", f"sqlite:///{db}", "--rate", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("hramada relay listening on "):
            return Relay(proc, line.split(" on ", 1)[1].strip())
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("the relay did not start")


def item() -> str:
    return b64e(os.urandom(ITEM_BYTES))


async def new_mailbox(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    mailbox, cap = os.urandom(16), os.urandom(32)
    r = await client.post("/v1/mailboxes", json={"mailbox": b64e(mailbox),
                                                 "cap_hash": b64e(cap_hash(cap)),
            "admin": b64e(bytes(32))})
    r.raise_for_status()
    return f"/v1/mailboxes/{b64e(mailbox)}", {"authorization": f"Bearer {b64e(cap)}"}


async def bench_single(url: str, count: int) -> tuple[float, float]:
    """(a) one item per request, IN_FLIGHT requests in flight (one connection each)."""
    clients = [httpx.AsyncClient(base_url=url, timeout=30) for _ in range(IN_FLIGHT)]
    try:
        path, auth = await new_mailbox(clients[0])
        bodies = [('{"items":["%s"]}' % item()).encode() for _ in range(count)]
        headers = {**auth, "content-type": "application/json"}
        for c in clients:  # connect before the clock starts
            (await c.get("/v1/health")).raise_for_status()
        next_body = iter(bodies)

        async def worker(c: httpx.AsyncClient) -> None:
            for body in next_body:
                r = await c.post(path + "/items", content=body, headers=headers)
                if r.status_code != 201:
                    raise SystemExit(f"append failed: {r.status_code} {r.text}")

        started, own = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(c) for c in clients))
        return count / (time.perf_counter() - started), (time.process_time() - own) / count
    finally:
        for c in clients:
            await c.aclose()


async def bench_single_raw(url: str, count: int) -> tuple[float, float]:
    """(a') as (a), but each of the IN_FLIGHT connections is a bare asyncio stream
    writing one HTTP/1.1 request and reading one response at a time."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        path, auth = await new_mailbox(client)
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    head = (f"POST {path}/items HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: {auth['authorization']}\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n")
    requests = []
    for _ in range(count):
        body = ('{"items":["%s"]}' % item()).encode()
        requests.append((head % len(body)).encode() + body)
    next_request = iter(requests)
    streams = [await asyncio.open_connection(host, int(port)) for _ in range(IN_FLIGHT)]

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for request in next_request:
            writer.write(request)
            response = await reader.readuntil(b"\r\n\r\n")
            if not response.startswith(b"HTTP/1.1 201 "):
                raise SystemExit(f"append failed: {response[:80]!r}")
            length = re.search(rb"(?i)content-length: *(\d+)", response)
            await reader.readexactly(int(length.group(1)) if length else 0)

    started, own = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(r, w) for r, w in streams))
    elapsed, own = time.perf_counter() - started, time.process_time() - own
    for _, w in streams:
        w.close()
    return count / elapsed, own / count


async def bench_batches(url: str, batches: int) -> tuple[float, str, dict[str, str]]:
    """(b) batches of BATCH items, one request at a time."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        path, auth = await new_mailbox(client)
        headers = {**auth, "content-type": "application/json"}
        bodies = [('{"items":[%s]}' % ",".join('"%s"' % item() for _ in range(BATCH))).encode()
                  for _ in range(batches)]
        started = time.perf_counter()
        for body in bodies:
            r = await client.post(path + "/items", content=body, headers=headers)
            if r.status_code != 201:
                raise SystemExit(f"batch failed: {r.status_code} {r.text}")
        return batches * BATCH / (time.perf_counter() - started), path, auth


async def bench_read(url: str, path: str, auth: dict[str, str], total: int) -> float:
    """(c) read every item back after cursor 0, PAGE at a time."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        after, got = 0, 0
        started = time.perf_counter()
        while got < total:
            r = await client.get(f"{path}/items?after={after}&limit={PAGE}", headers=auth)
            page = r.json()["items"]
            if not page:
                break
            got += len(page)
            after = page[-1]["cursor"]
        elapsed = time.perf_counter() - started
        if got != total:
            raise SystemExit(f"read {got} items, expected {total}")
        base64.urlsafe_b64decode(page[-1]["ciphertext"] + "==")  # the data is really there
        return got / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--single", type=int, default=3000, help="requests per run of (a)")
    parser.add_argument("--batches", type=int, default=40, help="batches per run of (b)")
    parser.add_argument("--synchronous", choices=["full", "normal"], default="full")
    parser.add_argument("--run-timeout", type=float, default=120)
    args = parser.parse_args()

    results: dict[str, list[float]] = {"single": [], "raw": [], "batch": [], "read": []}
    cpu: dict[str, list[float]] = {"single": [], "raw": [], "batch": [], "read": []}
    client_cpu: dict[str, list[float]] = {"single": [], "raw": []}
    with tempfile.TemporaryDirectory() as tmp:
        relay = start_relay(Path(tmp) / "bench.sqlite3", args.synchronous)
        print(f"relay pid {relay.proc.pid} at {relay.url}, SQLite synchronous={args.synchronous}, "
              f"{os.cpu_count()} CPUs")
        try:
            for run in range(1, args.runs + 1):
                async def one_run() -> None:
                    c = relay.cpu_seconds()
                    rate, own = await bench_single_raw(relay.url, args.single)
                    results["raw"].append(rate)
                    client_cpu["raw"].append(own)
                    c0 = relay.cpu_seconds()
                    cpu["raw"].append((c0 - c) / args.single)
                    rate, own = await bench_single(relay.url, args.single)
                    results["single"].append(rate)
                    client_cpu["single"].append(own)
                    c1 = relay.cpu_seconds()
                    rate, path, auth = await bench_batches(relay.url, args.batches)
                    results["batch"].append(rate)
                    c2 = relay.cpu_seconds()
                    results["read"].append(await bench_read(relay.url, path, auth,
                                                            args.batches * BATCH))
                    c3 = relay.cpu_seconds()
                    cpu["single"].append((c1 - c0) / args.single)
                    cpu["batch"].append((c2 - c1) / (args.batches * BATCH))
                    cpu["read"].append((c3 - c2) / (args.batches * BATCH))

                asyncio.run(asyncio.wait_for(one_run(), args.run_timeout))
                print(f"run {run}: single {results['single'][-1]:,.0f}/s  "
                      f"single raw {results['raw'][-1]:,.0f}/s  "
                      f"batch {results['batch'][-1]:,.0f}/s  read {results['read'][-1]:,.0f}/s")
            rss = relay.peak_rss_mb()
        finally:
            code = relay.stop()
    print()
    print(f"{'measurement':44} {'median':>12} {'target':>10}   relay CPU per item")
    names = {"single": "(a) append, 1 item/request, 16 in flight",
             "raw": "(a') same, raw-socket client",
             "batch": "(b) append, batches of 1,000",
             "read": "(c) read after a cursor, pages of 5,000"}
    for key, name in names.items():
        med = statistics.median(results[key])
        ok = "ok" if med >= TARGETS[key] else "BELOW"
        print(f"{name:44} {med:>10,.0f}/s {TARGETS[key]:>8,}/s {ok:5} "
              f"{statistics.median(cpu[key]) * 1e6:7.1f} µs")
    for key in client_cpu:
        print(f"load generator CPU per request in {names[key][:4]}: "
              f"{statistics.median(client_cpu[key]) * 1e6:.0f} µs")
    ok = "ok" if rss <= TARGETS["rss_mb"] else "ABOVE"
    print(f"{'(d) relay peak RSS (VmHWM)':44} {rss:>10.1f} MB {TARGETS['rss_mb']:>8} MB {ok}")
    print(f"relay exit status after SIGTERM: {code}")


if __name__ == "__main__":
    main()
