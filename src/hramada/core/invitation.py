"""Invitations, join requests and welcomes (after Keybase's Seitan tokens).

An inviter draws a 32-byte invitation secret. Everything else derives from it:
the invitation's id, a drop box on the relay and the capability to write into it,
a signing key (only its public half, the *commitment*, enters the log) and a key
that encrypts the join request for the group. The secret travels out of band as a
code (text or QR) together with the relay address, the mailbox and the group id.

The invitee answers with a join request signed twice: by their new identity, and by
the invitation key, proving they hold the code. After admission a member sends a
*welcome*, sealed to the newcomer's box key, carrying the current generation's seed;
the newcomer checks it against the log's commitment before using it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from hramada.core import crypto, suite2
from hramada.core.crypto import BoxPrivateKey, BoxPublicKey, SigningKey, VerifyKey
from hramada.core.encoding import decode, encode, expect, fields
from hramada.core.identity import DeviceRecord, Identity, MemberKey
from hramada.core.keys import Generation
from hramada.core.names import check_name
from hramada.core.suite2 import HybridPrivateKey, HybridPublicKey, Sealer
from hramada.core.urls import check_relay_url
from hramada.errors import DecryptionError, EncodingError, ForgeryError

CODE_PREFIX = "hramada1-"
CODE_VERSION = 3  # the payload's first element; 2 added the expiry, 3 the group's suite
REQUEST_ID_BYTES = 8
MAX_CODE_CHARS = 2048  # a code with the longest relay address has about 1,000
_REQUEST_FIELDS = {"group": bytes, "invite": bytes, "name": str, "sign": bytes, "relay": bytes,
                   "device": dict}


@dataclass(frozen=True, slots=True, repr=False)
class InvitationSecret:
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != 32:
            raise ValueError("an invitation secret is 32 bytes")

    def _k(self, purpose: str) -> bytes:
        return crypto.derive_key(self.secret, purpose)

    @property
    def invite_id(self) -> bytes:
        return self._k("hramada:v1:invite-id")[:16]

    @property
    def drop_id(self) -> bytes:
        return self._k("hramada:v1:invite-drop")[:16]

    @property
    def drop_cap(self) -> bytes:
        return self._k("hramada:v1:invite-drop-cap")

    @property
    def signing(self) -> SigningKey:
        return SigningKey.from_seed(self._k("hramada:v1:invite-sign"))

    @property
    def box_key(self) -> bytes:
        return self._k("hramada:v1:invite-box")

    def log_body(self, expires: int = 0) -> dict:
        """The ``invite`` entry's body: commitments, the group's request key, and when
        the invitation expires (Unix seconds; 0 for a test that needs no clock)."""
        if not isinstance(expires, int) or expires < 0:
            raise ValueError("an expiry is a non-negative number of seconds since 1970")
        return {"invite": self.invite_id, "sign": self.signing.public.raw,
                "key": self.box_key, "drop": self.drop_id, "expires": expires}

    def __repr__(self) -> str:
        return "InvitationSecret(…)"


@dataclass(frozen=True, slots=True)
class InvitationCode:
    """What the inviter hands over out of band."""

    relay: str
    mailbox: bytes
    group: bytes
    secret: InvitationSecret
    expires: int = 0  # Unix seconds, as in the invite entry; 0: none given
    suite: int = crypto.SUITE  # the group's cipher suite: the joiner's device box key is of it

    def to_text(self) -> str:
        check_relay_url(self.relay)
        if self.suite not in (crypto.SUITE, suite2.SUITE):
            raise ValueError(f"unknown cipher suite {self.suite}")
        payload = encode([CODE_VERSION, self.relay, self.mailbox, self.group, self.secret.secret,
                          self.expires, self.suite])
        check = crypto.hash32("hramada:v1:code-check", payload)[:4]
        return CODE_PREFIX + base64.b32encode(payload + check).decode().rstrip("=").lower()

    @classmethod
    def from_text(cls, text: str) -> "InvitationCode":
        if not isinstance(text, str):
            raise ValueError("an invitation code must be text")
        if len(text) > 4 * MAX_CODE_CHARS:
            raise ValueError("this is far too long to be a Hramada invitation code")
        compact = "".join(text.split())
        if not compact.isascii():  # only ASCII: no Unicode case mapping turns K into K
            raise ValueError("the invitation code has characters that do not belong in it")
        compact = compact.lower()
        if len(compact) > MAX_CODE_CHARS:
            raise ValueError("this is far too long to be a Hramada invitation code")
        if not compact.startswith(CODE_PREFIX):
            raise ValueError(f"this is not a Hramada invitation code (it should start with {CODE_PREFIX!r})")
        body = compact[len(CODE_PREFIX):].upper()
        try:
            raw = base64.b32decode(body + "=" * (-len(body) % 8))
        except (binascii.Error, ValueError):
            raise ValueError("the invitation code has characters that do not belong in it") from None
        if len(raw) < 8 or not crypto.equal(crypto.hash32("hramada:v1:code-check", raw[:-4])[:4], raw[-4:]):
            raise ValueError("the invitation code is damaged or incomplete (check for typos)")
        try:
            v = decode(raw[:-4])
            expect(isinstance(v, list) and len(v) == 7 and v[0] == CODE_VERSION, "invitation code")
            _, relay, mailbox, group, secret, expires, suite = v
            expect(type(suite) is int and suite in (crypto.SUITE, suite2.SUITE), "cipher suite")
            expect(isinstance(expires, int) and 0 <= expires < 2**63, "expiry")
            expect(isinstance(relay, str), "relay address")
            expect(isinstance(mailbox, bytes) and len(mailbox) == 16, "mailbox")
            expect(isinstance(group, bytes) and len(group) == 16, "group id")
            expect(isinstance(secret, bytes) and len(secret) == 32, "secret")
        except EncodingError as exc:
            raise ValueError(f"the invitation code is not valid: {exc}") from None
        try:
            relay = check_relay_url(relay)
        except ValueError as exc:
            raise ValueError(f"the invitation code is not valid: {exc}") from None
        return cls(relay, mailbox, group, InvitationSecret(secret), expires, suite)


# -- join requests ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class JoinRequest:
    id: bytes
    invite: bytes
    name: str
    key: MemberKey
    signed: bytes
    relay: bytes  # the joiner's relay-admin key (identity.relay_admin), used if made an admin
    device: DeviceRecord  # the joining device, certified by the joiner's member key


def request_id(signed: bytes) -> bytes:
    return crypto.hash32("hramada:v1:request-id", signed)[:REQUEST_ID_BYTES]


def make_join_request(group: bytes, invitation: InvitationSecret, identity: Identity,
                      name: str, suite: int | None = None) -> bytes:
    """A join request for ``group``: the joiner's member key, relay-admin key and this
    device's record (certified for ``group`` and ``suite``, by default the suite of the
    identity's box key), signed by the member key
    and by the invitation key."""
    inner = encode({"group": group, "invite": invitation.invite_id, "name": check_name(name),
                    "sign": identity.public.sign.raw, "relay": identity.relay_admin.public.raw,
                    "device": identity.device_record(group, suite).to_value()})
    return encode([inner, crypto.sign(identity.member, "hramada:v1:join-request", inner),
                   crypto.sign(invitation.signing, "hramada:v1:invite-proof", inner)])


def verify_join_request(signed: bytes, group: bytes, invite_sign: VerifyKey,
                        suite: int = crypto.SUITE) -> JoinRequest:
    """Check both signatures of a join request and its device's cert; raise
    ForgeryError or EncodingError."""
    outer = decode(signed)
    expect(isinstance(outer, list) and len(outer) == 3
           and all(isinstance(x, bytes) for x in outer), "join request")
    inner, sig_id, sig_inv = outer
    v = fields(decode(inner), "join request",
               _REQUEST_FIELDS)
    expect(len(v["sign"]) == 32 and len(v["relay"]) == 32, "join request (keys)")
    device = DeviceRecord.from_value(v["device"], suite, "join request (device)")
    try:
        name = check_name(v["name"])
    except ValueError:
        raise EncodingError("malformed join request (name)") from None
    if not crypto.equal(v["group"], group):
        raise ForgeryError("the join request is for another group")
    key = MemberKey(VerifyKey(v["sign"]), v["relay"])
    crypto.verify(key.sign, "hramada:v1:join-request", inner, sig_id)
    crypto.verify(invite_sign, "hramada:v1:invite-proof", inner, sig_inv)
    device.verify(key.id, group, suite)
    return JoinRequest(request_id(signed), v["invite"], name, key, signed, v["relay"], device)


def peek_invite_id(signed: bytes) -> bytes:
    """The invitation a (not yet verified) join request claims to answer."""
    outer = decode(signed)
    expect(isinstance(outer, list) and len(outer) == 3 and isinstance(outer[0], bytes), "join request")
    v = fields(decode(outer[0]), "join request",
               _REQUEST_FIELDS)
    return v["invite"]


_GUEST_AAD = encode(["hramada:v1:guest-message", crypto.SUITE])


def seal_guest_message(box_key: bytes, nonce: bytes, plaintext: bytes) -> bytes:
    """What a guest drops into the drop box: readable by members only, padded to its
    bucket, bound to its suite."""
    return encode({"s": crypto.SUITE, "n": nonce,
                   "c": crypto.encrypt(box_key, nonce, crypto.pad(plaintext), _GUEST_AAD)})


def open_guest_message(box_key: bytes, message: bytes) -> bytes:
    v = fields(decode(message), "guest message", {"s": int, "n": bytes, "c": bytes})
    expect(v["s"] == crypto.SUITE and len(v["n"]) == crypto.NONCE_BYTES, "guest message")
    return crypto.unpad(crypto.decrypt(box_key, v["n"], v["c"], _GUEST_AAD))


# -- refusals --------------------------------------------------------------------

REFUSALS = {
    "used": "this invitation was already used by another request; ask a member for a new code",
    "revoked": "this invitation was revoked (withdrawn, or its inviter left or was removed from the "
               "group); ask a member for a new code",
    "expired": "this invitation has expired; ask a member for a new code",
    "name": "the group already has a member or a pending request with this name, or one that looks "
            "the same; ask for a new code and join with another name (`hramada join CODE --name NAME`)",
}


def make_refusal(box_key: bytes, nonce: bytes, request: bytes, reason: str) -> bytes:
    """A member's answer in the drop to a join request the group will not take:
    ``reason`` is one of :data:`REFUSALS`. Sealed like a guest message (under the
    invitation's request key), so only holders of the code and members read it."""
    if reason not in REFUSALS:
        raise ValueError(f"unknown refusal {reason!r}")
    return seal_guest_message(box_key, nonce, encode({"refused": request, "reason": reason}))


def open_refusal(box_key: bytes, message: bytes) -> tuple[bytes, str]:
    """``(request id, reason)`` of a refusal; raises DecryptionError or EncodingError."""
    v = fields(decode(open_guest_message(box_key, message)), "refusal", {"refused": bytes, "reason": str})
    expect(v["reason"] in REFUSALS and len(v["refused"]) == REQUEST_ID_BYTES, "refusal")
    return v["refused"], v["reason"]


# -- welcomes --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Welcome:
    """What a welcome says, once opened: for which request, at which ``admit`` entry
    (seq and hash), the generation it hands over, and the seqs of the entries that made
    generations 1 to ``generation.number`` (``starts``, for walking back). The caller
    checks all of it against the log before trusting it (:func:`welcome_fits`)."""

    request: bytes
    admit: tuple[int, bytes]
    generation: Generation
    starts: tuple[int, ...]


def make_welcome(newcomer: BoxPublicKey | HybridPublicKey, ephemeral_secret: bytes, group: bytes,
                 request: bytes, generation: Generation, *, admit: tuple[int, bytes],
                 starts: list[int], sealer: Sealer | None = None) -> bytes:
    """The welcome for ``newcomer``'s ``request``. Suite 1 (an X25519 box key): sealed
    under ``ephemeral_secret``. Suite 2 (a hybrid key): one HPKE box through ``sealer``
    with info ``hybrid_info(WELCOME, group, request)`` (``ephemeral_secret`` unused)."""
    if len(starts) != generation.number:
        raise ValueError("a welcome names the entry that made each generation after the first")
    payload = encode({"group": group, "request": request, "admit": [admit[0], admit[1]],
                      "gen": generation.number, "seed": generation.seed, "starts": list(starts)})
    if isinstance(newcomer, HybridPublicKey):
        if sealer is None:
            raise TypeError("a suite-2 welcome needs a sealer")
        (box,) = suite2.seal_many(sealer, [newcomer], suite2.hybrid_info(suite2.WELCOME, group, request),
                                  crypto.pad(payload))
        return encode({"s": suite2.SUITE, "b": box})
    if sealer is not None:
        raise TypeError("a suite-1 welcome takes no sealer")
    epk, (box,) = crypto.seal_many([newcomer], ephemeral_secret, crypto.pad(payload))
    return encode({"s": crypto.SUITE, "e": epk, "b": box})


def open_welcome(me: BoxPrivateKey | HybridPrivateKey, message: bytes, group: bytes, *,
                 request: bytes = b"") -> Welcome:
    """Open a welcome sealed to ``me`` (suite 2: for my ``request``, whose id is in the
    box's info). Raises ``DecryptionError`` if it is not for this identity, key or
    request, ``EncodingError`` if malformed, ``ForgeryError`` if for another group."""
    v = decode(message)
    if isinstance(v, dict) and v.get("s") == suite2.SUITE:
        v = fields(v, "welcome", {"s": int, "b": bytes})
        if not isinstance(me, HybridPrivateKey):
            raise DecryptionError("a suite-2 welcome does not open with a suite-1 key")
        try:
            info = suite2.hybrid_info(suite2.WELCOME, group, request)
        except ValueError:
            raise DecryptionError("a suite-2 welcome opens only for a group and a request") from None
        plaintext = suite2.open_box(me, info, v["b"])
    else:
        v = fields(v, "welcome", {"s": int, "e": bytes, "b": bytes})
        expect(v["s"] == crypto.SUITE, "welcome (suite)")
        if not isinstance(me, BoxPrivateKey):
            raise DecryptionError("a suite-1 welcome does not open with a suite-2 key")
        plaintext = crypto.open_sealed(me, v["e"], v["b"])
    p = fields(decode(crypto.unpad(plaintext)), "welcome",
               {"group": bytes, "request": bytes, "admit": list, "gen": int, "seed": bytes,
                "starts": list})
    if not crypto.equal(p["group"], group):
        raise ForgeryError("the welcome is for another group")
    if request and not crypto.equal(p["request"], request):
        raise ForgeryError("the welcome is for another request")
    expect(len(p["seed"]) == 32 and p["gen"] >= 0, "welcome (key)")
    admit, starts = p["admit"], p["starts"]
    expect(len(admit) == 2 and type(admit[0]) is int and admit[0] >= 2 and isinstance(admit[1], bytes)
           and len(admit[1]) == 32, "welcome (admit entry)")
    expect(len(starts) == p["gen"] and all(type(x) is int and x >= 2 for x in starts)
           and starts == sorted(set(starts)), "welcome (generations)")
    return Welcome(p["request"], (admit[0], admit[1]), Generation(p["gen"], p["seed"]), tuple(starts))
