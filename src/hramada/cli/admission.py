"""invite, invites, join, requests, vouch, admit, role, remove, leave, rotate, group forget."""

from __future__ import annotations

import datetime
import re
import sys

import click

from hramada.cli.common import clean, emit, json_option, out_console, print_qr, table, with_profile
from hramada.client import Hramada

VOUCHES_NOTE = ("Vouches: valid vouches so far / vouches needed; the number needed is the group's "
                "setting, but never more than the members who can vouch.")


def register(cli: click.Group) -> None:
    for command in (invite, invites, join, requests, vouch, admit, role, policy, remove, leave, rotate):
        cli.add_command(command)
    from hramada.cli.groups import group
    group.add_command(forget)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """``"2d"``, ``"12h"``, ``"30m"``, ``"1w"``, ``"90s"`` → seconds."""
    m = re.fullmatch(r"\s*(\d{1,6})\s*([smhdw])\s*", text.lower())
    if m is None:
        raise click.BadParameter(f"{text!r} is not a duration: write a number and a unit, e.g. 2d, 12h, 30m")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _date(seconds: int) -> str:
    if not seconds:
        return "never"
    return datetime.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M")


@click.command()
@click.argument("group")
@click.option("--expires", "expires", default="7d", show_default=True, metavar="DURATION",
              help="How long the code stays valid, e.g. 2d, 12h, 30m.")
@click.option("--revoke", "revoke", default=None, metavar="INVITE",
              help="Instead of making a code, revoke the unused invitation INVITE (see `hramada invites`).")
@click.option("--qr", is_flag=True, help="Also print the code as a QR code.")
@json_option
def invite(group: str, expires: str, revoke: str | None, qr: bool, as_json_: bool) -> None:
    """Make a one-time invitation code; send it to the person out of band.

    The code expires (after 7 days unless --expires says otherwise), is used up by the
    first request, and dies if you leave or are removed.

    Example: hramada invite "Mutual aid Tbilisi" --expires 2d
    """
    if revoke is not None:
        info = with_profile(lambda h: h.revoke_invite(group, revoke))
        emit(info, as_json_, lambda i: out_console.print(
            f"Invitation {i.invite} is revoked; its code no longer works."))
        return
    seconds = parse_duration(expires)
    result = with_profile(lambda h: h.invite(group, seconds))

    def render(r: dict) -> None:
        out_console.print(f"Invitation code (single use, valid until {_date(r['expires'])}; send it privately):")
        click.echo(r["code"])
        if qr:
            print_qr(r["code"])
    emit(result, as_json_, render)


@click.command()
@click.argument("group")
@json_option
def invites(group: str, as_json_: bool) -> None:
    """List the group's invitations: who made them, until when, and whether used.

    Example: hramada invites "Mutual aid Tbilisi" --json
    """
    emit(with_profile(lambda h: h.invites(group)), as_json_, lambda v: table(
        [{**i.__dict__, "expires": _date(i.expires)} for i in v],
        [("invite", "Invitation"), ("by", "Made by"), ("status", "Status"), ("expires", "Expires")],
        empty="No invitations."))


@click.command()
@click.argument("code")
@click.option("--name", default=None, help="Your name in this group (default: your profile name).")
@json_option
def join(code: str, name: str | None, as_json_: bool) -> None:
    """Ask to join a group with an invitation code.

    Example: hramada join hramada1-...
    """
    info = with_profile(lambda h: h.join(code, name))
    emit(info, as_json_, lambda i: out_console.print(
        f"Request {i.request} sent. Members must vouch for you; run `hramada sync` to see when you are in."))


@click.command()
@click.argument("group")
@json_option
def requests(group: str, as_json_: bool) -> None:
    """List join requests, who invited them, and their vouches.

    Example: hramada requests "Mutual aid Tbilisi" --json
    """
    def render(v: list) -> None:
        table([{**r.__dict__, "vouches": f"{r.vouches}/{r.needed}", "vouched_by": ", ".join(r.vouched_by)}
               for r in v],
              [("request", "Request"), ("name", "Name"), ("by", "Invited by"), ("status", "Status"),
               ("vouches", "Vouches"), ("vouched_by", "Vouched by"), ("fingerprint", "Fingerprint")],
              empty="No join requests.")
        if v:
            out_console.print(f"[dim]{VOUCHES_NOTE}[/dim]")
    emit(with_profile(lambda h: h.requests(group)), as_json_, render)


@click.command()
@click.argument("group")
@click.argument("request")
@json_option
def vouch(group: str, request: str, as_json_: bool) -> None:
    """Vouch for a join request (everyone sees who vouched for whom).

    Example: hramada vouch "Mutual aid Tbilisi" 3f2a9c0d1e4b5a67
    """
    r = with_profile(lambda h: h.vouch(group, request))
    emit(r, as_json_, lambda r: out_console.print(
        f"Vouched for {clean(r.name)}: {r.vouches} of {r.needed} vouches needed "
        "(the group's setting, but never more than the members who can vouch)."))


@click.command()
@click.argument("group")
@click.argument("request")
@click.option("--probation", is_flag=True, help="Admit as a newcomer on probation (cannot vouch or invite).")
@json_option
def admit(group: str, request: str, probation: bool, as_json_: bool) -> None:
    """Admit a join request that has enough vouches (admins only).

    Example: hramada admit "Mutual aid Tbilisi" 3f2a9c0d1e4b5a67
    """
    m = with_profile(lambda h: h.admit(group, request, probation))
    emit(m, as_json_, lambda m: out_console.print(f"Admitted {clean(m.name)} as {m.role}."))


@click.command()
@click.argument("group")
@click.argument("member")
@click.argument("new_role", metavar="admin|member", type=click.Choice(["admin", "member"]))
@json_option
def role(group: str, member: str, new_role: str, as_json_: bool) -> None:
    """Give or take the admin role (admins only); the group always keeps an admin.

    An only admin who wants to leave makes another member admin first.

    Example: hramada role "Mutual aid Tbilisi" Hanna admin
    """
    m = with_profile(lambda h: h.set_role(group, member, new_role))
    emit(m, as_json_, lambda m: out_console.print(f"{clean(m.name)} is now {m.role}."))


def _confirm(yes: bool, question: str, command: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError(f"run `{command} --yes` to confirm")
    if not click.confirm(question, default=False):
        raise click.Abort()


@click.command()
@click.argument("group")
@click.argument("member")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def remove(group: str, member: str, yes: bool, as_json_: bool) -> None:
    """Remove a member; the group key rotates in the same step (admins only).

    Example: hramada remove "Mutual aid Tbilisi" Hanna --yes
    """
    _confirm(yes, f"Remove {member} from {group}? They will read nothing posted afterwards.",
             "hramada remove GROUP MEMBER")
    r = with_profile(lambda h: h.remove(group, member))
    emit(r, as_json_, lambda r: out_console.print(
        f"Removed {clean(r['removed'])}; the group key is now generation {r['generation']}."))


@click.command()
@click.argument("group")
@json_option
def rotate(group: str, as_json_: bool) -> None:
    """Rotate the group key without removing anyone (admins only).

    Example: hramada rotate "Mutual aid Tbilisi"
    """
    r = with_profile(lambda h: h.rotate(group))
    emit(r, as_json_, lambda r: out_console.print(f"The group key is now generation {r['generation']}."))


@click.command()
@click.argument("group")
@click.option("--yes", is_flag=True, help="Really leave.")
def leave(group: str, yes: bool) -> None:
    """Leave a group; an admin's device rotates the group key when it next syncs.

    Example: hramada leave "Mutual aid Tbilisi" --yes
    """
    if not yes:
        raise click.UsageError("run `hramada leave GROUP --yes` to leave")
    r = with_profile(lambda h: h.leave(group))
    out_console.print(f"You have left {clean(r['left'])}.")


@click.command("forget")
@click.argument("group_")
@json_option
def forget(group_: str, as_json_: bool) -> None:
    """Drop a pending or refused request, or a group you left or were removed from,
    from this profile (with everything stored about it).

    Example: hramada group forget 3f2a9c0d1e4b5a67c8d9e0f1a2b3c4d5
    """
    async def go(h: Hramada) -> dict:
        return h.forget_group(group_)
    r = with_profile(go)
    emit(r, as_json_, lambda r: out_console.print(f"Forgot {clean(r['forgotten'])}."))


@click.command()
@click.argument("group")
@click.option("--history", type=click.Choice(["since-join", "all"]), default=None,
              help="What newcomers admitted from now on can read.")
@click.option("--vouches", type=click.IntRange(1, 100), default=None,
              help="How many members must vouch for a newcomer.")
@json_option
def policy(group: str, history: str | None, vouches: int | None, as_json_: bool) -> None:
    """Change the group's history policy or vouches needed (admins only; everyone sees it).

    Under since-join each admission rotates the group key, and the newcomer gets no key
    to anything written before it; under all a newcomer reads the group's history.

    Example: hramada policy "Mutual aid Tbilisi" --history since-join
    """
    info = with_profile(lambda h: h.set_policy(group, history=history, vouches=vouches))
    emit(info, as_json_, lambda i: out_console.print(
        f"{clean(i.name)}: history {i.history}; a newcomer needs {i.vouches} vouch(es)."))
