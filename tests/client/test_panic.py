"""`panic --yes` stops every running process of the profile within 5 s (so none keeps
the store key in memory or its relay connection open) and wipes the folder. Real
processes: a relay, `hramada sync --watch`, `hramada panic --yes`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from hramada.client import Hramada
from hramada.client.profile import RUNNING
from conftest import PASSPHRASE

HRAMADA = [sys.executable, "-m", "hramada.cli.main"]


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "HRAMADA_HOME": str(home), "HRAMADA_PASSPHRASE": PASSPHRASE}


def _profile_with_a_group(home: Path, relay_url: str) -> None:
    async def go() -> None:
        ales = Hramada.init(home, PASSPHRASE, "Ales")
        try:
            await ales.create_group("Circle", relay_url)
        finally:
            await ales.close()
    asyncio.run(go())


def _start_watcher(home: Path) -> subprocess.Popen:
    """``hramada sync --watch``, once it has synced and is waiting on the relay."""
    watcher = subprocess.Popen([*HRAMADA, "sync", "--watch"], env=_env(home), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    assert watcher.stdout is not None
    first = watcher.stdout.readline()
    assert first.startswith("Circle: active"), (first, watcher.poll())
    return watcher


def _panic(home: Path) -> tuple[subprocess.CompletedProcess, float]:
    t = time.monotonic()
    p = subprocess.run([*HRAMADA, "panic", "--yes"], env={**os.environ, "HRAMADA_HOME": str(home)},
                       text=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    return p, t


def _exited_within(watcher: subprocess.Popen, since: float, seconds: float) -> float:
    try:
        watcher.wait(timeout=seconds + 5)
    except subprocess.TimeoutExpired:
        watcher.kill()
        watcher.wait()
        raise AssertionError("the watcher was still running after the panic") from None
    took = time.monotonic() - since
    assert took < seconds, took
    return took


def test_panic_stops_a_running_sync_watch_within_5_s_and_wipes(relay_process, tmp_path: Path) -> None:
    relay = relay_process()
    home = tmp_path / "ales"
    _profile_with_a_group(home, relay.url)
    watcher = _start_watcher(home)
    try:
        assert any(p.name.startswith(f"{watcher.pid}-") for p in (home / RUNNING).iterdir())
        p, since = _panic(home)
        assert p.returncode == 0, p
        assert "Stopped 1 running Hramada process" in p.stdout
        _exited_within(watcher, since, 5.0)
        assert not home.exists()
    finally:
        if watcher.poll() is None:
            watcher.kill()
        watcher.wait()
        watcher.stdout.close()
        watcher.stderr.close()


def test_a_watcher_that_panic_cannot_signal_stops_when_its_keystore_is_gone(relay_process,
                                                                           tmp_path: Path) -> None:
    relay = relay_process()
    home = tmp_path / "ales"
    _profile_with_a_group(home, relay.url)
    watcher = _start_watcher(home)
    try:
        for note in (home / RUNNING).iterdir():  # as on a system where panic cannot find it
            note.unlink()
        p, since = _panic(home)
        assert p.returncode == 0 and "Stopped" not in p.stdout, p
        _exited_within(watcher, since, 5.0)
        assert watcher.returncode == 1
        assert "wiped" in watcher.stderr.read() and not home.exists()
    finally:
        if watcher.poll() is None:
            watcher.kill()
        watcher.wait()
        watcher.stdout.close()
        watcher.stderr.close()


def test_panic_never_signals_a_process_that_only_reuses_a_noted_id(tmp_path: Path) -> None:
    home = tmp_path / "ales"
    Hramada.init(home, PASSPHRASE, "Ales").store.close()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # a stale note: the bystander's id, but another process's start time
        (home / RUNNING).mkdir(exist_ok=True)
        (home / RUNNING / f"{bystander.pid}-stale").write_text(f"{bystander.pid} 1\n")
        p, _ = _panic(home)
        assert p.returncode == 0 and not home.exists(), p
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
