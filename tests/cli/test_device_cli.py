"""`hramada device …` as a person runs it on two devices: real processes, a real relay."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from conftest import PASSPHRASE
from .test_cli import js, run

DIGITS = re.compile(r"^\s+(\d{4} \d{4})\s*$", re.M)


def start(home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "HRAMADA_HOME": str(home), "HRAMADA_PASSPHRASE": PASSPHRASE, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "hramada.cli.main", *args], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def code_from(proc: subprocess.Popen) -> str:
    """Read the linking device's output until it shows the code."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"hramada device join (hramada-link1-[a-z2-7]+)", line)
        if m:
            return m.group(1)
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"no code shown: {proc.stderr.read()}")


def test_linking_a_second_device_through_the_cli(relay_process, tmp_path: Path) -> None:
    relay = relay_process()
    a, b, nino = tmp_path / "a", tmp_path / "b", tmp_path / "nino"
    run(a, "init", "--name", "Алесь")
    run(nino, "init", "--name", "ნინო")
    gid = js(a, "group", "create", "Кола", "--relay", relay.url, "--history", "all")["group"]
    invite = js(a, "invite", "Кола")["code"]
    request = js(nino, "join", invite)["request"]
    run(a, "vouch", "Кола", request)
    run(a, "admit", "Кола", request)
    run(nino, "sync")
    run(a, "post", "Кола", "Сустрэча ў суботу")

    linking = start(a, "device", "link", "--qr")
    code = code_from(linking)
    joining = start(b, "device", "join", code, "--name", "ноўтбук")
    out_a, err_a = linking.communicate("y\n", timeout=120)  # the person says the digits match
    out_b, err_b = joining.communicate(timeout=120)
    assert linking.returncode == 0, err_a
    assert joining.returncode == 0, err_b
    assert DIGITS.findall(out_a) == DIGITS.findall(out_b) and len(DIGITS.findall(out_a)) == 1
    assert "ноўтбук" in out_a and "Linked in 'Кола'" in out_a
    assert "holds 'Кола'" in out_b and "Linked as 'Алесь'" in out_b

    # posting from each device, reading on each
    assert [v["text"] for v in js(b, "read", "Кола")] == ["Сустрэча ў суботу"]
    run(b, "post", "Кола", "შეხვედრა შაბათს")
    assert [v["text"] for v in js(a, "read", "Кола")] == ["Сустрэча ў суботу", "შეხვედრა შაბათს"]
    assert [(v["text"], v["author"]) for v in js(nino, "read", "Кола")][-1] == ("შეხვედრა შაბათს", "Алесь")
    assert [m["name"] for m in js(nino, "group", "members", "Кола")] == ["Алесь", "ნინო"]

    listed = js(b, "device", "list")
    assert {d["name"]: d["current"] for d in listed} == {"ноўтбук": True, "first device": False}
    assert set(listed[0]) == {"device", "name", "current", "added"}
    info = js(a, "group", "info", "Кола")
    assert set(info) == {"group", "name", "suite", "history", "vouches", "generation", "members", "devices"}
    assert (info["group"], info["members"], info["devices"], info["history"]) == (gid, 2, 3, "all")

    # revoking the laptop by its listed id: it reads nothing written after; the others go on
    laptop = [d["device"] for d in listed if d["name"] == "ноўтбук"][0]
    itself = run(b, "device", "revoke", laptop, "--yes", check=False)
    assert itself.returncode == 1 and "cannot revoke itself" in itself.stderr
    assert "Revoked 'ноўтбук' in 'Кола'" in run(a, "device", "revoke", laptop, "--yes").stdout
    assert js(a, "group", "info", "Кола")["generation"] == info["generation"] + 1
    run(a, "post", "Кола", "Пасля адклікання")
    after = run(b, "read", "Кола", check=False)
    assert after.returncode != 0 and "Пасля адклікання" not in after.stdout
    assert "Пасля адклікання" in [v["text"] for v in js(nino, "read", "Кола")]
    assert [d["name"] for d in js(a, "device", "list")] == ["first device"]
    # an admin revokes another member's device in one group; a member keeps at least one
    p = run(a, "device", "revoke", "first device", "--member", "ნინო", "--yes", check=False)
    assert p.returncode == 2 and "--member needs --group" in p.stderr
    p = run(a, "device", "revoke", "first device", "--member", "ნინო", "--group", "Кола", "--yes", check=False)
    assert p.returncode == 1 and "would have no device left" in p.stderr


def test_a_tampered_code_is_refused_with_a_clear_message(relay_process, tmp_path: Path) -> None:
    relay = relay_process()
    a = tmp_path / "a"
    run(a, "init", "--name", "Алесь")
    run(a, "group", "create", "Кола", "--relay", relay.url)
    out = run(a, "device", "link", "--no-wait").stdout
    code = re.search(r"hramada-link1-[a-z2-7]+", out).group(0)
    i = len(code) // 2
    tampered = code[:i] + ("a" if code[i] != "a" else "b") + code[i + 1:]
    p = run(tmp_path / "b", "device", "join", tampered, "--name", "тэлефон", check=False)
    assert p.returncode == 1 and "damaged or incomplete" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "b").exists()
    p = run(tmp_path / "b", "device", "join", code.replace("hramada-link1-", "hramada-link1-Ꮶ"), "--name", "x",
            check=False)
    assert p.returncode == 1 and "does not belong" in p.stderr and not (tmp_path / "b").exists()
    # the pending link is shown by sync and ended by --cancel
    assert "waiting for the new device" in run(a, "sync").stdout
    assert "ended" in run(a, "device", "link", "--cancel").stdout
    p = run(a, "device", "link", "--cancel", check=False)
    assert p.returncode == 1 and "no link is in progress" in p.stderr


def test_a_new_device_never_waits_forever(relay_process, tmp_path: Path) -> None:
    relay = relay_process()
    a, b = tmp_path / "a", tmp_path / "b"
    run(a, "init", "--name", "Алесь")
    run(a, "group", "create", "Кола", "--relay", relay.url)
    code = re.search(r"hramada-link1-[a-z2-7]+", run(a, "device", "link", "--no-wait").stdout).group(0)
    p = run(b, "device", "join", code, "--name", "ტელეფონი", "--timeout", "2", check=False)
    assert p.returncode == 1 and "hramada device join --continue" in p.stderr
    assert "hramada device join --cancel" in p.stderr
    # the linking device's sync reads the request and posts its challenge; without an
    # answer to the digits question the link waits for `device link --continue`
    run(a, "sync")
    p = run(b, "device", "join", "--continue", "--timeout", "2", check=False)
    shown = DIGITS.findall(p.stdout)
    assert len(shown) == 1
    p = run(a, "sync")
    assert shown[0] in p.stdout and "device link --continue" in p.stdout
    assert json.loads(run(b, "group", "list", "--json").stdout) == []
    # the next sync on the linking device asks, the person answers, and the link goes on
    p = run_with_input(a, "y\n", "sync")
    assert shown[0] in p.stdout and "Linked in 'Кола'" in p.stdout
    p = run(b, "device", "join", "--continue", "--timeout", "30")
    assert "holds 'Кола'" in p.stdout
    assert [g["name"] for g in json.loads(run(b, "group", "list", "--json").stdout)] == ["Кола"]
    p = run(b, "device", "join", "--cancel", check=False)
    assert p.returncode == 1 and "not waiting to be linked" in p.stderr


def run_with_input(home: Path, text: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HRAMADA_HOME": str(home), "HRAMADA_PASSPHRASE": PASSPHRASE}
    p = subprocess.run([sys.executable, "-m", "hramada.cli.main", *args], env=env, input=text,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p
