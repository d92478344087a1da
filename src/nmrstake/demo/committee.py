"""`nmrstake demo --oracles N [--liar K]`: the round's result decided by an M-of-N oracle committee
(docs/committee.md), one member of which may lie.

The deployment is a CommitteeTournament of N oracle keys (ape's test accounts 4 to 3 + N) with the
threshold M = N // 2 + 1 (2 of 3), nobody holding ORACLE_ROLE, and a DisputeDesk. N oracle daemons
run as separate processes (`nmrstake oracle run --api URL`): oracle 1 with the service's data
folder (it scores the uploads and publishes the round), the others each with a folder of its own
and no submission store, as on another machine (they download the published round, recompute it
and attest only if it matches). The liar runs with the oracle's test hook
(:data:`nmrstake.oracle.LIE_ENV`): it attests a total payout one wei more than its own folder's.

So that the lie is on show in every round rather than lost in a race the honest majority may win,
the demo holds (SIGSTOP) the honest oracles beyond the first M - 1 while a round resolves, until
the service lists the liar's attestation and the M - 1 honest ones; then it lets them go
(SIGCONT), and the honest result is posted with M honest signatures. Nothing in the contract or the
daemons depends on the order: the hold only makes the demo show the same thing every time.

After the rounds, :func:`committee_report` reads from the service (who attested what, what M agree
on) and from the chain (the posted result, the `ResultAttested` signers) that the liar's content
never reached the threshold and that each round was posted with the honest result by signatures.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from nmrstake.errors import ChainError, ConfigError

#: ape's test account of oracle 1; oracle k is FIRST_ACCOUNT + k - 1 (accounts 0 to 3 have other parts)
FIRST_ACCOUNT = 4
MAX_ORACLES = 6  # ape's 10 test accounts
#: what the liar adds to the total payout it attests (wei)
LIE_WEI = 1
#: the dispute desk's terms in the demo (NMR wei)
DISPUTE_BOND = 50 * 10**18
DISPUTE_REWARD = 10 * 10**18


@dataclass(frozen=True)
class CommitteePlan:
    """Who the oracles are: N members (ape's test accounts), the threshold, the liar (1-based)."""

    n: int
    liar: int | None = None
    accounts: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, n: int, liar: int | None) -> CommitteePlan:
        if not 3 <= n <= MAX_ORACLES:
            raise ConfigError(f"--oracles: {n} is out of range (3 to {MAX_ORACLES}: a committee that outvotes one liar)")
        if liar is not None and not 1 <= liar <= n:
            raise ConfigError(f"--liar: {liar} is not one of the oracles 1 to {n}")
        return cls(n, liar, [FIRST_ACCOUNT + k for k in range(n)])

    @property
    def threshold(self) -> int:
        return self.n // 2 + 1

    def name(self, k: int) -> str:
        """The process's name (oracle1, oracle2, ...)."""
        return f"oracle{k}"

    @property
    def names(self) -> list[str]:
        return [self.name(k) for k in range(1, self.n + 1)]

    @property
    def honest(self) -> list[int]:
        return [k for k in range(1, self.n + 1) if k != self.liar]

    @property
    def free(self) -> list[int]:
        """The honest oracles that run while a round resolves: M - 1 of them, too few to post alone."""
        return self.honest[: self.threshold - 1] if self.liar is not None else self.honest

    @property
    def held(self) -> list[int]:
        """The honest oracles held until the liar has attested (none without a liar)."""
        return [k for k in self.honest if k not in self.free]


def addresses(plan: CommitteePlan) -> dict[int, str]:
    """Oracle number -> its address (checksummed)."""
    from ape import accounts

    from nmrstake.hashing import checksum_address

    return {k: checksum_address(str(accounts.test_accounts[plan.accounts[k - 1]].address))
            for k in range(1, plan.n + 1)}


def start_oracles(crew: Any, plan: CommitteePlan) -> None:
    """The N oracle daemons, each a process: oracle 1 with the service's data folder, the others
    with folders of their own (out/oracles/oracle<k>), all exchanging attestations through the service."""
    from nmrstake.oracle import LIE_ENV

    for k in range(1, plan.n + 1):
        data_dir = crew.data_dir if k == 1 else crew.logs.parent / "oracles" / plan.name(k)
        env = os.environ.copy()
        env.pop(LIE_ENV, None)
        if k == plan.liar:
            env[LIE_ENV] = str(LIE_WEI)
        crew.start_oracle(name=plan.name(k), account=f"TEST::{plan.accounts[k - 1]}", data_dir=data_dir,
                          api=crew.url, env=env)


@contextmanager
def held(crew: Any, plan: CommitteePlan) -> Iterator[None]:
    """SIGSTOP the held oracles; SIGCONT them on leaving, whatever happens."""
    procs = [crew.daemons[plan.name(k)].proc for k in plan.held if plan.name(k) in crew.daemons]
    stopped = []
    try:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGSTOP)
                stopped.append(p)
        yield
    finally:
        for p in stopped:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)


def attested_by(listing: dict[str, Any], who: str) -> bool:
    return any(a["signer"] == who for a in listing.get("attestations", []))


def wait_for_the_lie(crew: Any, plan: CommitteePlan, members: dict[int, str], round_id: int, timeout: float) -> None:
    """Until the service lists the round's attestations of the liar and of the free honest oracles."""
    if plan.liar is None:
        return
    wanted = [members[k] for k in [plan.liar, *plan.free]]

    def listed() -> bool:
        answer = crew.delivery.get(f"/v1/rounds/{round_id}/attestations")
        return isinstance(answer, dict) and all(attested_by(answer, who) for who in wanted)

    crew.until(listed, f"the liar and {len(plan.free)} honest oracle(s) to attest round {round_id}", timeout)


def committee_report(client: Any, service: Any, plan: CommitteePlan, members: dict[int, str], layout: Any,
                     round_ids: list[int], echo: Any) -> dict[str, Any]:
    """Per round, from the service and the chain: which oracles attested what, whether M agree,
    which content was posted and by whose signatures; whether the honest result was posted by
    signatures and the lie refused. Prints it; returns it for the summary."""
    from nmrstake.amounts import format_nmr
    from nmrstake.hashing import to_hex
    from nmrstake.results.read import load_published
    from nmrstake.tables import table

    number = {addr: k for k, addr in members.items()}
    on_chain, threshold, epoch = client.committee()
    desk = client.desk
    echo(f"\noracle committee: {threshold} of {len(on_chain)} must sign the same result (epoch {epoch}); "
         + (f"oracle {plan.liar} lies (attests a payout {LIE_WEI} wei too high)" if plan.liar else "nobody lies")
         + (f"; dispute desk at {desk.address}" if desk is not None else ""))
    for k in sorted(members):
        echo(f"  oracle {k}: {members[k]}" + (" (the liar)" if k == plan.liar else ""))
    rounds = []
    all_ok = True
    for rid in round_ids:
        info = client.round(rid)
        honest = load_published(layout.published(rid))  # oracle 1's folder (the service publishes it)
        listing = service.get(f"/v1/rounds/{rid}/attestations")
        attested_events = client.attested(rid)
        posted_digests = {to_hex(bytes(e.digest)) for e in attested_events}
        posted_signers = sorted({number.get(m, 0) for e in attested_events for i, m in enumerate(on_chain)
                                 if int(e.signers) >> i & 1})
        contents = []
        for c in listing["contents"]:
            signers = sorted(number.get(s, 0) for s in c["signers"])
            contents.append({"root": c["root"], "total_payout": c["total_payout"], "total_burn": c["total_burn"],
                             "digest": c["digest"], "oracles": signers, "agreed": bool(c["agreed"]),
                             "posted": c["digest"] in posted_digests,
                             "honest": c["root"] == honest.merkle_root
                             and int(c["total_payout"]) == honest.total_payout
                             and int(c["total_burn"]) == honest.total_burn})
        honest_posted = (to_hex(info.root) == honest.merkle_root and info.total_payout == honest.total_payout
                         and info.total_burn == honest.total_burn and any(c["honest"] and c["posted"] for c in contents)
                         and len(posted_signers) >= threshold and plan.liar not in posted_signers)
        lie = [c for c in contents if plan.liar in c["oracles"] and not c["honest"]]
        lie_refused = None if plan.liar is None else bool(lie) and not any(c["agreed"] or c["posted"] for c in lie)
        ok = honest_posted and lie_refused is not False
        all_ok &= ok
        rows = [(",".join(map(str, c["oracles"])), c["root"][:14] + "…", format_nmr(int(c["total_payout"])),
                 c["total_payout"], "yes" if c["agreed"] else "no", "yes" if c["posted"] else "no",
                 "honest" if c["honest"] else "LIE") for c in contents]
        echo(f"\nround {rid}: attestations at the service")
        echo(table(rows, ["oracles", "root", "payout", "payout (wei)", f"{threshold} agree", "posted", "content"]))
        echo(f"  posted on chain by the signatures of oracles {', '.join(map(str, posted_signers)) or 'none'}: "
             f"the honest result: {'yes' if honest_posted else 'NO'}"
             + ("" if lie_refused is None else
                f"; the liar's content reached the threshold: {'no, refused' if lie_refused else 'YES or never shown'}"))
        rounds.append({"round": rid, "posted_root": to_hex(info.root), "posted_payout": str(info.total_payout),
                       "honest_root": honest.merkle_root, "honest_payout": str(honest.total_payout),
                       "posted_by": posted_signers, "contents": contents, "honest_posted": honest_posted,
                       "lie_refused": lie_refused})
    summary = {"threshold": threshold, "epoch": epoch, "liar": plan.liar, "ok": all_ok,
               "members": [{"oracle": k, "address": members[k], "liar": k == plan.liar} for k in sorted(members)],
               "dispute_desk": str(desk.address) if desk is not None else None, "rounds": rounds}
    echo("\nthe committee posted every round's honest result by signatures"
         + (" and refused the lie" if plan.liar else "") + f": {'yes' if all_ok else 'NO'}")
    return summary


def check_committee(summary: dict[str, Any]) -> None:
    if not summary["ok"]:
        raise ChainError("the committee did not post the honest result by signatures in every round, or the lie was "
                         "not refused (see the summary's `committee`)")
