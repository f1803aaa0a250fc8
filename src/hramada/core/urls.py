"""Relay addresses: one strict check for every place a relay URL enters.

A relay URL comes from a person (``group create --relay``) or from an invitation code
that anyone may have crafted. It is stored in the profile and handed to the HTTP
client on every sync, so it is checked before anything is stored:

- at most :data:`MAX_URL_CHARS` characters, ASCII except in the host name, no
  whitespace, control or format characters anywhere;
- scheme ``http`` or ``https``; a host; no user name or password; no query and no
  fragment; a port (if any) from 1 to 65535; a path of plain URL characters;
- the host is an IPv4 address, a bracketed IPv6 address, or a host name that is
  valid under IDNA 2008 (UTS 46 mapping, STD3 rules). It is kept in its ASCII form
  (``xn--…``), so a look-alike name shows as what it is.

The result is normalised (lower-case scheme and host, no trailing slash), so one
relay has one spelling.
"""

from __future__ import annotations

import ipaddress
import re

import idna

from hramada.core.names import name_char

MAX_URL_CHARS = 512
_PATH = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/%-]*")
_PORT = re.compile(r"[0-9]{1,5}")


def _refuse(url: str, why: str) -> ValueError:
    return ValueError(f"this relay address cannot be used: {why}. A relay address looks like "
                      "https://relay.example.org or http://127.0.0.1:8470")


def _host(raw: str, url: str) -> str:
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise _refuse(url, "its IPv6 address is not closed with ]")
        try:
            return f"[{ipaddress.IPv6Address(raw[1:-1]).compressed}]"
        except ValueError:
            raise _refuse(url, "its IPv6 address is not valid") from None
    if re.fullmatch(r"[0-9.]+", raw):
        try:
            return str(ipaddress.IPv4Address(raw))
        except ValueError:
            raise _refuse(url, "its IPv4 address is not valid") from None
    try:
        ascii_host = idna.encode(raw.removesuffix("."), uts46=True, std3_rules=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise _refuse(url, "its host name is not a valid (internationalised) domain name") from None
    return ascii_host


def check_relay_url(url: object) -> str:
    """The normalised relay URL, or a ValueError saying what is wrong with it."""
    if not isinstance(url, str):
        raise ValueError("a relay address must be text")
    if not url:
        raise _refuse(url, "it is empty")
    if len(url) > MAX_URL_CHARS:
        raise _refuse(url, f"it is longer than {MAX_URL_CHARS} characters")
    if not all(c != " " and name_char(c) for c in url):  # categories of Unicode 14.0.0
        raise _refuse(url, "it contains spaces, control or invisible characters")
    if "?" in url or "#" in url:
        raise _refuse(url, "it has a query (?) or fragment (#)")
    if "\\" in url:
        raise _refuse(url, "it contains a backslash")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise _refuse(url, "it must start with http:// or https://")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        raise _refuse(url, "it contains a user name or password (@)")
    if not authority:
        raise _refuse(url, "it has no host")
    path = slash + path
    if not _PATH.fullmatch(path):
        raise _refuse(url, "its path has characters that do not belong in a URL")
    host_raw = authority
    port = ""
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise _refuse(url, "its IPv6 address is not closed with ]")
        host_raw, after = authority[:close + 1], authority[close + 1:]
        if after:
            if not after.startswith(":"):
                raise _refuse(url, "it has characters after its IPv6 address")
            port = after[1:]
    elif ":" in authority:
        host_raw, _, port = authority.rpartition(":")
    if ":" in port or (port and not _PORT.fullmatch(port)) or (port and not 1 <= int(port) <= 65535) \
            or authority.endswith(":"):
        raise _refuse(url, "its port is not a number from 1 to 65535")
    if not host_raw or host_raw == "[]":
        raise _refuse(url, "it has no host")
    host = _host(host_raw, url)
    return f"{scheme.lower()}://{host}{':' + str(int(port)) if port else ''}{path.rstrip('/')}"
