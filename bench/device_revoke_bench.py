"""Revoking one of a member's three devices in every group, through the public client
API against a real relay.

    .venv/bin/python bench/device_revoke_bench.py [--groups 10] [--members 100] [--runs 3]

Starts a relay process on 127.0.0.1 (SQLite, rate limit off). An admin ("laptop")
creates ``--groups`` groups and admits ``--members`` − 1 people into each (one profile
per person, in every group); two more devices of the admin ("phone", "tablet") are
recorded in every group (``add_device``) and handed the group's seeds, as linking does.
Then, timed: the laptop revokes the phone in every group, one group after another, as
``hramada device revoke phone`` does — each a ``device-revoke`` entry that rotates the
group's key, sealing a new seed to every remaining device. Afterwards the phone syncs
and must find itself revoked in every group, and the tablet must read on. Every device has synced before the clock starts, so the
figure is the revocation, not the catching up after the setup's admissions.

Suite 1 and suite 2 are measured side by side in one run when the client can create
groups of either suite. Target: ≤ 2 s for the whole revocation.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import statistics
import tempfile
import time
from pathlib import Path

import nacl.utils

from people import Relay, admit, cheap_profiles, profiles

from hramada.client import Hramada
from hramada.core import wire
from hramada.core.identity import Identity

TARGET_S = 2.0


async def hand_over(first: Hramada, second: Hramada, group: str, name: str) -> None:
    """Record a new device of ``first``'s member in ``group`` and hand it the seeds
    (setup only; the linking protocol does this between two devices)."""
    s = first._find(group)
    device = Identity.from_secrets(s.identity.member.seed, nacl.utils.random(32), nacl.utils.random(32), name,
                                   suite=s.log.suite)
    await first.add_device(group, device.device_record(s.group_id, s.log.suite))
    second.store.add_group({
        "group": s.group_id, "name": s.name, "relay": s.record["relay"], "mailbox": s.record["mailbox"],
        "me": s.record["me"], "id": list(device.secrets()), "device": name, "suite": s.log.suite,
        "gens": sorted(g.stored() for g in s.keys.generations.values()), "status": "active",
        "pin": [0, wire.GENESIS_PREV], "items": 0, "drops": 0})


async def one_run(folder: Path, relay: Relay, groups: int, members: int, suite: int | None) -> float:
    laptop, phone, tablet, *people = profiles(
        folder, ["Ales", "Ales", "Ales", *(f"Member {i}" for i in range(members - 1))])
    try:
        create = laptop.create_group
        extra = {"suite": suite} if suite is not None else {}
        ids = []
        for n in range(groups):
            g = (await create(f"Group {n}", relay.url, **extra)).group
            for person in people:
                await admit(laptop, person, g)
            for device, name in ((phone, "phone"), (tablet, "tablet")):
                await hand_over(laptop, device, g, name)
            ids.append(g)
        for device in (laptop, phone, tablet):  # every device caught up: what is timed is the revocation
            await device.sync()
        start = time.perf_counter()
        for g in ids:
            await laptop.revoke_devices(g, ["phone"])
        took = time.perf_counter() - start
        await phone.sync()
        assert all(i.status == "revoked" for i in phone.groups()), [i.status for i in phone.groups()]
        await tablet.sync()
        assert all(i.status == "active" for i in tablet.groups())
        return took
    finally:
        for h in (laptop, phone, tablet, *people):
            await h.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", type=int, default=10)
    ap.add_argument("--members", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    cheap_profiles()
    suites: list[int | None] = [1, 2] if "suite" in inspect.signature(Hramada.create_group).parameters else [None]
    results: dict[int | None, list[float]] = {s: [] for s in suites}
    for run in range(args.runs):
        for suite in suites:
            with tempfile.TemporaryDirectory() as tmp, Relay(Path(tmp)) as relay:
                took = asyncio.run(one_run(Path(tmp), relay, args.groups, args.members, suite))
            results[suite].append(took)
            print(f"run {run + 1}, suite {suite or 'default'}: {took * 1000:.0f} ms", flush=True)
    print(f"\nrevoking 1 of 3 devices in {args.groups} groups of {args.members} members "
          f"(median of {args.runs}; target ≤ {TARGET_S:.0f} s):")
    for suite, runs in results.items():
        print(f"  suite {suite or 'default'}: {statistics.median(runs) * 1000:,.0f} ms "
              f"(runs: {', '.join(f'{r * 1000:.0f}' for r in runs)})")


if __name__ == "__main__":
    main()
