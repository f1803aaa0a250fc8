"""A new profile gets a passphrase that someone who seizes the device cannot guess:
weak ones are refused with the reason and what makes a good one, and nothing is
created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hramada.client import Hramada
from hramada.client.profile import WeakPassphrase, check_passphrase
from hramada.errors import ProfileError
from conftest import PASSPHRASE

WEAK = ["a", "pw", "hunter2", "password", "Password123456", "pass-ales", "Ales1987!", "qwertyuiopasdf",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "Ales Ales Ales", "hramada2024", "iloveminsk2020",
        "Tbilisi2024!Tbilisi2024!"]


@pytest.mark.parametrize("passphrase", WEAK)
def test_weak_passphrases_are_refused_saying_why_and_what_is_better(tmp_path: Path, passphrase: str) -> None:
    home = tmp_path / "ales"
    with pytest.raises(WeakPassphrase, match="too easy to guess") as info:
        Hramada.init(home, passphrase, "Ales")
    assert "several random words" in str(info.value)
    assert not home.exists()


@pytest.mark.parametrize("passphrase", [PASSPHRASE, "correct horse battery staple", os.urandom(12).hex(),
                                        "Kasia loves Vilnius in the spring rain", "x" * 10 + PASSPHRASE * 5])
def test_several_random_words_or_random_characters_are_accepted(passphrase: str) -> None:
    assert check_passphrase(passphrase, "Ales") == passphrase


def test_an_empty_passphrase_is_refused() -> None:
    with pytest.raises(ProfileError, match="must not be empty"):
        check_passphrase("")


def test_init_refuses_a_weak_passphrase_and_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "ales"
    env = {**os.environ, "HRAMADA_HOME": str(home), "HRAMADA_PASSPHRASE": "Ales1987!"}
    p = subprocess.run([sys.executable, "-m", "hramada.cli.main", "init", "--name", "Ales"], env=env,
                       text=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 1, p
    assert "too easy to guess" in p.stderr and "several random words" in p.stderr
    assert "Traceback" not in p.stderr
    assert not home.exists()
