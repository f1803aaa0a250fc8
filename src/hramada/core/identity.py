"""Identities: one fresh pseudonymous member key per person per group, and the keys of
each of that person's devices in that group.

A member is their *member key* ``M`` (Ed25519): its public half is the member id, and
its seed derives the member's relay-admin key. Each device of the member holds ``M``'s
seed and its own *device keys*: a signing key ``D`` (the device id) that signs the
device's entries and items, and a box key that key boxes and welcomes are sealed to.
``M`` certifies each device in a *device record* (``keys.md`` §2). A person's keys in
two groups share nothing, so no one can link the groups through them.
"""

from __future__ import annotations

from dataclasses import dataclass

from hramada.core import crypto, suite2
from hramada.core.crypto import BoxPrivateKey, BoxPublicKey, SigningKey, VerifyKey
from hramada.core.encoding import encode, expect, fields
from hramada.core.names import check_name
from hramada.errors import EncodingError

RELAY_ADMIN_PURPOSE = "hramada:v1:relay-admin"
CERT_PURPOSE = "hramada:v1:device-cert"
BOX_KEY_BYTES = {1: 32, 2: 1216}  # a device box public key's size, by suite
DEFAULT_DEVICE_NAME = "first device"


@dataclass(frozen=True, slots=True)
class MemberKey:
    """The public member-level keys of a member, as the group log records them: the
    member key and the relay-admin key. Linking or revoking a device changes neither."""

    sign: VerifyKey
    relay: bytes = b""

    @property
    def id(self) -> bytes:
        """The member's id in the log: their member key's Ed25519 public key."""
        return self.sign.raw

    @property
    def fingerprint(self) -> str:
        return fingerprint(self)


def public_box_key(raw: bytes) -> BoxPublicKey:
    """A device's box public key as the sealing functions take it: an X25519 key (suite
    1, 32 bytes) or a hybrid key (suite 2, 1,216 bytes); raises ``EncodingError`` for a
    key that must not be sealed to."""
    if len(raw) == BOX_KEY_BYTES[1]:
        return BoxPublicKey(raw)
    return suite2.HybridPublicKey(raw)  # type: ignore[return-value]


def cert_message(group: bytes, suite: int, member: bytes, sign: bytes, box: bytes, name: str) -> bytes:
    """What the member key signs for a device (``keys.md`` §2)."""
    return encode([group, suite, member, sign, box, name])


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A device as the log records it: ``{"name", "sign", "box", "cert"}``."""

    name: str
    sign: bytes
    box: bytes
    cert: bytes

    @property
    def id(self) -> bytes:
        return self.sign

    def to_value(self) -> dict:
        return {"name": self.name, "sign": self.sign, "box": self.box, "cert": self.cert}

    @classmethod
    def from_value(cls, value: object, suite: int, what: str = "device record") -> "DeviceRecord":
        """Parse a record and check its form (not its cert); raise ``EncodingError``."""
        v = fields(value, what, {"name": str, "sign": bytes, "box": bytes, "cert": bytes})
        expect(suite in BOX_KEY_BYTES and len(v["sign"]) == 32 and len(v["box"]) == BOX_KEY_BYTES[suite]
               and len(v["cert"]) == crypto.SIG_BYTES, what)
        try:
            name = check_name(v["name"])
        except ValueError:
            raise EncodingError(f"malformed {what} (name)") from None
        expect(name == v["name"], f"{what} (name)")
        public_box_key(v["box"])  # refuses a low-order or non-canonical point
        return cls(name, v["sign"], v["box"], v["cert"])

    def verify(self, member: bytes, group: bytes, suite: int) -> None:
        """Raise ``ForgeryError`` unless ``member``'s key certified this device for
        ``group`` (``b""`` inside the ``create`` entry) and ``suite``."""
        crypto.verify(VerifyKey(member), CERT_PURPOSE,
                      cert_message(group, suite, member, self.sign, self.box, self.name), self.cert)

    @property
    def fingerprint(self) -> str:
        return device_fingerprint(self.sign, self.box)


def make_device_record(member: SigningKey, device: SigningKey, box: bytes, name: str, *,
                       group: bytes, suite: int = crypto.SUITE) -> DeviceRecord:
    """A device record certified by ``member`` for ``group`` and ``suite``."""
    name = check_name(name)
    cert = crypto.sign(member, CERT_PURPOSE,
                       cert_message(group, suite, member.public.raw, device.public.raw, box, name))
    return DeviceRecord(name, device.public.raw, box, cert)


@dataclass(frozen=True, slots=True, repr=False)
class Identity:
    """This device's private keys in one group: the member key ``M`` it shares with the
    member's other devices, its own device signing key and its own box key."""

    member: SigningKey
    signing: SigningKey   # the device key: signs this device's entries and items
    boxing: BoxPrivateKey | suite2.HybridPrivateKey  # X25519 in a suite-1 group, hybrid in suite 2
    device_name: str = DEFAULT_DEVICE_NAME

    @classmethod
    def from_secrets(cls, member_seed: bytes, device_seed: bytes, box_secret: bytes,
                     device_name: str = DEFAULT_DEVICE_NAME, suite: int = crypto.SUITE) -> "Identity":
        """Rebuild an identity from 96 random bytes (or its stored secrets). The device
        box key is the group's suite's: an X25519 key (suite 1) or
        ``suite2.HybridPrivateKey.from_secret(box_secret)`` (suite 2)."""
        if suite not in BOX_KEY_BYTES:
            raise ValueError(f"unknown cipher suite {suite}")
        boxing = (suite2.HybridPrivateKey.from_secret(box_secret) if suite == suite2.SUITE
                  else BoxPrivateKey.from_secret(box_secret))
        return cls(SigningKey.from_seed(member_seed), SigningKey.from_seed(device_seed), boxing, device_name)

    @property
    def suite(self) -> int:
        """The cipher suite of this identity's device box key (the group's)."""
        return suite2.SUITE if isinstance(self.boxing, suite2.HybridPrivateKey) else 1

    @property
    def public(self) -> MemberKey:
        return MemberKey(self.member.public, self.relay_admin.public.raw)

    @property
    def member_id(self) -> bytes:
        return self.member.public.raw

    @property
    def device_id(self) -> bytes:
        return self.signing.public.raw

    @property
    def relay_admin(self) -> SigningKey:
        """This member's relay-admin key (``keys.md`` §2): what signs, for the relay,
        an append that rotates the mailbox capability or changes the relay's admin set.
        It derives from the member key's seed, so every device of the member holds it;
        its public half enters the log with the member (``create``, join request) and
        is known to the relay while the member is an admin; it is unlinkable to the
        member's other keys for anyone without the member key's seed."""
        return SigningKey.from_seed(crypto.derive_key(self.member.seed, RELAY_ADMIN_PURPOSE))

    def device_record(self, group: bytes, suite: int | None = None) -> DeviceRecord:
        """This device's record, certified by the member key for ``group`` and ``suite``
        (by default its box key's)."""
        suite = self.suite if suite is None else suite
        return make_device_record(self.member, self.signing, self.boxing.public.raw, self.device_name,
                                  group=group, suite=suite)

    def secrets(self) -> tuple[bytes, bytes, bytes]:
        """The three 32-byte secrets, for the encrypted keystore."""
        box = self.boxing.secret if isinstance(self.boxing, suite2.HybridPrivateKey) else self.boxing.raw
        return self.member.seed, self.signing.seed, box

    def __repr__(self) -> str:
        return f"Identity({fingerprint(self.public)}, device {device_fingerprint(self.device_id, self.boxing.public.raw)})"


def fingerprint(key: MemberKey) -> str:
    """A short, stable, human-comparable name for a member: 8 groups of 4 hex digits over
    the member key and the relay-admin key."""
    digest = crypto.hash32("hramada:v1:member-fingerprint", key.sign.raw + key.relay)
    return _groups(digest[:16].hex())


def device_fingerprint(sign: bytes, box: bytes) -> str:
    """A device's own fingerprint, over its signing key and its box key."""
    return _groups(crypto.hash32("hramada:v1:device-fingerprint", sign + box)[:16].hex())


def _groups(text: str) -> str:
    return " ".join(text[i:i + 4] for i in range(0, 32, 4))


def fingerprint_matches(key: MemberKey, text: str) -> bool:
    """True if ``text`` (any spacing, any case, at least 8 hex digits) is a prefix of the
    member's fingerprint."""
    wanted = "".join(text.split()).lower()
    full = fingerprint(key).replace(" ", "")
    return len(wanted) >= 8 and full.startswith(wanted)


def safety_code(group_id: bytes, key: MemberKey, suite: int = crypto.SUITE) -> str:
    """Twelve groups of five digits that two people compare in person.

    Every member's device computes the same code for the same member of the same
    group, so reading it aloud proves that both devices hold the same member key and
    relay-admin key for them. It covers the group, its suite and every member-level
    public key; linking or revoking a device does not change it.
    """
    material = encode([group_id, suite, key.sign.raw, key.relay])
    digest = (crypto.hash32("hramada:v1:member-safety-code:1", material)
              + crypto.hash32("hramada:v1:member-safety-code:2", material))
    return " ".join(f"{int.from_bytes(digest[i * 5:i * 5 + 5], 'big') % 100000:05d}"
                    for i in range(12))
