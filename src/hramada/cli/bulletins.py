"""post, comment, read."""

from __future__ import annotations

import datetime
import sys

import click
from hramada.cli.common import clean, clean_plain, emit, json_option, out_console, progress_bar, with_profile


def register(cli: click.Group) -> None:
    for command in (post, comment, read):
        cli.add_command(command)


MAX_TEXT_BYTES = 1 << 20  # far above what an item may hold; the core gives the exact limit


def _text(text: str | None, path: str | None) -> str:
    """The post's text: the argument, standard input for ``-``, or ``--file PATH``."""
    if (text is None) == (path is None):
        raise click.UsageError("give the text, `-` to read it from standard input, or --file PATH (one of them)")
    if path is not None:
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_TEXT_BYTES + 1)
        except OSError as exc:
            raise click.UsageError(f"cannot read {path}: {exc.strerror}") from None
    elif text == "-":
        raw = sys.stdin.buffer.read(MAX_TEXT_BYTES + 1)
    else:
        return text
    if len(raw) > MAX_TEXT_BYTES:
        raise click.UsageError("the text is too long for a bulletin")
    try:
        return raw.decode("utf-8").rstrip("\n")
    except UnicodeDecodeError:
        raise click.UsageError("the text is not UTF-8") from None


@click.command()
@click.argument("group")
@click.argument("text", required=False)
@click.option("--title", default="", help="A title for the bulletin.")
@click.option("--file", "path", default=None, metavar="PATH", help="Read the text from this file.")
@json_option
def post(group: str, text: str | None, title: str, path: str | None, as_json_: bool) -> None:
    """Post a bulletin to a group. TEXT `-` reads it from standard input.

    If the relay cannot be reached, the bulletin stays queued on this device and is
    sent by the next `hramada sync`.

    Example: hramada post "Mutual aid Tbilisi" "Food bank open Saturday 10-14" --title "Food bank"
    """
    body = _text(text, path)

    async def go(h):
        item = await h.post(group, body, title)
        return {"item": item, "queued": item in h.queued(group)}
    emit(with_profile(go), as_json_, _say_posted("Posted"))


def _say_posted(verb: str):
    def render(r: dict) -> None:
        if r["queued"]:
            out_console.print(f"Queued {r['item']}: the relay could not be reached. "
                              "It will be sent by the next `hramada sync`.")
        else:
            out_console.print(f"{verb} {r['item']}.")
    return render


@click.command()
@click.argument("group")
@click.argument("item")
@click.argument("text")
@json_option
def comment(group: str, item: str, text: str, as_json_: bool) -> None:
    """Comment on a bulletin.

    Example: hramada comment "Mutual aid Tbilisi" 9c1e... "I can drive"
    """
    async def go(h):
        cid = await h.comment(group, item, text)
        return {"item": cid, "queued": cid in h.queued(group)}
    emit(with_profile(go), as_json_, _say_posted("Commented"))


def _when(ms: int) -> str:
    """The author's time (milliseconds, 0 ≤ ms < 2**53; their claim) as local time."""
    try:
        return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):  # beyond what a calendar shows
        return "(time out of range)"


@click.command()
@click.argument("group")
@json_option
def read(group: str, as_json_: bool) -> None:
    """Read a group's bulletins and comments (syncs first; if the relay cannot be
    reached, shows what this device holds, with a note).

    Example: hramada read "Mutual aid Tbilisi"
    """
    async def go(h):
        views = await h.read(group, progress)
        return views, h.info(group).offline

    with progress_bar(disabled=as_json_) as progress:
        views, offline = with_profile(go)
    if offline:
        click.echo(f"note: {clean_plain(offline)}; showing what this device holds, which may be out of date.",
                   err=True)

    def render(v: list) -> None:
        if not v:
            out_console.print("No bulletins yet.")
        for b in v:
            out_console.rule(f"[bold]{clean(b.title or '(untitled)')}[/bold] — {clean(b.author)}, {_when(b.time)}")
            out_console.print(clean(b.text))
            for c in b.comments:
                out_console.print(f"  └ {clean(c['author'])}: {clean(c['text'])}")
            out_console.print(f"[dim]{b.item}[/dim]")
    emit(views, as_json_, render)
