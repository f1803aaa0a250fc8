"""The ``hramada`` command: a thin layer over :mod:`hramada.client`.

Every error a person can cause or meet is a :class:`HramadaError` (or a ``ValueError``
for bad input); this dispatcher prints its message and exits non-zero. Verification
failures exit with status 3 so scripts can tell an alarm from a mistake; a suspicion
(the relay may be withholding something, not proven) exits with status 4.
"""

from __future__ import annotations

import sys

import click

from hramada.cli import admission, bulletins, demo, devices, groups, profile_cmds, recovery, relay_cmd, safety
from hramada.client.notices import render_refusal
from hramada.core.textcode import Refused
from hramada.errors import HramadaError, SuspicionError, VerificationError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hramada")
def cli() -> None:
    """Hramada: end-to-end encrypted organizing for networks of groups.

    Your profile lives in $HRAMADA_HOME (default: your user data folder) and is
    unlocked with $HRAMADA_PASSPHRASE or a prompt.

    Example: hramada demo
    """


# devices before any module that attaches commands to its `device` group
for module in (profile_cmds, groups, admission, bulletins, safety, devices, relay_cmd, demo):
    module.register(cli)
recovery.register(cli)  # after the device commands: `device recover` joins their group


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except VerificationError as exc:
        click.echo(f"ALARM: {exc}", err=True)
        sys.exit(3)
    except SuspicionError as exc:
        click.echo(f"warning: the relay may be withholding data: {exc}", err=True)
        sys.exit(4)
    except Refused as exc:  # a device link, kit or recovery refused: its code in words
        click.echo(f"error: {render_refusal(exc.code, exc.params, str(exc))}", err=True)
        sys.exit(1)
    except (HramadaError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
