"""A hostile member against the group, through the `hramada` command and a real relay.

Hanna is admitted, then runs a modified client: she appends to the group's log what
no honest client writes — garbage, a key rotation she has no right to make, an entry
that claims a rotation without its keys. Her appends carry the group key's append
signature (she holds the key), so the relay takes them. Before, every member's client
took them for relay tampering and stopped the group. Now they are void on every
device, the warnings say who did it, and the admin removes her and the group goes on.

A joiner who asks with an all-zero (low-order) box key is refused the same way on every
device, and the admins are told; no rotation or welcome can trip over such a key.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import PASSPHRASE
from hramada.client.sealing import OsSealer
from hramada.client.api import Hramada
from hramada.core import build, crypto, invitation as inv, wire
from hramada.core.encoding import encode
from hramada.errors import RelayError



def run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HRAMADA_HOME": str(home), "HRAMADA_PASSPHRASE": PASSPHRASE}
    p = subprocess.run([sys.executable, "-m", "hramada.cli.main", *args], env=env, capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError(f"hramada {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def js(home: Path, *args: str) -> object:
    return json.loads(run(home, *args, "--json").stdout)


async def _hostile_appends(home: Path, group: str) -> int:
    """Hanna's modified client: appends three entries no rule allows; returns how many."""
    h = Hramada.open(home, PASSPHRASE)
    try:
        s = h._find(group)  # the attacker's own code may reach anywhere in her client
        relay = h._relay(s.record["relay"])
        await h._engine(s).sync()
        gen = s.keys.generations[s.log.generation]
        written = 0

        async def append(envelope: bytes) -> None:
            nonlocal written
            seq, prev = s.log.head
            ct = wire.sign_append(gen.append_key, s.record["mailbox"], seq + 1, prev, envelope)
            await relay.append_log(s.record["mailbox"], s.cap, seq + 1, prev, ct)
            s.log.apply(seq + 1, prev, ct, s.keys)
            written += 1

        # 0. the relay refuses what carries no append signature (nothing is stored)
        seq, prev = s.log.head
        try:
            await relay.append_log(s.record["mailbox"], s.cap, seq + 1, prev, b"\x00" * 364)
        except RelayError as exc:
            assert exc.status == 400
        else:
            raise AssertionError("the relay took an entry without its append signature")
        # 1. garbage that no one can parse
        await append(b"\x00" * 300)
        # 2. a removal of the admin, by a member: a real key block, authorised by her
        removal = build.rotation(s.log, author=s.identity, keys=s.keys, seed=crypto_random(),
                                 ephemeral_secret=crypto_random(), nonce=crypto_random(24),
                                 auth_nonce=crypto_random(24), items_cutoff={}, sealer=OsSealer(),
                                 remove=next(pk for pk, m in s.log.members.items() if m.role == "admin"))
        await relay.append_log(s.record["mailbox"], s.cap, removal.seq, removal.prev, removal.ciphertext)
        s.log.apply(removal.seq, removal.prev, removal.ciphertext, s.keys)
        written += 1
        # 3. an entry that claims a rotation but carries no keys, sealed under the group key
        nonce = crypto_random(24)
        inner = encode({"v": 2, "s": s.log.suite, "group": s.log.group, "seq": s.log.head[0] + 1,
                        "prev": s.log.head[1], "kind": "rotate", "author": s.identity.public.id,
                        "device": s.identity.device_id, "body": {"commit": bytes(32), "cap": bytes(32), "keys": bytes(32), "items": []}})
        signed = encode([inner, crypto.sign(s.identity.signing, "hramada:v1:log-entry", inner)])
        sealed = crypto.encrypt(gen.log_key, nonce, crypto.pad(signed),
                                encode(["hramada:v1:log-entry", s.log.suite, s.log.head[0] + 1]))
        await append(encode({"s": s.log.suite, "n": nonce, "c": sealed}))
        return written
    finally:
        await h.close()


def crypto_random(n: int = 32) -> bytes:
    return os.urandom(n)


def test_a_hostile_member_cannot_stop_the_group_and_is_removed(relay_process, tmp_path: Path) -> None:
    relay = relay_process()
    a, b = tmp_path / "ales", tmp_path / "hanna"
    run(a, "init", "--name", "Ales")
    run(b, "init", "--name", "Hanna")
    js(a, "group", "create", "Circle", "--relay", relay.url, "--vouches", "1")
    code = js(a, "invite", "Circle")["code"]
    rid = js(b, "join", code)["request"]
    run(a, "sync")
    run(a, "vouch", "Circle", rid)
    run(a, "admit", "Circle", rid)
    run(b, "sync")

    assert asyncio.run(_hostile_appends(b, "Circle")) == 3

    synced = run(a, "sync", check=False)
    assert synced.returncode == 0, synced.stderr  # no alarm: exit status 3 would be
    [info] = js(a, "group", "list")
    assert info["status"] == "active" and not info["alarm"]
    void = [w for w in info["warnings"] if "was ignored" in w]
    assert len(void) == 3, info["warnings"]
    assert sum("signed by Hanna" in w for w in void) == 2  # the garbage names no one
    assert any("no admin authorised" in w for w in void)
    assert any("claims a key rotation" in w for w in void)
    assert any("not validly signed" in w for w in void)

    # the admin removes her and the group goes on
    removed = run(a, "remove", "Circle", "Hanna", *(["--yes"] if _remove_asks(a) else []))
    assert removed.returncode == 0
    gone = run(b, "read", "Circle", check=False)
    assert gone.returncode == 1 and "no longer a member" in gone.stderr
    js(a, "post", "Circle", "We carry on", "--title", "News")
    assert [x["text"] for x in js(a, "read", "Circle")] == ["We carry on"]
    members = js(a, "group", "members", "Circle")
    assert [m["name"] for m in members] == ["Ales"]


def _remove_asks(home: Path) -> bool:
    """Whether this version's `remove` asks for confirmation (then --yes answers it)."""
    return "--yes" in run(home, "remove", "--help").stdout


def test_a_join_request_with_an_all_zero_box_key_is_refused_and_shown(relay_process, tmp_path: Path) -> None:
    relay = relay_process()
    a, b = tmp_path / "ales", tmp_path / "hanna"
    run(a, "init", "--name", "Ales")
    run(b, "init", "--name", "Hanna")
    js(a, "group", "create", "Circle", "--relay", relay.url, "--vouches", "1")
    code = inv.InvitationCode.from_text(js(a, "invite", "Circle")["code"])
    # the attack: a request whose box key is 32 zero bytes, correctly signed
    me = crypto.SigningKey.from_seed(bytes(range(32)))
    body = encode({"group": code.group, "invite": code.secret.invite_id, "name": "Zero",
                   "sign": me.public.raw, "box": bytes(32), "relay": bytes(32)})
    signed = encode([body, crypto.sign(me, "hramada:v1:join-request", body),
                     crypto.sign(code.secret.signing, "hramada:v1:invite-proof", body)])
    message = inv.seal_guest_message(code.secret.box_key, bytes(24), signed)

    async def drop() -> None:
        from hramada.client.transport import Relay
        r = Relay(code.relay)
        try:
            await r.guest_post(code.secret.drop_id, code.secret.drop_cap, message)
        finally:
            await r.close()
    asyncio.run(drop())

    synced = run(a, "sync", check=False)
    assert synced.returncode == 0 and "Traceback" not in synced.stderr, synced.stderr
    assert js(a, "requests", "Circle") == []
    [info] = js(a, "group", "list")
    assert any("not a valid join request" in w for w in info["warnings"]), info["warnings"]
    # the admin's rotations and welcomes still work: a real joiner gets in, then a rotation
    code2 = js(a, "invite", "Circle")["code"]
    rid = js(b, "join", code2)["request"]
    run(a, "sync")
    run(a, "vouch", "Circle", rid)
    run(a, "admit", "Circle", rid)
    run(b, "sync")
    assert [m["name"] for m in js(b, "group", "members", "Circle")] == ["Ales", "Hanna"]
    rotated = run(a, "rotate", "Circle", check=False)
    assert rotated.returncode in (0, 2) and "Traceback" not in rotated.stderr


def test_a_fake_refusal_from_a_member_leaves_the_joiner_pending_and_a_welcome_still_admits(
        relay_process, bring_in, tmp_path: Path) -> None:
    """Mikola, a member, holds every invitation's drop key (it is in the log), so he can
    drop a "refused" into Dana's drop box that no honest member wrote. A refusal is
    unsigned: Dana's client shows it as a claim it cannot verify and keeps her request
    pending; Ales vouches and admits her, and the welcome admits her all the same."""
    relay = relay_process()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        mikola = Hramada.init(tmp_path / "mikola", PASSPHRASE, "Mikola")
        dana = Hramada.init(tmp_path / "dana", PASSPHRASE, "Dana")
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, mikola, g)
            made = await ales.invite(g)
            join = await dana.join(made["code"])
            await mikola.sync()  # takes the request into the log
            s = mikola._find(g)
            invite = s.log.invites[bytes.fromhex(made["invite"])]
            fake = inv.make_refusal(invite.box_key, os.urandom(24), bytes.fromhex(join.request), "name")
            await mikola._relay(relay.url).post_to_drop(s.record["mailbox"], s.cap, invite.drop, fake)
            [info] = await dana.sync()
            assert info.status == "pending"
            [claim] = [w for w in info.warnings if "refusal" in w]
            assert "cannot be verified" in claim and "group forget" in claim and "looks the same" in claim
            await ales.vouch(g, join.request)
            await ales.admit(g, join.request)
            [info] = await dana.sync()
            assert info.status == "active" and info.members == 3
            assert not [w for w in info.warnings if "refusal" in w]
            await ales.post(g, "welcome, Dana")
            assert [b.text for b in await dana.read(g)] == ["welcome, Dana"]
        finally:
            for person in (ales, mikola, dana):
                await person.close()
    asyncio.run(go())
