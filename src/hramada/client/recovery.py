"""The recovery kit on a device (``docs/spec/devices.md`` §7–§9): writing it, setting
up a device from it, and an admin re-admitting that device.

* :meth:`RecoveryCommands.export_kit` writes the kit file: the profile's name and, per
  group, where the group is and the member key's seed. It holds no group key.
* :func:`import_kit` makes a new profile from a kit. Its device draws fresh device
  keys per group and waits for each group in the status ``recovering``, showing one
  recovery code per group (``hramada-recover1-…``) to carry to an admin in person.
* :meth:`RecoveryCommands.recover_device` (an admin) reads such a code, shows whom it
  names, and once the admin confirms appends one ``device-revoke`` of every current
  device of that member with ``add`` = the recovered device: the key rotates, and the
  old devices read nothing written after it. The welcome goes out from the outgoing
  queue (the journal's reaction to that entry), into the drop the code names.
* :func:`finish_recovery` (the recovered device, in a sync) reads that drop, and
  adopts the group's log once a welcome fits it: the log must show the entry the
  welcome names adding exactly this device to this member.

Every refusal carries a reason code (``Refused``) worded by :mod:`hramada.client.notices`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from hramada.client import notices, profile
from hramada.client.journal import Change, reaction
from hramada.client.sealing import OsSealer
from hramada.client.session import GroupSession
from hramada.client.store import Store
from hramada.core import backup, crypto, invitation, suite2, wire
from hramada.core.backup import Kit, KitGroup, RecoveryRequest
from hramada.core.entries import Entry
from hramada.core.identity import DeviceRecord, MemberKey, device_fingerprint, fingerprint, safety_code
from hramada.core.joining import WelcomeMismatch, walk_back_generations
from hramada.core.link_answers import GroupRef
from hramada.core.names import clean_name
from hramada.core.state import GroupLog, Keyring
from hramada.core.textcode import Refused
from hramada.errors import (DecryptionError, EncodingError, HramadaError, PolicyError, ProfileError,
                            RelayError, RelayUnreachable, VerificationError)

if TYPE_CHECKING:
    from hramada.client.loaded import LoadedGroups as _Loaded
    from hramada.client.sync import Engine
else:
    _Loaded = object  # a mixin of Hramada; the engine imports this module

RECOVERING = "recovering"
KIT_PASSPHRASE_ENV = "HRAMADA_BACKUP_PASSPHRASE"
KIT_STATUSES = ("active", RECOVERING)   # groups whose member key the kit carries
DROP_DAYS = 30                          # the recovery drop takes no guest message anyway
MAX_PENDING_RECOVERIES = 16             # codes an admin confirmed whose entry is not in yet


# -- what the commands return ---------------------------------------------------------

@dataclass
class KitWritten:
    path: str
    groups: list[str]
    left_out: list[dict] = field(default_factory=list)   # {"name", "status"}


@dataclass
class RecoveryCode:
    """One group of a device set up from a kit: the code to show an admin, and what the
    admin's screen must show beside it."""
    group: str
    name: str
    member: str
    safety_code: str
    device: str
    device_fingerprint: str
    code: str
    qr: str


@dataclass
class RecoveryPreview:
    """Whom a recovery code names, as the admin's own log says."""
    group: str
    group_name: str
    member: str
    fingerprint: str
    safety_code: str
    device: str
    device_fingerprint: str
    revoked: list[str]          # names of the member's current devices, all revoked


# -- the device-specific steps (keys, identities, logs) --------------------------------

def _suite(s: GroupSession) -> int:
    return s.log.suite


def _member_seed(record: dict) -> bytes:
    """The member key's seed of a stored group (the first of its identity's secrets)."""
    return record["id"][0]


def _box_public(suite: int, secret: bytes) -> bytes:
    if suite == suite2.SUITE:
        return suite2.HybridPrivateKey.from_secret(secret).public.raw
    return crypto.BoxPrivateKey.from_secret(secret).public.raw


def _member_key(member_seed: bytes) -> MemberKey:
    member = crypto.SigningKey.from_seed(member_seed)
    relay = crypto.SigningKey.from_seed(crypto.derive_key(member_seed, "hramada:v1:relay-admin"))
    return MemberKey(member.public, relay.public.raw)


def _sealer_for(box: bytes) -> tuple[Any, Any]:
    """The box key as the welcome takes it, and the sealer it needs (suite 2 only)."""
    if len(box) == suite2.PUBLIC_BYTES:
        return suite2.HybridPublicKey(box), OsSealer()
    return crypto.BoxPublicKey(box), None


# -- the kit file -----------------------------------------------------------------------

def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path`` readable by its owner only, atomically: the
    file appears whole or not at all, and an existing file is never overwritten."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise ProfileError(f"{path} exists already: choose another name (nothing was written)")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ProfileError(f"there is no folder {folder} (nothing was written)")
    tmp = folder / f".{path.name}.{os.urandom(6).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)          # fails if the name was taken meanwhile
        except FileExistsError:
            raise ProfileError(f"{path} exists already: choose another name (nothing was written)") from None
        except OSError:                 # no hard links here (a FAT memory stick): rename instead
            if path.exists():
                raise ProfileError(f"{path} exists already: choose another name (nothing was written)") from None
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def read_kit_file(path: Path) -> bytes:
    path = Path(path)
    try:
        if path.stat().st_size > backup.MAX_KIT_BYTES:
            raise Refused("kit-damaged", notices.kit_refusal("kit-damaged", {}))
        return path.read_bytes()
    except FileNotFoundError:
        raise ProfileError(f"there is no file {path}") from None
    except IsADirectoryError:
        raise ProfileError(f"{path} is a folder, not a recovery kit") from None
    except OSError as exc:
        raise ProfileError(f"{path} cannot be read: {exc.strerror}") from None


def _worded(exc: Refused) -> Refused:
    """The same refusal, in the client's words."""
    return Refused(exc.code, notices.kit_refusal(exc.code, exc.params), **exc.params)


def open_kit(data: bytes, passphrase: str) -> Kit:
    try:
        return backup.import_kit(data, passphrase)
    except Refused as exc:
        raise _worded(exc) from None


# -- a device set up from a kit -----------------------------------------------------------

def import_kit(home: Path, path: Path, kit_passphrase: str, passphrase: str, device_name: str
               ) -> tuple[profile.Unlocked, list[RecoveryCode]]:
    """Make a new profile in ``home`` from the kit at ``path``: its passphrase is
    ``passphrase`` (checked for strength), its device is called ``device_name``. Each
    group of the kit waits for an admin (status ``recovering``); returns the codes.
    Refuses, creating nothing, an existing profile, a weak passphrase, a bad name and
    any kit :func:`hramada.core.backup.import_kit` refuses."""
    device_name = clean_name(device_name)
    if profile.exists(home):
        raise ProfileError(f"a profile already exists in {home}: a recovery kit sets up a new one "
                           "(use an empty HRAMADA_HOME)")
    data = read_kit_file(path)
    kit = open_kit(data, kit_passphrase)
    profile.check_passphrase(passphrase, kit.name)
    unlocked = profile.create(home, passphrase, kit.name)
    store = Store(home / profile.STORE, unlocked.store_key)
    codes = []
    try:
        with store.transaction():
            for g in kit.groups:
                record, code = recovering_record(g, device_name)
                store.add_group(record)
                codes.append(code)
    finally:
        store.close()
    return unlocked, codes


def recovering_record(g: KitGroup, device_name: str) -> tuple[dict, RecoveryCode]:
    """A group of a kit on the new device: fresh device keys, a recovery request, and
    the record that waits for the admin's welcome."""
    device_seed, box_secret, drop_secret = os.urandom(32), os.urandom(32), os.urandom(32)
    sign = crypto.SigningKey.from_seed(device_seed).public.raw
    box = _box_public(g.suite, box_secret)
    req = backup.make_recovery_request(g, device_name, sign, box, drop_secret)
    record = {"group": g.ref.group, "name": g.ref.name, "relay": g.ref.relay, "mailbox": g.ref.mailbox,
              "me": g.ref.member, "id": [g.member_seed, device_seed, box_secret], "device": device_name,
              "suite": g.suite, "gens": [], "status": RECOVERING, "pin": [0, wire.GENESIS_PREV],
              "items": 0, "drops": 0, "recovery": {"code": req.to_text()}}
    return record, code_of(record)


def code_of(record: dict) -> RecoveryCode:
    req = RecoveryRequest.from_text(record["recovery"]["code"])
    return RecoveryCode(group=record["group"].hex(), name=record["name"], member=record["me"],
                        safety_code=safety_code(record["group"], _member_key(_member_seed(record)), req.suite),
                        device=req.name, device_fingerprint=device_fingerprint(req.sign, req.box),
                        code=req.to_text(), qr=req.to_qr())


async def finish_recovery(e: Engine) -> bool:
    """For a device set up from a kit: look for the admin's welcome in the recovery
    drop. Returns True once the group is held again. A drop not opened yet means the
    admin has not acted: wait. A message that does not open, or a welcome the log does
    not bear out (a relay or a member making one up), is counted and passed over."""
    s = e.s
    req = RecoveryRequest.from_text(s.record["recovery"]["code"])
    try:
        messages = await e.relay.guest_read(req.drop_id, req.drop_cap)
    except RelayError as exc:
        if isinstance(exc, RelayUnreachable) or exc.status not in (401, 404):
            raise
        return False
    rejected = 0
    for _, sender, message in messages:
        if sender != "member":
            continue
        try:
            welcome = invitation.open_welcome(s.identity.boxing, message, s.group_id, request=req.sign)
            await _adopt(e, welcome, req)
        except RelayUnreachable:
            raise
        except (HramadaError, ValueError):
            rejected += 1
            continue
        return True
    if rejected != s.record["recovery"].get("rejected", 0):
        with e.journal.change(s) as ch:
            ch.record["recovery"]["rejected"] = rejected
    return False


async def _adopt(e: Engine, welcome: invitation.Welcome, req: RecoveryRequest) -> None:
    """Fetch the whole log with the welcome's key, fold it as this device, and keep it
    only if the welcome's entry is the ``device-revoke`` that added this very device to
    this member (``WelcomeMismatch`` otherwise)."""
    from hramada.client.joining import _numbering_from, read_whole_log
    s = e.s
    entries = await read_whole_log(e, welcome.generation.relay_cap)
    log, keys = adopt_recovered(s.record["mailbox"], s.group_id, [(x.seq, x.prev, x.ciphertext) for x in entries],
                                welcome, s.identity.boxing, req)
    with e.journal.change(s) as ch:
        for x in entries:
            e.store.add_log(s.ref, x.seq, x.prev, x.ciphertext)
        s.log, s.keys = log, keys
        ch.record["status"] = "active"
        ch.record.pop("recovery", None)
        ch.record["item_seqs"] = _numbering_from(log, keys)


def adopt_recovered(mailbox: bytes, group: bytes, entries: list[tuple[int, bytes, bytes]],
                    welcome: invitation.Welcome, me: Any, req: RecoveryRequest) -> tuple[GroupLog, Keyring]:
    """``joining.adopt`` for a recovered device: the welcome's entry must be the one
    that recorded this device (``req.sign``, with its box key) for ``req.member``, and
    the device must still be current at the head."""
    try:
        gens = walk_back_generations([(seq, ct) for seq, _, ct in entries], welcome.generation,
                                     list(welcome.starts))
        log, keys = GroupLog(mailbox, group), Keyring(me, dict(gens))
        for seq, prev, ciphertext in entries:
            log.apply(seq, prev, ciphertext, keys)
    except (VerificationError, DecryptionError, EncodingError) as exc:
        raise WelcomeMismatch(f"the welcome does not fit the group's log ({exc})") from None
    at, digest = welcome.admit
    device = log.devices.get(req.sign)
    if (at > log.head[0] or not crypto.equal(log.hash_at(at), digest) or device is None
            or device.member != req.member or device.since != at or device.box != req.box
            or device.until is not None or req.member not in log.members):
        raise WelcomeMismatch("the welcome names a recovery the log does not show")
    if log.generation_at(at) > welcome.generation.number:
        raise WelcomeMismatch("the welcome hands over a key older than the recovery")
    return log, keys


# -- the admin ----------------------------------------------------------------------------

def parse_code(text: str) -> RecoveryRequest:
    try:
        return RecoveryRequest.from_text(text)
    except Refused as exc:
        raise _worded(exc) from None


def _refuse(code: str, **params: Any) -> Refused:
    return Refused(code, notices.kit_refusal(code, params), **params)


def check_request(s: GroupSession, req: RecoveryRequest) -> tuple[Any, list[bytes]]:
    """The member ``req`` names and the ids of their current devices, if this device may
    re-admit ``req``'s device in ``s`` now; else a refusal that changes nothing."""
    if not crypto.equal(req.group, s.group_id):
        raise _refuse("recover-other-group", group=s.name)
    if s.status != "active":
        s.require_active()
    me = s.me
    if me is None or me.role != "admin":
        raise _refuse("recover-not-admin", group=s.name)
    if req.suite != _suite(s):
        raise _refuse("recover-suite", suite=req.suite, group_suite=_suite(s))
    target = s.log.members.get(req.member)
    if target is None:
        gone = s.log.former.get(req.member)
        raise _refuse("recover-not-a-member", group=s.name, former=gone.name if gone else "")
    if req.member == s.member_id:
        raise _refuse("recover-self")
    known = s.log.devices.get(req.sign)
    if known is not None:
        raise _refuse("recover-done" if known.member == req.member and known.until is None
                      else "recover-device-taken")
    if any(crypto.equal(d.box, req.box) for d in s.log.devices.values()):
        raise _refuse("recover-device-taken")
    try:
        DeviceRecord.from_value(req.record, req.suite).verify(req.member, s.group_id, req.suite)
    except (HramadaError, ValueError):
        raise _refuse("recover-cert") from None
    return target, sorted(target.devices)


class RecoveryCommands(_Loaded):
    name: str

    # -- the kit ---------------------------------------------------------------------

    def kit(self) -> tuple[Kit, list[dict]]:
        """The profile's kit contents, and the groups left out (with their status)."""
        groups, left = [], []
        for s in self._sessions():
            if s.status not in KIT_STATUSES:
                left.append({"name": s.name, "status": s.status})
                continue
            ref = GroupRef(s.record["relay"], s.record["mailbox"], s.group_id, s.name, s.record["me"])
            suite = s.record["suite"] if s.status == RECOVERING else _suite(s)
            groups.append(KitGroup(ref, _member_seed(s.record), suite))
        return Kit(self.name, tuple(groups)), left

    def export_kit(self, path: Path, kit_passphrase: str) -> KitWritten:
        """Write the recovery kit to the new file ``path`` (owner-only, atomically),
        sealed under ``kit_passphrase`` (checked for strength as a profile's is)."""
        profile.check_passphrase(kit_passphrase, self.name)
        kit, left = self.kit()
        if not kit.groups:
            raise PolicyError("this profile holds no group whose member key a kit could carry: nothing "
                              "was written")
        data = backup.export_kit(kit, kit_passphrase, os.urandom(crypto.SALT_BYTES),
                                 os.urandom(crypto.NONCE_BYTES))
        write_private(Path(path), data)
        return KitWritten(str(path), [g.ref.name for g in kit.groups], left)

    def recovery_codes(self) -> list[RecoveryCode]:
        """The recovery code of every group still waiting for an admin."""
        return [code_of(rec) for _, rec in self._refs().items() if rec["status"] == RECOVERING]

    # -- the admin -------------------------------------------------------------------

    async def recovery_preview(self, group: str, code: str) -> RecoveryPreview:
        """Whom ``code`` names in ``group`` and what re-admitting it would change,
        after a sync; refuses (changing nothing) what :func:`check_request` refuses."""
        req = parse_code(code)
        s = self._find(group)
        if not crypto.equal(req.group, s.group_id):
            raise _refuse("recover-other-group", group=s.name)
        s = await self._synced(group)
        target, devices = check_request(s, req)
        return RecoveryPreview(
            group=s.group_id.hex(), group_name=s.name, member=target.name, fingerprint=fingerprint(target.key),
            safety_code=safety_code(s.group_id, target.key, _suite(s)), device=req.name,
            device_fingerprint=device_fingerprint(req.sign, req.box),
            revoked=[target.devices[d].name for d in devices])

    async def recover_device(self, group: str, code: str,
                             confirm: Callable[[RecoveryPreview], bool]) -> dict:
        """Re-admit the device of ``code`` once ``confirm(preview)`` says yes: one
        ``device-revoke`` of every current device of the member, adding it; the welcome
        follows from the outgoing queue. ``confirm`` returning False changes nothing."""
        preview = await self.recovery_preview(group, code)
        if not confirm(preview):
            return {"recovered": False, "member": preview.member, "group": preview.group}
        req = parse_code(code)
        s = self._find(group)
        _, devices = check_request(s, req)
        record = DeviceRecord.from_value(req.record, req.suite)
        with self._engine(s).journal.change(s) as ch:   # the welcome's drop, kept for the reaction
            pending = ch.record.setdefault("recoveries", {})
            pending[req.sign] = req.drop_secret
            while len(pending) > MAX_PENDING_RECOVERIES:
                pending.pop(next(iter(pending)))

        def check() -> None:
            _, now = check_request(s, req)
            if now != devices:
                raise PolicyError(f"{preview.member}'s devices changed meanwhile: run the recovery again")
        engine = self._engine(s)
        await engine.rotate(revoke=devices, add=record, check=check)
        if req.sign not in s.log.devices:
            raise PolicyError("the group did not take the recovered device (see `hramada group info`)")
        try:
            await self._sync(s)          # sends the welcome
        except RelayError:
            pass
        queued = any(job.get("t") == "recover-welcome" for _, job in self.store.outbox(s.ref))
        return {"recovered": True, "member": preview.member, "group": preview.group,
                "device": req.name, "revoked": preview.revoked, "generation": s.log.generation,
                "welcome": "queued" if queued else "sent"}


# -- the welcome: queued with the entry, sent after ---------------------------------------

@reaction("device-revoke")
def _welcome_whom_i_recovered(ch: Change, entry: Entry) -> None:
    """A ``device-revoke`` this device appended that added a device whose recovery code
    it was shown: queue that device's welcome in the same transaction."""
    s = ch.session
    pending = s.record.get("recoveries") or {}
    add = entry.body.get("add") if isinstance(entry.body, dict) else None
    if entry.device != s.device_id or not isinstance(add, dict) or add.get("sign") not in pending:
        return
    device = s.log.devices.get(add["sign"])
    if device is not None and device.since == entry.seq:
        ch.queue({"t": "recover-welcome", "device": add["sign"], "drop": pending.pop(add["sign"])})


async def send_welcome(e: Engine, job: dict) -> None:
    """Open the recovery drop in the group's mailbox (already open: fine) and post the
    welcome sealed to the recovered device's box key. A device revoked meanwhile gets
    nothing; a drop another mailbox holds cannot be answered (the job is dropped)."""
    s = e.s
    device = s.log.devices.get(job["device"])
    if device is None or device.until is not None:
        return
    drop_id = suite2.derive(job["drop"], backup.RECOVER_DROP, 32)[:16]
    drop_cap = suite2.derive(job["drop"], backup.RECOVER_DROP_CAP, 32)
    box, sealer = _sealer_for(device.box)
    message = invitation.make_welcome(
        box, os.urandom(32), s.group_id, device.id, s.generation,
        admit=(device.since, s.log.hash_at(device.since)),
        starts=[g.start for g in s.log.generations[1:]], sealer=sealer)
    mailbox = s.record["mailbox"]
    try:
        await e.relay.open_drop(mailbox, s.cap, drop_id, wire.cap_hash(drop_cap),
                                int(time.time()) + DROP_DAYS * 86400)
    except RelayError as exc:
        if exc.status != 409:
            raise
    try:
        await e.relay.post_to_drop(mailbox, s.cap, drop_id, message)
    except RelayError as exc:
        if exc.status != 404:
            raise
        with e.journal.change(s) as ch:
            notes = ch.record.setdefault("recovery_notes", [])
            notes.append(notices.kit_refusal("recover-drop-taken", {"device": device.name}))
            del notes[:-MAX_PENDING_RECOVERIES]
