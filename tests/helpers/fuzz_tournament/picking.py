"""What both tournament state machines (tests/contracts/test_invariants.py and
test_committee_invariants.py) share to choose the round an action targets, read from their model
alone: a mixin, so that each machine keeps only its own rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from helpers.fuzz_tournament.model import Round, Tournament
from helpers.harness import T_CHALLENGE, T_GRACE


class RoundPicking:
    """Round choice for a machine whose model is `self.m`; `max_rounds` is how many rounds it opens."""

    max_rounds: ClassVar[int]
    m: Tournament

    @property
    def now(self) -> int:
        """The timestamp of the next transaction: the model's clock, the chain's pending block."""
        return self.m.now

    def _round(self, i: int) -> tuple[int, Round | None]:
        """An opened round (index modulo their number), or for i == max_rounds one never opened."""
        ids = sorted(self.m.rounds)
        if ids and i < self.max_rounds:
            rid = ids[i % len(ids)]
            return rid, self.m.rounds[rid]
        return self.m.last_id + 1 + i, None

    def _pick(self, ri: int, wanted: Callable[[Round], object]) -> tuple[int, Round | None]:
        """Mostly a round for which `wanted(round)` holds (if any), else `_round(ri)`."""
        candidates = [r for _rid, r in sorted(self.m.rounds.items()) if wanted(r)]
        if candidates and ri < self.max_rounds:
            r = candidates[ri % len(candidates)]
            return r.id, r
        return self._round(ri)

    def _postable(self, r: Round) -> bool:
        """A round with stakes whose result can still be posted (now or once resolved)."""
        return not r.posted_at and r.count > 0 and self.now <= r.resolve + T_GRACE - T_CHALLENGE
