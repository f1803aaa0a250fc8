"""Every refusal of a device link is said in words, with its parameters: the codes of
``docs/spec/devices.md`` §10 that a link raises, as ``client/notices.py`` renders them."""

from __future__ import annotations

import re
from pathlib import Path

from hramada.client.notices import LINK_GROUP_REFUSALS, LINK_REFUSALS, render_group_refusal, render_refusal

SPEC = Path(__file__).resolve().parents[2] / "docs" / "spec" / "devices.md"


def _link_codes() -> dict[str, list[str]]:
    """Each ``link-…`` and ``group-ref`` code of the spec's reason-code table, with its parameters."""
    table = SPEC.read_text().split("## 10. Reason codes", 1)[1].split("## 11.", 1)[0]
    codes: dict[str, list[str]] = {}
    for code, params in re.findall(r"`((?:link|group)-[a-z-]+)`(?: \(([^)]*)\))?", table):
        codes[code] = re.findall(r"`(\w+)`", params)
    return codes


def test_every_link_refusal_of_the_spec_has_words_that_use_its_parameters() -> None:
    codes = _link_codes()
    assert len(codes) >= 30 and "link-reveal-mismatch" in codes and "group-ref" in codes
    for code, params in codes.items():
        assert code in LINK_REFUSALS, code
        text = render_refusal(code, {p: f"<{p}>" for p in params}, fallback="FALLBACK")
        assert text != "FALLBACK" and "{" not in text, code
        for p in re.findall(r"\{(\w+)\}", LINK_REFUSALS[code]):
            assert p in params, f"{code} names {p}, which the spec does not give it"


def test_a_refusal_the_client_does_not_know_keeps_its_own_message() -> None:
    assert render_refusal("kit-passphrase", {}, "wrong passphrase for this kit") == "wrong passphrase for this kit"
    assert render_refusal("link-characters", {}, "raw") == "raw"  # a parameter missing: the message stands


def test_group_refusals_name_the_logs_reasons() -> None:
    assert set(LINK_GROUP_REFUSALS) >= {"device-name-taken", "too-many-devices", "declined"}
    assert "revoke one first" in render_group_refusal("too-many-devices")
    assert "some-new-reason" in render_group_refusal("some-new-reason")
