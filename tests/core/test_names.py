"""The name rule (``docs/spec/invitations.md`` §3): stated in terms of Unicode 14.0.0
general categories, so it is the same under every Python, checked here against
the Unicode database itself where the running Python carries that version."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from hypothesis import given, strategies as st

from hramada.core import names
from hramada.core.names import NameRefused, check_name, clean_name, name_char

ALLOWED = {"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
           "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So"}
UNICODE_14 = unicodedata.unidata_version == names.NAME_UNICODE_VERSION


@pytest.mark.parametrize("name", ["Алеся", "Сяргей Ш.", "ნინო", "Žygimantas", "Łukasz", "Ана-Марія",
                                  "Jean-Loïc", "Müller", "x" * 64, "Ana 🌻", "a\u0301"])
def test_names_of_every_script_our_members_write(name):
    assert check_name(name) == name


@pytest.mark.parametrize("bad, code", [
    ("", "name-empty"), (" bob", "name-spaces"), ("bob ", "name-spaces"),
    ("x" * 65, "name-too-long"), ("tab\there", "name-character"), ("new\nline", "name-character"),
    ("\u202eevil", "name-character"), ("a\u200db", "name-character"), ("\ue000", "name-character"),
    ("\u0378", "name-character"), ("a\u2028b", "name-character"), ("a\u00a0b", "name-character"),
    (5, "name-type"), (None, "name-type"), (b"bob", "name-type")])
def test_a_name_breaking_the_rule_is_refused_with_its_reason_code(bad, code):
    with pytest.raises(NameRefused) as refused:
        check_name(bad)
    assert refused.value.code == code


def test_the_refusal_names_the_character_and_the_limit():
    with pytest.raises(NameRefused) as refused:
        check_name("Ева\u202e")
    assert refused.value.params == {"char": "U+202E"} and "U+202E" in str(refused.value)
    with pytest.raises(NameRefused) as refused:
        check_name("я" * 65)
    assert refused.value.params == {"limit": 64}


def test_length_counts_code_points_not_bytes_or_graphemes():
    assert check_name("ж" * 64)                       # 128 bytes of UTF-8
    assert check_name("e\u0301" * 32)                  # 32 graphemes, 64 code points
    with pytest.raises(NameRefused):
        check_name("e\u0301" * 33)


def test_typed_input_is_cleaned_before_the_check():
    assert clean_name("  Алеся  ") == "Алеся"
    assert clean_name("Ana\u00a0\u00a0Maria\t") == "Ana Maria"
    assert clean_name("\u3000Ніна\u2003Ш.") == "Ніна Ш."
    with pytest.raises(NameRefused) as refused:
        clean_name(" \t ")
    assert refused.value.code == "name-empty"


@pytest.mark.skipif(not UNICODE_14, reason=f"needs Python's Unicode {names.NAME_UNICODE_VERSION} "
                    f"database (this is {unicodedata.unidata_version})")
def test_the_vendored_table_is_unicode_14_general_categories_exactly():
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        assert name_char(ch) == (ch == " " or unicodedata.category(ch) in ALLOWED), hex(cp)


@given(st.text(max_size=80))
def test_the_rule_is_the_stated_one_for_any_text(text):
    expected = (1 <= len(text) <= 64 and text[0] != " " and text[-1] != " "
                and all(name_char(ch) for ch in text))
    try:
        check_name(text)
    except NameRefused:
        assert not expected
    else:
        assert expected
