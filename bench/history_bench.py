"""A new member verifying and decrypting a long history, over a real relay.

    .venv/bin/python bench/history_bench.py [--items 100000]

Starts a relay on 127.0.0.1 (SQLite, rate limit off), makes a group, fills it with
``--items`` bulletins (sealed by the core and appended in batches of 1,000), then
admits a new member and times their first `read`: joining, verifying the log,
fetching, verifying and decrypting every item and storing it encrypted — with the
progress bar a person would see.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hramada.core import items as items_mod
from people import Relay, admit, cheap_profiles, profiles


async def main(n: int) -> None:
    cheap_profiles()
    with tempfile.TemporaryDirectory() as tmp, Relay(Path(tmp)) as relay:
        folder, url = Path(tmp), relay.url
        ales, carol = profiles(folder, ["Ales", "Carol"])
        try:
            g = (await ales.create_group("History", url, history="all")).group
            s = ales._find(g)
            relay = ales._relay(url)
            t = time.perf_counter()
            for start in range(0, n, 1000):
                batch = [items_mod.seal_item(group=s.group_id, kind="bulletin",
                                             body={"title": f"No. {i}", "text": "news " * 40},
                                             author=s.identity.signing, seq=i + 1, head=s.log.head, time=i,
                                             generation=s.generation, nonce=os.urandom(24))[1]
                         for i in range(start, min(n, start + 1000))]
                await relay.append_items(s.record["mailbox"], s.cap, batch)
            print(f"filled {n} items in {time.perf_counter() - t:.1f} s")
            await admit(ales, carol, g)
            with Progress(TextColumn("verifying and decrypting"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn()) as bar:
                task = bar.add_task("items", total=n)
                t = time.perf_counter()
                if os.environ.get("BENCH_PROFILE"):
                    import cProfile
                    prof = cProfile.Profile()
                    prof.enable()
                views = await carol.read(g, lambda what, done, total: bar.update(task, completed=done, total=total))
                if os.environ.get("BENCH_PROFILE"):
                    prof.disable()
                    prof.dump_stats("/tmp/hist.prof")
                elapsed = time.perf_counter() - t
            assert len(views) == n, len(views)
            print(f"new member read {n} items in {elapsed:.1f} s ({n / elapsed:,.0f} items/s)")
        finally:
            await ales.close()
            await carol.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    asyncio.run(main(ap.parse_args().items))
