"""Admission through the public API: invitations, join requests, vouches and admits
(the part of :class:`hramada.client.api.Hramada` that lets people in).

Each operation syncs the group first, checks the command against the verified log,
and appends its entry through the sync engine (:mod:`hramada.client.sync`); the
welcome an admit sets off is queued by the journal with the entry and sent after it.
"""

from __future__ import annotations

import time
from typing import Any

from hramada.client import joining
from hramada.client.loaded import LoadedGroups
from hramada.client.session import GroupSession
from hramada.client.sync import random
from hramada.client.views import InviteInfo, JoinInfo, MemberInfo, RequestInfo
from hramada.core import invitation, wire
from hramada.core.identity import Identity, fingerprint
from hramada.core.invitation import InvitationCode, InvitationSecret, check_name
from hramada.core.state import Invite, Request
from hramada.errors import NotFoundError, PolicyError

INVITE_EXPIRY = 7 * 86400         # seconds an invitation is valid by default
MAX_INVITE_EXPIRY = 365 * 86400


class Admissions(LoadedGroups):
    name: str  # the profile's name, a joiner's default display name

    async def invite(self, group: str, expires_in: int = INVITE_EXPIRY) -> dict:
        """A one-time invitation code, valid for ``expires_in`` seconds."""
        if not isinstance(expires_in, int) or not 1 <= expires_in <= MAX_INVITE_EXPIRY:
            raise ValueError(f"an invitation expires after 1 second to {MAX_INVITE_EXPIRY // 86400} days")
        s = await self._synced(group)
        s.require_role("admin", "member")
        secret = InvitationSecret(random(32))
        expires = int(time.time()) + expires_in
        await self._relay(s.record["relay"]).open_drop(s.record["mailbox"], s.cap, secret.drop_id,
                                                       wire.cap_hash(secret.drop_cap), expires)
        await self._engine(s).append("invite", secret.log_body(expires))
        code = InvitationCode(s.record["relay"], s.record["mailbox"], s.group_id, secret, expires).to_text()
        return {"code": code, "group": s.group_id.hex(), "invite": secret.invite_id.hex(), "expires": expires}

    def _invite_of(self, s: GroupSession, text: str) -> Invite:
        return _by_hex_id(s.log.invites, text, s.name, "an invitation id (32 hex digits)",
                          "invitation", "invites")

    @staticmethod
    def _invite_info(s: GroupSession, i: Invite, now: float) -> InviteInfo:
        status = i.status
        if status == "open" and i.expires and now >= i.expires:
            status = "expired"
        return InviteInfo(i.id.hex(), s.name_of(i.by), i.expires, i.request is not None, status)

    async def invites(self, group: str) -> list[InviteInfo]:
        s = await self._synced(group)
        now = time.time()
        return [self._invite_info(s, i, now) for i in sorted(s.log.invites.values(), key=lambda i: i.seq)]

    async def revoke_invite(self, group: str, invite: str) -> InviteInfo:
        """Withdraw an unused invitation (its inviter or an admin): the log records it,
        and its drop on the relay closes."""
        s = await self._synced(group)
        me = s.require_role("admin", "member")
        inv = self._invite_of(s, invite)
        if me.role != "admin" and inv.by != s.identity.public.id:
            raise PolicyError("only the member who made an invitation, or an admin, can revoke it")

        def check() -> None:
            if s.log.invites[inv.id].status != "open":
                raise PolicyError(f"invitation {invite} is {s.log.invites[inv.id].status} already")
        engine = self._engine(s)
        await engine.append("revoke", {"invite": inv.id}, check)
        await joining.drop_call(engine, engine.relay.close_drop, inv.drop)
        return self._invite_info(s, s.log.invites[inv.id], time.time())

    async def _close_drops_of(self, s: GroupSession, member: bytes) -> None:
        """Close the drops of ``member``'s invitations that the log shows revoked with them."""
        engine = self._engine(s)
        for inv in s.log.invites.values():
            if inv.by == member and inv.status == "revoked":
                await joining.drop_call(engine, engine.relay.close_drop, inv.drop)

    async def join(self, code: str, name: str | None = None) -> JoinInfo:
        c = InvitationCode.from_text(code)
        if c.expires and time.time() >= c.expires:
            raise PolicyError(invitation.REFUSALS["expired"])
        for _, rec in self.store.groups():
            if rec["group"] == c.group:
                raise PolicyError("this profile already holds that group (or a request to join it)")
        name = check_name(name or self.name)
        identity = Identity.from_secrets(random(32), random(32))
        signed = invitation.make_join_request(c.group, c.secret, identity, name)
        rid = invitation.request_id(signed)
        message = invitation.seal_guest_message(c.secret.box_key, random(24), signed)
        record = {"group": c.group, "name": f"(pending {c.group.hex()[:8]})", "relay": c.relay.rstrip("/"),
                  "mailbox": c.mailbox, "me": name, "id": list(identity.secrets()), "gens": [],
                  "status": "pending", "pin": [0, wire.GENESIS_PREV], "items": 0, "drops": 0,
                  "join": {"secret": c.secret.secret, "request": rid, "message": message, "sent": False}}
        ref = self.store.add_group(record)
        session = self._session(ref)
        try:
            await self._sync(session)
        except PolicyError:  # the relay refused the code: keep nothing of it
            self.store.delete_group(ref)
            raise
        if session.status == "refused":
            reason = session.record["refused"]
            self.store.delete_group(ref)
            raise PolicyError(reason)
        return JoinInfo(c.group.hex(), rid.hex(), session.status)

    def _request(self, s: GroupSession, rid: str) -> Request:
        return _by_hex_id(s.log.requests, rid, s.name, "a request id (16 hex digits)",
                          "join request", "requests")

    @staticmethod
    def _request_info(s: GroupSession, r: Request) -> RequestInfo:
        valid = s.log.valid_vouches(r)
        invite = s.log.invites.get(r.invite)
        return RequestInfo(r.id.hex(), r.name, fingerprint(r.key), len(valid), s.log.vouches_needed(),
                           [s.name_of(v) for v in valid], r.status,
                           s.name_of(invite.by) if invite is not None else "")

    async def requests(self, group: str) -> list[RequestInfo]:
        s = await self._synced(group)
        return [self._request_info(s, r) for r in sorted(s.log.requests.values(), key=lambda r: r.seq)]

    async def vouch(self, group: str, rid: str) -> RequestInfo:
        s = await self._synced(group)
        s.require_role("admin", "member")
        req = self._request(s, rid)

        def check() -> None:
            r = s.log.requests[req.id]
            if r.status != "pending":
                raise PolicyError(f"request {rid} is already {r.status}")
            if s.identity.public.id in r.vouches:
                raise PolicyError(f"you have already vouched for {r.name}")
        await self._engine(s).append("vouch", {"request": req.id}, check)
        return self._request_info(s, s.log.requests[req.id])

    async def admit(self, group: str, rid: str, probation: bool = False) -> MemberInfo:
        s = await self._synced(group)
        s.require_role("admin")
        req = self._request(s, rid)

        def check() -> None:
            r = s.log.requests[req.id]
            if r.status != "pending":
                raise PolicyError(f"request {rid} is already {r.status}")
            have, need = len(s.log.valid_vouches(r)), s.log.vouches_needed()
            if have < need:
                raise PolicyError(f"{r.name} has {have} of the {need} vouches needed; "
                                  f"{need - have} more member(s) must run `hramada vouch`")
            taken = s.log.name_taken(r.name, request=r.id)
            if taken is not None:
                raise PolicyError(f"the name {r.name!r} is, or looks like, that of {taken!r}: the group "
                                  "cannot admit it; the person must ask again under another name")
        engine = self._engine(s)
        role = "newcomer" if probation else "member"
        # The welcome is queued by the journal in the transaction that stores the entry.
        if s.log.history == "since-join":  # the key rotates: the newcomer gets none before it
            await engine.rotate(check=check, admit=(req.id, role))
        else:
            await engine.append("admit", {"request": req.id, "role": role}, check)
        await engine._flush_outbox()  # the welcome the journal queued with the entry
        m = s.log.members[req.key.id]
        return MemberInfo(m.name, m.role, fingerprint(m.key), m.since, [s.name_of(v) for v in m.vouchers], False)


def _by_hex_id(table: dict, text: str, group: str, kind: str, noun: str, listing: str) -> Any:
    """The entry of ``table`` (keyed by raw id) that ``text`` names in hex, or a clear error."""
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not {kind}") from None
    found = table.get(raw)
    if found is None:
        raise NotFoundError(f"no {noun} {text} in {group!r} (see `hramada {listing}`)")
    return found
