"""`hramada backup export | import | codes` and `hramada device recover` as a person runs
them: real processes, a real relay, real files, answers typed on stdin."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from conftest import PASSPHRASE

KIT_PASSPHRASE = "harbor violet copper listen saddle"


def run(home: Path, *args: str, passphrase: str = PASSPHRASE, kit: str | None = KIT_PASSPHRASE,
        stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HRAMADA_BACKUP_PASSPHRASE"}
    env.update({"HRAMADA_HOME": str(home), "HRAMADA_PASSPHRASE": passphrase})
    if kit is not None:
        env["HRAMADA_BACKUP_PASSPHRASE"] = kit
    p = subprocess.run([sys.executable, "-m", "hramada.cli.main", *args], env=env, capture_output=True,
                       text=True, timeout=120, input=stdin if stdin is not None else "")
    if check and p.returncode != 0:
        raise AssertionError(f"hramada {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def js(home: Path, *args: str, **kw) -> object:
    return json.loads(run(home, *args, "--json", **kw).stdout)


def test_export_import_and_recover_from_the_command_line(relay_process, tmp_path: Path) -> None:
    relay = relay_process()
    a, h, new = tmp_path / "a", tmp_path / "h", tmp_path / "new"
    run(a, "init", "--name", "Алесь")
    run(h, "init", "--name", "Hanna")
    gid = js(a, "group", "create", "Circle", "--relay", relay.url)["group"]
    joined = js(h, "join", js(a, "invite", "Circle")["code"])
    run(a, "vouch", "Circle", joined["request"])
    run(a, "admit", "Circle", joined["request"])
    run(h, "sync")
    run(h, "post", "Circle", "Written before the seizure")

    kit = tmp_path / "hanna.kit"
    out = run(h, "backup", "export", str(kit)).stdout
    assert "holds your member key" in out and "no group key" in out and "in person" in out
    assert stat.S_IMODE(kit.stat().st_mode) == 0o600
    again = run(h, "backup", "export", str(kit), check=False)
    assert again.returncode == 1 and "exists already" in again.stderr
    weak = run(h, "backup", "export", str(tmp_path / "weak.kit"), kit="hanna1990", check=False)
    assert weak.returncode == 1 and "too easy to guess" in weak.stderr and not (tmp_path / "weak.kit").exists()
    unset = run(h, "backup", "export", str(tmp_path / "x.kit"), kit=None, check=False)
    assert unset.returncode == 1 and "HRAMADA_BACKUP_PASSPHRASE" in unset.stderr

    wrong = run(new, "backup", "import", str(kit), "--name", "phone", kit="wrong wrong wrong wrong",
                check=False)
    assert wrong.returncode == 1 and "wrong passphrase for this recovery kit" in wrong.stderr
    assert not new.exists()
    human = run(new, "backup", "import", str(kit), "--name", "phone", "--qr").stdout
    assert "hramada-recover1-" in human and "hramada device recover" in human and "█" in human
    [code] = js(new, "backup", "codes")
    assert code["group"] == gid and code["member"] == "Hanna" and code["device"] == "phone"
    [listed] = js(new, "group", "list")
    assert listed["status"] == "recovering"
    assert "waiting for an admin" in listed["warnings"][0]
    blocked = run(new, "read", "Circle", check=False)
    assert blocked.returncode == 1 and "waits for an admin" in blocked.stderr

    # Hanna, not an admin, is refused; the admin declines once, then confirms
    refused = run(h, "device", "recover", "Circle", code["code"], check=False)
    assert refused.returncode == 1 and "only an admin" in refused.stderr
    no = run(a, "device", "recover", "Circle", code["code"], stdin="n\n", check=False)
    assert no.returncode == 1 and "Nothing was changed" in no.stderr
    assert code["safety_code"] in no.stderr and "Hanna" in no.stderr and "phone" in no.stderr
    silent = run(a, "device", "recover", "Circle", code["code"], check=False)   # no answer at all
    assert silent.returncode == 1
    damaged = run(a, "device", "recover", "Circle", code["code"][:-3] + "aaa", check=False)
    assert damaged.returncode == 1 and "damaged or incomplete" in damaged.stderr
    yes = run(a, "device", "recover", "Circle", code["code"], stdin="y\n")
    assert "Re-admitted Hanna's device phone" in yes.stdout

    run(new, "sync")
    assert [b["text"] for b in js(new, "read", "Circle")] == ["Written before the seizure"]
    item = js(new, "post", "Circle", "I am back")["item"]
    [back] = [b for b in js(a, "read", "Circle") if b["item"] == item]
    assert back["author"] == "Hanna"
    assert js(a, "safety-code", "Circle", "Hanna")["code"] == code["safety_code"]
    assert js(new, "backup", "codes") == []
    old = run(h, "read", "Circle", check=False)
    assert old.returncode == 1


def test_a_recovery_that_never_comes_can_be_forgotten(tmp_path: Path) -> None:
    from hramada.core import backup
    from hramada.core.backup import Kit, KitGroup
    from hramada.core.link_answers import GroupRef
    ref = GroupRef("http://127.0.0.1:9", os.urandom(16), os.urandom(16), "Circle", "Hanna")
    kit = tmp_path / "kit"
    kit.write_bytes(backup.export_kit(Kit("Hanna", (KitGroup(ref, os.urandom(32), 2),)), KIT_PASSPHRASE,
                                      os.urandom(16), os.urandom(24)))
    home = tmp_path / "new"
    run(home, "backup", "import", str(kit), "--name", "phone")
    altered = run(tmp_path / "other", "backup", "import", str(tmp_path / "nope"), "--name", "phone", check=False)
    assert altered.returncode == 1 and "no file" in altered.stderr and not (tmp_path / "other").exists()
    synced = run(home, "sync", check=False)          # the relay is out of reach: still waiting
    assert "recovering" in synced.stdout
    forgotten = js(home, "group", "forget", "Circle")
    assert forgotten["status"] == "recovering"
    assert js(home, "group", "list") == []
