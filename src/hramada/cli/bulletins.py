"""post, comment, read."""

from __future__ import annotations

import datetime

import click
from hramada.cli.common import clean, emit, json_option, out_console, progress_bar, with_profile


def register(cli: click.Group) -> None:
    for command in (post, comment, read):
        cli.add_command(command)


@click.command()
@click.argument("group")
@click.argument("text")
@click.option("--title", default="", help="A title for the bulletin.")
@json_option
def post(group: str, text: str, title: str, as_json_: bool) -> None:
    """Post a bulletin to a group.

    Example: hramada post "Mutual aid Tbilisi" "Food bank open Saturday 10-14" --title "Food bank"
    """
    item = with_profile(lambda h: h.post(group, text, title))
    emit({"item": item}, as_json_, lambda r: out_console.print(f"Posted {r['item']}."))


@click.command()
@click.argument("group")
@click.argument("item")
@click.argument("text")
@json_option
def comment(group: str, item: str, text: str, as_json_: bool) -> None:
    """Comment on a bulletin.

    Example: hramada comment "Mutual aid Tbilisi" 9c1e... "I can drive"
    """
    cid = with_profile(lambda h: h.comment(group, item, text))
    emit({"item": cid}, as_json_, lambda r: out_console.print(f"Commented {r['item']}."))


def _when(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


@click.command()
@click.argument("group")
@json_option
def read(group: str, as_json_: bool) -> None:
    """Read a group's bulletins and comments (syncs first).

    Example: hramada read "Mutual aid Tbilisi"
    """
    with progress_bar(disabled=as_json_) as progress:
        views = with_profile(lambda h: h.read(group, progress))

    def render(v: list) -> None:
        if not v:
            out_console.print("No bulletins yet.")
        for b in v:
            out_console.rule(f"[bold]{clean(b.title or '(untitled)')}[/bold] — {clean(b.author)} "
                             f"[dim]({b.author_fingerprint})[/dim], {_when(b.time)}")
            out_console.print(clean(b.text))
            for c in b.comments:
                out_console.print(f"  └ {clean(c['author'])} [dim]({c['author_fingerprint']})[/dim]: "
                                  f"{clean(c['text'])}")
            out_console.print(f"[dim]{b.item}[/dim]")
    emit(views, as_json_, render)
