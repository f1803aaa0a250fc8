"""What the group's log warns about, in words: the core records codes with parameters
(``GroupLog.warnings``); this is the one place that turns them into sentences."""

from __future__ import annotations

from hramada.core.state import GroupLog

# A void entry was appended by someone who holds the group's key (the relay cannot
# sign one), but it does not verify; every member's device ignores it the same way.
VOID_REASONS = {
    "malformed": "it is not a well-formed entry",
    "undecryptable": "it does not decrypt under the group's key",
    "bad-signature": "its signature is not valid",
    "not-a-member": "its author is not a member",
    "not-a-device": "it is signed by a device that is not one of its author's current devices",
    "other-group": "it was written for another group",
    "misplaced": "it was signed for another place in the log",
    "rotation-without-keys": "it claims a key rotation but carries no new keys",
    "keys-on-ordinary-entry": "it carries new keys where none belong",
    "rotation-not-authorised": "it is a key rotation that no admin authorised (nor, for a device "
                               "revocation, another device of the same member)",
    "rotation-invalid": "it is a key rotation that breaks the group's rules",
}


# A member's entry that verifies but breaks a rule of the group: every device ignores it.
IGNORED_REASONS = {
    "malformed": "it is not well formed",
    "created-already": "the group exists already",
    "not-admin": "only admins may do that",
    "newcomer-cannot-invite": "newcomers cannot invite",
    "invite-exists": "that invitation exists already",
    "no-such-invite": "there is no such invitation",
    "not-inviter-or-admin": "only its inviter or an admin may revoke an invitation",
    "invite-used": "the invitation was used already",
    "invite-revoked": "the invitation was revoked",
    "request-invalid": "the join request is not valid for this group",
    "request-exists": "that join request was posted already",
    "name-taken": "the name {name!r} is, or looks like, {like!r}'s",
    "already-member": "that person is a member already",
    "former-member": "that identity was a member before",
    "box-key-taken": "its key belongs to someone else",
    "relay-key-taken": "its relay-admin key belongs to someone else",
    "no-such-request": "there is no such pending request",
    "newcomer-cannot-vouch": "newcomers cannot vouch",
    "already-vouched": "that member vouched already",
    "admit-needs-rotation": "under the since-join history policy an admission must rotate the group key",
    "bad-role": "there is no such role",
    "vouches-missing": "it has {have} of the {need} vouches it needs",
    "last-admin": "the group must keep an admin",
    "no-such-member": "there is no such member or role",
    "no-change": "it changes nothing",
    "vouches-below-one": "a request needs at least one vouch",
    "bad-history": "there is no such history policy",
    "device-cert-invalid": "the device is not certified by its author's member key for this group",
    "device-key-taken": "its device key belongs to another device",
    "device-name-taken": "the device name {name!r} is, or looks like, {like!r}",
    "too-many-devices": "a member has at most {most} devices",
}


def _who(log: GroupLog, member: bytes | None) -> str:
    if member is None:
        return "an entry that opens under the group key but is not validly signed"
    m = log.members.get(member) or log.former.get(member)
    if m is None:
        return "someone who is not a member"
    return m.name if member in log.members else f"{m.name} (no longer a member)"


def render(log: GroupLog, code: str, params: dict) -> str:
    """One warning of ``log`` as a sentence for the person reading it."""
    seq = params.get("seq")
    if code == "void-entry":
        why = VOID_REASONS.get(params.get("reason", ""), "it does not verify")
        by = params.get("by")
        who = _who(log, by)
        if by is None:
            return f"entry {seq} was ignored: {who} ({why})."
        return (f"entry {seq}, signed by {who}, was ignored: {why}. If this keeps happening, "
                "an admin can remove that member.")
    if code == "ignored-entry":
        why = IGNORED_REASONS.get(params.get("reason", ""), "it breaks the group's rules")
        try:
            why = why.format(**params.get("detail", {}))
        except (KeyError, IndexError, ValueError):
            why = "it breaks the group's rules"
        return f"entry {seq}: {params.get('kind')} by {_who(log, params.get('by'))} ignored: {why}."
    return f"entry {seq}: {code}"


UNREADABLE_REASONS = {
    "unopenable": "could not be opened with the invitation's key",
    "invalid": "was opened but is not a valid join request for this group",
}


def render_unreadable(log: GroupLog, invite: bytes, reason: str) -> str:
    """A join request found in an invitation's drop box that the group cannot use."""
    inv = log.invites.get(invite)
    by = _who(log, inv.by) if inv is not None else "someone"
    why = UNREADABLE_REASONS.get(reason, "could not be read")
    return (f"a join request for the invitation {invite.hex()[:8]} by {by} {why}; it was not "
            "posted to the group. If you expected someone to join, ask them to send it again.")


def refusal_claim(reason: str, group: str) -> str:
    """A refusal of this device's join request: a claim it cannot verify (invitations.md §5)."""
    return (f"a refusal of your request to join was received: {reason}. It cannot be verified (any "
            "member, or the relay, could have sent it), so your request stays pending and a welcome "
            f"still admits you. To give up on it: `hramada group forget {group}`.")


# Device linking (docs/spec/devices.md §10): a refusal's code and parameters, in words.
LINK_REFUSALS = {
    "link-not-a-code": "this is not a Hramada link code (it starts with hramada-link1-)",
    "link-characters": "the link code has a character that does not belong in it ({char}); copy it again",
    "link-damaged": "the link code is damaged or incomplete (a character changed, missing or added); "
                    "copy it again or show a new one",
    "link-version": "the link code is from another version of Hramada ({version}); update both devices",
    "link-malformed": "the link code is not valid; show a new one on the linking device",
    "link-relay": "the link code names a relay address that cannot be used; show a new one",
    "link-no-groups": "the link code carries no group",
    "link-too-many-groups": "the link code carries {count} groups, more than {limit}",
    "link-suite": "the link code names a cipher suite this version does not know",
    "link-expiry": "the link code's expiry is not valid",
    "link-expired": "the link code has expired; show a new one on the linking device "
                    "(`hramada device link`) and use it within 10 minutes",
    "link-ended": "the linking device ended the link before it answered; nothing was added",
    "link-declined": "the digits did not match, so the link was ended and nothing was added. Someone else "
                     "may have seen the code: show a new one, out of sight of others",
    "link-request-forged": "a message in the link's drop did not come from the new device",
    "link-request-malformed": "the new device's request is not well formed; the link was ended",
    "link-request-parts": "the new device's request came in parts that do not fit together; the link was ended",
    "link-request-conflict": "two different requests arrived for this code (someone else may have seen it); "
                             "the link was ended: show a new code, out of sight of others",
    "link-incomplete": "the new device's request has not fully arrived yet",
    "link-request-name": "the new device's name is not a valid name",
    "link-request-key": "the new device sent a key that cannot be used; the link was ended",
    "link-request-slots": "the new device's request names another number of groups than the code",
    "link-request-key-reused": "the new device sent the same key twice; the link was ended",
    "link-too-large": "this link needs more than {limit} messages; link fewer groups at a time",
    "link-challenge-forged": "a message in the link's drop did not come from the linking device",
    "link-challenge-conflict": "two different confirmations arrived for this link; stop and start over",
    "link-reveal-forged": "a message in the link's drop did not come from the new device",
    "link-reveal-conflict": "two different confirmations arrived for this link; the link was ended",
    "link-reveal-mismatch": "the new device's confirmation does not match its request (someone may be "
                            "in the middle); the link was ended and nothing was added",
    "link-answer-forged": "a message in the link's drop did not come from the linking device",
    "link-answer-malformed": "the linking device's answer is not well formed",
    "link-answer-slot": "the linking device answered for a group the code does not carry",
    "link-answer-parts": "the linking device's answer came in parts that do not fit together",
    "link-answer-conflict": "two different answers arrived for one group of this link",
    "group-ref": "a group reference is not valid",
}

# A group the linking device did not link (a group refusal's reason: the log's code, or the person's).
LINK_GROUP_REFUSALS = {
    "device-name-taken": "this member already has a device of that name there",
    "device-key-taken": "that device key is taken there",
    "too-many-devices": "this member has the most devices a group allows there: revoke one first",
    "declined": "the person declined it",
    "not-a-member": "the linking device is no longer a member there",
    "unavailable": "the linking device could not reach that group",
}


def render_refusal(code: str, params: dict, fallback: str = "") -> str:
    """A device-link refusal (``textcode.Refused``) as a sentence."""
    text = LINK_REFUSALS.get(code)
    if text is None:
        return fallback or code
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        return fallback or code


def render_group_refusal(reason: str) -> str:
    return LINK_GROUP_REFUSALS.get(reason, f"it was refused ({reason})")

# The recovery kit and the recovery code (devices.md §7, §9), and what an admin's client
# refuses about a code before it changes anything.
KIT_REFUSALS = {
    "kit-not-a-kit": "this file is not a Hramada recovery kit",
    "kit-version": "this recovery kit was written by another version of Hramada (version {version})",
    "kit-damaged": "the recovery kit is damaged or incomplete (a partial copy?): use another copy",
    "kit-settings": "the recovery kit asks for passphrase settings this version will not use "
                    "(ops {ops}, memory {mem} bytes): it was not written by Hramada",
    "kit-passphrase": "wrong passphrase for this recovery kit (it is the kit's own passphrase, set "
                      "when it was exported, not the profile's)",
    "kit-altered": "the recovery kit was altered after it was written: do not use it",
    "kit-contents": "the recovery kit's contents are not well formed: do not use it",
    "recover-not-a-code": "this is not a Hramada recovery code (it starts with hramada-recover1-)",
    "recover-characters": "the recovery code has a character that does not belong in it ({char})",
    "recover-damaged": "the recovery code is damaged or incomplete (check that it was copied whole)",
    "recover-version": "this recovery code is from another version of Hramada (version {version})",
    "recover-malformed": "the recovery code is not valid ({field})",
    "recover-name": "the device name in the recovery code is not a valid name",
    "recover-key": "the recovery code's {key} key is not a valid key",
    "recover-cert": "the device in the recovery code is not certified by the member key it names: "
                    "do not accept it",
    "recover-other-group": "this recovery code is for another group than {group!r}: ask for the code "
                           "of this group (the person's device shows one per group)",
    "recover-not-admin": "only an admin of {group!r} can re-admit a recovered device: show the code to "
                         "an admin of the group (nothing was changed)",
    "recover-not-a-member": "the recovery code names someone who is not a member of {group!r}{former}",
    "recover-suite": "the recovery code was made for suite {suite}, but the group uses suite "
                     "{group_suite}",
    "recover-self": "the recovery code names your own member: another admin must re-admit it",
    "recover-done": "this device was re-admitted already: it gets in at its next `hramada sync`",
    "recover-device-taken": "the device in the recovery code is, or was, a device in the group already: "
                            "ask the person for a new code (from a new `hramada backup import`)",
    "recover-drop-taken": "the welcome for the recovered device {device!r} could not be posted: its drop "
                          "belongs to another group on the relay. Ask the person for a new recovery code.",
}


def kit_refusal(code: str, params: dict) -> str:
    """A refusal of a recovery kit or code, as a sentence."""
    params = dict(params)
    if code == "recover-not-a-member":
        params["former"] = f" ({params['former']} was, and is no longer)" if params.get("former") else ""
    try:
        return KIT_REFUSALS[code].format(**params)
    except (KeyError, IndexError, ValueError):
        return KIT_REFUSALS.get(code, f"refused ({code})")


def recovery_waiting(rejected: int) -> str:
    """A group a device set up from a kit waits for: what the person does next."""
    text = ("waiting for an admin to re-admit this device: show them its recovery code in person "
            "(`hramada backup codes`), then `hramada sync`")
    if rejected:
        text += (f"; {rejected} message(s) in the recovery drop did not fit the group's log and were "
                 "passed over (the relay or a member may have put them there)")
    return text
