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
