"""Where the relay keeps its state: one interface (:mod:`.base`), one backend per
database (:mod:`.sqlite` today; PostgreSQL is planned behind the same interface)."""

from __future__ import annotations

from hramada.relay.storage.base import Storage


def open_storage(url: str, *, synchronous: str = "full") -> Storage:
    """The backend for a database URL (not yet opened: ``await storage.open()``)."""
    if url.startswith("sqlite:"):
        from hramada.relay.storage.sqlite import SQLiteStorage, sqlite_path
        return SQLiteStorage(sqlite_path(url), synchronous=synchronous)
    if url.startswith(("postgres:", "postgresql:")):
        raise ValueError("PostgreSQL is not supported by this relay version yet; use sqlite:///PATH")
    raise ValueError("unknown database URL; use sqlite:///PATH")


__all__ = ["Storage", "open_storage"]
