"""invite, join, requests, vouch, admit, remove, rotate."""

from __future__ import annotations

import click

from hramada.cli.common import clean, emit, json_option, out_console, print_qr, table, with_profile


def register(cli: click.Group) -> None:
    for command in (invite, join, requests, vouch, admit, remove, leave, rotate):
        cli.add_command(command)


@click.command()
@click.argument("group")
@click.option("--qr", is_flag=True, help="Also print the code as a QR code.")
@json_option
def invite(group: str, qr: bool, as_json_: bool) -> None:
    """Make a one-time invitation code; send it to the person out of band.

    Example: hramada invite "Mutual aid Tbilisi"
    """
    result = with_profile(lambda h: h.invite(group))

    def render(r: dict) -> None:
        out_console.print("Invitation code (single use; send it privately):")
        click.echo(r["code"])
        if qr:
            print_qr(r["code"])
    emit(result, as_json_, render)


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
    """List join requests and their vouches.

    Example: hramada requests "Mutual aid Tbilisi" --json
    """
    emit(with_profile(lambda h: h.requests(group)), as_json_, lambda v: table(
        [{**r.__dict__, "vouches": f"{r.vouches}/{r.needed}", "vouched_by": ", ".join(r.vouched_by)} for r in v],
        [("request", "Request"), ("name", "Name"), ("status", "Status"), ("vouches", "Vouches"),
         ("vouched_by", "Vouched by"), ("fingerprint", "Fingerprint")], empty="No join requests."))


@click.command()
@click.argument("group")
@click.argument("request")
@json_option
def vouch(group: str, request: str, as_json_: bool) -> None:
    """Vouch for a join request (everyone sees who vouched for whom).

    Example: hramada vouch "Mutual aid Tbilisi" 3f2a9c0d1e4b5a67
    """
    r = with_profile(lambda h: h.vouch(group, request))
    emit(r, as_json_, lambda r: out_console.print(f"Vouched for {clean(r.name)}: {r.vouches} of {r.needed} vouches."))


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
@json_option
def remove(group: str, member: str, as_json_: bool) -> None:
    """Remove a member; the group key rotates in the same step (admins only).

    Example: hramada remove "Mutual aid Tbilisi" Hanna
    """
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
