"""Identities, fingerprints and safety codes: what two people compare in person."""

from __future__ import annotations

import re

from hramada.core.identity import Identity, MemberKey, fingerprint, fingerprint_matches, safety_code

from .world import Rand, World

R = Rand("identity")


def test_identity_rebuilds_from_its_stored_secrets():
    me = R.identity()
    again = Identity.from_secrets(*me.secrets())
    assert again.public == me.public
    assert me.public.id == me.public.sign.raw


def test_identity_repr_shows_the_fingerprint_not_the_secrets():
    me = R.identity()
    text = repr(me)
    assert fingerprint(me.public) in text
    for secret in me.secrets():
        assert secret.hex()[:16] not in text


def test_fingerprint_is_stable_and_readable():
    me = R.identity()
    fp = fingerprint(me.public)
    assert re.fullmatch(r"([0-9a-f]{4} ){7}[0-9a-f]{4}", fp)
    assert fp == me.public.fingerprint == fingerprint(Identity.from_secrets(*me.secrets()).public)
    assert fp != fingerprint(R.identity().public)


def test_fingerprint_covers_the_member_keys_and_not_the_device():
    """A member's fingerprint covers the member key and the relay-admin key (both derive
    from the member key's seed); another device of the same member has the same one,
    and a device has its own fingerprint beside it."""
    a, b = R.identity(), R.identity()
    assert fingerprint(a.public) != fingerprint(b.public)
    assert fingerprint(MemberKey(a.public.sign, b.public.relay)) not in (fingerprint(a.public),
                                                                       fingerprint(b.public))
    phone = R.device(a, "phone")
    assert fingerprint(phone.public) == fingerprint(a.public)
    assert phone.device_record(bytes(16)).fingerprint != a.device_record(bytes(16)).fingerprint


def test_fingerprint_matches_any_spacing_and_case_but_needs_8_digits():
    me = R.identity()
    fp = fingerprint(me.public)
    compact = fp.replace(" ", "")
    assert fingerprint_matches(me.public, fp)
    assert fingerprint_matches(me.public, compact.upper())
    assert fingerprint_matches(me.public, compact[:8])
    assert fingerprint_matches(me.public, " ".join(compact[:12]))
    assert not fingerprint_matches(me.public, compact[:7])
    wrong = ("0" if compact[0] != "0" else "1") + compact[1:]
    assert not fingerprint_matches(me.public, wrong)


def test_safety_code_is_twelve_groups_of_five_digits():
    code = safety_code(bytes(16), R.identity().public)
    assert re.fullmatch(r"(\d{5} ){11}\d{5}", code)


def test_safety_code_depends_on_group_and_key():
    me, other = R.identity(), R.identity()
    g1, g2 = R.bytes(16), R.bytes(16)
    assert safety_code(g1, me.public) == safety_code(g1, me.public)
    assert safety_code(g1, me.public) != safety_code(g2, me.public)
    assert safety_code(g1, me.public) != safety_code(g1, other.public)
    swapped_relay = MemberKey(me.public.sign, other.public.relay)
    assert safety_code(g1, me.public) != safety_code(g1, swapped_relay)
    assert safety_code(g1, me.public) != safety_code(g1, me.public, suite=2)
    # a second device of the same member shows the same code
    assert safety_code(g1, R.device(me, "phone").public) == safety_code(g1, me.public)


def test_both_sides_compute_the_same_safety_code():
    """Bob reads his own code from his identity; Alice reads Bob's from her copy of
    the log. They match, so comparing them in person proves Alice holds Bob's key."""
    w = World.create("safety", vouches=1)
    w.join("bob", invited_by="alice", vouchers=["alice"], admitted_by="alice")
    bob_on_alices_device = w.log("alice").members[w.person("bob").public.id].key
    from_bob = safety_code(w.log("bob").group, w.person("bob").public)
    from_alice = safety_code(w.log("alice").group, bob_on_alices_device)
    assert from_bob == from_alice
    # and an impostor's key, even with the same member key, shows a different code
    impostor = MemberKey(w.person("bob").public.sign, R.identity().public.relay)
    assert safety_code(w.log("alice").group, impostor) != from_alice
