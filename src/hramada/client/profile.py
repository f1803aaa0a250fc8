"""The local profile: a folder holding an encrypted keystore and an encrypted database.

    $HRAMADA_HOME/            (default: the platform's user data folder for "hramada")
        keystore              Argon2id(passphrase) → XChaCha20-Poly1305 → {store key, name}
        store.db              SQLite; every value encrypted under the store key

Nothing in the folder is readable without the passphrase. ``panic`` overwrites every
file with random bytes before deleting it, and removes the folder.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import nacl.utils
import platformdirs

from hramada.core import crypto
from hramada.core.encoding import decode, encode, fields
from hramada.core.invitation import check_name
from hramada.errors import DecryptionError, EncodingError, ProfileError

KEYSTORE = "keystore"
STORE = "store.db"


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
    name = check_name(name)
    if not passphrase:
        raise ProfileError("a passphrase must not be empty")
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


def wipe(home: Path) -> int:
    """Overwrite every file in the profile with random bytes, then delete it all.

    Returns the number of files wiped. (On SSDs and copy-on-write file systems the old
    blocks may survive overwriting; they hold only ciphertext, and the keystore's key
    needs the passphrase.)
    """
    if not home.exists():
        return 0
    count = 0
    for path in sorted(home.rglob("*"), reverse=True):
        if path.is_file() and not path.is_symlink():
            size = path.stat().st_size
            with open(path, "r+b") as f:
                remaining = size
                while remaining > 0:
                    chunk = min(remaining, 1 << 20)
                    f.write(nacl.utils.random(chunk))
                    remaining -= chunk
                f.flush()
                os.fsync(f.fileno())
            path.unlink()
            count += 1
    shutil.rmtree(home, ignore_errors=True)
    return count
