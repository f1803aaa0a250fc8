"""hramada backup export | import | codes, and hramada device recover."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from hramada.cli.common import clean, emit, home, json_option, out_console, passphrase, print_qr, with_profile
from hramada.client import Hramada
from hramada.client.recovery import KIT_PASSPHRASE_ENV, RecoveryCode, RecoveryPreview
from hramada.errors import ProfileError


def register(cli: click.Group) -> None:
    cli.add_command(backup)
    device = cli.commands.get("device")
    if not isinstance(device, click.Group):  # the device commands are not there: a group of our own
        device = click.Group("device", help="Your devices in your groups.")
        cli.add_command(device)
    device.add_command(recover)


def kit_passphrase(confirm: bool) -> str:
    """The kit's own passphrase: $HRAMADA_BACKUP_PASSPHRASE or a prompt."""
    value = os.environ.get(KIT_PASSPHRASE_ENV)
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise ProfileError(f"no recovery kit passphrase: set {KIT_PASSPHRASE_ENV} or run in a terminal")
    return click.prompt("Recovery kit passphrase", hide_input=True, confirmation_prompt=confirm)


@click.group()
def backup() -> None:
    """Write a recovery kit, or set up a new device from one."""


@backup.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def export(path: Path, as_json_: bool) -> None:
    """Write a recovery kit: one file, sealed under its own passphrase.

    It holds your member key for each group, and no group key: with the file and its
    passphrase, a new device can ask an admin of each group to re-admit you (the old
    devices are revoked in the same step). Keep it offline and away from this device.
    The kit's passphrase comes from $HRAMADA_BACKUP_PASSPHRASE or a prompt, and must
    be as hard to guess as a profile's.

    Example: hramada backup export /media/usb/hramada-kit
    """
    secret = kit_passphrase(confirm=True)

    async def go(h: Hramada):
        return h.export_kit(path, secret)
    written = with_profile(go)

    def render(w) -> None:
        out_console.print(f"Wrote the recovery kit for {len(w.groups)} group(s) to {clean(w.path)} "
                          "(readable by you only): " + ", ".join(clean(g) for g in w.groups) + ".")
        out_console.print(
            "It holds your member key for each of these groups. Whoever has this file AND its "
            "passphrase can ask an admin to re-admit them as you, so keep it offline, away from this "
            "device, and never send it. It holds no group key: it reads no group and nothing you wrote, "
            "and an admin must meet you in person before it gets you back in.")
        for g in w.left_out:
            out_console.print(f"Not in the kit: {clean(g['name'])} ({g['status']}).")
    emit(written, as_json_, render)


@backup.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", "device_name", required=True, help="This device's name, e.g. \"new phone\".")
@click.option("--qr", is_flag=True, help="Also print each recovery code as a QR code.")
@json_option
def import_(path: Path, device_name: str, qr: bool, as_json_: bool) -> None:
    """Set up this device from a recovery kit, in a new profile ($HRAMADA_HOME must be empty).

    Asks for the kit's passphrase ($HRAMADA_BACKUP_PASSPHRASE) and a new passphrase for
    this profile ($HRAMADA_PASSPHRASE). Prints one recovery code per group: show it in
    person to an admin of that group, who runs `hramada device recover`, then run
    `hramada sync`.

    Example: hramada backup import /media/usb/hramada-kit --name "new phone" --qr
    """
    kit_secret = kit_passphrase(confirm=False)
    new = passphrase(confirm=True)

    async def go():
        h, codes = Hramada.from_kit(home(), path, kit_secret, new, device_name)
        await h.close()
        return codes
    codes = asyncio.run(go())

    def render(v: list[RecoveryCode]) -> None:
        out_console.print(f"Profile created in {home()}; {len(v)} group(s) wait for an admin.")
        _print_codes(v, qr)
    emit(codes, as_json_, render)


@backup.command("codes")
@click.option("--qr", is_flag=True, help="Also print each recovery code as a QR code.")
@json_option
def codes(qr: bool, as_json_: bool) -> None:
    """Show again the recovery code of every group still waiting for an admin.

    Example: hramada backup codes --qr
    """
    async def go(h: Hramada):
        return h.recovery_codes()
    emit(with_profile(go), as_json_, lambda v: _print_codes(v, qr) if v else out_console.print(
        "No group is waiting for recovery."))


def _print_codes(v: list[RecoveryCode], qr: bool) -> None:
    for c in v:
        out_console.print(f"\n[bold]{clean(c.name)}[/bold] ({c.group}) as {clean(c.member)}")
        out_console.print(f"  safety code: {c.safety_code}")
        out_console.print(f"  this device: {clean(c.device)} ({c.device_fingerprint})")
        click.echo(f"  recovery code: {c.code}")
        if qr:
            print_qr(c.qr)
    out_console.print(
        "\nNext: meet an admin of each group in person. They run `hramada device recover GROUP CODE` "
        "with this group's code; check together that their screen shows the safety code above. Then "
        "run `hramada sync` here. The codes are not secret, but only ever hand one over in person. "
        "If no admin can re-admit you, `hramada group forget GROUP` removes the waiting group.")


@click.command("recover")
@click.argument("group_")
@click.argument("code")
@json_option
def recover(group_: str, code: str, as_json_: bool) -> None:
    """Re-admit a member's recovered device (admins), from the code it shows you in person.

    Shows the member the code names, with their safety code, and asks you to confirm
    that you are with that person and that their device shows the same safety code.
    Then every current device of that member is revoked and the new one added, in one
    step (the group key rotates); the new device gets in at its next sync.

    Example: hramada device recover "Mutual aid Tbilisi" hramada-recover1-...
    """
    def confirm(p: RecoveryPreview) -> bool:
        err = click.get_text_stream("stderr")
        click.echo(f"Recovery code for {clean(p.group_name)!r}:", file=err)
        click.echo(f"  member:       {clean(p.member)} ({p.fingerprint})", file=err)
        click.echo(f"  safety code:  {p.safety_code}", file=err)
        click.echo(f"  new device:   {clean(p.device)} ({p.device_fingerprint})", file=err)
        click.echo(f"  revoked:      {', '.join(clean(d) for d in p.revoked)} (they read nothing "
                   "written after this)", file=err)
        ok = click.confirm(f"Are you with {clean(p.member)} in person, and does their new device show "
                           "exactly this safety code?", default=False, err=True)
        if not ok:
            click.echo("Nothing was changed.", err=True)
        return ok

    result = with_profile(lambda h: h.recover_device(group_, code, confirm))

    def render(r: dict) -> None:
        if not r["recovered"]:
            return
        out_console.print(f"Re-admitted {clean(r['member'])}'s device {clean(r['device'])}; revoked "
                          f"{', '.join(clean(d) for d in r['revoked'])}; the group key rotated "
                          f"(generation {r['generation']}).")
        if r["welcome"] == "queued":
            out_console.print("The welcome could not be sent yet: it goes out at your next `hramada sync`.")
        else:
            out_console.print("Their device gets in at its next `hramada sync`.")
    emit(result, as_json_, render)
    if not result["recovered"]:
        raise SystemExit(1)
