"""``python -m hramada.relay serve``: run a relay.

Example:
    python -m hramada.relay serve --host 127.0.0.1 --port 8470 --db sqlite:////var/lib/hramada/relay.sqlite3

Every flag can also be set in the environment (``HRAMADA_RELAY_HOST``, ``..._PORT``,
``..._DB``, ``..._RATE``, ``..._BURST``, ``..._LOG_LEVEL``; see
:mod:`hramada.relay.config` for all limits). Flags win over the environment.
Two settings exist only in the environment: ``HRAMADA_RELAY_METRICS_TOKEN`` (turns
``/v1/metrics`` on; a flag would show the token in the process list) and
``HRAMADA_RELAY_TRUSTED_PROXIES`` (whose ``X-Forwarded-For`` to believe; none by default).
"""

from __future__ import annotations

import argparse
import sys

from hramada.relay.config import RelayConfig
from hramada.relay.server import RelayStartError, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hramada.relay",
        description="The Hramada relay: stores and serves opaque, end-to-end encrypted mailboxes.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "serve", help="run the relay until SIGTERM or Ctrl+C",
        description="Run the relay until SIGTERM or Ctrl+C. Prints one line, "
                    "'hramada relay listening on http://HOST:PORT', once it accepts connections.",
        epilog="Example: python -m hramada.relay serve --port 0 --db sqlite:////tmp/relay.sqlite3",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--host", help="address to bind (default 127.0.0.1; env HRAMADA_RELAY_HOST)")
    run.add_argument("--port", type=int,
                     help="port to bind, 0 for any free port (default 8470; env HRAMADA_RELAY_PORT)")
    run.add_argument("--db", dest="db_url", metavar="URL",
                     help="database, sqlite:///PATH (default: relay.sqlite3 in the user data "
                          "folder; env HRAMADA_RELAY_DB)")
    run.add_argument("--rate", type=float,
                     help="requests per second per client address, 0 = no limit "
                          "(default 2000; env HRAMADA_RELAY_RATE)")
    run.add_argument("--burst", type=int,
                     help="requests a client may send at once (default 4000; env HRAMADA_RELAY_BURST)")
    run.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"],
                     help="relay log level (default info; env HRAMADA_RELAY_LOG_LEVEL)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = RelayConfig.from_env(host=args.host, port=args.port, db_url=args.db_url,
                                      rate=args.rate, burst=args.burst, log_level=args.log_level)
        serve(config)
    except (ValueError, RelayStartError) as exc:
        print(f"hramada relay: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
