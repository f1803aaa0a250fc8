"""hramada relay serve: run a relay (the relay package does the work)."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    cli.add_command(relay)


@click.group()
def relay() -> None:
    """Run a relay: it stores only ciphertext and opaque ids."""


@relay.command("serve", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help="Port (default 8470; 0 picks a free one).")
@click.option("--db", default=None, help="Database URL, e.g. sqlite:///relay.sqlite3")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, db: str | None) -> None:
    """Run a relay until interrupted.

    Example: hramada relay serve --port 8470 --db sqlite:///relay.sqlite3
    """
    from hramada.relay.__main__ import main as relay_main
    args = ["serve"]
    for flag, value in (("--host", host), ("--port", port), ("--db", db)):
        if value is not None:
            args += [flag, str(value)]
    raise SystemExit(relay_main(args + list(ctx.args)))
