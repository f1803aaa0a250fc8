"""The docs move with the code: every test the threat model cites exists, and the
README's commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_test_the_threat_model_names_exists() -> None:
    text = (ROOT / "docs" / "threat-model.md").read_text()
    cited = re.findall(r"`((?:tests/[\w/]+\.py)?::\w+)(?:\[[^\]]*\])?`|`(tests/[\w/]+\.py::\w+)", text)
    current = None
    checked = 0
    for a, b in cited:
        ref = a or b
        path, _, name = ref.partition("::")
        if path:
            current = ROOT / path
        assert current is not None and current.exists(), ref
        assert re.search(rf"^(async )?def {name}\(", current.read_text(), re.M), f"{ref} is cited but missing"
        checked += 1
    assert checked >= 20


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest -q"
    assert command in readme and command in ci


SPEC = ROOT / "docs" / "spec"
# A length rule in "characters" means what one language's string length means (UTF-16
# units, code points, graphemes); "printable" means what one language's library says.
# The spec counts code points or bytes and names Unicode general categories instead.
_LENGTH_IN_CHARACTERS = re.compile(
    r"\b\d[\d,]*(?:\s+[\w-]+){0,2}\s+characters?\b"        # "200 characters", "16 printable characters"
    r"|\b(?:at most|at least|up to|no more than|longer than|shorter than)\b[^.;]{0,40}?\bcharacters?\b",
    re.I)
_PRINTABLE = re.compile(r"(?<![`\w])printable\b", re.I)


def _spec_documents() -> list[Path]:
    docs = sorted(SPEC.glob("*.md")) + [SPEC / "vectors" / "README.md"]
    assert len(docs) >= 10
    return docs


def test_every_spec_document_has_security_considerations() -> None:
    missing = [d.relative_to(SPEC).as_posix() for d in _spec_documents()
               if not re.search(r"^#{2,3} (?:[\d.]+ )?Security considerations\s*$", d.read_text(), re.M)]
    assert not missing, f"no 'Security considerations' section in {missing}"


def test_no_spec_length_rule_counts_characters_or_says_printable() -> None:
    found = []
    for doc in _spec_documents():
        text = doc.read_text()
        for pattern in (_LENGTH_IN_CHARACTERS, _PRINTABLE):
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                found.append(f"{doc.relative_to(SPEC).as_posix()}:{line}: {m.group(0)!r}")
    assert not found, "say code points or bytes, and name general categories:\n" + "\n".join(found)


def test_the_length_rule_check_catches_what_it_is_for() -> None:
    for bad in ("at most 200 characters", "at least 16 printable characters", "8,192 characters as given",
                "text of at most 512 characters", "is printable text"):
        assert _LENGTH_IN_CHARACTERS.search(bad) or _PRINTABLE.search(bad), bad
    for fine in ("200 code points", "control characters are refused", "`isprintable()`",
                 "has characters that do not belong in it"):
        assert not (_LENGTH_IN_CHARACTERS.search(fine) or _PRINTABLE.search(fine)), fine


def test_the_spec_states_bcp14_once() -> None:
    """The requirements language is defined once, in the spec's README, for every document."""
    boilerplate = "interpreted as described in BCP 14 [RFC 2119] [RFC 8174] when, and only when"
    counts = {d.relative_to(SPEC).as_posix(): " ".join(d.read_text().split()).count(boilerplate)
              for d in _spec_documents()}
    assert {name: n for name, n in counts.items() if n} == {"README.md": 1}
