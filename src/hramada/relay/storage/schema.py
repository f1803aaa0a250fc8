"""Numbered schema files, shared by every backend.

``src/hramada/relay/schema/`` holds ``NNN_name.sql`` files, applied in order, each
exactly once. Where SQL dialects differ, a file has variants
``NNN_name.sqlite.sql`` / ``NNN_name.postgres.sql``; a backend takes its own variant
of a number, or the plain ``.sql`` file if there is none. A backend records the
highest number applied (SQLite: ``PRAGMA user_version``).
"""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)(?:\.([a-z]+))?\.sql$")


def schema_scripts(dialect: str) -> list[tuple[int, str]]:
    """``[(version, sql), ...]`` in order for ``dialect`` (e.g. ``"sqlite"``)."""
    chosen: dict[int, tuple[bool, str]] = {}
    for path in resources.files("hramada.relay.schema").iterdir():
        m = _NAME.match(path.name)
        if m is None:
            continue
        version, variant = int(m.group(1)), m.group(3)
        if variant not in (None, dialect):
            continue
        specific = variant is not None
        if version in chosen and chosen[version][0] and not specific:
            continue
        chosen[version] = (specific, path.read_text(encoding="utf-8"))
    versions = sorted(chosen)
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"schema files are not numbered 1..n without gaps: {versions}")
    return [(v, chosen[v][1]) for v in versions]


def split_statements(script: str) -> list[str]:
    """Split a schema file into statements (``;`` at the end of a line ends one;
    ``--`` comments are dropped)."""
    statements, current = [], []
    for line in script.splitlines():
        code = line.split("--", 1)[0].rstrip()
        if not code:
            continue
        current.append(code)
        if code.endswith(";"):
            statements.append("\n".join(current))
            current = []
    if current:
        statements.append("\n".join(current))
    return statements
