"""hramada device link | join | list | revoke (other modules attach more commands to
the ``device`` group, e.g. ``device recover``)."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import click

from hramada.cli.common import (clean, emit, err_console, home, json_option, out_console, passphrase,
                                print_qr, table, with_profile)
from hramada.client import Hramada
from hramada.client import link_join
from hramada.client.notices import render_group_refusal, render_refusal
from hramada.core.textcode import Refused
from hramada.errors import RelayError, RelayUnreachable

POLL_SECONDS = 1.0


def register(cli: click.Group) -> None:
    cli.add_command(device)


@click.group()
def device() -> None:
    """Your devices: link a new one, list them, revoke a lost one."""


def ask(question: str) -> bool | None:
    """A yes/no question on stdin: True, False, or None if nobody can answer (no input)."""
    err_console.print(question, end=" ")
    line = sys.stdin.readline()
    if not line:
        err_console.print()
        return None
    return line.strip().lower() in ("y", "yes")


# -- device A ---------------------------------------------------------------------

@device.command("link")
@click.option("--qr", is_flag=True, help="Also show the code as a QR code.")
@click.option("--no-wait", is_flag=True, help="Print the code and return; `hramada sync` continues the link.")
@click.option("--continue", "continue_", is_flag=True, help="Continue the link in progress.")
@click.option("--cancel", is_flag=True, help="End the link in progress (its drop is closed).")
def link(qr: bool, no_wait: bool, continue_: bool, cancel: bool) -> None:
    """Link a new device to this profile: show a one-time code for it.

    On the new device, with an empty HRAMADA_HOME, run `hramada device join CODE --name
    NAME`. Both devices then show eight digits: say yes here only if they are the same.
    The code expires in 10 minutes; show it to nobody else.

    Example: hramada device link --qr
    """
    if cancel:
        ended = with_profile(lambda h: h.cancel_link())
        click.echo(f"The link was ended ({ended['ended']}); its drop is closed.")
        return

    async def go(h: Hramada) -> None:
        if continue_:
            status = h.link_status()
            if status is None:
                raise click.ClickException("no link is in progress; start one with `hramada device link`")
            if status.done:
                out_console.print("The link was answered; the new device holds its groups once it has read "
                                  "the answers. `hramada device link --cancel` closes the link's drop.",
                                  highlight=False)
                return
        else:
            status = await h.start_link()
            out_console.print("On the new device, with an empty HRAMADA_HOME, run:", highlight=False)
            click.echo(f"\n  hramada device join {status.code} --name NAME\n")
            if qr:
                print_qr(status.code.upper())
            out_console.print(f"The code expires at {_clock(status.expires)}. Show it to nobody else.",
                              highlight=False)
        if no_wait:
            out_console.print("`hramada sync` (or `hramada device link --continue`) continues the link.",
                              highlight=False)
            return
        await follow_link(h, wait=True)
    with_profile(go)


async def follow_link(h: Hramada, wait: bool) -> None:
    """Move the pending link on; with ``wait``, until it is answered or ends."""
    before = h.link_status()
    status = await h.advance_link()
    if before is not None and before.done:
        return  # answered earlier: its drop waits for `--cancel` (or is closed after 7 days)
    if status is None:
        return
    with err_console.status("Waiting for the new device…") as line:
        while wait and status.stage in ("open", "challenged"):
            line.update(f"Waiting for the new device ({_left(status.expires)} left; "
                        "Ctrl-C stops waiting, `hramada device link --continue` resumes)")
            await asyncio.sleep(POLL_SECONDS)
            try:
                status = await h.advance_link()
            except RelayUnreachable:
                line.update("The relay is out of reach; trying again…")
                await asyncio.sleep(POLL_SECONDS)
                continue
            if status is None:
                return
    if status.stage == "confirm":
        out_console.print(f"The new device {clean(status.device)!r} asks to be linked. It shows:",
                          highlight=False)
        click.echo(f"\n    {status.digits}\n")
        answer = ask("Does the new device show the same digits? [y/N]")
        if answer is None:
            out_console.print("No answer: the link waits. Run `hramada device link --continue` to answer.",
                              highlight=False)
            return
        with err_console.status("Adding the new device to your groups…"):
            status = await h.confirm_link(answer)
    if status is not None and status.done:
        for name in status.added:
            out_console.print(f"Linked in {clean(name)!r}.", highlight=False)
        for name, why in status.refused.items():
            out_console.print(f"Not linked in {clean(name)!r}: {clean(render_group_refusal(why))}.",
                              highlight=False)
        for note in status.warnings:
            out_console.print(f"warning: {clean(note)}", highlight=False)
        out_console.print("The new device can now read and post in these groups. "
                          "`hramada device link --cancel` closes the link's drop once it holds them.",
                          highlight=False)
    elif status is not None and not wait and status.stage in ("open", "challenged"):
        out_console.print(f"A device link is waiting for the new device (until {_clock(status.expires)}).",
                          highlight=False)


def _clock(t: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def _left(t: int) -> str:
    left = max(0, int(t - time.time()))
    return f"{left // 60}:{left % 60:02d}"


# -- device B ---------------------------------------------------------------------

@device.command("join")
@click.argument("code", required=False)
@click.option("--name", "name", help="This device's name, e.g. \"phone\" (unique among your devices).")
@click.option("--continue", "continue_", is_flag=True, help="Keep waiting for a link begun earlier.")
@click.option("--cancel", is_flag=True, help="Stop waiting to be linked.")
@click.option("--timeout", type=click.IntRange(1), default=None,
              help="Seconds to wait (default: until the code expires, plus 30 minutes for the answers).")
def join(code: str | None, name: str | None, continue_: bool, cancel: bool, timeout: int | None) -> None:
    """Make this device (an empty HRAMADA_HOME) one of your devices, with a code from
    `hramada device link` on a device that holds your profile.

    Asks for this device's own passphrase. Both devices show eight digits: check they
    are the same, and say so on the other device.

    Example: hramada device join hramada-link1-... --name phone
    """
    if cancel:
        with_profile(lambda h: _sync(h.cancel_join))
        click.echo("This device stopped waiting to be linked.")
        return
    if continue_:
        with_profile(lambda h: follow_join(h, timeout))
        return
    if not code or not name:
        raise click.UsageError("give the code and --name (or --continue / --cancel)")
    link_join.check_code(code)  # a damaged, foreign or expired code is refused before anything is written
    if os.environ.get("HRAMADA_PASSPHRASE") is None:
        click.echo("Choose a passphrase for this device's profile (several random words).", err=True)

    async def go() -> None:
        h = link_join.begin(home(), passphrase(confirm=True), code, name)
        try:
            await follow_join(h, timeout)
        finally:
            await h.close()
    asyncio.run(go())


async def _sync(fn):  # type: ignore[no-untyped-def]
    return fn()


async def follow_join(h: Hramada, timeout: int | None) -> None:
    status = await h.advance_join()
    limit = (status.expires + link_join.ANSWER_GRACE) if timeout is None else time.time() + timeout
    shown = False
    with err_console.status("Sending this device's request…") as line:
        while not status.done:
            if status.digits and not shown:
                line.stop()
                out_console.print("Check that the linking device shows the same digits:", highlight=False)
                click.echo(f"\n    {status.digits}\n")
                out_console.print("Then say yes there; this device waits for its groups.", highlight=False)
                line.start()
                shown = True
            if time.time() >= limit:
                line.stop()
                raise click.ClickException(
                    "no answer from the linking device yet. Run `hramada device join --continue` to keep "
                    "waiting, or `hramada device join --cancel` and start over with a new code.")
            line.update("Waiting for the linking device to confirm the digits…" if shown
                        else "Waiting for the linking device…")
            await asyncio.sleep(POLL_SECONDS)
            try:
                status = await h.advance_join()
            except RelayUnreachable:
                line.update("The relay is out of reach; trying again…")
    for group in status.held:
        out_console.print(f"This device now holds {clean(group)!r}.", highlight=False)
    for slot, why in status.refused.items():
        out_console.print(f"Group {slot + 1} was not linked: {clean(render_group_refusal(why))}.", highlight=False)
    for slot, why in status.failed.items():
        out_console.print(f"Group {slot + 1} could not be used: {clean(why)}.", highlight=False)
    out_console.print(f"Linked as {clean(status.profile or h.name)!r}.", highlight=False)


async def continue_links(h: Hramada) -> None:
    """What ``hramada sync`` does for a pending link on either side: take it on, and say
    what happened without failing the sync."""
    try:
        if h.link_status() is not None:
            await follow_link(h, wait=False)
        if h.join_pending():
            await follow_join(h, timeout=1)
    except click.ClickException:
        out_console.print("This device still waits to be linked (`hramada device join --continue`).",
                          highlight=False)
    except Refused as exc:
        err_console.print(f"device link: {clean(render_refusal(exc.code, exc.params, str(exc)))}", highlight=False)
    except RelayError as exc:
        err_console.print(f"device link: not taken on now ({clean(exc)}); it waits for the next sync",
                          highlight=False)


# -- listing and revoking -------------------------------------------------------------

@device.command("list")
@json_option
def list_(as_json_: bool) -> None:
    """List your devices across your groups (matched by name); "current" marks this one.

    Example: hramada device list --json
    """
    emit(with_profile(lambda h: h.my_devices()), as_json_, lambda v: table(
        [{**d, "name": d["name"] + (" (this device)" if d["current"] else ""),
          "added": ", ".join(f"{g} (entry {n})" for g, n in d["added"].items())} for d in v],
        [("device", "Device"), ("name", "Name"), ("added", "Added in")], empty="No devices."))


@device.command("revoke")
@click.argument("device_")
@click.option("--member", help="An admin revokes a device of this member (name or fingerprint); needs --group.")
@click.option("--group", "group_", help="With --member: the group (another member's devices differ per group).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def revoke(device_: str, member: str | None, group_: str | None, yes: bool, as_json_: bool) -> None:
    """Revoke one of your other devices (by its id from `hramada device list`, or its
    name) in every group: each group's key rotates, so it reads nothing written after.
    An admin can revoke another member's device in one group (--member, --group).

    Example: hramada device revoke phone --yes
    """
    if member is not None and group_ is None:
        raise click.UsageError("--member needs --group: another member's devices differ per group")
    where = f"{member}'s devices in {group_}" if member is not None else "every group"
    if not yes and not click.confirm(f"Revoke {device_!r} from {where}?", err=True):
        raise click.Abort()
    if member is not None:
        async def one(h: Hramada) -> dict:
            done = await h.revoke_devices(group_, [device_], member=member)
            return {"device": device_, "name": device_, "revoked": [h.info(group_).name], "failed": {},
                    **{k: v for k, v in done.items() if k == "generation"}}
        result = with_profile(one)
    else:
        result = with_profile(lambda h: h.revoke_device(device_))
    emit(result, as_json_, lambda r: (
        [out_console.print(f"Revoked {clean(r['name'])!r} in {clean(g)!r}.", highlight=False) for g in r["revoked"]],
        [out_console.print(f"Not revoked in {clean(g)!r}: {clean(why)}", highlight=False)
         for g, why in r["failed"].items()]))
    if result["failed"]:
        click.echo("error: the device was not revoked in every group (see above); it can still read those", err=True)
        raise SystemExit(1)


__all__ = ["device", "register", "continue_links"]
