"""The local profile: a folder holding an encrypted keystore and an encrypted database.

    $HRAMADA_HOME/            (default: the platform's user data folder for "hramada")
        keystore              Argon2id(passphrase) → XChaCha20-Poly1305 → {store key, name}
        store.db              SQLite; every value encrypted under the store key
        running/PID-TOKEN     one per process that has the profile open: "PID STARTTIME"

Nothing in the folder is readable without the passphrase. ``panic`` first stops every
process that has the profile open (SIGTERM, then SIGKILL after 3 s), so none keeps the
store key in memory or its relay connections open, then overwrites every file with
random bytes before deleting it, and removes the folder. A process that was not
registered (or runs where its identity cannot be checked) still stops on its own when
it sees the keystore gone (``Hramada.watch`` looks every half second).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.utils
import platformdirs
from zxcvbn import zxcvbn

from hramada.core import crypto
from hramada.core.encoding import decode, encode, fields
from hramada.core.names import clean_name
from hramada.errors import DecryptionError, EncodingError, ProfileError

KEYSTORE = "keystore"
STORE = "store.db"
RUNNING = "running"
STOP_GRACE_SECONDS = 3.0  # after SIGTERM, how long panic waits before SIGKILL
WIPE_CHECK_SECONDS = 0.5  # how often a waiting process looks whether its keystore is gone

# A new passphrase must need at least 10^12 guesses by zxcvbn's estimate. Against the
# keystore's Argon2id (about a second and 256 MiB per guess), that is years of work
# for a thousand machines; three random common words reach it, a name with a year
# does not.
MIN_GUESSES_LOG10 = 12
ZXCVBN_MAX_CHARS = 72  # zxcvbn refuses longer input; a strong start makes a strong whole


class WeakPassphrase(ProfileError):
    """The passphrase is too easy to guess for someone who seizes the device."""


def check_passphrase(passphrase: object, name: str = "") -> str:
    """Refuse a passphrase that someone who seizes the device could guess.

    Applies wherever a new passphrase is set. The estimate is zxcvbn's (common
    passwords, words, names, dates, keyboard patterns, repeats), counting the person's
    own name and "hramada" as known words."""
    if not isinstance(passphrase, str) or not passphrase:
        raise ProfileError("a passphrase must not be empty")
    estimate = zxcvbn(passphrase[:ZXCVBN_MAX_CHARS], user_inputs=[name, "hramada"])
    if estimate["guesses_log10"] >= MIN_GUESSES_LOG10:
        return passphrase
    warning = estimate["feedback"].get("warning") or ""
    raise WeakPassphrase(
        "this passphrase is too easy to guess" + (f" ({warning.rstrip('.')})" if warning else "")
        + ": whoever seizes this device could try guesses until one opens it. "
        "Choose several random words instead: four or five words picked at random (with dice "
        "and a word list, or a password manager's generator), not a quote, a name or a date. "
        "Nothing was created.")


def default_home() -> Path:
    env = os.environ.get("HRAMADA_HOME")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("hramada", appauthor=False))


@dataclass(frozen=True, repr=False)
class Unlocked:
    """What the keystore holds once opened."""

    home: Path
    store_key: bytes
    name: str

    def __repr__(self) -> str:
        return f"Unlocked(home={str(self.home)!r}, name=…)"


def exists(home: Path) -> bool:
    return (home / KEYSTORE).exists()


def create(home: Path, passphrase: str, name: str) -> Unlocked:
    """Make a new profile; refuse to overwrite one."""
    name = clean_name(name)
    check_passphrase(passphrase, name)
    if exists(home):
        raise ProfileError(f"a profile already exists in {home}; use it, or wipe it with `hramada panic --yes`")
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(home, 0o700)
    store_key = nacl.utils.random(32)
    _write_keystore(home, passphrase, {"store": store_key, "name": name})
    return Unlocked(home, store_key, name)


def _write_keystore(home: Path, passphrase: str, secrets: dict) -> None:
    salt = nacl.utils.random(crypto.SALT_BYTES)
    nonce = nacl.utils.random(crypto.NONCE_BYTES)
    ops, mem = crypto.ARGON2_OPSLIMIT, crypto.ARGON2_MEMLIMIT
    key = crypto.passphrase_key(passphrase, salt, opslimit=ops, memlimit=mem)
    sealed = crypto.encrypt(key, nonce, encode(secrets), b"hramada:v1:keystore")
    blob = encode({"v": 1, "kdf": "argon2id", "ops": ops, "mem": mem, "salt": salt,
                   "n": nonce, "c": sealed})
    tmp = home / (KEYSTORE + ".tmp")
    with open(tmp, "wb") as f:
        f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, home / KEYSTORE)


def unlock(home: Path, passphrase: str) -> Unlocked:
    """Open the keystore; a wrong passphrase opens nothing."""
    path = home / KEYSTORE
    if not path.exists():
        raise ProfileError(f"no profile in {home}; create one with `hramada init --name NAME`")
    try:
        v = fields(decode(path.read_bytes()), "keystore",
                   {"v": int, "kdf": str, "ops": int, "mem": int, "salt": bytes, "n": bytes, "c": bytes})
    except EncodingError:
        raise ProfileError(f"the keystore in {home} is damaged") from None
    if v["v"] != 1 or v["kdf"] != "argon2id" or not 1 <= v["ops"] <= 64 or not 8192 <= v["mem"] <= 1 << 32:
        raise ProfileError(f"the keystore in {home} has settings this version cannot use")
    key = crypto.passphrase_key(passphrase, v["salt"], opslimit=v["ops"], memlimit=v["mem"])
    try:
        secrets = fields(decode(crypto.decrypt(key, v["n"], v["c"], b"hramada:v1:keystore")),
                         "keystore", {"store": bytes, "name": str})
    except DecryptionError:
        raise ProfileError("wrong passphrase") from None
    return Unlocked(home, secrets["store"], secrets["name"])


# -- running processes ------------------------------------------------------------

def _identity(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process from /proc, or None if it is gone or this
    system has no /proc. The start time tells a process from a later one that reuses
    its id."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields_ = stat.rpartition(")")[2].split()
    return (fields_[0], fields_[19]) if len(fields_) > 19 else None


def register_process(home: Path) -> Path | None:
    """Note in the profile that this process has it open; returns the note to remove
    at close (None if the profile folder is gone)."""
    me = _identity(os.getpid())
    folder = home / RUNNING
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        path = folder / f"{os.getpid()}-{nacl.utils.random(8).hex()}"
        path.write_text(f"{os.getpid()} {me[1] if me else '-'}\n")
    except OSError:
        return None
    return path


def unregister_process(note: Path | None) -> None:
    if note is not None:
        note.unlink(missing_ok=True)


def _registered(home: Path) -> list[tuple[int, str]]:
    """Processes other than this one that noted the profile open and still run."""
    out = []
    for path in (home / RUNNING).glob("*") if (home / RUNNING).is_dir() else []:
        try:
            pid_text, start = path.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            continue
        now = _identity(pid)
        if pid != os.getpid() and now is not None and now[0] != "Z" and now[1] == start:
            out.append((pid, start))
    return out


def _alive(pid: int, start: str) -> bool:
    now = _identity(pid)
    return now is not None and now[0] != "Z" and now[1] == start


def stop_processes(home: Path) -> int:
    """Stop every other running process that has this profile open: SIGTERM, and
    SIGKILL for any still running after :data:`STOP_GRACE_SECONDS`. Returns how many
    were stopped. Only processes whose start time matches their note are signalled, so
    a stale note never hits an unrelated process that reused the id."""
    targets = _registered(home)
    for pid, _ in targets:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while any(_alive(pid, start) for pid, start in targets) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid, start in targets:
        if _alive(pid, start):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    return len(targets)


async def unless_wiped(home: Path, waiting: Any) -> Any:
    """Await ``waiting``, but stop as soon as the profile's keystore is gone (a panic
    elsewhere): cancel it and raise ProfileError, so the caller closes and exits."""
    task = asyncio.ensure_future(waiting)
    try:
        while True:
            if not exists(home):
                raise ProfileError("this profile was wiped (panic); stopping")
            done, _ = await asyncio.wait({task}, timeout=WIPE_CHECK_SECONDS)
            if done:
                return task.result()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def wipe(home: Path) -> int:
    """Stop the processes that have the profile open, overwrite every file in the
    profile with random bytes, then delete it all.

    Returns the number of files wiped. (On SSDs and copy-on-write file systems the old
    blocks may survive overwriting; they hold only ciphertext, and the keystore's key
    needs the passphrase.)
    """
    if not home.exists():
        return 0
    stop_processes(home)
    count = 0
    for path in sorted(home.rglob("*"), reverse=True):
        if path.is_file() and not path.is_symlink():
            try:
                with open(path, "r+b") as f:
                    remaining = os.fstat(f.fileno()).st_size
                    while remaining > 0:
                        chunk = min(remaining, 1 << 20)
                        f.write(nacl.utils.random(chunk))
                        remaining -= chunk
                    f.flush()
                    os.fsync(f.fileno())
                path.unlink()
            except FileNotFoundError:
                continue  # removed meanwhile by a process that was closing
            count += 1
    shutil.rmtree(home, ignore_errors=True)
    return count
