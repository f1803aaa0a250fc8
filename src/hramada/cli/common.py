"""What every command shares: opening the profile, running the API, printing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Awaitable, Callable, Iterator, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.markup import escape
from rich.table import Table

from hramada.client import Hramada, as_json
from hramada.client.profile import default_home
from hramada.errors import ProfileError, SuspicionError

T = TypeVar("T")
err_console = Console(stderr=True)
out_console = Console()

json_option = click.option("--json", "as_json_", is_flag=True, help="Print JSON instead of a table.")


@contextmanager
def progress_bar(disabled: bool = False) -> Iterator[Callable[[str, int, int], None]]:
    """A transient progress bar on stderr for long syncs; yields the API's callback."""
    with Progress(TextColumn("verifying {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=True, console=err_console, disable=disabled) as bar:
        tasks: dict[str, TaskID] = {}

        def update(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done, total=total)
        yield update


def home() -> Path:
    return default_home()


def passphrase(confirm: bool = False) -> str:
    value = os.environ.get("HRAMADA_PASSPHRASE")
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise ProfileError("no passphrase: set HRAMADA_PASSPHRASE or run in a terminal")
    return click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)


def with_profile(fn: Callable[[Hramada], Awaitable[T]]) -> T:
    """Open the profile, run ``fn`` with it, close it.

    If a group synced meanwhile has a suspicion (the relay may be withholding
    something), the command still prints its output, then exits with status 4 and
    says what may be withheld (raised when the command's context closes)."""
    suspicions: list[tuple[str, str]] = []

    async def go() -> T:
        h = Hramada.open(home(), passphrase())
        try:
            return await fn(h)
        finally:
            suspicions.extend(h.suspicions())
            await h.close()
    result = asyncio.run(go())
    ctx = click.get_current_context(silent=True)
    if suspicions and ctx is not None:
        ctx.call_on_close(lambda: raise_suspicion(suspicions))
    return result


def raise_suspicion(suspicions: list[tuple[str, str]]) -> None:
    if sys.exc_info()[0] is not None:
        return  # the command is already failing (an alarm outranks a suspicion)
    raise SuspicionError("; ".join(f"{clean_plain(name)}: {text}" for name, text in suspicions)
                         + ". Sync again later; if it persists, compare with another member "
                         "or move the group to another relay.")


def clean_plain(text: object) -> str:
    """Text written by others, safe for a plain (non-Rich) terminal line."""
    return _CONTROL.sub("\ufffd", str(text))


def emit(value: Any, as_json_flag: bool, render: Callable[[Any], None]) -> None:
    if as_json_flag:
        click.echo(json.dumps(as_json(value), ensure_ascii=False, indent=2))
    else:
        render(value)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: object) -> str:
    """Text written by others, made safe to print: no terminal control sequences,
    no bidirectional overrides, no Rich markup."""
    return escape(_CONTROL.sub("\ufffd", str(text)))


def table(rows: list[dict], columns: list[tuple[str, str]], title: str | None = None,
          empty: str = "(none)") -> None:
    if not rows:
        out_console.print(empty)
        return
    t = Table(title=title)
    for _, header in columns:
        t.add_column(header)
    for row in rows:
        t.add_row(*[clean(row.get(key, "")) for key, _ in columns])
    out_console.print(t)


def print_qr(text: str) -> None:
    """Print ``text`` as a QR code in the terminal."""
    import segno
    segno.make(text, error="m").terminal(compact=True)
