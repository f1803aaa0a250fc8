"""A deterministic suite-2 ``Sealer`` for tests and vectors: every box is built by the
independent construction of ``hpke_reference`` with its ML-KEM randomness ``m`` and
X25519 ephemeral secret drawn from a labelled counter, so the same calls give the same
bytes (a real sealer draws both afresh from the operating system)."""

from __future__ import annotations

import hashlib

from hramada.core.suite2 import HybridPublicKey

from . import hpke_reference as ref


class PinnedSealer:
    def __init__(self, label: str) -> None:
        self.label, self.count, self.used = label, 0, []  # used: (m, ephemeral) per box, in order

    def _next(self, what: str) -> bytes:
        return hashlib.blake2b(f"{self.label}/{self.count}/{what}".encode(), digest_size=32).digest()

    def seal(self, recipients: list[HybridPublicKey], info: bytes, plaintext: bytes) -> list[bytes]:
        boxes = []
        for r in recipients:
            m, eph = self._next("m"), self._next("ephemeral")
            self.count += 1
            self.used.append((m, eph))
            boxes.append(ref.seal(r.raw, info, plaintext, m, eph))
        return boxes
