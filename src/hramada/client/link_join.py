"""Being linked: the new device's side of device linking (device B,
``docs/spec/devices.md`` §3–5). The linking device's side is :mod:`hramada.client.linking`.

``hramada device join CODE --name NAME`` checks the code (a damaged, foreign or
expired code is refused before anything is written), makes a new profile, draws a
link key and one fresh device key set per group, and keeps them with the request in
the store (the pending join). Then, as often as it is moved on::

    sent ──challenge read, reveal sent──▶ confirm ──every answer read──▶ done
                                                   (groups held; the pending join forgotten)

The request's messages derive from the stored secrets and the stored entropy, so a
message that failed to send is sent again byte for byte; the reveal likewise. Each
group answered is folded from its whole log with the seeds handed over and stored
only if the log shows this device added where the answer says.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hramada.client import link_devices as dev
from hramada.client import profile
from hramada.client.joining import _numbering_from
from hramada.client.link_devices import DeviceSecrets
from hramada.client.linking import set_aside
from hramada.client.loaded import LoadedGroups
from hramada.client.sync import random
from hramada.core.link_answers import read_answers
from hramada.core.linking import (LinkCode, LinkRequest, confirmation, make_link_request, make_reveal, own_nonce,
                                  read_challenge)
from hramada.core.names import check_name
from hramada.core.suite2 import HybridPrivateKey
from hramada.core.textcode import Refused
from hramada.errors import HramadaError, PolicyError, ProfileError, RelayError, VerificationError

ANSWER_GRACE = 30 * 60  # after the code's expiry, how long B waits for answers by default


@dataclass
class JoinStatus:
    """Where this device's pending join stands, for the CLI."""

    stage: str                      # sent | confirm | done
    expires: int
    digits: str | None = None
    held: list[str] = field(default_factory=list)          # groups now held
    refused: dict[int, str] = field(default_factory=dict)  # slot → the linking device's reason
    failed: dict[int, str] = field(default_factory=dict)   # slot → why its answer was not used
    warnings: list[str] = field(default_factory=list)
    profile: str | None = None      # the profile's name, once the answers came

    @property
    def done(self) -> bool:
        return self.stage == "done"


def check_code(text: str, now: int | None = None) -> LinkCode:
    """A link code this device can use now, or :class:`Refused`."""
    code = LinkCode.from_text(text)
    code.check_fresh(int(time.time()) if now is None else now)
    return code


def begin(home: Path, passphrase: str, text: str, device_name: str, **kw: Any) -> Any:
    """Check the code and the name, then make the new profile with the pending join in
    it; returns the open :class:`~hramada.client.api.Hramada`. Nothing is written if
    the code or the name is refused."""
    from hramada.client.api import Hramada
    code = check_code(text)
    device_name = check_name(device_name)
    if profile.exists(home):
        raise ProfileError(f"a profile already exists in {home}: a new device is linked into an empty "
                           "HRAMADA_HOME (or wipe this one with `hramada panic --yes`)")
    h = Hramada.init(home, passphrase, device_name, **kw)
    slots = [[random(32), random(32), suite] for suite in code.suites]
    h.store.put_link("b", {"v": 1, "code": code.to_text(), "name": device_name, "link": random(32),
                           "entropy": random(32), "slots": slots, "sent": 0, "revealed": False,
                           "done": {}, "warnings": []})
    return h


class JoinLink(LoadedGroups):
    """Device B's operations (a mixin of :class:`hramada.client.api.Hramada`)."""

    name: str

    def join_pending(self) -> bool:
        return self.store.link("b") is not None

    def _pending_join(self, rec: dict) -> tuple[LinkCode, LinkRequest, list[bytes], HybridPrivateKey, list[DeviceSecrets]]:
        code = LinkCode.from_text(rec["code"])
        link_key = HybridPrivateKey.from_secret(rec["link"])
        devices = [DeviceSecrets(a, b, suite) for a, b, suite in rec["slots"]]
        request, messages = make_link_request(code, rec["name"], link_key.public, [d.public() for d in devices],
                                              rec["entropy"])
        return code, request, messages, link_key, devices

    async def advance_join(self) -> JoinStatus:
        """Send what is not sent yet, read the drop, reveal once challenged, and hold
        every group whose answer has come. Raises :class:`Refused` if the link ended
        (``link-ended``: the linking device closed it) or a message made with the link's
        secret is refused."""
        rec = self.store.link("b")
        if rec is None:
            raise PolicyError("this device is not waiting to be linked")
        code, request, messages, link_key, devices = self._pending_join(rec)
        relay = self._relay(code.relay)
        drop, cap = code.secret.drop_id, code.secret.drop_cap
        try:
            while rec["sent"] < len(messages):
                await relay.guest_post(drop, cap, messages[rec["sent"]])
                rec["sent"] += 1
                self.store.put_link("b", rec)
            read = await relay.guest_read(drop, cap)
        except RelayError as exc:
            if exc.status == 404 or exc.code in ("drop_used", "drop_expired"):
                self.store.delete_link("b")
                raise Refused("link-ended", "the linking device ended the link (or it expired) before it "
                              "answered; nothing was added: show a new code there and run "
                              "`hramada device join` again in an empty HRAMADA_HOME") from None
            raise
        from_a = [m for _, sender, m in read if sender == "member"]
        status = JoinStatus("sent", code.expires, warnings=rec["warnings"])
        nonce_a = set_aside(rec, "link-challenge-forged", lambda ms: read_challenge(code, ms), from_a)
        if nonce_a is None:
            return status
        if not rec["revealed"]:
            try:
                await relay.guest_post(drop, cap, make_reveal(code, rec["entropy"]))
            except RelayError as exc:
                if exc.code != "drop_used":  # used: A read this reveal (sent before an answer got lost)
                    raise
            rec["revealed"] = True
            self.store.put_link("b", rec)
        status.stage, status.digits = "confirm", confirmation(code, request, nonce_a, own_nonce(rec["entropy"]))
        answers = set_aside(rec, "link-answer-forged", lambda ms: read_answers(code, link_key, ms), from_a)
        if not answers.complete:
            return status
        for slot, answer in sorted(answers.groups.items()):
            if str(slot) in rec["done"]:
                continue
            try:
                await self._hold(answer, devices[slot], rec["name"])
                rec["done"][str(slot)] = "held"
            except RelayError:
                raise  # out of reach or refusing now: this slot is tried again next time
            except (VerificationError, HramadaError, ValueError) as exc:
                rec["done"][str(slot)] = f"failed: {exc}"
            self.store.put_link("b", rec)
        status.stage = "done"
        status.held = [self._find(a.ref.group.hex()).name for s_, a in sorted(answers.groups.items())
                       if rec["done"].get(str(s_)) == "held"]
        status.failed = {int(k): v[len("failed: "):] for k, v in rec["done"].items() if v.startswith("failed")}
        status.refused = dict(answers.refused)
        status.profile = answers.profile.name if answers.profile is not None else None
        with self.store.transaction():
            if answers.profile is not None:
                self.store.put_profile_name(answers.profile.name)
            self.store.delete_link("b")  # the link secret and the link key are forgotten
        self.name = status.profile or self.name
        return status

    async def _hold(self, answer: Any, device: DeviceSecrets, device_name: str) -> None:
        if any(rec["group"] == answer.ref.group for rec in self._refs().values()):
            return
        log, keys, entries = await dev.fold_group(self._relay(answer.ref.relay), answer, device, device_name)
        record = dev.group_record(answer, device, device_name, log, keys, _numbering_from(log, keys))
        with self.store.transaction():
            ref = self.store.add_group(record)
            for x in entries:
                self.store.add_log(ref, x.seq, x.prev, x.ciphertext)

    def cancel_join(self) -> None:
        """Stop waiting to be linked (the profile stays, holding what it holds)."""
        if self.store.link("b") is None:
            raise PolicyError("this device is not waiting to be linked")
        self.store.delete_link("b")


__all__ = ["JoinLink", "JoinStatus", "begin", "check_code", "ANSWER_GRACE"]
