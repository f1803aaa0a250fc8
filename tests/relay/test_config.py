"""Relay settings: flags win over the environment, which wins over defaults; bad
values are refused with the variable's name; secrets stay out of repr."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from hramada.relay.__main__ import build_parser
from hramada.relay.config import RelayConfig, redact_url


def test_defaults_follow_the_spec_limits():
    c = RelayConfig.from_env({})
    assert (c.host, c.port) == ("127.0.0.1", 8470)
    assert c.max_body_bytes == 8 * 2**20 and c.max_entry_bytes == 4 * 2**20
    assert c.max_item_bytes == 64 * 2**10 and c.max_batch_items == 1000
    assert (c.default_read_limit, c.max_read_limit) == (1000, 5000)
    assert c.max_drop_message_bytes == 16 * 2**10 and c.max_guest_messages == 16
    assert (c.rate, c.burst) == (2000.0, 4000)
    assert (c.default_wait_seconds, c.max_wait_seconds) == (25, 30)
    assert (c.max_header_bytes, c.max_header_lines, c.max_url_bytes) == (16 * 2**10, 100, 8 * 2**10)
    assert (c.header_timeout, c.body_timeout, c.keepalive_timeout) == (10.0, 10.0, 5.0)
    assert (c.max_connections, c.max_connections_per_address) == (4096, 64)
    assert c.trusted_proxies == "" and c.trusted_networks == ()  # no proxy believed by default
    assert c.metrics_token == ""  # metrics off by default
    data_dir = Path(platformdirs.user_data_dir("hramada"))
    assert c.db_url == f"sqlite:///{data_dir / 'relay.sqlite3'}"


def test_flags_win_over_environment_over_defaults():
    env = {"HRAMADA_RELAY_HOST": "0.0.0.0", "HRAMADA_RELAY_PORT": "9000",
           "HRAMADA_RELAY_DB": "sqlite:////srv/relay.db", "HRAMADA_RELAY_RATE": "5.5",
           "HRAMADA_RELAY_MAX_ITEM_BYTES": "1024", "HRAMADA_RELAY_LOG_LEVEL": "WARNING",
           "HRAMADA_RELAY_BURST": ""}
    c = RelayConfig.from_env(env, port=9100, host=None)
    assert c.host == "0.0.0.0" and c.port == 9100
    assert c.db_url == "sqlite:////srv/relay.db" and c.rate == 5.5
    assert c.max_item_bytes == 1024 and c.log_level == "warning"
    assert c.burst == 4000  # empty means unset


@pytest.mark.parametrize("env, message", [
    ({"HRAMADA_RELAY_PORT": "eighty"}, "HRAMADA_RELAY_PORT"),
    ({"HRAMADA_RELAY_PORT": "70000"}, "port"),
    ({"HRAMADA_RELAY_RATE": "-1"}, "rate"),
    ({"HRAMADA_RELAY_RATE": "nan"}, "finite"),
    ({"HRAMADA_RELAY_MAX_BODY_BYTES": "0"}, "max_body_bytes"),
    ({"HRAMADA_RELAY_DEFAULT_WAIT_SECONDS": "31"}, "default_wait_seconds"),
    ({"HRAMADA_RELAY_DEFAULT_READ_LIMIT": "6000"}, "default_read_limit"),
    ({"HRAMADA_RELAY_SQLITE_SYNCHRONOUS": "off"}, "sqlite_synchronous"),
    ({"HRAMADA_RELAY_LOG_LEVEL": "loud"}, "log_level"),
    ({"HRAMADA_RELAY_BURST": "0"}, "burst"),
    ({"HRAMADA_RELAY_HEADER_TIMEOUT": "0"}, "header_timeout"),
    ({"HRAMADA_RELAY_BODY_TIMEOUT": "inf"}, "body_timeout"),
    ({"HRAMADA_RELAY_MAX_CONNECTIONS_PER_ADDRESS": "0"}, "max_connections_per_address"),
    ({"HRAMADA_RELAY_TRUSTED_PROXIES": "127.0.0.1,proxy.example"}, "trusted_proxies"),
    ({"HRAMADA_RELAY_METRICS_TOKEN": "short"}, "metrics_token"),
])
def test_bad_settings_are_refused_by_name(env, message):
    with pytest.raises(ValueError, match=message):
        RelayConfig.from_env(env)


def test_unknown_flag_is_a_programming_error():
    with pytest.raises(TypeError):
        RelayConfig.from_env({}, colour="blue")


def test_repr_hides_a_database_password_and_the_metrics_token():
    c = RelayConfig(db_url="postgresql://relay:s3cret@db.example/relay",
                    metrics_token="metrics-secret-0123456789")
    assert "s3cret" not in repr(c) and "relay:***@db.example" in repr(c)
    assert "metrics-secret" not in repr(c)
    assert redact_url("sqlite:////var/lib/relay.db") == "sqlite:////var/lib/relay.db"
    assert "rate=2000.0" in repr(c)


def test_every_setting_has_an_environment_variable():
    assert RelayConfig.env_name("db_url") == "HRAMADA_RELAY_DB"
    assert RelayConfig.env_name("max_item_bytes") == "HRAMADA_RELAY_MAX_ITEM_BYTES"


def test_command_line_documents_its_flags():
    parser = build_parser()
    args = parser.parse_args(["serve", "--port", "0", "--db", "sqlite:////tmp/x.db",
                              "--rate", "0"])
    assert (args.port, args.db_url, args.rate) == (0, "sqlite:////tmp/x.db", 0.0)
    serve_help = parser._subparsers._group_actions[0].choices["serve"].format_help()
    assert "Example:" in serve_help
    for flag in ("--host", "--port", "--db", "--rate", "--burst", "--log-level"):
        assert flag in serve_help
