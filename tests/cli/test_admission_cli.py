"""Hostile members and stale codes against the admission rules, through the `hramada`
command and a real relay process."""

from __future__ import annotations

import time
from pathlib import Path

from .test_cli import js, run


def _group(relay, tmp_path: Path, *names: str) -> list[Path]:
    """Profiles for ``names``; the first creates "Circle" on the relay."""
    homes = [tmp_path / n for n in names]
    for home, name in zip(homes, names):
        run(home, "init", "--name", name)
    run(homes[0], "group", "create", "Circle", "--relay", relay.url)
    return homes


def _admit(admin: Path, newcomer: Path) -> None:
    code = js(admin, "invite", "Circle")["code"]
    rid = js(newcomer, "join", code)["request"]
    run(admin, "vouch", "Circle", rid)
    run(admin, "admit", "Circle", rid)
    run(newcomer, "sync")


def test_a_used_code_is_refused_by_join_and_leaves_nothing_behind(relay_process, tmp_path):
    a, b, c = _group(relay_process(), tmp_path, "Ales", "Hanna", "Mikola")
    code = js(a, "invite", "Circle")["code"]
    js(b, "join", code)
    run(a, "sync")  # the request enters the log; its drop takes no more requests
    again = run(c, "join", code, check=False)
    assert again.returncode == 1 and "already used" in again.stderr and "Request sent" not in again.stdout
    assert js(c, "group", "list") == []
    [inv] = js(a, "invites", "Circle")
    assert (inv["by"], inv["used"], inv["status"]) == ("Ales", True, "used")


def test_a_second_request_on_one_code_before_any_member_synced_is_answered_refused(relay_process, tmp_path):
    a, b, c = _group(relay_process(), tmp_path, "Ales", "Hanna", "Mikola")
    code = js(a, "invite", "Circle")["code"]
    js(b, "join", code)
    js(c, "join", code)  # both reached the drop before a member looked
    run(a, "sync")
    assert [r["name"] for r in js(a, "requests", "Circle")] == ["Hanna"]
    run(c, "sync")
    [pending] = js(c, "group", "list")
    assert pending["status"] == "pending"  # a refusal is a claim (invitations.md §5): shown, not final
    assert any("refusal" in w and "already used" in w and "cannot be verified" in w for w in pending["warnings"])
    stuck = run(c, "read", pending["group"], check=False)
    assert stuck.returncode == 1 and "already used" in stuck.stderr and "group forget" in stuck.stderr
    run(c, "group", "forget", pending["group"])
    assert js(c, "group", "list") == []


def test_an_expired_code_is_refused_by_join(relay_process, tmp_path):
    a, b = _group(relay_process(), tmp_path, "Ales", "Hanna")
    made = js(a, "invite", "Circle", "--expires", "1s")
    time.sleep(1.5)
    late = run(b, "join", made["code"], check=False)
    assert late.returncode == 1 and "expired" in late.stderr
    assert js(b, "group", "list") == []
    assert js(a, "invites", "Circle")[0]["status"] == "expired"


def test_a_request_that_arrives_before_expiry_but_is_taken_after_is_refused(relay_process, tmp_path):
    a, b = _group(relay_process(), tmp_path, "Ales", "Hanna")
    made = js(a, "invite", "Circle", "--expires", "30s")  # room for a slow machine to join in time
    js(b, "join", made["code"])
    time.sleep(max(0.0, made["expires"] - time.time()) + 0.5)
    run(a, "sync")  # the member's clock says the invitation expired: not taken
    assert js(a, "requests", "Circle") == []
    run(b, "sync")
    [g] = js(b, "group", "list")
    assert g["status"] == "pending" and any("expired" in w for w in g["warnings"])


def test_a_removed_inviters_code_is_refused(relay_process, tmp_path):
    a, b, c = _group(relay_process(), tmp_path, "Ales", "Hanna", "Mikola")
    _admit(a, b)
    code = js(b, "invite", "Circle")["code"]
    run(a, "remove", "Circle", "Hanna", "--yes")
    refused = run(c, "join", code, check=False)
    assert refused.returncode == 1 and "revoked" in refused.stderr
    assert js(c, "group", "list") == []
    [_, inv] = js(a, "invites", "Circle")
    assert (inv["by"], inv["status"]) == ("Hanna", "revoked")


def test_a_departed_inviters_code_is_refused(relay_process, tmp_path):
    a, b, c = _group(relay_process(), tmp_path, "Ales", "Hanna", "Mikola")
    _admit(a, b)
    code = js(b, "invite", "Circle")["code"]
    run(b, "leave", "Circle", "--yes")
    refused = run(c, "join", code, check=False)
    assert refused.returncode == 1 and "revoked" in refused.stderr


def test_a_revoked_code_is_refused_and_only_its_inviter_or_an_admin_may_revoke(relay_process, tmp_path):
    a, b, c = _group(relay_process(), tmp_path, "Ales", "Hanna", "Mikola")
    _admit(a, b)
    mine = js(a, "invite", "Circle")
    denied = run(b, "invite", "Circle", "--revoke", mine["invite"], check=False)
    assert denied.returncode == 1 and "only the member who made an invitation" in denied.stderr
    run(a, "invite", "Circle", "--revoke", mine["invite"])
    refused = run(c, "join", mine["code"], check=False)
    assert refused.returncode == 1 and "revoked" in refused.stderr
    assert js(a, "invites", "Circle")[-1]["status"] == "revoked"


def test_a_look_alike_name_is_refused_and_the_joiner_told(relay_process, tmp_path):
    a, b = _group(relay_process(), tmp_path, "Ales", "Hanna")
    code = js(a, "invite", "Circle")["code"]
    js(b, "join", code, "--name", "\u0410les")  # Cyrillic A
    run(a, "sync")
    assert js(a, "requests", "Circle") == []
    run(b, "sync")
    [g] = js(b, "group", "list")
    assert g["status"] == "pending"
    told = run(b, "read", g["group"], check=False)
    assert told.returncode == 1 and "looks the same" in told.stderr


def test_requests_show_who_invited_and_read_shows_author_fingerprints(relay_process, tmp_path):
    a, b = _group(relay_process(), tmp_path, "Ales", "Hanna")
    rid = js(b, "join", js(a, "invite", "Circle")["code"])["request"]
    [req] = js(a, "requests", "Circle")
    assert (req["request"], req["by"]) == (rid, "Ales")
    assert "Vouches: valid vouches so far / vouches needed" in run(a, "requests", "Circle").stdout
    run(a, "post", "Circle", "Hello")
    [item] = js(a, "read", "Circle")
    [me] = js(a, "group", "members", "Circle")
    assert item["author_fingerprint"] == me["fingerprint"][:9]
    assert me["fingerprint"][:9] in run(a, "read", "Circle").stdout


def test_roles_change_only_by_admins_and_the_only_admin_can_hand_over_and_leave(relay_process, tmp_path):
    a, b = _group(relay_process(), tmp_path, "Ales", "Hanna")
    _admit(a, b)
    stuck = run(a, "leave", "Circle", "--yes", check=False)
    assert stuck.returncode == 1 and "only admin" in stuck.stderr
    denied = run(b, "role", "Circle", "Ales", "member", check=False)
    assert denied.returncode == 1 and "only admins" in denied.stderr
    run(a, "role", "Circle", "Hanna", "admin")
    run(a, "leave", "Circle", "--yes")
    run(b, "sync")
    assert [(m["name"], m["role"]) for m in js(b, "group", "members", "Circle")] == [("Hanna", "admin")]
    run(a, "group", "forget", "Circle")
    assert js(a, "group", "list") == []


def test_remove_asks_for_confirmation(relay_process, tmp_path):
    a, b = _group(relay_process(), tmp_path, "Ales", "Hanna")
    _admit(a, b)
    p = run(a, "remove", "Circle", "Hanna", check=False)
    assert p.returncode == 2 and "--yes" in p.stderr
    assert len(js(a, "group", "members", "Circle")) == 2


def test_an_active_group_cannot_be_forgotten(relay_process, tmp_path):
    [a] = _group(relay_process(), tmp_path, "Ales")
    p = run(a, "group", "forget", "Circle", check=False)
    assert p.returncode == 1 and "leave it first" in p.stderr


def test_under_since_join_a_newcomer_reads_only_what_follows_the_admission(relay_process, tmp_path):
    a, b = _group(relay_process(), tmp_path, "Ales", "Hanna")
    assert js(a, "group", "list")[0]["history"] == "since-join"
    run(a, "post", "Circle", "Written before Hanna came")
    _admit(a, b)
    assert js(b, "read", "Circle") == []
    assert js(b, "group", "list")[0]["history"] == "since-join"  # shown to everyone
    run(a, "post", "Circle", "Written after")
    assert [i["text"] for i in js(b, "read", "Circle")] == ["Written after"]


def test_under_all_a_newcomer_reads_the_history_and_only_admins_change_the_policy(relay_process, tmp_path):
    relay = relay_process()
    a, b = tmp_path / "a", tmp_path / "b"
    run(a, "init", "--name", "Ales")
    run(b, "init", "--name", "Hanna")
    run(a, "group", "create", "Circle", "--relay", relay.url, "--history", "all")
    run(a, "post", "Circle", "Written before Hanna came")
    _admit(a, b)
    assert [i["text"] for i in js(b, "read", "Circle")] == ["Written before Hanna came"]
    denied = run(b, "policy", "Circle", "--history", "since-join", check=False)
    assert denied.returncode == 1 and "only admins" in denied.stderr
    assert js(a, "policy", "Circle", "--history", "since-join")["history"] == "since-join"
    run(b, "sync")
    assert js(b, "group", "list")[0]["history"] == "since-join"
