"""A newcomer's first fold: from a welcome and the whole log to a verified group state.

A welcome is only a claim, sealed to the newcomer by some member: any member can seal
one (box keys are in the log), so a hostile member can drop an old or made-up welcome
into the newcomer's drop box. The newcomer therefore trusts a welcome only if the log
it folds with it bears it out — the welcome's ``admit`` entry is at its seq with its
hash and admitted this identity for this request, and its generation was in force at
or after that entry — and otherwise tries the next welcome. A welcome that does not
fit never tells the newcomer anything, in particular not that it was removed.
"""

from __future__ import annotations

from collections.abc import Mapping

from hramada.core import crypto
from hramada.core.crypto import BoxPrivateKey
from hramada.core.suite2 import HybridPrivateKey
from hramada.core.invitation import Welcome
from hramada.core.entries import Envelope, envelope_bytes
from hramada.core.keys import Generation, KeyBlock, walk_back
from hramada.core.state import GroupLog, Keyring
from hramada.errors import DecryptionError, EncodingError, VerificationError


class WelcomeMismatch(VerificationError):
    """This welcome does not fit the group's log (stale, or made up by a member)."""


def adopt(mailbox: bytes, group: bytes, entries: list[tuple[int, bytes, bytes]], welcome: Welcome,
          me: BoxPrivateKey | HybridPrivateKey, member_id: bytes,
          pages: Mapping[bytes, bytes] | None = None) -> tuple[GroupLog, Keyring]:
    """Fold ``entries`` (the whole log, in order) with the keys ``welcome`` hands over,
    as the newcomer ``member_id`` whose box key is ``me``, with the key-block ``pages``
    at hand (a rotation after the welcome's generation may need one: ``PageMissing``).
    Raises :class:`WelcomeMismatch` if the welcome does not fit the log (then try the
    next)."""
    try:
        gens = walk_back_generations([(seq, ct) for seq, _, ct in entries], welcome.generation,
                                     list(welcome.starts))
        log, keys = GroupLog(mailbox, group), Keyring(me, dict(gens), dict(pages or {}))
        for seq, prev, ciphertext in entries:
            log.apply(seq, prev, ciphertext, keys)
    except (VerificationError, DecryptionError, EncodingError) as exc:
        raise WelcomeMismatch(f"the welcome does not fit the group's log ({exc})") from None
    at, digest = welcome.admit
    member = log.members.get(member_id)
    if (at > log.head[0] or not crypto.equal(log.hash_at(at), digest) or member is None
            or member.since != at or member.request != welcome.request):
        raise WelcomeMismatch("the welcome names an admission the log does not show")
    if log.generation_at(at) > welcome.generation.number:
        raise WelcomeMismatch("the welcome hands over a key older than the admission")
    return log, keys


def walk_back_generations(envelopes: list[tuple[int, bytes]], newest: Generation,
                          starts: list[int] | None = None) -> dict[int, Generation]:
    """Every generation from ``newest`` back to 0, using the key blocks in the log.

    ``envelopes`` is the log as ``(seq, ciphertext)`` in order; ``starts`` the seqs of the
    entries that made generations 1 to ``newest.number`` (a welcome names them: a void
    entry may carry a key block too). Without ``starts``, the i-th entry that carries a
    key block made generation i. Seeds found this way are still checked against the
    log's commitments when the log is folded.
    """
    blocks: dict[int, KeyBlock] = {}
    for seq, ciphertext in envelopes:
        try:
            env = Envelope.parse(envelope_bytes(ciphertext))
        except EncodingError:
            continue  # void: it made no generation
        if env.key_block is not None:
            blocks[seq] = env.key_block
    if starts is None:
        starts = sorted(blocks)[:newest.number]
    if len(starts) != newest.number or any(seq not in blocks for seq in starts):
        raise VerificationError("the log is missing key rotations the welcome refers to")
    found = {newest.number: newest}
    current = newest
    while current.number > 0:
        current = walk_back(blocks[starts[current.number - 1]], current)
        found[current.number] = current
    return found
