"""Linking a second device and revoking one: two profiles of one person, a friend, a
real relay process on 127.0.0.1 and real crypto (``docs/spec/devices.md``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conftest import PASSPHRASE
from hramada.client import Hramada, link_join
from hramada.client.linking import Stage
from hramada.core.linking import SHORT_BYTES, LinkCode
from hramada.core.textcode import Refused
from hramada.errors import HramadaError, PolicyError

pytestmark = pytest.mark.anyio

# Belarusian and Georgian names and texts: none may be found in the relay's files or
# in either profile at rest.
SECRETS = ["Алесь Бяляцкі", "Кола салідарнасці", "ნინო ბერიძე", "თბილისის წრე", "ноўтбук", "ტელეფონი",
           "Сустрэча ў суботу", "შეხვედრა შაბათს", "Пасля адклікання"]


async def link(a: Hramada, home: Path, name: str, **kw) -> tuple[Hramada, list[str]]:
    """Link a new device (a new profile in ``home``) to ``a``'s profile through the
    drop, both sides stepping as the CLI does; returns it and the digits both showed."""
    status = await a.start_link()
    b = link_join.begin(home, PASSPHRASE, status.code, name, **kw)
    digits = []
    for _ in range(10):
        sb = await b.advance_join()
        sa = await a.advance_link()
        if sa.stage == Stage.CONFIRM.value and sb.digits:
            digits = [sa.digits, sb.digits]
            break
    done = await a.confirm_link(digits[0] == digits[1])
    assert done.done
    sb = await b.advance_join()
    assert sb.done
    return b, digits


async def people(tmp: Path, url: str) -> tuple[Hramada, Hramada, str, str]:
    ales = Hramada.init(tmp / "ales", PASSPHRASE, "Алесь Бяляцкі")
    nino = Hramada.init(tmp / "nino", PASSPHRASE, "ნინო ბერიძე")
    g1 = (await ales.create_group("Кола салідарнасці", url, history="all")).group
    g2 = (await ales.create_group("თბილისის წრე", url)).group
    return ales, nino, g1, g2


def test_a_second_device_posts_reads_and_is_revoked(relay_process, bring_in, tmp_path: Path) -> None:
    relay = relay_process()
    asyncio.run(_two_devices(relay.url, tmp_path, bring_in))
    relay.stop()
    blobs = [p.read_bytes() for p in relay.db_path.parent.glob(relay.db_path.name + "*")]
    blobs += [relay.stdout_text().encode(), relay.stderr_text().encode()]
    for person in ("ales", "laptop", "nino"):
        blobs += [p.read_bytes() for p in (tmp_path / person).rglob("*") if p.is_file()]
    for secret in SECRETS:
        for blob in blobs:
            assert secret.encode() not in blob, f"{secret!r} found at rest"


async def _two_devices(url: str, tmp: Path, bring_in) -> None:
    ales, nino, g1, g2 = await people(tmp, url)
    await bring_in(ales, nino, g1)
    before = await nino.members(g1)
    code_before = (await nino.safety_code(g1, "Алесь Бяляцкі"))["code"]
    await ales.post(g1, "Сустрэча ў суботу")
    laptop, digits = await link(ales, tmp / "laptop", "ноўтбук")
    try:
        assert digits[0] == digits[1] and len(digits[0]) == 9
        # the new device holds every group, with the history the group allows
        assert sorted(i.name for i in laptop.groups()) == sorted(["Кола салідарнасці", "თბილისის წრე"])
        assert laptop.name == "Алесь Бяляцкі"
        assert [v.text for v in await laptop.read(g1)] == ["Сустрэча ў суботу"]
        # it posts as the member; the first device and the friend read it
        await laptop.post(g1, "შეხვედრა შაბათს")
        assert [(v.text, v.author) for v in await nino.read(g1)][-1] == ("შეხვედრა შაბათს", "Алесь Бяляцкі")
        assert "შეხვედრა შაბათს" in [v.text for v in await ales.read(g1)]
        await laptop.post(g2, "ტელეფონი")
        assert [v.text for v in await ales.read(g2)] == ["ტელეფონი"]
        # others see one member: members and safety codes are unchanged
        assert [(m.name, m.fingerprint) for m in await nino.members(g1)] == [(m.name, m.fingerprint) for m in before]
        assert (await nino.safety_code(g1, "Алесь Бяляцкі"))["code"] == code_before
        # both devices list both, each marking itself
        listed_a, listed_b = await ales.my_devices(), await laptop.my_devices()
        assert {d["name"] for d in listed_a} == {d["name"] for d in listed_b} and len(listed_a) == 2
        assert [d["name"] for d in listed_b if d["current"]] == ["ноўтбук"]
        assert {d["device"] for d in listed_a} == {d["device"] for d in listed_b}
        assert all(len(d["added"]) == 2 for d in listed_a)
        info = await laptop.group_info(g1)
        assert (info["members"], info["devices"]) == (2, 3)
        # revoking the laptop from the first device: each group's key rotates
        generations = [(await ales.group_info(g))["generation"] for g in (g1, g2)]
        done = await ales.revoke_device("ноўтбук")
        assert sorted(done["revoked"]) == sorted(["Кола салідарнасці", "თბილისის წრე"]) and not done["failed"]
        assert [(await ales.group_info(g))["generation"] for g in (g1, g2)] == [n + 1 for n in generations]
        await ales.post(g1, "Пасля адклікання")
        assert "Пасля адклікання" in [v.text for v in await nino.read(g1)]
        with pytest.raises(HramadaError):
            await laptop.read(g1)  # it reads nothing written after
        seen = [i for i in laptop.groups() if i.group == g1][0]
        assert seen.status != "active"
        # the first device and the friend go on
        await nino.post(g1, "Дзякуй")
        assert "Дзякуй" in [v.text for v in await ales.read(g1)]
        assert [d["name"] for d in await ales.my_devices()] == ["first device"]
    finally:
        await laptop.close()
        await ales.close()
        await nino.close()


# -- refusals that change nothing --------------------------------------------------------

async def test_a_tampered_code_is_refused_and_nothing_is_made(relay_asgi, tmp_path: Path) -> None:
    relay = await relay_asgi()
    import httpx
    t = httpx.ASGITransport(app=relay.app)
    ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Алесь", transport=t)
    await ales.create_group("Кола", "http://relay.test")
    code = (await ales.start_link()).code
    for i in (len("hramada-link1-") + 3, len(code) - 2):
        bad = code[:i] + ("a" if code[i] != "a" else "b") + code[i + 1:]
        with pytest.raises(Refused) as refused:
            link_join.begin(tmp_path / "new", PASSPHRASE, bad, "тэлефон", transport=t)
        assert refused.value.code == "link-damaged"
        assert not (tmp_path / "new").exists()
    with pytest.raises(Refused) as refused:
        link_join.begin(tmp_path / "new", PASSPHRASE, "hramada1-" + code[len("hramada-link1-"):], "x", transport=t)
    assert refused.value.code == "link-not-a-code" and not (tmp_path / "new").exists()
    await ales.close()


async def test_an_expired_code_is_refused_before_anything_is_written(relay_asgi, tmp_path: Path) -> None:
    relay = await relay_asgi()
    import httpx
    t = httpx.ASGITransport(app=relay.app)
    ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Алесь", transport=t)
    await ales.create_group("Кола", "http://relay.test")
    status = await ales.start_link(minutes=0)
    with pytest.raises(Refused) as refused:
        link_join.begin(tmp_path / "new", PASSPHRASE, status.code, "тэлефон", transport=t)
    assert refused.value.code == "link-expired" and not (tmp_path / "new").exists()
    # the linking device ends the expired link and closes its drop
    with pytest.raises(Refused, match="expired"):
        await ales.advance_link()
    assert ales.link_status() is None
    await ales.close()


async def _to_confirmation(t, tmp: Path) -> tuple[Hramada, Hramada, str]:
    ales = Hramada.init(tmp / "ales", PASSPHRASE, "Алесь", transport=t)
    await ales.create_group("Кола", "http://relay.test")
    status = await ales.start_link()
    b = link_join.begin(tmp / "new", PASSPHRASE, status.code, "ტელეფონი", transport=t)
    for _ in range(4):
        sb = await b.advance_join()
        sa = await ales.advance_link()
    assert sa.stage == "confirm" and sa.digits == sb.digits and sa.device == "ტელეფონი"
    return ales, b, status.code


async def test_digits_that_differ_end_the_link_and_add_nothing(relay_asgi, tmp_path: Path) -> None:
    relay = await relay_asgi()
    import httpx
    t = httpx.ASGITransport(app=relay.app)
    ales, b, _ = await _to_confirmation(t, tmp_path)
    head = ales.groups()[0].generation, len(ales.store.log(1))
    with pytest.raises(Refused) as refused:
        await ales.confirm_link(False)
    assert refused.value.code == "link-declined"
    assert ales.link_status() is None and len(ales.store.log(1)) == head[1]
    with pytest.raises(Refused) as ended:
        await b.advance_join()
    assert ended.value.code == "link-ended" and not b.join_pending() and b.groups() == []
    await ales.close()
    await b.close()


async def test_a_second_request_for_one_code_ends_the_link(relay_asgi, tmp_path: Path) -> None:
    """Someone else who saw the code sends a request too: A refuses both, adds nothing."""
    relay = await relay_asgi()
    import httpx
    t = httpx.ASGITransport(app=relay.app)
    ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Алесь", transport=t)
    await ales.create_group("Кола", "http://relay.test")
    code = (await ales.start_link()).code
    b = link_join.begin(tmp_path / "b", PASSPHRASE, code, "ноўтбук", transport=t)
    eve = link_join.begin(tmp_path / "eve", PASSPHRASE, code, "ноўтбук", transport=t)
    await b.advance_join()
    await eve.advance_join()
    with pytest.raises(Refused) as refused:
        await ales.advance_link()
    assert refused.value.code == "link-request-conflict" and ales.link_status() is None
    for h in (ales, b, eve):
        await h.close()


async def test_a_message_that_does_not_authenticate_is_set_aside(relay_asgi, tmp_path: Path) -> None:
    """A member (or the relay) drops a fake challenge into the link's drop: both devices
    set it aside and still agree on the digits."""
    relay = await relay_asgi()
    import httpx
    t = httpx.ASGITransport(app=relay.app)
    ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Алесь", transport=t)
    await ales.create_group("Кола", "http://relay.test")
    code = LinkCode.from_text((await ales.start_link()).code)
    s = ales._sessions()[0]
    await ales._engine(s).relay.post_to_drop(s.record["mailbox"], s.cap, code.secret.drop_id, bytes(SHORT_BYTES))
    b = link_join.begin(tmp_path / "b", PASSPHRASE, code.to_text(), "ноўтбук", transport=t)
    for _ in range(4):
        sb = await b.advance_join()
        sa = await ales.advance_link()
    assert sa.stage == "confirm" and sa.digits == sb.digits
    assert sb.warnings
    await ales.close()
    await b.close()


async def test_cancelling_on_the_linking_device_frees_the_new_one(relay_asgi, tmp_path: Path) -> None:
    relay = await relay_asgi()
    import httpx
    t = httpx.ASGITransport(app=relay.app)
    ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Алесь", transport=t)
    await ales.create_group("Кола", "http://relay.test")
    code = (await ales.start_link()).code
    with pytest.raises(PolicyError, match="already in progress"):
        await ales.start_link()
    b = link_join.begin(tmp_path / "b", PASSPHRASE, code, "ноўтбук", transport=t)
    await b.advance_join()
    await ales.cancel_link()
    assert ales.link_status() is None
    with pytest.raises(Refused) as ended:
        await b.advance_join()
    assert ended.value.code == "link-ended"
    await ales.close()
    await b.close()
