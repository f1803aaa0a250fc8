"""What the client benchmarks share: a relay process, cheap profiles, admissions.

    from people import Relay, admit, cheap_profiles, profiles

* :class:`Relay` starts ``python -m hramada.relay serve`` on 127.0.0.1 with a fresh
  SQLite file (``synchronous=full``, the default) and the rate limit off, and reads
  what it has cost so far: CPU seconds, and requests answered (from its own metrics).
* :func:`cheap_profiles` makes new profiles with libsodium's minimum Argon2id cost
  (setup only: unlocking a profile is part of no benchmark).
* :func:`admit` is one admission through the public client API, as the CLI runs it:
  ``invite`` (admin) → ``join`` (newcomer) → ``vouch`` → ``admit`` (admin).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import nacl.bindings as sodium

from hramada.client import Hramada, JoinInfo
from hramada.core import crypto

PASSPHRASE = "quiet lantern orbit meadow thistle"  # new passphrases must be strong
_METRICS_TOKEN = "bench-metrics-token-" + os.urandom(8).hex()


class Relay:
    """A relay process on 127.0.0.1 for one benchmark run (``with Relay(folder) as relay``)."""

    def __init__(self, folder: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HRAMADA_RELAY_")}
        env["HRAMADA_RELAY_METRICS_TOKEN"] = _METRICS_TOKEN
        # every person of a run sits on this one address, each with its own kept connection:
        # the per-address cap is for strangers sharing an address, not for this
        env["HRAMADA_RELAY_MAX_CONNECTIONS_PER_ADDRESS"] = "1024"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hramada.relay", "serve", "--host", "127.0.0.1", "--port", "0",
             "--rate", "0", "--log-level", "warning", "--db", f"sqlite:///{folder / 'relay.sqlite3'}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True, env=env)
        assert self.proc.stdout is not None
        for _ in range(100):
            line = self.proc.stdout.readline()
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                return
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        raise SystemExit("the relay did not start")

    def __enter__(self) -> "Relay":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def cpu(self) -> float:
        """CPU seconds (user + system) the relay process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def requests(self) -> int:
        """Requests the relay has answered so far (its metrics; the reads of them not counted)."""
        req = urllib.request.Request(f"{self.url}/v1/metrics",
                                     headers={"Authorization": f"Bearer {_METRICS_TOKEN}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
        return sum(int(float(m.group(2))) for m in
                   re.finditer(r'^hramada_relay_requests_total\{route="([^"]*)".*\} (\S+)$', text, re.M)
                   if m.group(1) != "/v1/metrics")


def cheap_profiles() -> None:
    """New profiles get the minimum passphrase cost (setup only)."""
    crypto.ARGON2_OPSLIMIT = sodium.crypto_pwhash_argon2id_OPSLIMIT_MIN
    crypto.ARGON2_MEMLIMIT = sodium.crypto_pwhash_argon2id_MEMLIMIT_MIN


def profiles(folder: Path, names: list[str]) -> list[Hramada]:
    """One new profile per name, each in its own folder under ``folder``."""
    return [Hramada.init(folder / f"p{i}", PASSPHRASE, name) for i, name in enumerate(names)]


async def admit(admin: Hramada, newcomer: Hramada, group: str) -> JoinInfo:
    """One admission: the admin invites, the newcomer joins, the admin vouches and admits."""
    join = await newcomer.join((await admin.invite(group))["code"])
    await admin.vouch(group, join.request)
    await admin.admit(group, join.request)
    return join
