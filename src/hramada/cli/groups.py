"""hramada group create | list | members | info."""

from __future__ import annotations

import click

from hramada.cli.common import clean, emit, json_option, out_console, table, with_profile
from hramada.client import Hramada


def register(cli: click.Group) -> None:
    cli.add_command(group)


@click.group()
def group() -> None:
    """Create and list groups, and see who is in them."""


@group.command("create")
@click.argument("name")
@click.option("--relay", "relay_url", required=True, help="The relay's address, e.g. http://127.0.0.1:8470")
@click.option("--vouches", default=1, show_default=True, type=click.IntRange(1, 100),
              help="How many members must vouch for a newcomer.")
@click.option("--history", default="since-join", show_default=True, type=click.Choice(["since-join", "all"]),
              help="What a newcomer can read: only what is written from their admission on, or everything.")
@click.option("--suite", default="1", show_default=True, type=click.Choice(["1", "2"]),
              help="The cipher suite: 2 delivers keys with hybrid X25519 + ML-KEM-768 (post-quantum), "
                   "1 with X25519 only.")
@json_option
def create(name: str, relay_url: str, vouches: int, history: str, suite: str, as_json_: bool) -> None:
    """Create a group on a relay; you become its first admin.

    Example: hramada group create "Mutual aid Tbilisi" --relay http://127.0.0.1:8470 --vouches 2
    """
    info = with_profile(lambda h: h.create_group(name, relay_url, vouches, history, int(suite)))
    emit(info, as_json_, lambda i: out_console.print(
        f"Created {clean(i.name)!r} ({i.group}, suite {i.suite}); newcomers read {_HISTORY[i.history]}."))


_HISTORY = {"since-join": "only what is written after their admission", "all": "everything since the start",
            "": "(not known yet)"}


@group.command("list")
@json_option
def list_(as_json_: bool) -> None:
    """List your groups (from this device, without syncing).

    "Alarm" is proven tampering (the group is stopped); "Suspicion" is what the relay
    may be withholding (sync again; if it stays, compare with another member).

    Example: hramada group list --json
    """
    async def go(h: Hramada):
        return h.groups()
    emit(with_profile(go), as_json_, lambda v: table(
        [{**i.__dict__, "role": i.role or "", "alarm": i.alarm or "", "suspicion": i.suspicion or ""}
         for i in v],
        [("name", "Group"), ("group", "Id"), ("status", "Status"), ("role", "Role"),
         ("members", "Members"), ("history", "History"), ("alarm", "Alarm"), ("suspicion", "Suspicion")],
        empty="No groups yet."))


@group.command("members")
@click.argument("group_")
@json_option
def members(group_: str, as_json_: bool) -> None:
    """List a group's members with their roles and fingerprints.

    Example: hramada group members "Mutual aid Tbilisi"
    """
    emit(with_profile(lambda h: h.members(group_)), as_json_, lambda v: table(
        [{**m.__dict__, "name": m.name + (" (you)" if m.me else ""),
          "vouched_by": ", ".join(m.vouched_by)} for m in v],
        [("name", "Name"), ("role", "Role"), ("fingerprint", "Fingerprint"), ("vouched_by", "Vouched by")]))


@group.command("info")
@click.argument("group_")
@json_option
def info(group_: str, as_json_: bool) -> None:
    """Show a group's settings: its cipher suite, history policy, vouches needed, key
    generation, and how many members and devices it has.

    Example: hramada group info "Mutual aid Tbilisi" --json
    """
    emit(with_profile(lambda h: h.group_info(group_)), as_json_, lambda i: out_console.print(
        f"{clean(i['name'])} ({i['group']})\n"
        f"  suite {i['suite']} ({_SUITES.get(i['suite'], '?')})\n"
        f"  newcomers read {_HISTORY[i['history']]}; {i['vouches']} vouch(es) needed\n"
        f"  key generation {i['generation']}; {i['members']} members on {i['devices']} devices",
        highlight=False))


_SUITES = {1: "X25519 key boxes", 2: "hybrid X25519 + ML-KEM-768 key boxes"}
