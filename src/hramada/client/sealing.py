"""The client's suite-2 sealer: HPKE encapsulation with randomness from the operating
system (through pyca/cryptography, which draws it from OpenSSL's CSPRNG).

The core builds every key block and welcome deterministically apart from this one
capability, which it takes as an argument (``hramada.core.suite2.Sealer``)."""

from __future__ import annotations

from hramada.core.suite2 import HPKE_SUITE, HybridPublicKey


class OsSealer:
    """``Sealer`` for real use: a fresh ML-KEM encapsulation and X25519 ephemeral key
    per box."""

    def seal(self, recipients: list[HybridPublicKey], info: bytes, plaintext: bytes) -> list[bytes]:
        return [HPKE_SUITE.encrypt(plaintext, r.hpke_key, info=info) for r in recipients]
