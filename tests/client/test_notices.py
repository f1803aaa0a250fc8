"""Warnings travel from the core as reason codes with parameters; the client renders
them in one place, and every code the core can record has its sentence there."""

from __future__ import annotations

import string

from hramada.client import notices
from hramada.core import state


def test_every_ignored_reason_of_the_core_has_a_sentence_and_no_other():
    assert set(notices.IGNORED_REASONS) == set(state.IGNORED_REASONS)


def test_every_void_reason_of_the_core_has_a_sentence_and_no_other():
    assert set(notices.VOID_REASONS) == set(state.VOID_REASONS)


def test_sentences_use_only_the_parameters_their_code_carries():
    carried = {"name-taken": {"name", "like"}, "vouches-missing": {"have", "need"},
               "device-name-taken": {"name", "like"}, "too-many-devices": {"most"}}
    for code, sentence in notices.IGNORED_REASONS.items():
        fields = {f for _, f, _, _ in string.Formatter().parse(sentence) if f}
        assert fields == carried.get(code, set()), code


def test_an_ignored_entry_is_rendered_with_its_parameters():
    log = state.GroupLog.__new__(state.GroupLog)
    log.members, log.former = {}, {}
    text = notices.render(log, "ignored-entry", {"seq": 7, "kind": "admit", "by": bytes(32),
                                                  "reason": "vouches-missing",
                                                  "detail": {"have": 1, "need": 2}})
    assert text == ("entry 7: admit by someone who is not a member ignored: "
                    "it has 1 of the 2 vouches it needs.")
    unknown = notices.render(log, "ignored-entry", {"seq": 8, "kind": "admit", "by": None,
                                                    "reason": "from-a-later-version", "detail": {}})
    assert unknown.endswith("ignored: it breaks the group's rules.")
