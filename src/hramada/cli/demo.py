"""hramada demo: three people, one relay, the whole admission and removal story."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from hramada.client import Hramada
from hramada.errors import HramadaError

console = Console()


def register(cli: click.Group) -> None:
    cli.add_command(demo)


class RelayProcess:
    """A relay on SQLite in a temporary folder, on a free port of 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.db = folder / "relay.sqlite3"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hramada.relay", "serve", "--host", "127.0.0.1", "--port", "0",
             "--db", f"sqlite:///{self.db}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 30
        self.url = ""
        while self.proc.stdout is not None and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                return
        self.stop()
        raise click.ClickException("the demo relay did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def say(who: str, text: str) -> None:
    console.print(f"[bold cyan]{who:>7}[/bold cyan] │ {escape(text)}", highlight=False)


def sees(who: str, views: list) -> None:
    if not views:
        say(who, "sees no bulletins")
    for b in views:
        say(who, f"sees “{b.title}”: {b.text} — {b.author}")
        for c in b.comments:
            say(who, f"       └ {c['author']}: {c['text']}")


async def story(folder: Path, relay_url: str) -> None:
    people = {}
    for name in ("Ales", "Hanna", "Mikola"):
        people[name] = Hramada.init(folder / name.lower(), os.urandom(12).hex(), name)
    ales, hanna, mikola = people["Ales"], people["Hanna"], people["Mikola"]
    try:
        console.print(Panel(f"A relay is running at {relay_url} (SQLite in {folder}).\n"
                            "Ales, Hanna and Mikola each have an encrypted profile."))
        g = await ales.create_group("Mutual aid Vilnius", relay_url, vouches=2)
        say("Ales", f"creates “{g.name}”; newcomers need 2 vouches (or all members, if fewer)")
        code = (await ales.invite(g.group))["code"]
        say("Ales", f"invites Hanna with a one-time code: {code[:24]}…")
        j = await hanna.join(code)
        say("Hanna", f"asks to join (request {j.request})")
        reqs = await ales.requests(g.group)
        say("Ales", f"sees the request from {reqs[0].name}: {reqs[0].vouches}/{reqs[0].needed} vouches")
        await ales.vouch(g.group, j.request)
        await ales.admit(g.group, j.request)
        say("Ales", "vouches and admits Hanna")
        await hanna.sync()
        say("Hanna", f"is in; members: {', '.join(m.name for m in await hanna.members(g.group))}")
        post = await ales.post(g.group, "Food bank open Saturday 10–14, Pylimo 4.", "Food bank")
        say("Ales", "posts a bulletin")
        sees("Hanna", await hanna.read(g.group))
        await hanna.comment(g.group, post, "I can drive the van.")
        say("Hanna", "comments")

        code = (await hanna.invite(g.group))["code"]
        say("Hanna", "invites Mikola")
        j = await mikola.join(code)
        say("Mikola", f"asks to join (request {j.request})")
        await ales.vouch(g.group, j.request)
        say("Ales", "vouches for Mikola")
        try:
            await ales.admit(g.group, j.request)
        except HramadaError as exc:
            say("Ales", f"tries to admit Mikola and is refused: {exc}")
        await hanna.vouch(g.group, j.request)
        say("Hanna", "vouches for Mikola too")
        await ales.admit(g.group, j.request)
        say("Ales", "admits Mikola")
        await mikola.sync()
        say("Mikola", "is in; the group's history policy is since-join, so he reads only what "
                      "is written from his admission on (nothing yet):")
        sees("Mikola", await mikola.read(g.group))
        codes = {n: (await p.safety_code(g.group, "Mikola"))["code"] for n, p in people.items()}
        say("Mikola", f"safety code, as Ales's device shows it: {codes['Ales']}")
        say("Mikola", f"safety code, as Mikola's device shows it: {codes['Mikola']}"
                      + ("  ✓ same" if codes["Ales"] == codes["Mikola"] else "  ✗ DIFFERENT"))

        await ales.remove(g.group, "Hanna")
        say("Ales", "removes Hanna; the group key rotates in the same step")
        await ales.post(g.group, "New meeting point: ask Mikola in person.", "Meeting point")
        say("Ales", "posts a bulletin after the removal")
        sees("Mikola", await mikola.read(g.group))
        infos = await hanna.sync()
        say("Hanna", f"syncs: status “{infos[0].status}”; she cannot read anything new")

        found = [w for w in ("Food bank", "Mutual aid Vilnius", "Hanna", "Mikola", "Meeting point")
                 if any(w.encode() in p.read_bytes() for p in folder.glob("relay.sqlite3*"))]
        console.print(Panel("The relay's database holds none of the names, group names or bulletins."
                            if not found else f"FOUND PLAINTEXT ON THE RELAY: {found}"))
    finally:
        for p in people.values():
            await p.close()


@click.command()
def demo() -> None:
    """Walk three people through invite, vouch, admit, post, comment and remove,
    on a throwaway relay, printing what each of them sees.

    Example: hramada demo
    """
    with tempfile.TemporaryDirectory(prefix="hramada-demo-") as tmp:
        folder = Path(tmp)
        relay = RelayProcess(folder)
        try:
            asyncio.run(story(folder, relay.url))
        finally:
            relay.stop()
