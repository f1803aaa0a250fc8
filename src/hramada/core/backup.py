"""The recovery kit and the recovery request (``docs/spec/devices.md``).

A *recovery kit* is one file sealed under a passphrase: the profile's name and, per
group, where the group is, the member key's seed and the group's suite. A device set up
from it holds each member key but no group key: it makes fresh device keys per group
and a *recovery request* per group, a code (``hramada-recover1-…``) carried in person
to an admin, who re-admits the device (``device-revoke`` with ``add``) and answers
through the drop the request names.

Kit file::

    file   = body || BLAKE2b-256(key = "hramada:v2:kit-check", body)
    body   = MAGIC (12) || version (1) || encode([ops, mem, salt (16), nonce (24), key check (16), ciphertext])
    K      = Argon2id(passphrase, salt, ops, mem)  (32 bytes)
    key    = derive(K, "hramada:v2:kit-key");  key check = derive(K, "hramada:v2:kit-key-check")[0:16]
    ciphertext = XChaCha20-Poly1305(key, nonce, pad(contents),
                                    aad = MAGIC || version || encode([ops, mem, salt, nonce, key check]))

so a damaged file, a wrong passphrase and a file altered on purpose are told apart.
Nothing here draws randomness: salts, nonces and drop secrets come in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import nacl.bindings as sodium
import nacl.exceptions

from hramada.core import crypto, identity, suite2, textcode
from hramada.core.encoding import decode, encode
from hramada.core.link_answers import GroupRef
from hramada.core.linking import BOX_BYTES, SUITES, checked_name, is_int
from hramada.core.textcode import Refused
from hramada.errors import DecryptionError, EncodingError

MAGIC = b"HRAMADA-KIT\n"
KIT_VERSION = 1
MAX_KIT_BYTES = 16 * 1024 * 1024
MAX_KIT_GROUPS = 4096
OPS_RANGE = (1, 64)
MEM_RANGE = (8192, 1 << 30)     # bytes of Argon2id memory a kit may ask for: up to 1 GiB
KEY_CHECK_BYTES = 16
KIT_CHECK = "hramada:v2:kit-check"
KIT_KEY = "hramada:v2:kit-key"
KIT_KEY_CHECK = "hramada:v2:kit-key-check"

RECOVER_PREFIX = "hramada-recover1-"
RECOVER_VERSION = 1
RECOVER_MAX_CHARS = 4096
RECOVER_CHECK = "hramada:v2:recover-code-check"
RECOVER_DROP = "hramada:v2:recover-drop"
RECOVER_DROP_CAP = "hramada:v2:recover-drop-cap"
DEVICE_CERT = identity.CERT_PURPOSE   # the log's device record cert (keys.md §2): one definition


# -- the kit ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, repr=False)
class KitGroup:
    ref: GroupRef
    member_seed: bytes
    suite: int

    def __post_init__(self) -> None:
        if not isinstance(self.ref, GroupRef) or type(self.member_seed) is not bytes \
                or len(self.member_seed) != 32 or type(self.suite) is not int or self.suite not in SUITES:
            raise Refused("kit-contents", "a group of the recovery kit is not well formed")

    @property
    def member(self) -> bytes:
        """The member id: ``M``'s public key."""
        return crypto.SigningKey.from_seed(self.member_seed).public.raw

    def __repr__(self) -> str:
        return f"KitGroup({self.ref.name!r}, suite={self.suite})"


@dataclass(frozen=True, slots=True)
class Kit:
    name: str
    groups: tuple[KitGroup, ...]

    def __post_init__(self) -> None:
        checked_name(self.name, "kit-contents", "the profile's name")
        groups = tuple(self.groups)
        if len(groups) > MAX_KIT_GROUPS or not all(isinstance(g, KitGroup) for g in groups):
            raise Refused("kit-contents", "the recovery kit's groups are not well formed")
        if len({g.ref.group for g in groups}) != len(groups):
            raise Refused("kit-contents", "the recovery kit names a group twice")
        object.__setattr__(self, "groups", groups)


def _keys(passphrase: str, salt: bytes, ops: int, mem: int) -> tuple[bytes, bytes]:
    root = crypto.passphrase_key(passphrase, salt, opslimit=ops, memlimit=mem)
    return suite2.derive(root, KIT_KEY, 32), suite2.derive(root, KIT_KEY_CHECK, 32)[:KEY_CHECK_BYTES]


def _head(ops: int, mem: int, salt: bytes, nonce: bytes, check: bytes) -> bytes:
    return MAGIC + bytes([KIT_VERSION]) + encode([ops, mem, salt, nonce, check])


def export_kit(kit: Kit, passphrase: str, salt: bytes, nonce: bytes, *,
               ops: int = crypto.ARGON2_OPSLIMIT, mem: int = crypto.ARGON2_MEMLIMIT) -> bytes:
    """The kit file. ``salt`` (16) and ``nonce`` (24) are fresh random bytes; the
    Argon2id settings default to the profile keystore's."""
    if not isinstance(kit, Kit) or type(passphrase) is not str:
        raise TypeError("export_kit takes a Kit and a passphrase")
    if type(salt) is not bytes or len(salt) != crypto.SALT_BYTES or type(nonce) is not bytes \
            or len(nonce) != crypto.NONCE_BYTES:
        raise ValueError("a kit needs a 16-byte salt and a 24-byte nonce")
    if not (OPS_RANGE[0] <= ops <= OPS_RANGE[1] and MEM_RANGE[0] <= mem <= MEM_RANGE[1]):
        raise Refused("kit-settings", "these Argon2id settings are out of range", ops=ops, mem=mem)
    key, check = _keys(passphrase, salt, ops, mem)
    contents = encode({"v": KIT_VERSION, "name": kit.name,
                       "groups": [[g.ref.value(), g.member_seed, g.suite] for g in kit.groups]})
    sealed = crypto.encrypt(key, nonce, crypto.pad(contents), _head(ops, mem, salt, nonce, check))
    data = MAGIC + bytes([KIT_VERSION]) + encode([ops, mem, salt, nonce, check, sealed])
    return data + hashlib.blake2b(data, key=KIT_CHECK.encode(), digest_size=32).digest()


def import_kit(data: object, passphrase: str) -> Kit:
    """Open a kit file, or refuse it with one of ``kit-not-a-kit``, ``kit-version``,
    ``kit-damaged``, ``kit-settings``, ``kit-passphrase``, ``kit-altered`` and
    ``kit-contents``, checked in that order."""
    if type(passphrase) is not str:
        raise TypeError("a passphrase is text")
    if type(data) is not bytes or not data.startswith(MAGIC):
        raise Refused("kit-not-a-kit", "this file is not a Hramada recovery kit")
    if len(data) == len(MAGIC):
        raise Refused("kit-damaged", "the recovery kit is damaged or incomplete")
    if data[len(MAGIC)] != KIT_VERSION:
        raise Refused("kit-version", "this recovery kit is from another version of Hramada",
                      version=data[len(MAGIC)])
    head = len(MAGIC) + 1
    if len(data) > MAX_KIT_BYTES or len(data) < head + 32 or hashlib.blake2b(
            data[:-32], key=KIT_CHECK.encode(), digest_size=32).digest() != data[-32:]:
        raise Refused("kit-damaged", "the recovery kit is damaged or incomplete")
    try:
        v = decode(data[head:-32])
    except EncodingError:
        v = None
    if (type(v) is not list or len(v) != 6 or any(type(x) is not int for x in v[:2])
            or any(type(x) is not bytes for x in v[2:])
            or (len(v[2]), len(v[3]), len(v[4])) != (crypto.SALT_BYTES, crypto.NONCE_BYTES, KEY_CHECK_BYTES)):
        raise Refused("kit-damaged", "the recovery kit is damaged or incomplete")
    ops, mem, salt, nonce, check, sealed = v
    if not (OPS_RANGE[0] <= ops <= OPS_RANGE[1] and MEM_RANGE[0] <= mem <= MEM_RANGE[1]):
        raise Refused("kit-settings", "the recovery kit asks for Argon2id settings this version "
                      "will not use", ops=ops, mem=mem)
    key, mine = _keys(passphrase, salt, ops, mem)
    if not crypto.equal(mine, check):
        raise Refused("kit-passphrase", "wrong passphrase for this recovery kit")
    try:
        contents = crypto.unpad(crypto.decrypt(key, nonce, sealed, _head(ops, mem, salt, nonce, check)))
    except (DecryptionError, EncodingError):
        raise Refused("kit-altered", "the recovery kit was altered after it was written: do not "
                      "use it") from None
    return _contents(contents)


def _contents(raw: bytes) -> Kit:
    bad = Refused("kit-contents", "the recovery kit's contents are not well formed")
    try:
        v = decode(raw)
    except EncodingError:
        raise bad from None
    if type(v) is not dict or set(v) != {"v", "name", "groups"} or not is_int(v["v"], KIT_VERSION) \
            or type(v["groups"]) is not list:
        raise bad
    groups = []
    for g in v["groups"]:
        if type(g) is not list or len(g) != 3:
            raise bad
        try:
            groups.append(KitGroup(GroupRef.from_value(g[0]), g[1], g[2]))
        except Refused:
            raise bad from None
    return Kit(v["name"], tuple(groups))


# -- device certificates (DESIGN "Device record") ----------------------------------------

def cert_message(group: bytes, suite: int, member: bytes, sign: bytes, box: bytes, name: str) -> bytes:
    """``purpose || 0x00 || encode([group, suite, M, D, box, name])``: what ``cert`` signs
    (the same bytes ``identity.DeviceRecord.verify`` checks)."""
    return DEVICE_CERT.encode() + b"\x00" + identity.cert_message(group, suite, member, sign, box, name)


def device_cert(member_seed: bytes, group: bytes, suite: int, sign: bytes, box: bytes, name: str) -> bytes:
    """``M``'s signature over a device record (§8 of devices.md)."""
    member, secret = sodium.crypto_sign_seed_keypair(member_seed)
    return sodium.crypto_sign(cert_message(group, suite, member, sign, box, name), secret)[:64]


def cert_valid(cert: bytes, group: bytes, suite: int, member: bytes, sign: bytes, box: bytes, name: str) -> bool:
    if type(cert) is not bytes or len(cert) != 64:
        return False
    try:
        sodium.crypto_sign_open(cert + cert_message(group, suite, member, sign, box, name), member)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError):
        return False
    return True


# -- the recovery request ----------------------------------------------------------------

@dataclass(frozen=True, slots=True, repr=False)
class RecoveryRequest:
    """What the recovered device hands an admin in person: the group, the member id,
    the new device's record (name, sign key, box key, cert by ``M``), and the drop
    secret through which the admin answers."""

    group: bytes
    suite: int
    member: bytes
    name: str
    sign: bytes
    box: bytes
    cert: bytes
    drop_secret: bytes

    def __post_init__(self) -> None:
        def bad(what: str) -> Refused:
            return Refused("recover-malformed", "the recovery code is not valid", field=what)
        if type(self.group) is not bytes or len(self.group) != 16:
            raise bad("group")
        if type(self.suite) is not int or self.suite not in SUITES:
            raise bad("suite")
        if type(self.drop_secret) is not bytes or len(self.drop_secret) != 32:
            raise bad("drop")
        for f in ("member", "sign", "box", "cert"):
            if type(getattr(self, f)) is not bytes:
                raise bad(f)
        checked_name(self.name, "recover-name", "the device's name")
        for f in ("member", "sign"):
            if len(getattr(self, f)) != 32 or not sodium.crypto_core_ed25519_is_valid_point(getattr(self, f)):
                raise Refused("recover-key", f"the recovery code's {f} key is not a valid Ed25519 key", key=f)
        if len(self.box) != BOX_BYTES[self.suite]:
            raise Refused("recover-key", "the recovery code's box key has the wrong size", key="box")
        try:
            crypto.BoxPublicKey(self.box) if self.suite == 1 else suite2.HybridPublicKey(self.box)
        except ValueError:
            raise Refused("recover-key", "the recovery code's box key is not a valid key", key="box") from None
        if not cert_valid(self.cert, self.group, self.suite, self.member, self.sign, self.box, self.name):
            raise Refused("recover-cert", "the device in the recovery code is not certified by this member key")

    def __repr__(self) -> str:
        return f"RecoveryRequest(device={self.sign.hex()[:16]}…, name={self.name!r})"

    @property
    def record(self) -> dict:
        """The device record, as in ``device-revoke``'s ``add``."""
        return {"name": self.name, "sign": self.sign, "box": self.box, "cert": self.cert}

    @property
    def drop_id(self) -> bytes:
        return suite2.derive(self.drop_secret, RECOVER_DROP, 32)[:16]

    @property
    def drop_cap(self) -> bytes:
        return suite2.derive(self.drop_secret, RECOVER_DROP_CAP, 32)

    def to_text(self) -> str:
        return textcode.to_text(RECOVER_PREFIX, RECOVER_CHECK, encode(
            [RECOVER_VERSION, self.group, self.suite, self.member, self.name, self.sign, self.box,
             self.cert, self.drop_secret]))

    def to_qr(self) -> str:
        return textcode.qr_text(self.to_text())

    @classmethod
    def from_text(cls, text: object) -> "RecoveryRequest":
        raw = textcode.from_text(text, prefix=RECOVER_PREFIX, purpose=RECOVER_CHECK,
                                 max_chars=RECOVER_MAX_CHARS, what="recover")
        try:
            v = decode(raw)
        except EncodingError:
            v = None
        if type(v) is not list or not v or type(v[0]) is not int:
            raise Refused("recover-malformed", "the recovery code is not valid", field="payload")
        if v[0] != RECOVER_VERSION:
            raise Refused("recover-version", "the recovery code is from another version of Hramada",
                          version=v[0])
        if len(v) != 9:
            raise Refused("recover-malformed", "the recovery code is not valid", field="payload")
        return cls(*v[1:])


def make_recovery_request(group: KitGroup, name: str, sign: bytes, box: bytes,
                          drop_secret: bytes) -> RecoveryRequest:
    """The request of a device set up from a kit, for one group: its record certified
    by ``M`` (from the kit), and ``drop_secret`` (32 fresh random bytes)."""
    if not isinstance(group, KitGroup):
        raise TypeError("a recovery request is made for a KitGroup")
    name = checked_name(name, "recover-name", "the device's name")
    if type(sign) is not bytes or type(box) is not bytes:
        raise TypeError("keys are bytes")
    cert = device_cert(group.member_seed, group.ref.group, group.suite, sign, box, name)
    return RecoveryRequest(group.ref.group, group.suite, group.member, name, sign, box, cert, drop_secret)
