"""Admission through the public API: invitations, join requests, vouches and admits
(the part of :class:`hramada.client.api.Hramada` that lets people in).

The listings (``invites``, ``requests``) sync the group first. The commands that
append an entry (``invite``, ``revoke_invite``, ``vouch``, ``admit``) do not: they
check the command against the verified local log and append at its head, one round
trip, and the relay's position check tells them when the log has moved on
(:meth:`Admissions._acting`). A request this device has not seen yet is taken from the
drops first. The welcome an admit sets off is queued by the journal with the entry and
sent after it.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable, TypeVar

from hramada.client import joining
from hramada.client.loaded import LoadedGroups
from hramada.client.session import GroupSession
from hramada.client.sync import random
from hramada.client.transport import RetiredCapability
from hramada.client.views import InviteInfo, JoinInfo, MemberInfo, RequestInfo
from hramada.core import invitation, wire
from hramada.core.identity import Identity, fingerprint
from hramada.core.invitation import InvitationCode, InvitationSecret
from hramada.core.names import clean_name
from hramada.core.state import Invite, Request
from hramada.errors import NotFoundError, PolicyError

T = TypeVar("T")
U = TypeVar("U")

INVITE_EXPIRY = 7 * 86400         # seconds an invitation is valid by default
MAX_INVITE_EXPIRY = 365 * 86400


class Admissions(LoadedGroups):
    name: str  # the profile's name, a joiner's default display name

    async def _acting(self, group: str, act: Callable[[GroupSession], Awaitable[T]]) -> T:
        """Run ``act`` (a command that appends an entry) on the group as this device
        holds it, without syncing first. ``act`` checks the command against the verified
        local log, and the entry is built on its head: the relay takes it only at that
        position, so if the log has moved on the engine pulls and verifies what is new,
        checks the command again and builds anew (:meth:`Engine._write`).

        A command the local log allows goes ahead (the relay's position check shows
        whether that log was current). One it refuses may be allowed by now (another
        vouch came in, a role changed), so a refusal is given only after a sync: then
        ``act`` runs again on the synced log. It runs again after a sync, too, if a
        rotation retired this device's capability meanwhile (``act``'s first request is
        refused). A group still pending here syncs first."""
        s = self._find(group)
        if s.status == "pending":
            await self._sync(s)
        s.require_active()
        try:
            return await act(s)
        except (PolicyError, RetiredCapability):  # refused on a log that may be behind, or the key rotated
            await self._sync(s)
            s.require_active()
            return await act(s)

    async def invite(self, group: str, expires_in: int = INVITE_EXPIRY) -> dict:
        """A one-time invitation code, valid for ``expires_in`` seconds."""
        if not isinstance(expires_in, int) or not 1 <= expires_in <= MAX_INVITE_EXPIRY:
            raise ValueError(f"an invitation expires after 1 second to {MAX_INVITE_EXPIRY // 86400} days")

        async def act(s: GroupSession) -> dict:
            s.require_role("admin", "member")
            secret = InvitationSecret(random(32))
            expires = int(time.time()) + expires_in
            engine = self._engine(s)
            await engine.relay.open_drop(s.record["mailbox"], s.cap, secret.drop_id,
                                         wire.cap_hash(secret.drop_cap), expires)
            await engine.append("invite", secret.log_body(expires), lambda: s.require_role("admin", "member"))
            code = InvitationCode(s.record["relay"], s.record["mailbox"], s.group_id, secret, expires,
                                  s.log.suite).to_text()
            return {"code": code, "group": s.group_id.hex(), "invite": secret.invite_id.hex(), "expires": expires}
        return await self._acting(group, act)

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

        async def act(s: GroupSession) -> tuple[GroupSession, Invite]:
            inv = await self._looked_up(s, self._invite_of, invite)

            def check() -> None:
                me = s.require_role("admin", "member")
                if me.role != "admin" and inv.by != s.identity.public.id:
                    raise PolicyError("only the member who made an invitation, or an admin, can revoke it")
                if s.log.invites[inv.id].status != "open":
                    raise PolicyError(f"invitation {invite} is {s.log.invites[inv.id].status} already")
            check()
            await self._engine(s).append("revoke", {"invite": inv.id}, check)
            return s, inv
        s, inv = await self._acting(group, act)
        engine = self._engine(s)
        await joining.drop_call(engine, engine.relay.close_drop, inv.drop)
        return self._invite_info(s, s.log.invites[inv.id], time.time())

    async def _looked_up(self, s: GroupSession, find: Callable[[GroupSession, str], U], text: str) -> U:
        """``find(s, text)``; if this device does not know it, take what waits in the
        drops (a join request that just arrived), then sync, and look again."""
        try:
            return find(s, text)
        except NotFoundError:
            pass
        await joining.take_join_requests(self._engine(s))
        try:
            return find(s, text)
        except NotFoundError:
            await self._sync(s)
            s.require_active()
            return find(s, text)

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
        name = clean_name(name or self.name)
        identity = Identity.from_secrets(random(32), random(32), random(32), suite=c.suite)
        signed = invitation.make_join_request(c.group, c.secret, identity, name)
        rid = invitation.request_id(signed)
        message = invitation.seal_guest_message(c.secret.box_key, random(24), signed)
        record = {"group": c.group, "name": f"(pending {c.group.hex()[:8]})", "relay": c.relay.rstrip("/"),
                  "mailbox": c.mailbox, "me": name, "id": list(identity.secrets()),
                  "device": identity.device_name, "suite": c.suite, "gens": [],
                  "status": "pending", "pin": [0, wire.GENESIS_PREV], "items": 0, "drops": 0,
                  "join": {"secret": c.secret.secret, "request": rid, "message": message, "sent": False}}
        ref = self.store.add_group(record)
        session = self._session(ref)
        try:
            await self._sync(session)
        except PolicyError:  # the relay refused the code: keep nothing of it
            self.store.delete_group(ref)
            raise
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
        async def act(s: GroupSession) -> RequestInfo:
            s.require_role("admin", "member")
            req = await self._looked_up(s, self._request, rid)

            def check() -> None:
                s.require_role("admin", "member")
                r = s.log.requests[req.id]
                if r.status != "pending":
                    raise PolicyError(f"request {rid} is already {r.status}")
                if s.identity.public.id in r.vouches:
                    raise PolicyError(f"you have already vouched for {r.name}")
            await self._engine(s).append("vouch", {"request": req.id}, check)
            return self._request_info(s, s.log.requests[req.id])
        return await self._acting(group, act)

    async def admit(self, group: str, rid: str, probation: bool = False) -> MemberInfo:
        async def act(s: GroupSession) -> tuple[GroupSession, Request]:
            s.require_role("admin")
            req = await self._looked_up(s, self._request, rid)
            history = s.log.history
            check = self._admit_check(s, req, rid, history)
            role = "newcomer" if probation else "member"
            engine = self._engine(s)
            # The welcome is queued by the journal in the transaction that stores the entry.
            if history == "since-join":  # the key rotates: the newcomer gets none before it
                await engine.rotate(check=check, admit=(req.id, role))
            else:
                await engine.append("admit", {"request": req.id, "role": role}, check)
            return s, req
        s, req = await self._acting(group, act)
        await self._engine(s)._flush_outbox()  # the welcome the journal queued with the entry
        m = s.log.members[req.key.id]
        return MemberInfo(m.name, m.role, fingerprint(m.key), m.since, [s.name_of(v) for v in m.vouchers], False)

    @staticmethod
    def _admit_check(s: GroupSession, req: Request, rid: str, history: str) -> Callable[[], None]:
        def check() -> None:
            s.require_role("admin")
            if s.log.history != history:
                raise PolicyError("the group's history policy changed meanwhile: run the command again")
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
        return check


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
