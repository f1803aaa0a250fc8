"""What the public API returns: plain dataclasses that the CLI prints as tables or JSON
(:func:`as_json`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class GroupInfo:
    group: str
    name: str
    relay: str
    status: str
    role: str | None = None
    members: int = 0
    generation: int = 0
    alarm: str | None = None          # proven tampering: the group is stopped
    suspicion: str | None = None      # what the relay may be withholding (not proven)
    offline: str | None = None        # why the last sync could not reach (or was refused by) the relay
    news: int = 0                     # log entries and items the last sync brought
    warnings: list[str] = field(default_factory=list)
    history: str = ""                 # what a newcomer reads: since-join | all ("" while pending)
    vouches: int = 0                  # vouches a newcomer needs now (the setting, at most the vouching members)
    suite: int = 0                    # the group's cipher suite: 1, or 2 (hybrid post-quantum key delivery)
    error: str | None = None          # any other failure of the last sync (a damaged record, a bad address)


@dataclass
class MemberInfo:
    name: str
    role: str
    fingerprint: str
    since: int
    vouched_by: list[str]
    me: bool


@dataclass
class DeviceInfo:
    """One device of this member in one group."""
    device: str        # its device id (hex)
    name: str
    fingerprint: str   # the device's own fingerprint (its signing and box keys)
    since: int         # the log entry that recorded it
    current: bool
    me: bool           # this device
    until: int | None = None  # the entry that revoked it (or ended the member)


@dataclass
class RequestInfo:
    request: str
    name: str
    fingerprint: str
    vouches: int
    needed: int
    vouched_by: list[str]
    status: str
    by: str = ""  # who made the invitation it answers


@dataclass
class InviteInfo:
    invite: str
    by: str
    expires: int      # Unix seconds (0: none)
    used: bool
    status: str       # open | used | revoked | expired


@dataclass
class JoinInfo:
    group: str
    request: str
    status: str


@dataclass
class ItemView:
    item: str
    author: str
    time: int
    text: str
    title: str = ""
    comments: list[dict] = field(default_factory=list)
    author_fingerprint: str = ""  # a prefix of the author's fingerprint, shown beside the name


def as_json(value: Any) -> Any:
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return asdict(value) if hasattr(value, "__dataclass_fields__") else value
