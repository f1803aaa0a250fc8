"""Relay addresses are checked strictly wherever they enter (invitation codes,
``--relay``), nothing is stored before a code is fully checked, and one group's
failure never stops the sync of the others."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hramada.client import Hramada
from hramada.core import crypto
from hramada.core.encoding import encode
from hramada.core.invitation import CODE_PREFIX, CODE_VERSION, InvitationCode, InvitationSecret
from hramada.core.urls import MAX_URL_CHARS, check_relay_url
from conftest import PASSPHRASE


def crafted_code(relay: str) -> str:
    """An invitation code with a correct checksum around any relay text, as an attacker
    would write it (the code's own writer refuses to)."""
    payload = encode([CODE_VERSION, relay, os.urandom(16), os.urandom(16), os.urandom(32), 0, 2])
    check = crypto.hash32("hramada:v1:code-check", payload)[:4]
    return CODE_PREFIX + base64.b32encode(payload + check).decode().rstrip("=").lower()


@pytest.mark.parametrize("url, normal", [
    ("http://127.0.0.1:8470", "http://127.0.0.1:8470"),
    ("HTTPS://Relay.Example.ORG/", "https://relay.example.org"),
    ("https://relay.example.org/hramada/", "https://relay.example.org/hramada"),
    ("http://[::1]:8470", "http://[::1]:8470"),
    ("https://bücher.example", "https://xn--bcher-kva.example"),
    ("https://аpple.example", "https://xn--pple-43d.example"),   # a Cyrillic "а" shows as what it is
])
def test_good_relay_addresses_are_normalised(url: str, normal: str) -> None:
    assert check_relay_url(url) == normal


@pytest.mark.parametrize("url, why", [
    ("http://relay\x07.example", "control or invisible"),
    ("http://relay.example/\x1b[2J", "control or invisible"),
    ("http://relay.example\u202e/gro", "control or invisible"),
    ("http://relay .example", "spaces"),
    ("http://relay.example\n", "spaces"),
    ("ftp://relay.example", "http:// or https://"),
    ("javascript:alert(1)", "http:// or https://"),
    ("relay.example", "http:// or https://"),
    ("http://", "no host"),
    ("http://:8470", "no host"),
    ("http://user:secret@relay.example", "user name or password"),
    ("http://relay.example/?x=1", "query"),
    ("http://relay.example/#top", "fragment"),
    ("http://relay.example:0", "port"),
    ("http://relay.example:65536", "port"),
    ("http://relay.example:84a", "port"),
    ("http://[::1", "IPv6"),
    ("http://[::g]:80", "IPv6"),
    ("http://999.1.1.1", "IPv4"),
    ("http://-relay.example", "domain name"),
    ("http://relay..example", "domain name"),
    ("http://re_lay.example", "domain name"),
    ("http://relay.example/%%", None),
    ("http://relay.example/ü", "path"),
    ("http://relay.example\\@evil.example", "backslash"),
    ("http://relay.example/" + "a" * MAX_URL_CHARS, "longer than"),
])
def test_bad_relay_addresses_are_refused_saying_why(url: str, why: str | None) -> None:
    if why is None:  # percent signs are plain URL characters; httpx sends them as they are
        check_relay_url(url)
        return
    with pytest.raises(ValueError, match="cannot be used") as info:
        check_relay_url(url)
    assert why in str(info.value)


def test_a_code_naming_a_bad_relay_is_refused_and_a_good_one_reads_back() -> None:
    with pytest.raises(ValueError, match="invitation code is not valid: .*control or invisible"):
        InvitationCode.from_text(crafted_code("http://relay\x07.example"))
    secret = InvitationSecret(os.urandom(32))
    code = InvitationCode("https://relay.example", bytes(16), bytes(16), secret)
    assert InvitationCode.from_text(code.to_text()) == code
    with pytest.raises(ValueError, match="far too long"):
        InvitationCode.from_text(CODE_PREFIX + "a" * 100_000)


def _hramada(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HRAMADA_HOME": str(home), "HRAMADA_PASSPHRASE": PASSPHRASE}
    return subprocess.run([sys.executable, "-m", "hramada.cli.main", *args], env=env, text=True,
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


def test_a_crafted_code_is_refused_and_leaves_the_profile_unchanged(relay_process, tmp_path: Path) -> None:
    relay = relay_process()
    home = tmp_path / "hanna"
    assert _hramada(home, "init", "--name", "Hanna").returncode == 0
    assert _hramada(home, "group", "create", "Circle", "--relay", relay.url).returncode == 0
    before = _hramada(home, "group", "list", "--json").stdout

    for relay_text in ("http://relay\x07.example:8470", f"{relay.url}/\x00", "http://x\u202e.example"):
        p = _hramada(home, "join", crafted_code(relay_text))
        assert p.returncode == 1, p
        assert "relay address cannot be used" in p.stderr and "Traceback" not in p.stderr
        assert _hramada(home, "group", "list", "--json").stdout == before
    p = _hramada(home, "group", "create", "Other", "--relay", "http://relay\x07.example")
    assert p.returncode == 1 and "cannot be used" in p.stderr and "Traceback" not in p.stderr
    assert _hramada(home, "group", "list", "--json").stdout == before
    p = _hramada(home, "sync", "--json")
    assert p.returncode == 0, p
    assert [g["error"] for g in json.loads(p.stdout)] == [None]


def test_a_broken_group_does_not_stop_the_sync_of_the_others(relay_process, bring_in,
                                                            tmp_path: Path) -> None:
    relay = relay_process()
    home = tmp_path / "hanna"

    async def setup() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(home, PASSPHRASE, "Hanna")
        try:
            # First in Hanna's profile: a pending group whose record names a relay with a
            # control character (as a crafted code left behind before codes were checked).
            secret = InvitationSecret(os.urandom(32))
            hanna.store.add_group({
                "group": os.urandom(16), "name": "(pending broken)", "relay": "http://relay\x07.example",
                "mailbox": os.urandom(16), "me": "Hanna", "id": [os.urandom(32), os.urandom(32), os.urandom(32)],
                "gens": [], "status": "pending", "pin": [0, bytes(32)], "items": 0, "drops": 0,
                "join": {"secret": secret.secret, "request": os.urandom(8), "message": b"x", "sent": False}})
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            await ales.rotate(g)  # news that only a sync of Circle can bring to Hanna
        finally:
            await ales.close()
            await hanna.close()
    asyncio.run(setup())

    p = _hramada(home, "sync", "--json")
    assert p.returncode == 1 and "Traceback" not in p.stderr, p
    broken, circle = json.loads(p.stdout)
    assert broken["name"] == "(pending broken)" and "cannot be used" in broken["error"]
    assert circle["name"] == "Circle" and circle["error"] is None and circle["generation"] == 1
    p = _hramada(home, "sync")
    assert p.returncode == 1 and "could not be synced" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("url", ["http://relay\U0001FAE8.example", "http://\u0378relay.example"])
def test_a_code_point_unassigned_in_unicode_14_is_refused_on_every_python(url):
    with pytest.raises(ValueError):
        check_relay_url(url)
