"""Linking another device to this profile: the linking device's side (device A,
``docs/spec/devices.md`` §2–5). The new device's side is :mod:`hramada.client.link_join`.

A link is a small state machine kept in the profile's store (one pending link at a
time), so that a crash, a closed terminal or ``--no-wait`` loses nothing and
``hramada sync`` (or ``hramada device link --continue``) takes it further::

    open ──request read──▶ challenged ──reveal read──▶ confirm ──person says yes──▶ adding
      │                         │                        │                          │
      └────── expired, cancelled, or a refusal: the drop is closed, the link ends ◀─┘ (not after adding)
                                                                           adding ──▶ answered

* **open**: the drop is open in the first group's mailbox; A waits for B's request.
* **challenged**: A read the whole request and posted its challenge (its nonce).
* **confirm**: A read B's reveal; both devices show the same eight digits if nobody
  sits between them. Nothing is appended until the person says they match.
* **adding**: one ``device-add`` per group; each slot's outcome is recorded as it
  lands, so a restart neither adds a device twice nor skips a group.
* **answered**: the answers are in the drop; the drop stays open for B to read and is
  closed when the person ends the link (``--cancel``, or a new link) or 7 days later.

The journal rule holds: each step's state is committed before the relay hears of it,
and every message that must not change (the challenge, the answers) is stored before
it is sent and sent again byte for byte.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from hramada.client import link_devices as dev
from hramada.client.loaded import LoadedGroups
from hramada.client.sealing import OsSealer
from hramada.client.session import GroupSession
from hramada.client.sync import random
from hramada.core import wire
from hramada.core.link_answers import (GroupAnswer, GroupRef, ProfileAnswer, make_group_answer,
                                       make_group_refusal, make_profile_answer)
from hramada.core.linking import (MAX_GROUPS, LinkCode, LinkIncomplete, LinkSecret, confirmation,
                                  make_challenge, read_link_request, read_reveal)
from hramada.core.textcode import Refused
from hramada.errors import NotFoundError, PolicyError, RelayError, RelayUnreachable

if TYPE_CHECKING:
    from hramada.client.transport import Relay

LINK_MINUTES = 10          # how long a link code lasts (devices.md §3: SHOULD be 10 minutes)
KEEP_ANSWERED = 7 * 86400  # an answered link's drop is closed after this many seconds


class Stage(str, Enum):
    OPEN = "open"
    CHALLENGED = "challenged"
    CONFIRM = "confirm"
    ADDING = "adding"
    ANSWERED = "answered"


@dataclass
class LinkStatus:
    """Where this device's link stands, for the CLI."""

    stage: str
    code: str
    expires: int
    groups: list[str]
    device: str | None = None         # the new device's name, once its request is read
    digits: str | None = None         # the eight digits to compare, once both nonces are known
    added: list[str] = field(default_factory=list)      # groups the new device was added to
    refused: dict[str, str] = field(default_factory=dict)  # group → the log's reason code
    warnings: list[str] = field(default_factory=list)   # messages set aside (devices.md §4)

    @property
    def done(self) -> bool:
        return self.stage == Stage.ANSWERED.value


class Linking(LoadedGroups):
    """Device A's operations (a mixin of :class:`hramada.client.api.Hramada`)."""

    name: str

    # -- the record -----------------------------------------------------------------

    def _link(self) -> dict | None:
        return self.store.link("a")

    def _save_link(self, rec: dict) -> None:
        self.store.put_link("a", rec)

    def _drop_session(self, rec: dict) -> GroupSession:
        return self._find(rec["group"].hex())

    def link_status(self) -> LinkStatus | None:
        """The pending link, or None."""
        rec = self._link()
        return None if rec is None or rec["stage"] is None else self._status(rec)

    def _status(self, rec: dict) -> LinkStatus:
        names = {bytes(g): self._refs_name(g) for g in rec["slots"]}
        outcome = rec.get("outcome", {})
        return LinkStatus(rec["stage"], rec["code"], rec["expires"], list(names.values()),
                          rec.get("device"), rec.get("digits"),
                          [names[bytes(rec["slots"][int(i)])] for i, v in outcome.items() if isinstance(v, list)],
                          {names[bytes(rec["slots"][int(i)])]: v for i, v in outcome.items() if isinstance(v, str)},
                          list(rec.get("warnings", [])))

    def _refs_name(self, group: bytes) -> str:
        for rec in self._refs().values():
            if rec["group"] == group:
                return rec["name"]
        return group.hex()

    # -- opening --------------------------------------------------------------------

    async def start_link(self, minutes: int = LINK_MINUTES) -> LinkStatus:
        """Open a link for every active group of the profile; returns its code."""
        old = self._link()
        if old is not None and old["stage"] != Stage.ANSWERED.value:
            raise PolicyError("a link is already in progress: continue it with `hramada device link --continue` "
                              "or end it with `hramada device link --cancel`")
        if old is not None:
            await self._close_drop(old)  # the person ends the answered link by starting a new one
        sessions = [s for s in self._sessions() if s.status == "active"]
        if not sessions:
            raise PolicyError("this profile holds no active group yet: there is nothing to link")
        if len(sessions) > MAX_GROUPS:
            sessions = sessions[:MAX_GROUPS]  # link the others with a second code
        host = sessions[0]
        expires = int(time.time()) + minutes * 60
        engine = self._engine(host)
        for _ in range(4):
            secret = LinkSecret(random(32))
            code = LinkCode(host.record["relay"], host.record["mailbox"], secret,
                            tuple(s.log.suite for s in sessions), expires)
            rec = {"v": 1, "stage": Stage.OPEN.value, "code": code.to_text(), "expires": expires,
                   "group": host.group_id, "slots": [s.group_id for s in sessions], "opened": False}
            self._save_link(rec)
            try:
                await engine.relay.open_drop(host.record["mailbox"], host.cap, secret.drop_id,
                                             wire.cap_hash(secret.drop_cap), expires)
            except RelayError as exc:
                if exc.code == "exists":
                    continue
                self.store.delete_link("a")
                raise
            rec["opened"] = True
            self._save_link(rec)
            return self._status(rec)
        raise PolicyError("could not open a link drop on the relay; try again")

    # -- moving on ------------------------------------------------------------------

    async def advance_link(self) -> LinkStatus | None:
        """Read the link's drop and take the link as far as it goes without the person:
        up to showing the digits, or on from a confirmation to the answers. Returns
        the status (None if there is no link). A refusal or an expiry ends the link
        (its drop closed) and is raised."""
        rec = self._link()
        if rec is None:
            return None
        code = LinkCode.from_text(rec["code"])
        stage = Stage(rec["stage"])
        if stage == Stage.ANSWERED:
            if time.time() >= rec.get("answered_at", 0) + KEEP_ANSWERED:
                await self.cancel_link()
                return None
            return self._status(rec)
        if stage != Stage.ADDING and time.time() >= code.expires:
            await self.cancel_link()
            code.check_fresh(int(time.time()))
        s = self._drop_session(rec)
        relay = self._engine(s).relay
        if not rec["opened"]:
            await relay.open_drop(s.record["mailbox"], s.cap, code.secret.drop_id,
                                  wire.cap_hash(code.secret.drop_cap), code.expires)
            rec["opened"] = True
            self._save_link(rec)
        try:
            if stage in (Stage.OPEN, Stage.CHALLENGED):
                await self._read_request(rec, code, s, relay)
            elif stage == Stage.ADDING:
                await self._add_and_answer(rec, code)
        except Refused as exc:
            if isinstance(exc, LinkIncomplete):
                return self._status(rec)
            await self.cancel_link()
            raise
        return self._status(self._link() or rec)

    async def _guest_messages(self, code: LinkCode, relay: Relay) -> list[bytes]:
        messages = await relay.guest_read(code.secret.drop_id, code.secret.drop_cap)
        return [m for _, sender, m in messages if sender == "guest"]

    async def _read_request(self, rec: dict, code: LinkCode, s: GroupSession, relay: Relay) -> None:
        messages = await self._guest_messages(code, relay)
        request = set_aside(rec, "link-request-forged", lambda ms: read_link_request(code, ms), messages)
        rec["device"] = request.name
        if rec["stage"] == Stage.OPEN.value:
            rec["n_a"] = random(32)
            rec["challenge"] = make_challenge(code, rec["n_a"], random(24))
            rec["stage"] = Stage.CHALLENGED.value
            self._save_link(rec)
        if not rec.get("challenge_sent"):
            await relay.post_to_drop(s.record["mailbox"], s.cap, code.secret.drop_id, rec["challenge"])
            rec["challenge_sent"] = True
            self._save_link(rec)
        nonce_b = set_aside(rec, "link-reveal-forged", lambda ms: read_reveal(code, request, ms),
                             await self._guest_messages(code, relay))
        if nonce_b is None:
            return
        rec["digits"] = confirmation(code, request, rec["n_a"], nonce_b)
        rec["stage"] = Stage.CONFIRM.value
        self._save_link(rec)
        try:
            await relay.mark_drop_used(s.record["mailbox"], s.cap, code.secret.drop_id)
        except RelayError:
            pass  # only keeps strangers' messages out; the link does not depend on it

    async def confirm_link(self, same: bool) -> LinkStatus:
        """The person's answer to "does the new device show the same digits?". Yes:
        add the device to every group and answer it. No: end the link (nothing added)."""
        rec = self._link()
        if rec is None or rec["stage"] != Stage.CONFIRM.value:
            raise PolicyError("no link is waiting for a confirmation")
        code = LinkCode.from_text(rec["code"])
        if not same:
            await self.cancel_link()
            raise Refused("link-declined", "the digits did not match: the link was ended and nothing was added")
        if time.time() >= code.expires:
            await self.cancel_link()
            code.check_fresh(int(time.time()))
        rec["stage"] = Stage.ADDING.value
        rec["outcome"] = {}
        self._save_link(rec)
        await self._add_and_answer(rec, code)
        return self._status(self._link() or rec)

    async def _add_and_answer(self, rec: dict, code: LinkCode) -> None:
        s = self._drop_session(rec)
        request = set_aside(rec, "link-request-forged", lambda ms: read_link_request(code, ms),
                            await self._guest_messages(code, self._engine(s).relay))
        link = request.link
        sealer = OsSealer()
        outcome: dict = rec.setdefault("outcome", {})
        for i, group in enumerate(rec["slots"]):
            if str(i) in outcome:
                continue
            try:
                gs = self._find(bytes(group).hex())
                result = await dev.add_device(self, gs, dev.certify(gs, request.name, request.slots[i]))
            except RelayUnreachable:
                raise  # the link waits in "adding"; the next attempt goes on from this slot
            except (NotFoundError, PolicyError, RelayError, ValueError) as exc:
                outcome[str(i)] = "unavailable"
                rec.setdefault("warnings", []).append(f"{self._refs_name(bytes(group))}: {exc}")
                self._save_link(rec)
                continue
            outcome[str(i)] = list(result) if isinstance(result, tuple) else result
            self._save_link(rec)
        if "answers" not in rec:
            messages: list[bytes] = []
            for i, group in enumerate(rec["slots"]):
                result = outcome[str(i)]
                if isinstance(result, str):
                    messages += make_group_refusal(sealer, code, link, i, result)
                    continue
                gs = self._find(bytes(group).hex())
                ref = GroupRef(gs.record["relay"], gs.record["mailbox"], gs.group_id, gs.name, gs.record["me"])
                answer = GroupAnswer(i, ref, dev.member_seed(gs), tuple(result), tuple(dev.held_seeds(gs)))
                messages += make_group_answer(sealer, code, link, answer)
            messages += make_profile_answer(sealer, code, link, ProfileAnswer(self.name, tuple(dev.registry(self))))
            rec["answers"], rec["sent"] = messages, 0
            self._save_link(rec)
        relay = self._engine(s).relay
        while rec["sent"] < len(rec["answers"]):
            await relay.post_to_drop(s.record["mailbox"], s.cap, code.secret.drop_id, rec["answers"][rec["sent"]])
            rec["sent"] += 1
            self._save_link(rec)
        rec["stage"], rec["answered_at"] = Stage.ANSWERED.value, int(time.time())
        rec.pop("answers", None)
        self._save_link(rec)

    # -- ending -----------------------------------------------------------------------

    async def cancel_link(self) -> dict:
        """End the link: close its drop (the new device reads nothing more) and forget it.
        Devices already added stay; revoke them with ``hramada device revoke``."""
        rec = self._link()
        if rec is None:
            raise PolicyError("no link is in progress")
        await self._close_drop(rec)
        self.store.delete_link("a")
        return {"ended": rec["stage"]}

    async def _close_drop(self, rec: dict) -> None:
        if not rec.get("opened"):
            return
        try:
            s = self._drop_session(rec)
        except NotFoundError:
            return  # the group is gone from this profile: nothing to close it with
        code = LinkCode.from_text(rec["code"])
        try:
            await self._engine(s).relay.close_drop(s.record["mailbox"], s.cap, code.secret.drop_id)
        except RelayError as exc:
            if exc.status != 404:  # 404: closed already
                raise


def set_aside(rec: dict, forged: str, read, messages: list[bytes]):  # type: ignore[no-untyped-def]
    """``read(messages)``, with every message that does not authenticate set aside and
    noted in ``rec["warnings"]`` with its position in the drop (``devices.md`` §4: the
    relay or any member of the group can put one there), the rest read again."""
    kept = list(enumerate(messages, 1))
    while True:
        try:
            return read([m for _, m in kept])
        except Refused as exc:
            index = exc.params.get("index")
            if exc.code != forged or type(index) is not int or not 0 <= index < len(kept):
                raise
            position, _ = kept.pop(index)
            note = (f"message {position} in the link's drop did not come from the other device and was set "
                    "aside (the relay, or a member of the group, put it there)")
            if note not in rec.setdefault("warnings", []):
                rec["warnings"].append(note)


__all__ = ["Linking", "LinkStatus", "Stage", "LINK_MINUTES"]
