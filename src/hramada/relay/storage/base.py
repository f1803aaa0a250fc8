"""The one storage interface of the relay, and what it answers.

A backend (SQLite today, PostgreSQL later) implements :class:`Storage`. The methods
are ``async`` because that is what the ASGI app awaits and what an asynchronous
PostgreSQL driver offers natively; the SQLite backend turns each call into a job for
its single writer thread (writes) or for a small pool of reader threads (reads), so
the event loop never blocks on disk.

Two rules every backend keeps:

* **The capability is checked inside the same transaction as the operation.** Every
  method that acts for a client takes the capability *hash* and raises
  :class:`Unauthorized` or :class:`RetiredCapability` itself. So an append that
  races a rotation either lands before it (with the old capability) or is refused —
  never after it.
* **A refusal changes nothing.** Each method is one transaction; when it raises,
  nothing it did is kept.

The relay stores only what clients send (ids, capability hashes, ciphertexts) and
what it must compute to enforce the API: the entry hash of each log entry (a public
function of the entry), heads and cursors, which capabilities are retired and at
which ``seq`` — sealed under :func:`position_pad` of the capability, which the relay
never stores, so the methods that need the position take the ``pad`` of the
capability presented — whether a drop is closed and how many guest messages it
holds. No client addresses, and nothing that orders writes across mailboxes (a
backend keys records by mailbox and position, never by a relay-wide counter).

A mailbox has exactly one current capability at any time: the one it was created
with, then the ``new_cap_hash`` of its latest rotation. It also has an *admin set*:
the relay-admin keys registered at creation, then the ``admins`` of the latest append
that changed them. An append that names a ``new_cap_hash`` or ``admins`` is taken only
with an :class:`AdminProof` by a key in the set, checked in the same transaction
(else :class:`NotAdmin`), so the admin set a rotation is checked against is the one
in force at its position in the log.

Refusals, all :class:`StorageRefusal` (a :class:`hramada.errors.HramadaError`)::

    StorageRefusal
    ├── Unauthorized         unknown mailbox, drop or capability
    ├── RetiredCapability    capability retired by a rotation
    ├── LogConflict          append not at head + 1 with the head's hash (carries .head)
    ├── Exists               mailbox or drop id already taken
    ├── CapabilityReused     new_cap_hash was already a capability of this mailbox
    ├── NotAdmin             a capability or admin-set change without a registered admin's signature
    ├── DropNotFound         no such drop in this mailbox, or it is closed
    ├── GuestLimitReached    the drop holds its maximum of guest messages
    ├── PagesMissing         an append names key-block pages the mailbox does not hold
    ├── PageNotFound         no page with that digest in this mailbox
    └── PendingPagesFull     the mailbox's pages not yet named by an entry reach their limit
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from hramada.core import wire
from hramada.core.crypto import hash32
from hramada.core.wire import GENESIS_PREV
from hramada.errors import HramadaError


class StorageRefusal(HramadaError):
    """The relay refused a request because of what is stored."""


class Unauthorized(StorageRefusal):
    """Unknown mailbox, drop or capability (the relay does not say which)."""


class RetiredCapability(StorageRefusal):
    """This capability was retired by a rotation; it can only read the log up to it."""


class LogConflict(StorageRefusal):
    """The append is not at head + 1 with the head's hash as prev."""

    def __init__(self, head: Head) -> None:
        super().__init__(f"the log head is at seq {head.seq}")
        self.head = head


class Exists(StorageRefusal):
    """That id is already taken."""


class CapabilityReused(StorageRefusal):
    """new_cap_hash is already (or was once) a capability of this mailbox."""


class NotAdmin(StorageRefusal):
    """An append that rotates the capability or changes the admin set, without a valid
    signature by a key of the mailbox's admin set (``reason`` says which part failed)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"only an admin of this mailbox may rotate its capability or change its "
                         f"admins: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AdminProof:
    """An admin append's ``admin_key`` (a relay-admin public key) and ``admin_sig``
    (its signature over :func:`hramada.core.wire.admin_message` of the append)."""

    key: bytes
    signature: bytes


def admin_refusal(proof: AdminProof | None, admins: set[bytes], mailbox: bytes, seq: int,
                  prev: bytes, ciphertext: bytes, new_cap_hash: bytes | None,
                  new_admins: list[bytes] | None) -> NotAdmin | None:
    """Why an append that names ``new_cap_hash`` or ``new_admins`` must be refused, given
    the mailbox's current admin set, or None if ``proof`` admits it. Every backend
    calls this inside the append's transaction."""
    if proof is None:
        return NotAdmin("the append carries no admin signature")
    if proof.key not in admins:
        return NotAdmin("the signing key is not an admin of this mailbox")
    if not wire.admin_signed(proof.key, proof.signature, mailbox, seq, prev, ciphertext,
                             new_cap_hash, new_admins):
        return NotAdmin("the admin signature does not verify")
    return None


class DropNotFound(StorageRefusal):
    """No such drop in this mailbox, or it is closed."""


class DropSealed(StorageRefusal):
    """The drop takes no more guest messages: ``reason`` is ``"used"`` (a member marked
    its invitation used) or ``"expired"`` (past the expiry it was opened with)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"this drop's invitation is {reason}")
        self.reason = reason


class GuestLimitReached(StorageRefusal):
    """The drop already holds its maximum number of guest messages."""


class PagesMissing(StorageRefusal):
    """An append names key-block pages (by digest) that the mailbox does not hold."""

    def __init__(self, missing: list[bytes]) -> None:
        super().__init__(f"{len(missing)} key-block page(s) named by the append are not stored")
        self.missing = missing


class PageNotFound(StorageRefusal):
    """No key-block page with that digest in this mailbox."""


class PendingPagesFull(StorageRefusal):
    """The mailbox's pending pages (uploaded, not yet named by an append) would pass
    their byte limit."""


POSITION_PAD_BYTES = 8


def position_pad(cap: bytes) -> bytes:
    """A pad derived from a capability (never stored): the relay seals the seq at
    which a capability was retired under it, so that only the capability's holder,
    presenting it, lets the relay read that position back."""
    return hash32("hramada:v1:relay-retired-at", cap)[:POSITION_PAD_BYTES]


def seal_position(seq: int, pad: bytes) -> bytes:
    return (seq ^ int.from_bytes(pad, "big")).to_bytes(POSITION_PAD_BYTES, "big")


def open_position(sealed: bytes, pad: bytes) -> int:
    return int.from_bytes(sealed, "big") ^ int.from_bytes(pad, "big")


@dataclass(frozen=True, slots=True)
class Head:
    """The last entry of a log: its seq and entry hash (0 and 32 zero bytes when empty)."""

    seq: int
    hash: bytes


EMPTY_HEAD = Head(0, GENESIS_PREV)


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    prev: bytes
    ciphertext: bytes
    hash: bytes


@dataclass(frozen=True, slots=True)
class LogPage:
    """Entries after the requested seq, and the head the reader may see."""

    entries: list[Entry]
    head: Head


@dataclass(frozen=True, slots=True)
class ItemsPage:
    items: list[tuple[int, bytes]]  # (cursor, ciphertext)
    head: int


@dataclass(frozen=True, slots=True)
class DropMessage:
    cursor: int
    drop: bytes
    from_guest: bool
    message: bytes


@dataclass(frozen=True, slots=True)
class MessagesPage:
    messages: list[DropMessage]
    head: int


@dataclass(frozen=True, slots=True)
class Heads:
    """What ``wait`` compares against. For a retired capability ``log`` stops at the
    retirement seq and ``items``/``drops`` are 0 (it may see nothing else)."""

    log: int
    items: int
    drops: int


@dataclass(frozen=True, slots=True)
class Grant:
    """What a capability hash is to a mailbox: current (``retired_at`` None) or retired."""

    retired_at: int | None

    @property
    def current(self) -> bool:
        return self.retired_at is None


class Storage(ABC):
    """Durable state of the relay. Open it once (``await storage.open()`` or
    ``async with``), share it between all requests, close it at shutdown.

    All ids and hashes are ``bytes`` of the sizes the API fixes (checked by the
    routes before they get here); ``max_bytes`` bounds the stored bytes of one read
    page (at least one record is always returned if there is one).
    """

    def __init__(self) -> None:
        self._listeners: list[Callable[[bytes], None]] = []

    def add_listener(self, listener: Callable[[bytes], None]) -> None:
        """Call ``listener(mailbox_id)`` on the event loop after every committed write
        to that mailbox (this is how long polls wake up)."""
        self._listeners.append(listener)

    def _changed(self, mailbox: bytes) -> None:
        for listener in self._listeners:
            listener(mailbox)

    async def __aenter__(self) -> Storage:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    @abstractmethod
    async def open(self) -> None:
        """Connect, bring the schema up to date, start any worker threads."""

    @abstractmethod
    async def close(self) -> None:
        """Finish queued writes, stop workers, close connections. Idempotent."""

    # -- mailboxes and capabilities ------------------------------------------------

    @abstractmethod
    async def create_mailbox(self, mailbox: bytes, cap_hash: bytes, admin: bytes) -> None:
        """A new mailbox with one current capability and one admin key (its creator's
        relay-admin key). Raises :class:`Exists`."""

    @abstractmethod
    async def lookup_cap(self, mailbox: bytes, cap_hash: bytes, pad: bytes) -> Grant:
        """What ``cap_hash`` may do in ``mailbox`` (``pad``: its :func:`position_pad`).
        Raises :class:`Unauthorized`."""

    # -- the log -------------------------------------------------------------------

    @abstractmethod
    async def append_entry(self, mailbox: bytes, cap_hash: bytes, seq: int, prev: bytes,
                           ciphertext: bytes, new_cap_hash: bytes | None = None,
                           pad: bytes | None = None, admins: list[bytes] | None = None,
                           proof: AdminProof | None = None, pages: list[bytes] | None = None) -> Head:
        """Append at ``head.seq + 1`` if ``prev == head.hash``, atomically; with
        ``pages`` (digests), every one must be a page of the mailbox (else
        :class:`PagesMissing`, checked after the position) and stops being pending; with
        ``new_cap_hash`` (and ``pad``, the presented capability's :func:`position_pad`)
        also retire the current capability at ``seq``, make the new one current and drop
        every page still pending; with
        ``admins`` (sorted keys) make them the mailbox's admin set. Either needs ``proof``
        by a current admin key (:func:`admin_refusal`), checked after the capability and
        before the position. Returns the new head. Raises :class:`Unauthorized`,
        :class:`RetiredCapability`, :class:`NotAdmin`, :class:`LogConflict`,
        :class:`CapabilityReused`."""

    @abstractmethod
    async def read_log(self, mailbox: bytes, cap_hash: bytes, after: int, limit: int,
                       max_bytes: int, pad: bytes) -> LogPage:
        """Entries with ``seq > after`` in order, at most ``limit``; a retired
        capability sees only entries up to its retirement and that as its head."""

    # -- items ---------------------------------------------------------------------

    @abstractmethod
    async def append_items(self, mailbox: bytes, cap_hash: bytes,
                           items: list[bytes]) -> tuple[int, int]:
        """Give the items the next cursors of the mailbox, in one transaction.
        Returns ``(first, last)``."""

    @abstractmethod
    async def read_items(self, mailbox: bytes, cap_hash: bytes, after: int, limit: int,
                         max_bytes: int) -> ItemsPage:
        """Items with ``cursor > after`` in order, and the mailbox's highest cursor."""

    # -- drops ---------------------------------------------------------------------

    @abstractmethod
    async def open_drop(self, mailbox: bytes, cap_hash: bytes, drop: bytes,
                        drop_cap_hash: bytes, expires: int = 0) -> None:
        """Open a drop of ``mailbox`` reachable with the drop capability, taking guest
        messages until Unix time ``expires`` (0: no expiry). Raises :class:`Exists`."""

    @abstractmethod
    async def close_drop(self, mailbox: bytes, cap_hash: bytes, drop: bytes) -> None:
        """Close the drop; its capability stops working. Raises :class:`DropNotFound`."""

    @abstractmethod
    async def mark_drop_used(self, mailbox: bytes, cap_hash: bytes, drop: bytes) -> None:
        """The drop takes no more guest messages (its invitation was used); members and
        the guest can still read and members still write. Raises :class:`DropNotFound`."""

    @abstractmethod
    async def post_member_message(self, mailbox: bytes, cap_hash: bytes, drop: bytes,
                                  message: bytes) -> int:
        """A member's message into an open drop. Returns its cursor."""

    @abstractmethod
    async def post_guest_message(self, drop: bytes, drop_cap_hash: bytes, message: bytes,
                                 max_guest_messages: int, now: int = 0) -> int:
        """A guest's message into an open drop. Returns its cursor. Raises
        :class:`Unauthorized`, :class:`DropNotFound` (closed), :class:`DropSealed` (used, or
        expired at Unix time ``now``), :class:`GuestLimitReached`."""

    @abstractmethod
    async def guest_message_count(self, drop: bytes, drop_cap_hash: bytes) -> int:
        """How many guest messages the drop holds."""

    @abstractmethod
    async def read_mailbox_messages(self, mailbox: bytes, cap_hash: bytes, after: int,
                                    limit: int, max_bytes: int) -> MessagesPage:
        """Messages of every drop of the mailbox with ``cursor > after``; head is the
        mailbox's highest drop-message cursor."""

    @abstractmethod
    async def read_drop_messages(self, drop: bytes, drop_cap_hash: bytes, after: int,
                                 limit: int, max_bytes: int) -> MessagesPage:
        """Messages of one open drop with ``cursor > after``; head is the highest cursor
        of a message in this drop (0 if none)."""

    # -- key-block pages -----------------------------------------------------------

    @abstractmethod
    async def put_page(self, mailbox: bytes, cap_hash: bytes, digest: bytes, page: bytes,
                       max_pending_bytes: int) -> bool:
        """Store ``page`` under ``digest`` (its hash, computed by the caller) as a pending
        page of ``mailbox``, for the current capability. True if it is new; storing a
        page the mailbox holds changes nothing. Raises :class:`PendingPagesFull` if the
        mailbox's pending pages would pass ``max_pending_bytes``."""

    @abstractmethod
    async def get_page(self, mailbox: bytes, cap_hash: bytes, digest: bytes) -> bytes:
        """The page ``digest`` of ``mailbox``, for a current or retired capability.
        Raises :class:`PageNotFound`."""

    # -- waiting -------------------------------------------------------------------

    @abstractmethod
    async def heads(self, mailbox: bytes, cap_hash: bytes, pad: bytes) -> Heads:
        """The log, item and drop-message heads this capability may see."""
