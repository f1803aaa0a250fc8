"""The journal: a command killed at the worst moment loses nothing.

Real `hramada` processes and a real relay. ``HRAMADA_TEST_FAULT`` makes the process
exit at a named point: ``entry-appended`` right after the relay accepted a log entry
(before this device stored it), ``entry-stored`` right after the local commit (before
anything queued with it was sent).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PASSPHRASE

from conftest import PASSPHRASE

FAULT_EXIT = 75


def run(home: Path, *args: str, fault: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HRAMADA_HOME": str(home), "HRAMADA_PASSPHRASE": PASSPHRASE}
    env.pop("HRAMADA_TEST_FAULT", None)
    if fault is not None:
        env["HRAMADA_TEST_FAULT"] = fault
    p = subprocess.run([sys.executable, "-m", "hramada.cli.main", *args], env=env, capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError(f"hramada {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def status(home: Path, gid: str) -> str:
    [info] = [i for i in json.loads(run(home, "group", "list", "--json").stdout) if i["group"] == gid]
    return info["status"]


def _pending_newcomer(relay_url: str, tmp: Path) -> tuple[Path, Path, str, str]:
    a, b = tmp / "ales", tmp / "hanna"
    run(a, "init", "--name", "Ales")
    run(b, "init", "--name", "Hanna")
    gid = json.loads(run(a, "group", "create", "Circle", "--relay", relay_url, "--json").stdout)["group"]
    code = json.loads(run(a, "invite", "Circle", "--json").stdout)["code"]
    request = json.loads(run(b, "join", code, "--json").stdout)["request"]
    run(a, "vouch", "Circle", request)
    return a, b, gid, request


@pytest.mark.parametrize("fault", ["entry-appended", "entry-stored"])
def test_an_admin_killed_during_admit_still_delivers_the_key_at_the_next_sync(
        relay_process, tmp_path: Path, fault: str) -> None:
    relay = relay_process("--rate", "0")
    a, b, gid, request = _pending_newcomer(relay.url, tmp_path)

    killed = run(a, "admit", "Circle", request, fault=fault, check=False)
    assert killed.returncode == FAULT_EXIT
    run(b, "sync")
    assert status(b, gid) == "pending"  # no welcome went out before the crash

    run(a, "sync")  # stores the admit entry if it was lost, and sends the welcome queued with it
    run(b, "sync")
    assert status(b, gid) == "active"
    members = json.loads(run(b, "group", "members", gid, "--json").stdout)
    assert sorted(m["name"] for m in members) == ["Ales", "Hanna"]
    run(a, "post", "Circle", "Welcome, Hanna")
    assert [v["text"] for v in json.loads(run(b, "read", gid, "--json").stdout)] == ["Welcome, Hanna"]


def test_a_member_killed_while_leaving_is_shown_as_left_after_the_next_sync(
        relay_process, tmp_path: Path) -> None:
    relay = relay_process("--rate", "0")
    a, b, gid, request = _pending_newcomer(relay.url, tmp_path)
    run(a, "admit", "Circle", request)
    run(b, "sync")
    assert status(b, gid) == "active"

    killed = run(b, "leave", gid, "--yes", fault="entry-appended", check=False)
    assert killed.returncode == FAULT_EXIT
    assert status(b, gid) == "active"  # the crash came before this device stored its leave
    run(b, "sync")
    assert status(b, gid) == "left"
    refused = run(b, "post", gid, "still here?", check=False)
    assert refused.returncode == 1 and "you have left" in refused.stderr
