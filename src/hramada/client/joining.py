"""Joining a group, both sides of it, as part of a sync (:mod:`hramada.client.sync`).

* Members take join requests from the invitations' drop boxes into the log
  (:func:`take_join_requests`), or answer a request the group will not take with a
  refusal in the drop, so its sender is not left waiting.
* The admin who admitted a newcomer sends the welcome (:func:`send_welcome`) from the
  outgoing queue, where the journal put it with the admit entry.
* A pending joiner sends its request, looks for its welcome or a refusal, and adopts
  the group's log once a welcome fits it (:func:`finish_joining`).

Every function here works on one :class:`~hramada.client.sync.Engine`: through its
journal and its guarded relay, so the journal rule holds here as everywhere.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Awaitable, Callable

import nacl.utils

from hramada.core import crypto, invitation
from hramada.client.pages import PageMismatch, PageWithheld, fetch_page
from hramada.client.sealing import OsSealer
from hramada.core.pages import PageMissing
from hramada.core.suite2 import HybridPublicKey
from hramada.core.joining import WelcomeMismatch, adopt
from hramada.core.state import GroupLog, Invite, Keyring
from hramada.errors import HramadaError, PolicyError, RelayError, RelayUnreachable

if TYPE_CHECKING:
    from hramada.client.sync import Engine

PAGE = 1000
UNREADABLE_KEPT = 20  # join requests that could not be opened, shown to members as warnings
_DROP_REFUSALS = {"drop_used": "used", "drop_expired": "expired"}


class AlreadyDone(Exception):
    """What a write was for has happened meanwhile (another device did it)."""


# -- members: join requests in the drops ------------------------------------------

async def take_join_requests(e: Engine) -> None:
    """Move verified join requests from the drop boxes into the log, and mark each
    used drop so on the relay; answer a request the group will not take (its
    invitation used, revoked or expired, or its name taken) with a refusal in the
    drop, so its sender is not left waiting."""
    me = e.s.me
    if me is None or me.role not in ("admin", "member"):
        return
    while await _take_join_request_page(e):
        pass


async def _take_join_request_page(e: Engine) -> bool:
    """One page of drop messages after the stored cursor; the cursor moves to the
    last message read (never to the relay's claimed head, so a long backlog is read
    to its end). Returns True if there may be more."""
    s = e.s
    after = s.record["drops"]
    messages, head = await e.relay.read_drops(s.record["mailbox"], s.cap, after)
    messages = [m for m in messages if m[0] > after]
    by_drop = {inv.drop: inv for inv in s.log.invites.values()}
    if any(drop not in by_drop for _, drop, _, _ in messages):  # an invitation this device has not seen yet
        await e.catch_up()
        by_drop = {inv.drop: inv for inv in s.log.invites.values()}
    unreadable = []
    for cursor, drop, sender, message in messages:
        invite = by_drop.get(drop)
        if sender != "guest" or invite is None:
            continue
        try:
            signed = invitation.open_guest_message(invite.box_key, message)
        except HramadaError:
            unreadable.append([cursor, invite.id, "unopenable"])
            continue  # not for the group's log, but admins are told (notices.py)
        try:
            req = invitation.verify_join_request(signed, s.log.group, invite.sign, s.log.suite)
        except HramadaError:
            unreadable.append([cursor, invite.id, "invalid"])
            continue
        if req.id in s.log.requests:
            continue
        reason = refusal(e, invite, req.name)
        if reason is None:
            def still_open(invite_id: bytes = invite.id, name: str = req.name, rid: bytes = req.id) -> None:
                if rid in s.log.requests or refusal(e, s.log.invites[invite_id], name) is not None:
                    raise AlreadyDone()  # another member took it first, or it can no longer be taken
            try:
                await e.append("request", {"request": signed}, still_open)
            except AlreadyDone:
                reason = refusal(e, s.log.invites[invite.id], req.name)
        if reason is None:
            await drop_call(e, e.relay.mark_drop_used, drop)
        elif req.id not in s.log.requests:
            await drop_call(e, e.relay.post_to_drop, drop,
                            invitation.make_refusal(invite.box_key, nacl.utils.random(24), req.id, reason))
    if messages:
        with e.journal.change(s) as ch:
            ch.record["drops"] = max(after, messages[-1][0])
            if unreadable:
                kept = ch.record.get("unreadable", []) + unreadable
                ch.record["unreadable"] = kept[-UNREADABLE_KEPT:]
    return bool(messages) and messages[-1][0] < head


def refusal(e: Engine, invite: Invite, name: str) -> str | None:
    """Why the group would not take a request for ``invite`` under ``name`` now."""
    if invite.status != "open":
        return invite.status
    if invite.expires and time.time() >= invite.expires:
        return "expired"
    if e.s.log.name_taken(name) is not None:
        return "name"
    return None


async def drop_call(e: Engine, call: Callable[..., Awaitable[None]], drop: bytes, *args: bytes) -> None:
    """A call about one drop; a drop closed meanwhile needs nothing more."""
    try:
        await call(e.s.record["mailbox"], e.s.cap, drop, *args)
    except RelayError as exc:
        if exc.status != 404:
            raise


# -- the admitting admin: the welcome ---------------------------------------------

async def send_welcome(e: Engine, request: bytes) -> None:
    s = e.s
    req = s.log.requests[request]
    invite = s.log.invites[req.invite]
    member = s.log.members.get(req.key.id)
    if member is None:  # removed or gone before the welcome went out
        return
    newcomer = s.log.box_public_key(req.device.box)
    message = invitation.make_welcome(
        newcomer, nacl.utils.random(32), s.group_id, request, s.generation,
        admit=(member.since, s.log.hash_at(member.since)),
        starts=[g.start for g in s.log.generations[1:]],
        sealer=OsSealer() if isinstance(newcomer, HybridPublicKey) else None)
    await e.relay.post_to_drop(s.record["mailbox"], s.cap, invite.drop, message)


# -- the joiner ---------------------------------------------------------------------

async def finish_joining(e: Engine) -> bool:
    """For a pending joiner: send the request if not yet sent, and look for a welcome.
    Returns True once the group is active."""
    s = e.s
    join = s.record["join"]
    secret = invitation.InvitationSecret(join["secret"])
    if not join.get("sent"):
        earlier = False  # whether an earlier attempt had delivered it (its answer got lost)
        try:
            await e.relay.guest_post(secret.drop_id, secret.drop_cap, join["message"])
        except RelayError as exc:
            reason = _DROP_REFUSALS.get(exc.code or "") or ("revoked" if exc.status == 404 else None)
            if reason is None:
                raise
            if not await _already_sent(e, secret, join["message"]):
                raise PolicyError(invitation.REFUSALS[reason]) from None
            earlier = True
        with e.journal.change(s) as ch:
            ch.record["join"]["sent"] = True
        if not earlier:
            return False  # sent just now: nothing can have answered it yet
    try:
        messages = await e.relay.guest_read(secret.drop_id, secret.drop_cap)
    except RelayError as exc:
        if exc.status != 404:
            raise
        _refused(e, "revoked")  # the relay's word: a claim like any refusal
        return False
    for _, sender, message in messages:
        if sender != "member":
            continue
        try:
            refused, reason = invitation.open_refusal(secret.box_key, message)
        except HramadaError:
            pass
        else:
            if refused == join["request"]:
                _refused(e, reason)  # a claim: keep looking for a welcome
            continue
        try:
            welcome = invitation.open_welcome(s.identity.boxing, message, s.group_id, request=join["request"])
        except (HramadaError, ValueError):
            continue
        if welcome.request != join["request"]:
            continue
        try:
            await _adopt_log(e, welcome)
        except RelayUnreachable:
            raise
        except (WelcomeMismatch, RelayError):
            continue  # stale, or made up by a member (its key opens no mailbox): try the next
        return True
    return False


async def _already_sent(e: Engine, secret: invitation.InvitationSecret, message: bytes) -> bool:
    """Whether our own join request is in the drop (an earlier answer got lost)."""
    try:
        return any(sender == "guest" and crypto.equal(m, message)
                   for _, sender, m in await e.relay.guest_read(secret.drop_id, secret.drop_cap))
    except RelayError:
        return False


def _refused(e: Engine, reason: str) -> None:
    """A refusal is a claim, not a verdict: any member holds the invitation's key (and
    the relay answers for the drop), and the joiner holds no log to check who sent it.
    It is shown, and the request stays pending: a genuine welcome still admits
    (invitations.md)."""
    if e.s.record.get("refused") != invitation.REFUSALS[reason]:
        with e.journal.change(e.s) as ch:
            ch.record["refused"] = invitation.REFUSALS[reason]


async def read_whole_log(e: Engine, cap: bytes) -> list:
    """The group's whole log from entry 1, read with ``cap`` page by page, in order (a
    welcome's key: the newcomer or a recovered device holds no log yet)."""
    entries: list = []
    while True:
        page, head = await e.relay.read_log(e.s.record["mailbox"], cap, len(entries), PAGE)
        entries.extend(page)
        if not page or len(entries) >= head[0]:
            break
    if [x.seq for x in entries] != list(range(1, len(entries) + 1)):
        raise WelcomeMismatch("the relay served the log out of order")
    return entries


async def _adopt_log(e: Engine, welcome: invitation.Welcome) -> None:
    """Fetch the whole log with the welcome's key and fold it from the group's
    creation; keep it only if the welcome fits it (``joining.adopt``)."""
    s = e.s
    entries = await read_whole_log(e, welcome.generation.relay_cap)
    rows = [(x.seq, x.prev, x.ciphertext) for x in entries]
    at_hand: dict[bytes, bytes] = {}
    while True:
        try:
            log, keys = adopt(s.record["mailbox"], s.group_id, rows, welcome, s.identity.boxing,
                              s.identity.public.id, at_hand)
            break
        except PageMissing as missing:  # a rotation after the welcome's key: fetch my page
            if missing.digest in at_hand:
                raise
            try:
                at_hand[missing.digest] = await fetch_page(e.relay, s.record["mailbox"],
                                                           welcome.generation.relay_cap, missing.digest)
            except (PageWithheld, PageMismatch) as exc:
                with e.journal.change(s) as ch:
                    ch.suspect(str(exc))
                raise WelcomeMismatch(str(exc)) from None
    with e.journal.change(s) as ch:
        for x in entries:
            e.store.add_log(s.ref, x.seq, x.prev, x.ciphertext)
        s.log, s.keys = log, keys
        ch.record["status"] = "active"
        ch.record.pop("join", None)
        ch.record["item_seqs"] = _numbering_from(log, keys)


def _numbering_from(log: GroupLog, keys: Keyring) -> dict:
    """Where a newcomer's count of each author's items starts: nothing before the first
    generation it holds in full is expected (its items are not for this device), so
    each author's bound in the rotation that made that generation is taken as seen."""
    first = min((n for n, g in keys.generations.items() if g.full), default=0)
    if first == 0:
        return {}
    info = log.generations[first - 1]
    bounds, links = info.items_cutoff or {}, info.items_links or {}
    return {author: [n, 0, n, [], links[author]] for author, n in bounds.items()}
