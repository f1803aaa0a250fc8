"""init, sync, panic."""

from __future__ import annotations

import asyncio
import json
import signal

import click

from hramada.cli.common import progress_bar, clean, emit, home, json_option, out_console, passphrase, table, with_profile
from hramada.client import Hramada, as_json
from hramada.cli.devices import continue_links
from hramada.client.profile import stop_processes, wipe


def register(cli: click.Group) -> None:
    cli.add_command(init)
    cli.add_command(sync)
    cli.add_command(panic)


@click.command()
@click.option("--name", required=True, help="The name other members see (you can use another per group).")
def init(name: str) -> None:
    """Create your encrypted profile.

    The passphrase must be hard to guess for whoever seizes this device: use several
    random words (four or five, picked with dice or a password manager). Weak ones are
    refused.

    Example: hramada init --name Ales   (passphrase from a prompt or $HRAMADA_PASSPHRASE)
    """
    Hramada.init(home(), passphrase(confirm=True), name).store.close()
    click.echo(f"Profile created in {home()}")


@click.command()
@click.option("--watch", is_flag=True, help="Keep running and sync whenever the relay has news.")
@json_option
def sync(watch: bool, as_json_: bool) -> None:
    """Fetch, verify and apply news for every group; send what is queued.

    Example: hramada sync --watch
    """
    if watch:
        return _watch(as_json_)

    async def go(h: Hramada):
        infos = await h.sync(progress=progress)
        await continue_links(h)  # a pending device link, on either side, moves on too
        return infos
    with progress_bar(disabled=as_json_) as progress:
        infos = with_profile(go)
    emit(infos, as_json_, lambda v: table(
        [{**i.__dict__, "alarm": i.alarm or "", "note": _note(i)} for i in v],
        [("name", "Group"), ("status", "Status"), ("members", "Members"), ("alarm", "Alarm"),
         ("note", "Note")]))
    if any(i.status == "alarm" for i in infos):
        raise SystemExit(3)
    if any(i.error for i in infos):
        click.echo("error: some groups could not be synced (see the table); the others were", err=True)
        raise SystemExit(1)


def _note(info) -> str:
    if info.error:
        return f"not synced: {info.error}"
    if info.offline:
        return f"not synced: {info.offline} (queued posts are sent at the next sync)"
    if info.suspicion:
        return f"the relay may be withholding {info.suspicion}"
    return ""


STOP_SECONDS = 5  # how long a stopping watch waits for the request in flight


def _watch(as_json_: bool) -> None:
    """Ctrl-C (or SIGTERM) sets a flag that the loop itself checks: the watch in flight
    is cancelled and the command closes the profile and exits, even if a cancellation
    were lost somewhere below."""
    said: dict[str, str] = {}

    async def go(h: Hramada) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            for info in await h.sync():
                _say(info, as_json_, said)
            while not stop.is_set():
                watching = asyncio.ensure_future(h.watch())
                await asyncio.wait({watching, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not watching.done():
                    watching.cancel()
                    await asyncio.wait({watching}, timeout=STOP_SECONDS)
                    break
                for info in watching.result():
                    _say(info, as_json_, said)
        finally:
            stopping.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    try:
        with_profile(go)
    except KeyboardInterrupt:
        pass


def _say(info, as_json_: bool, said: dict[str, str]) -> None:
    """One line per change: what is new, an outage (once), its end, an alarm or a
    suspicion — never the same line twice in a row for a group."""
    if info.alarm:
        line = f"{clean(info.name)}: ALARM: {clean(info.alarm)}"
    elif info.error:
        line = f"{clean(info.name)}: not synced: {clean(info.error)}"
    elif info.offline:
        line = f"{clean(info.name)}: the relay cannot be reached ({clean(info.offline)}); still trying"
    elif info.suspicion:
        line = f"{clean(info.name)}: the relay may be withholding {clean(info.suspicion)}"
    elif info.news:
        line = f"{clean(info.name)}: {info.news} new ({info.status}, {info.members} members)"
    elif said.get(info.group, "").startswith(f"{clean(info.name)}: the relay cannot"):
        line = f"{clean(info.name)}: the relay answers again"
    else:
        line = f"{clean(info.name)}: {info.status}, {info.members} members"
    if said.get(info.group) == line and not info.news:
        return
    said[info.group] = line
    if as_json_:
        click.echo(json.dumps(as_json(info), ensure_ascii=False))
    else:
        out_console.print(line)


@click.command()
@click.option("--yes", is_flag=True, help="Really wipe: there is no undo.")
def panic(yes: bool) -> None:
    """Wipe this profile now: every file is overwritten and deleted. No passphrase needed.

    Every running Hramada process of this profile (such as `hramada sync --watch`) is
    stopped first, so none keeps the key in memory or a connection to a relay.

    Example: hramada panic --yes
    """
    if not yes:
        raise click.UsageError("panic wipes everything; run `hramada panic --yes` to do it")
    stopped = stop_processes(home()) if home().exists() else 0
    count = wipe(home())
    out_console.print(f"Wiped {count} files."
                      + (f" Stopped {stopped} running Hramada process(es) of this profile." if stopped else ""))
