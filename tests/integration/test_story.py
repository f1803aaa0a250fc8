"""Four people, one real relay process on 127.0.0.1, real crypto, real files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hramada.client import Hramada
from hramada.client.profile import wipe
from hramada.errors import PolicyError, ProfileError
from conftest import PASSPHRASE

SECRETS = ["Food bank open Saturday", "Second bulletin after admission", "Posted after Hanna left",
           "Solidarity Circle Kaunas", "Ales Bialiatski", "Hanna Tsikhanouskaya", "Mikola Statkevich",
           "Volha Harbunova", "van driver needed", "Secret minutes"]


def test_four_people_admission_removal_and_confidentiality(relay_process, bring_in, tmp_path: Path) -> None:
    relay = relay_process()
    asyncio.run(_story(relay.url, tmp_path, bring_in))
    relay.stop()
    # a seized relay reveals nothing: no names, group names or texts in its files or output
    blobs = [p.read_bytes() for p in relay.db_path.parent.glob(relay.db_path.name + "*")]
    blobs.append(relay.stdout_text().encode())
    blobs.append(relay.stderr_text().encode())  # the relay's own log
    for secret in SECRETS:
        for blob in blobs:
            assert secret.encode() not in blob, f"{secret!r} found on the relay"
    # a profile at rest holds none of it either
    for person in ("ales", "hanna", "mikola", "volha"):
        for path in (tmp_path / person).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for secret in SECRETS:
                    assert secret.encode() not in data, f"{secret!r} in {path}"


async def _story(url: str, tmp: Path, bring_in) -> None:
    ales = Hramada.init(tmp / "ales", PASSPHRASE, "Ales Bialiatski")
    hanna = Hramada.init(tmp / "hanna", PASSPHRASE, "Hanna Tsikhanouskaya")
    mikola = Hramada.init(tmp / "mikola", PASSPHRASE, "Mikola Statkevich")
    volha = Hramada.init(tmp / "volha", PASSPHRASE, "Volha Harbunova")
    try:
        g = (await ales.create_group("Solidarity Circle Kaunas", url, vouches=2)).group

        # Ales invites Hanna, vouches and admits her (needs min(2, 1 member) = 1 vouch)
        join = await hanna.join((await ales.invite(g))["code"])
        assert join.status == "pending"
        [req] = await ales.requests(g)
        assert (req.name, req.vouches, req.needed, req.status) == ("Hanna Tsikhanouskaya", 0, 1, "pending")
        await ales.vouch(g, join.request)
        await ales.admit(g, join.request)
        [info] = await hanna.sync()
        assert info.status == "active" and info.name == "Solidarity Circle Kaunas"

        # a bulletin by one is read by the other, and a comment comes back
        item = await ales.post(g, "Food bank open Saturday", title="Secret minutes")
        [b] = await hanna.read(g)
        assert (b.item, b.title, b.text, b.author) == (item, "Secret minutes", "Food bank open Saturday",
                                                       "Ales Bialiatski")
        await hanna.comment(g, item, "van driver needed")
        [b] = await ales.read(g)
        assert [(c["author"], c["text"]) for c in b.comments] == [("Hanna Tsikhanouskaya", "van driver needed")]

        # Mikola needs two vouches now, and is refused with one
        join = await mikola.join((await hanna.invite(g))["code"])
        await ales.vouch(g, join.request)
        with pytest.raises(PolicyError, match="1 of the 2 vouches"):
            await ales.admit(g, join.request)
        await hanna.vouch(g, join.request)
        admitted = await ales.admit(g, join.request)
        assert admitted.name == "Mikola Statkevich"
        await mikola.sync()
        history = await mikola.read(g)
        assert [v.text for v in history] == ["Food bank open Saturday"]
        members = {m.name: m for m in await mikola.members(g)}
        assert set(members) == {"Ales Bialiatski", "Hanna Tsikhanouskaya", "Mikola Statkevich"}
        assert set(members["Mikola Statkevich"].vouched_by) == {"Ales Bialiatski", "Hanna Tsikhanouskaya"}
        # everyone computes the same safety code for Mikola
        codes = {(await p.safety_code(g, "Mikola Statkevich"))["code"] for p in (ales, hanna, mikola)}
        assert len(codes) == 1

        # Volha joins too, so that a non-creator can read after the removal
        await bring_in(ales, volha, g, vouchers=(hanna,))

        # Hanna is removed; the bulletin after that reaches everyone but her
        await ales.remove(g, "Hanna Tsikhanouskaya")
        await mikola.post(g, "Posted after Hanna left")
        for reader in (ales, mikola, volha):
            texts = [v.text for v in await reader.read(g)]
            assert "Posted after Hanna left" in texts
        [hinfo] = await hanna.sync()
        assert hinfo.status == "removed"
        with pytest.raises(PolicyError, match="no longer a member"):
            await hanna.read(g)
        held = [v["body"]["text"] for _, v in hanna.store.items(1)]
        assert "Posted after Hanna left" not in held
        assert "Second bulletin after admission" not in held
    finally:
        for p in (ales, hanna, mikola, volha):
            await p.close()


def test_wrong_passphrase_opens_nothing_and_panic_wipes(tmp_path: Path) -> None:
    home = tmp_path / "p"
    Hramada.init(home, PASSPHRASE, "Volha Harbunova").store.close()
    with pytest.raises(ProfileError, match="wrong passphrase"):
        Hramada.open(home, "wrong horse battery")
    files = [p for p in home.rglob("*") if p.is_file()]
    assert files and all(b"Volha" not in p.read_bytes() for p in files)
    assert wipe(home) == len(files)
    assert not home.exists()
    with pytest.raises(ProfileError, match="no profile"):
        Hramada.open(home, "right horse battery")
