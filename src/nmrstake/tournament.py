"""A typed client over the deployed Tournament contract, shared by the oracle, the CLI and the demo.

Reads come from contract storage (rounds, stakes) and from events where storage cannot enumerate
(which rounds exist: `RoundOpened`; which stake keys a round has: `Staked`) or does not hold the
value: a stake stores only its commitment's first 20 bytes (:class:`StoredStake`), the full
commitment is the key's last `Staked` or `CommitmentChanged`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmrstake.deploy import Deployment, deployment_path, deployments_dir, load_deployment
from nmrstake.errors import ChainError, ConfigError, UnknownRoundError
from nmrstake.hashing import checksum_address as to_checksum_address
from nmrstake.models import model_label
from nmrstake.payouts import RoundParams
from nmrstake.signing import Domain

if TYPE_CHECKING:
    from nmrstake.chain.node import ContractHandle, Node

ZERO32 = b"\x00" * 32
#: How much of a commitment the Tournament stores with the stake (`getStake`): its first 20 bytes.
COMMITMENT_PREFIX_BYTES = 20


def iso_time(ts: int | None) -> str | None:
    """Unix seconds as ISO 8601 UTC (``2026-11-27T17:00:00Z``); None stays None."""
    import datetime as dt

    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RoundState(IntEnum):
    NONE = 0
    SCHEDULED = 1
    OPEN = 2
    CLOSED = 3
    POSTED = 4
    FINAL = 5
    EXPIRED = 6

    @property
    def label(self) -> str:
        return self.name.lower()


def _solidity_name(name: str) -> str:
    """``corr_multiplier_bps`` -> ``corrMultiplierBps``."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True, kw_only=True)
class RoundTerms:
    """A round's terms: the contract's `RoundParams` struct (what `openRound` takes and `getRound`
    returns with the round's totals), field for field and by name. Converted to and from the
    contract only here (:meth:`to_contract`, :meth:`from_contract`), never as a positional tuple."""

    open_time: int
    close_time: int
    resolve_time: int
    corr_multiplier_bps: int
    mmc_multiplier_bps: int
    clip_bps: int
    stake_threshold: int
    stake_cap: int
    min_stake: int

    def to_contract(self) -> dict[str, int]:
        """The struct as ape encodes it: a dict keyed by the contract's field names."""
        return {_solidity_name(f.name): int(getattr(self, f.name)) for f in fields(RoundTerms)}

    @staticmethod
    def from_contract(raw: Any) -> RoundTerms:
        """The terms of a decoded `getRound` (or `RoundParams`) struct, read by field name."""
        return RoundTerms(**{f.name: int(getattr(raw, _solidity_name(f.name))) for f in fields(RoundTerms)})


@dataclass(frozen=True, kw_only=True)
class RoundInfo(RoundTerms):
    """A round as the chain holds it: its terms, its state and its running totals."""

    round_id: int
    state: RoundState
    total_staked: int
    stake_count: int
    funded: int
    total_payout: int
    total_burn: int
    claimed: int
    claimable: int
    posted_at: int
    settled: bool
    root: bytes
    results_hash: bytes
    challenge_period: int
    grace_period: int

    @property
    def final_at(self) -> int | None:
        return self.posted_at + self.challenge_period if self.posted_at else None

    @property
    def expires_at(self) -> int:
        return self.resolve_time + self.grace_period

    @property
    def last_post_time(self) -> int:
        return self.expires_at - self.challenge_period

    def to_json(self) -> dict[str, Any]:
        """The round for machines: amounts in wei as strings, times in Unix seconds and ISO 8601 UTC."""
        times = {"open_time": self.open_time, "close_time": self.close_time, "resolve_time": self.resolve_time,
                 "posted_at": self.posted_at or None, "final_at": self.final_at, "expires_at": self.expires_at}
        return {
            "round": self.round_id, "state": self.state.label,
            **times,
            **{f"{k}_iso": iso_time(v) for k, v in times.items()},
            "corr_multiplier_bps": self.corr_multiplier_bps, "mmc_multiplier_bps": self.mmc_multiplier_bps,
            "clip_bps": self.clip_bps, "stake_threshold": str(self.stake_threshold),
            "stake_cap": str(self.stake_cap), "min_stake": str(self.min_stake),
            "total_staked": str(self.total_staked), "stake_count": self.stake_count, "funded": str(self.funded),
            "total_payout": str(self.total_payout), "total_burn": str(self.total_burn),
            "claimed": str(self.claimed), "claimable": str(self.claimable), "settled": self.settled,
            "root": "0x" + self.root.hex(), "results_hash": "0x" + self.results_hash.hex(),
        }

    def payout_params(self) -> RoundParams:
        """The parameters the oracle's payout arithmetic takes, as recorded on-chain."""
        return RoundParams(
            corr_multiplier_bps=self.corr_multiplier_bps,
            mmc_multiplier_bps=self.mmc_multiplier_bps,
            clip_bps=self.clip_bps,
            stake_threshold=self.stake_threshold,
            funded=self.funded,
        )


@dataclass(frozen=True)
class ChainStake:
    """A stake with its full commitment (32 bytes, from the key's events: the last `Staked` or
    `CommitmentChanged`; ZERO32 if the key never staked) and its amount (now, or at close)."""

    round_id: int
    model: str
    model_id: bytes
    staker: str
    amount: int
    commitment: bytes


def commitment_prefix(commitment: bytes) -> bytes:
    """What the Tournament stores of a commitment, and compares: its first 20 bytes."""
    return bytes(commitment)[:COMMITMENT_PREFIX_BYTES]


@dataclass(frozen=True)
class StoredStake:
    """A stake as the Tournament stores it (`getStake`, one read): the amount held and the first 20
    bytes of its commitment, both zero if the key never staked and once its stake was claimed,
    exited or withdrawn. Enough to tell whether a stake commits to a file; the full commitment is
    in the key's events (:class:`ChainStake`)."""

    amount: int
    commitment_prefix: bytes

    def commits_to(self, commitment: bytes) -> bool:
        """Whether the stake is held and commits to `commitment`, as the contract compares them
        (a new commitment with the same 20 bytes changes nothing on chain)."""
        return self.amount > 0 and commitment_prefix(commitment) == self.commitment_prefix


def check_logged_commitment(stored: StoredStake, logged: bytes | None, where: str) -> bytes:
    """The stake's full commitment: `logged` (the key's last logged one; None: no event found),
    checked against what the contract stores. A held stake whose events are missing or disagree
    means the logs were not read from the tournament's deployment block (or a node left some out):
    ChainError naming `where` rather than a wrong commitment."""
    if stored.amount == 0:
        return logged or ZERO32
    if logged is None or commitment_prefix(logged) != stored.commitment_prefix:
        found = "no Staked event" if logged is None else f"last logged commitment 0x{logged.hex()}"
        raise ChainError(f"{where}: the contract stores commitment prefix 0x{stored.commitment_prefix.hex()}, "
                         f"its logs show {found}; are the logs read from the tournament's deployment block?")
    return logged


def read_stake(read_stored: Callable[[], StoredStake], read_logged: Callable[[], bytes | None],
               where: str) -> tuple[StoredStake, bytes]:
    """A stake as stored and its full commitment (:func:`check_logged_commitment`), from the two
    reads given; read again, up to three times, while they disagree (a transaction of the key's
    mined between them)."""
    for attempt in range(3):
        stored, logged = read_stored(), read_logged()
        try:
            return stored, check_logged_commitment(stored, logged, where)
        except ChainError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")

def _b32(value: Any) -> bytes:
    return bytes(value).rjust(32, b"\x00") if value else ZERO32


def _block_time(found: object) -> int | None:
    """A block's timestamp from a batch's answer to eth_getBlockByNumber (None: no such block, or
    the node refused it, as some refuse "pending")."""
    if not isinstance(found, dict) or found.get("timestamp") is None:
        return None
    return int(str(found["timestamp"]), 16)


class TournamentClient:
    """The token and tournament of one deployment, on the connected chain."""

    def __init__(self, project: Any, deployment: Deployment) -> None:
        from ape import chain

        self.project = project
        self.deployment = deployment
        self.provider = chain.provider
        if deployment.chain_id != self.provider.chain_id:
            raise ConfigError(
                f"the deployment is for chain {deployment.chain_id}, connected to {self.provider.chain_id}"
            )
        from nmrstake.deploy import check_recorded

        for name in ("NMR", "Tournament"):
            problem = check_recorded(self.provider, name, deployment.contracts[name]) if name in deployment.contracts else None
            if problem:
                raise ConfigError(problem.replace(": deploying it again", "") + "; run `ape run deploy` for this chain")
        from nmrstake.chain.contracts import instance_at

        self.token = instance_at(project.NMR, deployment.address("NMR"))
        # NumeraireTournament (a mainnet-like NMR) has Tournament's ABI plus its burn error.
        kind = deployment.settings.get("tournament_contract") or "Tournament"
        self.tournament = instance_at(getattr(project, str(kind), project.Tournament), deployment.address("Tournament"))
        staked_token = str(self.tournament.nmr())
        if staked_token.lower() != self.token.address.lower():
            raise ConfigError(f"the Tournament at {self.tournament.address} stakes {staked_token}, not the "
                              f"deployment's NMR {self.token.address}")
        self.start_block = deployment.contracts["Tournament"].block
        self.challenge_period = int(self.tournament.challengePeriod())
        self.grace_period = int(self.tournament.gracePeriod())
        self._desk: Any = None  # the DisputeDesk's instance, made on first use (see `desk`)

    @classmethod
    def connect(cls, project: Any, directory: Path | None = None) -> TournamentClient:
        """The client of the deployment recorded for the connected chain."""
        from ape import chain

        path = deployment_path(chain.provider, directory or deployments_dir(project.path))
        deployment = load_deployment(path)
        if "Tournament" not in deployment.contracts:
            raise ConfigError(f"{path} has no Tournament: run `ape run deploy` again")
        return cls(project, deployment)

    # ------------------------------------------------------------------ time and blocks

    def now(self) -> int:
        """The timestamp of the latest block (what `block.timestamp` was last)."""
        return int(self.provider.get_block("latest").timestamp)

    @property
    def domain(self) -> Domain:
        """The EIP-712 domain of this deployment: uploads and receipts are bound to it."""
        return Domain(int(self.provider.chain_id), str(self.tournament.address))

    # ------------------------------------------------------------------ the oracle committee

    @property
    def has_committee(self) -> bool:
        """The deployment's tournament is a committee variant (docs/committee.md)."""
        return "Committee" in str(self.deployment.settings.get("tournament_contract") or "")

    @property
    def committee_domain(self) -> Domain:
        """The committee's EIP-712 domain: attestations are bound to it."""
        from nmrstake.signing import committee_domain

        return committee_domain(int(self.provider.chain_id), str(self.tournament.address))

    def committee(self) -> tuple[list[str], int, int]:
        """The current committee: its members (ascending), threshold M and epoch. ConfigError for a
        deployment without a committee."""
        if not self.has_committee:
            raise ConfigError(f"the Tournament at {self.tournament.address} has no oracle committee "
                              "(deployed without --committee)")
        members, threshold = self.tournament.committee()
        return [to_checksum_address(str(m)) for m in members], int(threshold), int(self.tournament.committeeEpoch())

    def attested(self, round_id: int) -> list[Any]:
        """The round's `ResultAttested` events (a result posted with the committee's signatures)."""
        return self.logs("ResultAttested", {"roundId": round_id}) if self.has_committee else []

    # ------------------------------------------------------------------ the dispute desk

    @property
    def desk(self) -> Any:
        """The deployment's DisputeDesk (docs/disputes.md), or None if it has none."""
        if "DisputeDesk" not in self.deployment.contracts:
            return None
        if self._desk is None:
            from nmrstake.chain.contracts import instance_at

            self._desk = instance_at(self.project.DisputeDesk, self.deployment.address("DisputeDesk"))
        return self._desk

    def desk_logs(self, event: str, round_id: int | None = None) -> list[Any]:
        """The desk's `event` logs (Disputed, DisputeSettled, Ruled, ...), of `round_id` if given,
        from its deployment block to the head, in chain order; [] without a desk."""
        desk = self.desk
        if desk is None:
            return []
        from nmrstake.chain.contracts import event_logs

        topics = {"roundId": round_id} if round_id is not None else None
        return event_logs(getattr(desk, event), self.deployment.contracts["DisputeDesk"].block, self.head(), topics)

    @functools.cached_property
    def node(self) -> Node:
        """The connected chain for the reads on hot paths (chain time, a stake's amount, a
        balance: the service reads them for every upload): JSON-RPC straight to the provider's
        URL when it has an http(s) one, else the provider's Web3 (the embedded EVM). Measured on
        Anvil, a `getStake` costs 1.1 ms of CPU this way against 7.0 ms through ape's contract
        call (and 6.0 ms through ape's Web3, whose middlewares cost as much)."""
        from nmrstake.chain.node import as_node

        # The URL web3.py itself posts to (an HTTPProvider's), never a provider's advertised `uri`:
        # ape's embedded EVM advertises http://localhost:8545 and serves nothing there.
        web3 = getattr(self.provider, "web3", None)
        endpoint = getattr(getattr(web3, "provider", None), "endpoint_uri", None)
        if isinstance(endpoint, str) and endpoint.startswith(("http://", "https://")):
            return as_node(endpoint)
        return as_node(self.provider)

    @functools.cached_property
    def _light(self) -> tuple[ContractHandle, ContractHandle]:
        """The Tournament and the NMR on :attr:`node`, with the package's own ABIs."""
        from nmrstake import abi

        return (self.node.contract(self.tournament.address, abi.load("Tournament")),
                self.node.contract(self.token.address, abi.load("NMR")))

    def stake_amount(self, round_id: int, model_id: bytes, staker: str) -> int:
        """The NMR wei `staker` has at stake on `model_id` in `round_id` now (0 if none or claimed)."""
        return self.stored_stake(round_id, model_id, staker).amount

    def stored_stake(self, round_id: int, model_id: bytes, staker: str) -> StoredStake:
        """What the contract stores of the stake (`getStake`: one call on :attr:`node`)."""
        amount, prefix = self._light[0].functions.getStake(round_id, model_id, to_checksum_address(staker)).call()
        return StoredStake(int(amount), bytes(prefix))

    def stake_and_balance(self, round_id: int, model_id: bytes, staker: str) -> tuple[int, int]:
        """(:meth:`stake_amount`, :meth:`nmr_balance` of `staker`), read at the same block in one
        request where the node speaks JSON-RPC (the service asks both for every upload)."""
        batch = getattr(self.node, "batch", None)
        if batch is None:
            return self.stake_amount(round_id, model_id, staker), self.nmr_balance(staker)
        who = to_checksum_address(staker)
        stake = self._light[0].functions.getStake(round_id, model_id, who)
        balance = self._light[1].functions.balanceOf(who)
        from nmrstake.chain.node import abi_params, decode_values

        found = batch([("eth_call", [{"to": call.contract.address, "data": "0x" + call.data.hex()}, "latest"])
                       for call in (stake, balance)])
        values: list[list[Any]] = []
        for call, raw in zip((stake, balance), found):
            if isinstance(raw, Exception):
                raise raw
            if not isinstance(raw, str) or len(raw) <= 2:
                raise ChainError(f"{call.item['name']} on {call.contract.address} returned nothing (no such contract?)")
            values.append(decode_values(abi_params(call.item, "outputs"), bytes.fromhex(raw[2:])))
        return int(values[0][0]), int(values[1][0])

    def nmr_balance(self, address: str) -> int:
        """The NMR wei `address` holds now."""
        return int(self._light[1].functions.balanceOf(to_checksum_address(address)).call())

    def chain_time(self) -> int:
        """The timestamp the next block will carry (the pending block's): what the contract will
        compare with a round's times if a transaction is sent now. A node that serves no pending
        block gives its latest block's time plus one second (the earliest the next can carry)."""
        batch = getattr(self.node, "batch", None)
        if batch is not None:  # a node over JSON-RPC: both blocks in one request
            pending, latest = (_block_time(found) for found in batch(
                [("eth_getBlockByNumber", ["pending", False]), ("eth_getBlockByNumber", ["latest", False])]))
        else:
            try:
                pending = self.node.block_timestamp("pending")
            except Exception:  # noqa: BLE001 - nodes refuse "pending" in several ways
                pending = None
            latest = self.node.block_timestamp("latest")
        if latest is None:
            raise ChainError("the node has no latest block")
        if pending is None:
            return latest + 1
        return max(pending, latest)

    def head(self) -> int:
        return int(self.provider.get_block("latest").number)

    def logs(self, event: str, search_topics: dict[str, Any] | None = None, *, start_block: int | None = None,
             stop_block: int | None = None) -> list[Any]:
        """The tournament's `event` logs (decoded), from its deployment block (or `start_block`)
        to the head (or `stop_block`), both included, in chain order."""
        from nmrstake.chain.contracts import event_logs

        return event_logs(getattr(self.tournament, event), self.start_block if start_block is None else start_block,
                          self.head() if stop_block is None else stop_block, search_topics)

    # ------------------------------------------------------------------ rounds

    def round_ids(self) -> list[int]:
        logs = self.logs("RoundOpened")
        return sorted({int(log.roundId) for log in logs})

    def round(self, round_id: int) -> RoundInfo:
        raw = self.tournament.getRound(round_id)
        state = RoundState(int(self.tournament.roundState(round_id)))
        if state is RoundState.NONE:
            raise UnknownRoundError(f"round {round_id} does not exist on chain {self.provider.chain_id}")
        return RoundInfo(
            **asdict(RoundTerms.from_contract(raw)),
            round_id=round_id,
            state=state,
            total_staked=int(raw.totalStaked),
            stake_count=int(raw.stakeCount),
            funded=int(raw.funded),
            total_payout=int(raw.totalPayout),
            total_burn=int(raw.totalBurn),
            claimed=int(raw.claimed),
            claimable=int(raw.claimable),
            posted_at=int(raw.postedAt),
            settled=bool(raw.settled),
            root=_b32(raw.root),
            results_hash=_b32(raw.resultsHash),
            challenge_period=self.challenge_period,
            grace_period=self.grace_period,
        )

    def rounds(self) -> list[RoundInfo]:
        return [self.round(rid) for rid in self.round_ids()]

    # ------------------------------------------------------------------ stakes

    def stake_keys(self, round_id: int, staker: str | None = None) -> list[tuple[bytes, str]]:
        """The distinct (modelId, staker) keys that staked in a round, in first-stake order."""
        topics: dict[str, Any] = {"roundId": round_id}
        if staker:
            topics["staker"] = to_checksum_address(staker)
        seen: dict[tuple[bytes, str], None] = {}
        for log in self.logs("Staked", topics):
            seen.setdefault((_b32(log.modelId), to_checksum_address(log.staker)), None)
        return list(seen)

    def logged_commitment(self, round_id: int, model_id: bytes, staker: str) -> bytes | None:
        """The key's last logged commitment (`Staked` or `CommitmentChanged`), None if it never staked."""
        topics = {"roundId": round_id, "modelId": _b32(model_id), "staker": to_checksum_address(staker)}
        head = self.head()
        logs = [*self.logs("Staked", topics, stop_block=head), *self.logs("CommitmentChanged", topics, stop_block=head)]
        if not logs:
            return None
        last = max(logs, key=lambda log: (int(log.block_number), int(log.log_index)))
        return _b32(last.commitment if last.event_name == "Staked" else last.newCommitment)

    def stake(self, round_id: int, model_id: bytes, staker: str) -> ChainStake:
        """The stake as it stands: its amount now (0 once claimed, exited or withdrawn) and its full
        commitment, the key's last logged one (checked against the 20 bytes the contract stores).
        Two log queries besides the call: to know only whether a stake commits to a file,
        :meth:`stored_stake` is one call."""
        stored, commitment = read_stake(lambda: self.stored_stake(round_id, model_id, staker),
                                        lambda: self.logged_commitment(round_id, model_id, staker),
                                        f"round {round_id} model {model_label(_b32(model_id))} staker {staker}")
        return ChainStake(round_id, model_label(_b32(model_id)), _b32(model_id), to_checksum_address(staker),
                          stored.amount, commitment)

    def stakes(self, round_id: int, staker: str | None = None) -> list[ChainStake]:
        return [self.stake(round_id, mid, who) for mid, who in self.stake_keys(round_id, staker)]

    def stakes_at_close(self, round_id: int) -> list[ChainStake]:
        """Every stake of a round as it stood at close, from its events alone (two log queries,
        not one call per stake): the last `Staked.newTotal` of each key and its latest commitment
        (`Staked` or `CommitmentChanged`). Unlike `stakes`, claims made since do not show."""
        topics = {"roundId": round_id}
        head = self.head()
        logs = [*self.logs("Staked", topics, stop_block=head), *self.logs("CommitmentChanged", topics, stop_block=head)]
        logs.sort(key=lambda log: (int(log.block_number), int(log.log_index)))
        amounts: dict[tuple[bytes, str], int] = {}
        commitments: dict[tuple[bytes, str], bytes] = {}
        for log in logs:
            key = (_b32(log.modelId), to_checksum_address(log.staker))
            if log.event_name == "Staked":
                amounts[key] = int(log.newTotal)
                commitments[key] = _b32(log.commitment)
            else:
                commitments[key] = _b32(log.newCommitment)
        return [ChainStake(round_id, model_label(mid), mid, who, amounts[(mid, who)], commitments[(mid, who)])
                for mid, who in amounts]

    def rejected_roots(self, round_id: int) -> set[bytes]:
        logs = self.logs("ResultRejected", {"roundId": round_id})
        return {_b32(log.root) for log in logs}

    def claimed_keys(self, round_id: int) -> set[tuple[bytes, str]]:
        logs = self.logs("Claimed", {"roundId": round_id})
        return {(_b32(log.modelId), to_checksum_address(log.staker)) for log in logs}
