"""The `hramada` command as a person runs it: real processes, real relay, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from hramada.cli.main import cli
from conftest import PASSPHRASE


def run(home: Path, *args: str, passphrase: str = PASSPHRASE, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HRAMADA_HOME": str(home), "HRAMADA_PASSPHRASE": passphrase}
    p = subprocess.run([sys.executable, "-m", "hramada.cli.main", *args], env=env, capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError(f"hramada {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def js(home: Path, *args: str) -> object:
    return json.loads(run(home, *args, "--json").stdout)


def test_the_cli_surface_end_to_end(relay_process, tmp_path: Path) -> None:
    relay = relay_process()
    a, b = tmp_path / "a", tmp_path / "b"
    run(a, "init", "--name", "Ales")
    run(b, "init", "--name", "Hanna")
    created = js(a, "group", "create", "Circle", "--relay", relay.url, "--vouches", "2")
    gid = created["group"]
    assert js(a, "group", "list")[0]["group"] == gid
    code = js(a, "invite", "Circle")["code"]
    joined = js(b, "join", code)
    assert joined["group"] == gid
    rid = joined["request"]
    [req] = js(a, "requests", gid)
    assert (req["request"], req["name"], req["vouches"], req["needed"]) == (rid, "Hanna", 0, 1)
    refused = run(a, "admit", "Circle", rid, check=False)
    assert refused.returncode == 1 and "0 of the 1 vouches" in refused.stderr
    run(a, "vouch", "Circle", rid)
    run(a, "admit", "Circle", rid)
    run(b, "sync")
    members = js(b, "group", "members", "Circle")
    assert [(m["name"], m["role"]) for m in members] == [("Ales", "admin"), ("Hanna", "member")]
    item = js(b, "post", "Circle", "Bring warm clothes", "--title", "Winter")["item"]
    run(a, "comment", "Circle", item, "Noted")
    [bulletin] = js(a, "read", "Circle")
    assert bulletin["text"] == "Bring warm clothes" and bulletin["author"] == "Hanna"
    assert [c["text"] for c in bulletin["comments"]] == ["Noted"]
    human = run(a, "read", "Circle").stdout
    assert "Winter" in human and "Noted" in human
    code_a = js(a, "safety-code", "Circle", "Hanna")["code"]
    code_b = js(b, "safety-code", "Circle", members[1]["fingerprint"][:9])["code"]
    assert code_a == code_b and len(code_a.split()) == 12
    run(a, "remove", "Circle", "Hanna", "--yes")
    gone = run(b, "read", "Circle", check=False)
    assert gone.returncode == 1 and "no longer a member" in gone.stderr
    run(a, "panic", "--yes")
    assert not a.exists()


@pytest.mark.parametrize("args, message", [
    (["join", "not-a-code"], "not a Hramada invitation code"),
    (["join", "hramada1-aaaa"], "damaged or incomplete"),
    (["read", "no-such-group"], "no group"),
    (["comment", "x", "zz", "t"], "not an item id"),
    (["panic"], "--yes"),
])
def test_bad_input_gets_a_clear_error(tmp_path: Path, args: list[str], message: str) -> None:
    run(tmp_path, "init", "--name", "Ales")
    p = run(tmp_path, *args, check=False)
    assert p.returncode != 0
    assert message in p.stderr
    assert "Traceback" not in p.stderr


def test_wrong_passphrase_is_refused(tmp_path: Path) -> None:
    run(tmp_path, "init", "--name", "Ales")
    p = run(tmp_path, "group", "list", passphrase="nope", check=False)
    assert p.returncode == 1 and "wrong passphrase" in p.stderr


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += _commands(command, f"{prefix}{name} ")
        else:
            out.append((prefix + name, command))
    return out


def test_every_command_is_documented_with_an_example() -> None:
    commands = _commands(cli)
    assert len(commands) >= 18
    for name, command in commands:
        assert command.help and "Example: hramada" in command.help, name


def test_demo_runs(tmp_path: Path) -> None:
    p = run(tmp_path, "demo")
    out = p.stdout
    assert "Mikola" in out and "refused" in out and "removed" in out
    assert "holds none of the names" in out


def test_text_from_others_cannot_control_the_terminal(relay_process, tmp_path: Path) -> None:
    relay = relay_process()
    run(tmp_path, "init", "--name", "Ales")
    run(tmp_path, "group", "create", "Circle", "--relay", relay.url)
    run(tmp_path, "post", "Circle", "clear\x1b[2J screen [bold]loud[/bold] \u202eevil", "--title", "\x1b]0;x\x07t")
    out = run(tmp_path, "read", "Circle").stdout
    assert "\x1b[2J" not in out and "\x1b]0" not in out and "\u202e" not in out
    assert "[bold]loud[/bold]" in out  # shown as typed, not interpreted


def test_group_create_makes_suite_2_on_request_and_a_joiner_follows_it(
        relay_process, tmp_path: Path) -> None:
    relay = relay_process()
    a, b = tmp_path / "a", tmp_path / "b"
    run(a, "init", "--name", "Ales")
    run(b, "init", "--name", "Hanna")
    assert js(a, "group", "create", "Circle", "--relay", relay.url)["suite"] == 1
    pq = js(a, "group", "create", "Кола", "--relay", relay.url, "--suite", "2")
    assert pq["suite"] == 2
    refused = run(a, "group", "create", "Third", "--relay", relay.url, "--suite", "3", check=False)
    assert refused.returncode != 0 and "--suite" in refused.stderr
    joined = js(b, "join", js(a, "invite", "Кола")["code"])
    run(a, "vouch", "Кола", joined["request"])
    run(a, "admit", "Кола", joined["request"])
    run(b, "sync")
    [held] = js(b, "group", "list")
    assert (held["name"], held["suite"], held["status"]) == ("Кола", 2, "active")
