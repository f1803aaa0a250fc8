"""Device linking: the link code, the new device's request and the linking device's
answers (``docs/spec/devices.md``).

Device A, which holds the profile, draws a 32-byte *link secret* and shows a link code:
the relay, a mailbox on it, the secret, the suites of the n groups it links (in order)
and an expiry. Everything else derives from the secret: a drop id and its capability
on the relay, the key of the request, and a binding that only holders of the secret
can put into an answer.

Device B reads the code and writes its *request* into the drop as guest messages: its
device name, a fresh suite-2 *link key*, and for each group slot a fresh device key set
(sign key and box key of that group's suite), and a commitment to a nonce. A answers
with a nonce of its own (the *challenge*), B reveals its nonce, and both devices show
eight digits the person compares (:func:`confirmation`). A then appends a
``device-add`` per group and answers in the drop with member messages sealed to B's
link key: per slot the group, the member key's seed, where B was added and every seed
A holds; then the profile's name and its registry of devices.

Every request and answer message is exactly :data:`MESSAGE_BYTES` long (the challenge
and the reveal :data:`SHORT_BYTES`), numbered "k of m" inside its
authenticated plaintext, and bound to the drop and the secret, so a relay can neither
read, reorder, splice nor silently shorten a link; it sees how many messages there are.

Nothing here draws randomness: secrets, nonces (``entropy``) and a suite-2 ``Sealer``
come in. Every refusal is a :class:`~hramada.core.textcode.Refused` with a code. The
answers are in :mod:`hramada.core.link_answers`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import nacl.bindings as sodium

from hramada.core import crypto, suite2, textcode
from hramada.core.encoding import decode, encode
from hramada.core.names import NameRefused, check_name
from hramada.core.suite2 import HybridPublicKey
from hramada.core.textcode import Refused
from hramada.core.urls import check_relay_url
from hramada.errors import DecryptionError, EncodingError

LINK_PREFIX = "hramada-link1-"
LINK_VERSION = 1
MAX_CODE_CHARS = 2048
MAX_GROUPS = 128             # groups one link carries: 128 suite-2 slots need 10 guest messages
MAX_RELAY_CHARS = 512
MESSAGE_BYTES = 16384        # every link message, request or answer: the relay's drop message limit
MAX_REQUEST_MESSAGES = 15    # the relay takes 16 guest messages per drop: the request and the reveal
REQUEST_FRAME = MESSAGE_BYTES - crypto.NONCE_BYTES - crypto.AEAD_TAG_BYTES      # 16,344
FRAME_SLACK = 16  # array head, three small integers, a byte string head and the pad marker

CHECK = "hramada:v2:link-code-check"
DROP = "hramada:v2:link-drop"
DROP_CAP = "hramada:v2:link-drop-cap"
REQUEST_KEY = "hramada:v2:link-request-key"
REQUEST_AAD = "hramada:v2:link-request"
ANSWER_BINDING = "hramada:v2:link-answer"  # the answers' binding (link_answers.py)
NONCE = "hramada:v2:link-nonce"
CONFIRM = "hramada:v2:link-confirm"
COMMIT = "hramada:v2:link-commit"
SAS_NONCE = "hramada:v2:link-sas-nonce"
CHALLENGE_KEY = "hramada:v2:link-challenge-key"
CHALLENGE_AAD = "hramada:v2:link-challenge"
REVEAL_AAD = "hramada:v2:link-reveal"
SHORT_BYTES = crypto.NONCE_BYTES + 32 + crypto.AEAD_TAG_BYTES   # 72: a challenge or a reveal
SUITES = (1, 2)
BOX_BYTES = {1: 32, 2: suite2.PUBLIC_BYTES}


def refuse(code: str, message: str, **params: object) -> Refused:
    """The refusal ``code`` (raise it)."""
    return Refused(code, message, **params)


def checked_name(value: object, code: str, what: str) -> str:
    """``value`` if it is a valid name, else :class:`Refused` with ``code``."""
    try:
        return check_name(value)
    except NameRefused as exc:
        raise refuse(code, f"{what} is not a valid name", reason=exc.code) from None


def is_int(v: object, n: int) -> bool:
    """``v`` is the integer ``n`` (``True`` is not 1)."""
    return type(v) is int and v == n


def u63(v: object) -> bool:
    """A non-negative integer below 2^63 (a seq, a generation, a time); not a bool."""
    return type(v) is int and 0 <= v < 2**63


# -- the secret and the code ------------------------------------------------------

@dataclass(frozen=True, slots=True, repr=False)
class LinkSecret:
    """The 32 random bytes a link code carries; every key of the link derives from them
    with ``suite2.derive``."""

    secret: bytes

    def __post_init__(self) -> None:
        if type(self.secret) is not bytes or len(self.secret) != 32:
            raise ValueError("a link secret is 32 bytes")

    def _k(self, purpose: str) -> bytes:
        return suite2.derive(self.secret, purpose, 32)

    @property
    def drop_id(self) -> bytes:
        return self._k(DROP)[:16]

    @property
    def drop_cap(self) -> bytes:
        return self._k(DROP_CAP)

    @property
    def request_key(self) -> bytes:
        return self._k(REQUEST_KEY)

    @property
    def answer_info(self) -> bytes:
        """The HPKE ``info`` of every answer box: ``hybrid_info(device-link, b"",
        drop id || answer binding)``; a box sealed under any other opens nothing."""
        return suite2.hybrid_info(suite2.DEVICE_LINK, b"", self.drop_id + self._k(ANSWER_BINDING))

    def __repr__(self) -> str:
        return "LinkSecret(…)"


@dataclass(frozen=True, slots=True)
class LinkCode:
    """What device A shows device B. ``suites[i]`` is the suite of group slot ``i``;
    ``expires`` is in Unix seconds (the client compares it with its clock)."""

    relay: str
    mailbox: bytes
    secret: LinkSecret
    suites: tuple[int, ...]
    expires: int

    def __post_init__(self) -> None:
        try:
            relay = check_relay_url(self.relay)
        except ValueError as exc:
            raise refuse("link-relay", f"the link's relay address cannot be used: {exc}") from None
        if len(relay) > MAX_RELAY_CHARS:
            raise refuse("link-relay", "the link's relay address is too long")
        object.__setattr__(self, "relay", relay)
        if type(self.mailbox) is not bytes or len(self.mailbox) != 16:
            raise refuse("link-malformed", "a mailbox id is 16 bytes", field="mailbox")
        if not isinstance(self.secret, LinkSecret):
            raise refuse("link-malformed", "the secret must be a LinkSecret", field="secret")
        suites = tuple(self.suites) if isinstance(self.suites, (list, tuple)) else None
        if not suites:
            raise refuse("link-no-groups", "a link carries at least one group")
        if len(suites) > MAX_GROUPS:
            raise refuse("link-too-many-groups", f"a link carries at most {MAX_GROUPS} groups; "
                          "link the others with a second code", limit=MAX_GROUPS, count=len(suites))
        if any(type(s) is not int or s not in SUITES for s in suites):
            raise refuse("link-suite", "every group's suite is 1 or 2")
        object.__setattr__(self, "suites", suites)
        if type(self.expires) is not int or not 0 < self.expires < 2**63:
            raise refuse("link-expiry", "a link's expiry is a positive number of seconds since 1970")

    def payload(self) -> bytes:
        return encode([LINK_VERSION, self.relay, self.mailbox, self.secret.secret,
                       list(self.suites), self.expires])

    def to_text(self) -> str:
        return textcode.to_text(LINK_PREFIX, CHECK, self.payload())

    def to_qr(self) -> str:
        return textcode.qr_text(self.to_text())

    def check_fresh(self, now: int) -> None:
        """Refuse (``link-expired``) a code whose expiry has passed at ``now``."""
        if now >= self.expires:
            raise refuse("link-expired", "this link code has expired; show a new one on the "
                          "linking device", expires=self.expires)

    @classmethod
    def from_text(cls, text: object) -> "LinkCode":
        raw = textcode.from_text(text, prefix=LINK_PREFIX, purpose=CHECK, max_chars=MAX_CODE_CHARS,
                                 what="link")
        try:
            v = decode(raw)
        except EncodingError:
            raise refuse("link-malformed", "the link code is not valid", field="payload") from None
        if type(v) is not list or not v or type(v[0]) is not int:
            raise refuse("link-malformed", "the link code is not valid", field="payload")
        if v[0] != LINK_VERSION:
            raise refuse("link-version", "the link code is from another version of Hramada; "
                          "update both devices", version=v[0])
        if len(v) != 6:
            raise refuse("link-malformed", "the link code is not valid", field="payload")
        _, relay, mailbox, secret, suites, expires = v
        if type(relay) is not str:
            raise refuse("link-relay", "the link's relay address is not text")
        if type(secret) is not bytes or len(secret) != 32:
            raise refuse("link-malformed", "the link code is not valid", field="secret")
        if type(suites) is not list:
            raise refuse("link-malformed", "the link code is not valid", field="suites")
        return cls(relay, mailbox, LinkSecret(secret), tuple(suites), expires)


# -- the request (device B -> device A, guest messages) ----------------------------

@dataclass(frozen=True, slots=True)
class SlotKeys:
    """The public halves of one fresh device key set: the device's sign key (its device
    id) and its box key (32 bytes under suite 1, 1,216 under suite 2)."""

    sign: bytes
    box: bytes


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """B's request: its device name, link key and key sets, and ``commit``, its
    commitment to the nonce it reveals once A has sent its own (the confirmation)."""

    name: str
    link: HybridPublicKey
    slots: tuple[SlotKeys, ...]
    commit: bytes


def _check_request(code: LinkCode, name: object, link: object, slots: object, commit: bytes) -> LinkRequest:
    name = checked_name(name, "link-request-name", "the new device's name")
    if not isinstance(link, HybridPublicKey):
        raise refuse("link-request-key", "the link key is not a suite-2 public key", slot=None, key="link")
    if not isinstance(slots, (list, tuple)) or len(slots) != len(code.suites):
        raise refuse("link-request-slots", "the request has another number of groups than the code",
                      have=len(slots) if isinstance(slots, (list, tuple)) else None, need=len(code.suites))
    seen = {link.raw, link.x25519}
    for i, (slot, suite) in enumerate(zip(slots, code.suites)):
        if not isinstance(slot, SlotKeys) or type(slot.sign) is not bytes or type(slot.box) is not bytes:
            raise refuse("link-request-malformed", "a slot is not a device key set", slot=i)
        if len(slot.sign) != 32 or not sodium.crypto_core_ed25519_is_valid_point(slot.sign):
            raise refuse("link-request-key", "a device sign key is not a valid Ed25519 key", slot=i, key="sign")
        if len(slot.box) != BOX_BYTES[suite]:
            raise refuse("link-request-key", f"a suite-{suite} box key is {BOX_BYTES[suite]} bytes",
                          slot=i, key="box")
        try:
            if suite == 1:
                crypto.BoxPublicKey(slot.box)
            else:
                HybridPublicKey(slot.box)
        except ValueError:
            raise refuse("link-request-key", "a device box key is not a valid key", slot=i, key="box") from None
        x25519 = slot.box[-32:]
        if slot.sign in seen or slot.box in seen or x25519 in seen:
            # keys used twice would link the person's devices across groups
            raise refuse("link-request-key-reused", "a key appears twice in the request", slot=i)
        seen.update((slot.sign, slot.box, x25519))
    return LinkRequest(name, link, tuple(slots), commit)


# Frames, shared by the request and the answers: a payload cut into numbered chunks,
# each framed as encode([(stream,) k, m, chunk]) and padded to one fixed size.

def split_payload(payload: bytes, frame: int, limit: int) -> list[bytes]:
    """``payload`` in chunks that each fit a frame of ``frame`` bytes; at most ``limit``."""
    size = frame - FRAME_SLACK
    chunks = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
    if len(chunks) > limit:
        raise refuse("link-too-large", f"this takes more than {limit} messages", limit=limit)
    return chunks


def pad_frame(data: bytes, size: int) -> bytes:
    """``data || 0x80 || 0x00 …`` of exactly ``size`` bytes."""
    return data + b"\x80" + bytes(size - len(data) - 1)


def unpad_frame(data: bytes) -> bytes:
    """Undo :func:`pad_frame` or raise ``EncodingError``."""
    body = data.rstrip(b"\x00")
    if not body or body[-1] != 0x80:
        raise EncodingError("malformed padding")
    return body[:-1]


def _request_aad(secret: LinkSecret) -> bytes:
    return encode([REQUEST_AAD, LINK_VERSION, secret.drop_id])


def _request_payload(req: LinkRequest) -> bytes:
    return encode({"v": LINK_VERSION, "name": req.name, "link": req.link.raw,
                   "slots": [[s.sign, s.box] for s in req.slots], "commit": req.commit})


def _nonce(entropy: bytes, k: int) -> bytes:
    return hashlib.blake2b(NONCE.encode() + bytes([k]), key=entropy, digest_size=crypto.NONCE_BYTES).digest()


def _sas_nonce(entropy: bytes) -> bytes:
    return hashlib.blake2b(SAS_NONCE.encode(), key=entropy, digest_size=32).digest()


def _commit(code: LinkCode, nonce_b: bytes) -> bytes:
    return hashlib.blake2b(nonce_b, key=code.secret._k(COMMIT), digest_size=32).digest()


def make_link_request(code: LinkCode, name: str, link: HybridPublicKey, slots: list[SlotKeys],
                      entropy: bytes) -> tuple[LinkRequest, list[bytes]]:
    """B's request, and its guest messages, in order, each exactly :data:`MESSAGE_BYTES`.
    ``entropy`` is 32 fresh random bytes, kept until the link is complete: the nonces
    and B's confirmation nonce derive from it, so a request sent again with other
    content never reuses a nonce. Send each message once; resend exactly these bytes
    after a failure."""
    if type(entropy) is not bytes or len(entropy) != 32:
        raise ValueError("entropy is 32 random bytes")
    req = _check_request(code, name, link, slots, _commit(code, _sas_nonce(entropy)))
    chunks = split_payload(_request_payload(req), REQUEST_FRAME, MAX_REQUEST_MESSAGES)
    key, aad, out = code.secret.request_key, _request_aad(code.secret), []
    for k, chunk in enumerate(chunks):
        nonce = _nonce(entropy, k)
        frame = pad_frame(encode([k, len(chunks), chunk]), REQUEST_FRAME)
        out.append(nonce + crypto.encrypt(key, nonce, frame, aad))
    return req, out


def gather_parts(frames: list[tuple[int, int, bytes]], limit: int, what: str) -> bytes | None:
    """Join the chunks of one numbered stream; None while parts are missing."""
    parts: dict[int, bytes] = {}
    total = None
    for k, m, chunk in frames:
        if not 1 <= m <= limit or not 0 <= k < m or (total is not None and m != total):
            raise refuse(f"{what}-parts", "the messages do not agree on how many there are")
        total = m
        if k in parts and parts[k] != chunk:
            raise refuse(f"{what}-conflict", "two different messages claim the same place", part=k)
        parts[k] = chunk
    if total is None or len(parts) < total:
        return None
    return b"".join(parts[k] for k in range(total))


def read_frame(plain: bytes, what: str, index: int, width: int) -> list:
    """An opened frame's ``width`` fields (integers, then the chunk), or ``{what}-malformed``."""
    try:
        v = decode(unpad_frame(plain))
    except EncodingError:
        raise refuse(f"{what}-malformed", "a message opened but is not well formed", index=index) from None
    if (type(v) is not list or len(v) != width or any(type(x) is not int for x in v[:-1])
            or type(v[-1]) is not bytes):
        raise refuse(f"{what}-malformed", "a message opened but is not well formed", index=index)
    return v


def read_link_request(code: LinkCode, messages: list[bytes]) -> LinkRequest:
    """A's reading of the guest messages of the link's drop (in any order, copies
    allowed). Raises :class:`LinkIncomplete` while parts are missing, and
    :class:`Refused` (``link-request-…``) for anything else wrong."""
    key, aad, frames = code.secret.request_key, _request_aad(code.secret), []
    for i, msg in enumerate(messages):
        if type(msg) is bytes and len(msg) == SHORT_BYTES:
            continue  # B's reveal: read_reveal
        if type(msg) is not bytes or len(msg) != MESSAGE_BYTES:
            raise refuse("link-request-forged", "a message in the link's drop is not a link message", index=i)
        try:
            plain = crypto.decrypt(key, msg[:crypto.NONCE_BYTES], msg[crypto.NONCE_BYTES:], aad)
        except DecryptionError:
            raise refuse("link-request-forged", "a message in the link's drop does not authenticate "
                          "under this link code", index=i) from None
        frames.append(tuple(read_frame(plain, "link-request", i, 3)))
    joined = gather_parts(frames, MAX_REQUEST_MESSAGES, "link-request")
    if joined is None:
        raise LinkIncomplete("link-incomplete", "the new device's request has not fully arrived yet",
                             have=len({f[0] for f in frames}), need=frames[0][1] if frames else None)
    try:
        v = decode(joined)
    except EncodingError:
        raise refuse("link-request-malformed", "the request is not well formed", index=None) from None
    if (type(v) is not dict or set(v) != {"v", "name", "link", "slots", "commit"}
            or not is_int(v["v"], LINK_VERSION) or type(v["link"]) is not bytes or type(v["slots"]) is not list
            or type(v["commit"]) is not bytes or len(v["commit"]) != 32):
        raise refuse("link-request-malformed", "the request is not well formed", index=None)
    try:
        link = HybridPublicKey(v["link"])
    except ValueError:
        raise refuse("link-request-key", "the link key is not a valid suite-2 key", slot=None, key="link") from None
    slots = []
    for i, s in enumerate(v["slots"]):
        if type(s) is not list or len(s) != 2 or any(type(x) is not bytes for x in s):
            raise refuse("link-request-malformed", "a slot is not a device key set", slot=i)
        slots.append(SlotKeys(s[0], s[1]))
    return _check_request(code, v["name"], link, slots, v["commit"])


class LinkIncomplete(Refused):
    """Not every message has arrived yet (``link-incomplete``, ``have``, ``need``): wait
    and read the drop again. Not an alarm."""


# -- the confirmation: commit, challenge, reveal ------------------------------------
#
# B's request commits to a nonce n_B; once A has the request it sends its own nonce
# n_A (the challenge); B then reveals n_B, which A checks against the commitment. Both
# show eight digits of a hash of the request, n_A and n_B. Whoever sits between them
# — even holding the code and running the relay — had to commit to a request before
# n_A was known and to n_A before n_B was: one chance in 10^8 that the digits match.

def _short(key: bytes, nonce: bytes, value: bytes, aad: bytes) -> bytes:
    return nonce + crypto.encrypt(key, nonce, value, aad)


def _read_short(key: bytes, aad: bytes, messages: list[bytes], what: str) -> bytes | None:
    found = None
    for i, msg in enumerate(messages):
        if type(msg) is not bytes or len(msg) != SHORT_BYTES:
            continue
        try:
            value = crypto.decrypt(key, msg[:crypto.NONCE_BYTES], msg[crypto.NONCE_BYTES:], aad)
        except DecryptionError:
            raise refuse(f"{what}-forged", "a message in the link's drop does not authenticate "
                         "under this link code", index=i) from None
        if found is not None and value != found:
            raise refuse(f"{what}-conflict", "two different confirmation nonces in the link's drop")
        found = value
    return found


def make_challenge(code: LinkCode, nonce_a: bytes, message_nonce: bytes) -> bytes:
    """A's member message carrying its confirmation nonce ``nonce_a`` (32 fresh random
    bytes), once it has read B's whole request; ``message_nonce``: 24 fresh bytes."""
    if type(nonce_a) is not bytes or len(nonce_a) != 32:
        raise ValueError("the confirmation nonce is 32 random bytes")
    return _short(code.secret._k(CHALLENGE_KEY), message_nonce, nonce_a,
                  encode([CHALLENGE_AAD, LINK_VERSION, code.secret.drop_id]))


def read_challenge(code: LinkCode, messages: list[bytes]) -> bytes | None:
    """B: A's nonce from the drop's member messages (the 72-byte ones; the answers are
    the others), or None while there is none."""
    return _read_short(code.secret._k(CHALLENGE_KEY), encode([CHALLENGE_AAD, LINK_VERSION, code.secret.drop_id]),
                       messages, "link-challenge")


def make_reveal(code: LinkCode, entropy: bytes) -> bytes:
    """B's guest message revealing its nonce, sent once it has read A's challenge."""
    if type(entropy) is not bytes or len(entropy) != 32:
        raise ValueError("entropy is 32 random bytes")
    return _short(code.secret.request_key, _nonce(entropy, 255), _sas_nonce(entropy),
                  encode([REVEAL_AAD, LINK_VERSION, code.secret.drop_id]))


def read_reveal(code: LinkCode, request: LinkRequest, messages: list[bytes]) -> bytes | None:
    """A: B's nonce from the drop's guest messages (the 72-byte ones), checked against
    the request's commitment (``link-reveal-mismatch``), or None while there is none."""
    nonce_b = _read_short(code.secret.request_key, encode([REVEAL_AAD, LINK_VERSION, code.secret.drop_id]),
                          messages, "link-reveal")
    if nonce_b is not None and not crypto.equal(_commit(code, nonce_b), request.commit):
        raise refuse("link-reveal-mismatch", "the new device revealed another nonce than it committed to")
    return nonce_b


def own_nonce(entropy: bytes) -> bytes:
    """B's own confirmation nonce (what :func:`make_reveal` reveals)."""
    return _sas_nonce(entropy)


def confirmation(code: LinkCode, request: LinkRequest, nonce_a: bytes, nonce_b: bytes) -> str:
    """The eight digits both devices show, ``"dddd dddd"``: ``BLAKE2b-256(key =
    derive(S, "hramada:v2:link-confirm"), encode([payload, n_A, n_B]))`` as a
    big-endian integer modulo 10^8. A links nothing until the person has seen the same
    digits on both screens."""
    data = encode([_request_payload(request), nonce_a, nonce_b])
    n = int.from_bytes(hashlib.blake2b(data, key=code.secret._k(CONFIRM), digest_size=32).digest(), "big")
    digits = f"{n % 10**8:08d}"
    return f"{digits[:4]} {digits[4:]}"


__all__ = ["LinkCode", "LinkSecret", "LinkRequest", "SlotKeys", "LinkIncomplete", "make_link_request",
           "read_link_request", "make_challenge", "read_challenge", "make_reveal", "read_reveal",
           "own_nonce", "confirmation", "Refused"]
