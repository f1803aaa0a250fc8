"""safety-code."""

from __future__ import annotations

import click

from hramada.cli.common import clean, emit, json_option, out_console, print_qr, with_profile


def register(cli: click.Group) -> None:
    cli.add_command(safety_code)


@click.command("safety-code")
@click.argument("group")
@click.argument("member")
@click.option("--qr", is_flag=True, help="Also print the code as a QR code to scan.")
@json_option
def safety_code(group: str, member: str, qr: bool, as_json_: bool) -> None:
    """Show a member's safety code; compare it in person with the code on their device.

    Example: hramada safety-code "Mutual aid Tbilisi" Hanna
    """
    r = with_profile(lambda h: h.safety_code(group, member))

    def render(v: dict) -> None:
        out_console.print(f"Safety code of {clean(v['member'])} ({v['fingerprint']}):\n{v['code']}")
        if qr:
            print_qr(v["code"].replace(" ", ""))
    emit(r, as_json_, render)
