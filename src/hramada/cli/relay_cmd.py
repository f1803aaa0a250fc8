"""hramada relay serve: run a relay (the relay package does the work)."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    cli.add_command(relay)


@click.group()
def relay() -> None:
    """Run a relay: it stores only ciphertext and opaque ids."""


@relay.command("serve")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1; env HRAMADA_RELAY_HOST).")
@click.option("--port", default=None, type=click.IntRange(0, 65535),
              help="Port (default 8470; 0 picks a free one; env HRAMADA_RELAY_PORT).")
@click.option("--db", default=None, help="Database URL, sqlite:///PATH (env HRAMADA_RELAY_DB; "
                                         "default: relay.sqlite3 in your user data folder).")
@click.option("--rate", default=None, type=click.FloatRange(0), help="Requests per second per client, 0 = off (default 2000).")
@click.option("--burst", default=None, type=click.IntRange(1), help="Requests a client may send at once (default 4000).")
def serve(host: str | None, port: int | None, db: str | None, rate: float | None, burst: int | None) -> None:
    """Run a relay until interrupted. Prints 'hramada relay listening on URL' when ready.

    Example: hramada relay serve --port 8470 --db sqlite:///relay.sqlite3
    """
    # The one place the CLI reaches past the client: running a relay is a relay's job.
    from hramada.relay.config import RelayConfig
    from hramada.relay.server import RelayStartError, serve as run_relay
    try:
        config = RelayConfig.from_env(host=host, port=port, db_url=db, rate=rate, burst=burst)
        run_relay(config)
    except RelayStartError as exc:
        raise click.ClickException(str(exc)) from None
