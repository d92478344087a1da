"""The participant's Python API, for notebooks and scripts: one object bound to a tournament
service, a node and the participant's key (docs/python-api.md).

    from nmrstake.client import Participant, signer
    me = Participant("http://127.0.0.1:8000", "http://127.0.0.1:8545", signer.from_wallet("me"))
    me.stake("my_model", "1.5", predictions_frame)      # upload, then stake 1.5 NMR on it
    me.positions_frame()                                 # what is at stake, and what is claimable

It stands on eth-account, eth-abi and requests: the node is spoken to in JSON-RPC
(:class:`~nmrstake.chain.node.RpcNode`), so importing it loads neither ape, web3.py nor pandas (a
DataFrame given to `upload` is written by pandas, imported then; a connected `Web3` may be given
instead of a URL). Every action is the one
implementation in :mod:`nmrstake.client.staking`, which the `nmrstake` commands call through this
same object: the CLI is a thin layer over it. Results come back as typed records (each with
`to_json()`, the command's `--json` document) or DataFrames; errors are the package's own typed
errors (`nmrstake.errors`), the same the CLI prints in one line.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, cast

from nmrstake.amounts import parse_nmr
from nmrstake.client import staking
from nmrstake.client.chain import Chain
from nmrstake.client.positions import position_note
from nmrstake.client.results import Results
from nmrstake.client.staking import ClaimJson, Delivery, NotClaimableJson, PositionJson, Say, StakeJson
from nmrstake.deploy import Deployment
from nmrstake.errors import ChainError, ConfigError
from nmrstake.hashing import bytes32_from_hex, keccak_file
from nmrstake.jsontypes import json_int
from nmrstake.signing import DeliveryReceipt
from nmrstake.tournament import RoundInfo, RoundState

if TYPE_CHECKING:
    import pandas as pd
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

    from nmrstake.chain.node import Node
    from nmrstake.client.disputes import DisputeFiled
    from nmrstake.client.faucet import FaucetGrant
    from nmrstake.client.http import ServiceClient
    from nmrstake.client.strategy import Strategies
    from nmrstake.intake import UploadAnswer
    from nmrstake.receipts import ReceiptBook
    from nmrstake.verify import VerifyReport
    from nmrstake.wallet import KeyOpening

def _quiet(_: str) -> None:
    pass


def _int_or_none(value: object) -> int | None:
    return None if value is None else json_int(value)


class BalancesJson(TypedDict):
    """:class:`Balances` as `nmrstake balance --json` prints them (wei, decimal strings)."""

    address: str
    nmr: str
    ether: str
    allowance: str
    tournament: str


@dataclass(frozen=True)
class Balances:
    """An address's NMR and ether (wei), and its NMR allowance for the tournament."""

    address: str
    nmr: int
    ether: int
    allowance: int
    tournament: str = ""

    def to_json(self) -> BalancesJson:
        return {"address": self.address, "nmr": str(self.nmr), "ether": str(self.ether),
                "allowance": str(self.allowance), "tournament": self.tournament}


@dataclass(frozen=True)
class Upload:
    """An upload the service acknowledged, with its receipt checked (and kept on this machine)."""

    round_id: int
    model: str
    commitment: bytes
    received_at: int
    receipt: DeliveryReceipt
    receipt_path: str | None = None

    @classmethod
    def from_answer(cls, answer: UploadAnswer) -> Upload:
        receipt = DeliveryReceipt.from_json(answer["receipt"])
        return cls(receipt.round_id, receipt.model, receipt.commitment, int(answer["received_at"]), receipt,
                   answer.get("receipt_path"))


@dataclass(frozen=True)
class StakeResult:
    """A stake sent (or only its predictions replaced): what is staked now, and the transaction
    (`txn` None: nothing needed sending)."""

    round_id: int
    model: str
    staker: str
    added: int
    stake: int
    commitment: bytes
    upload: Upload | None
    txn: str | None
    gas_used: int
    # A record made by hand, not by from_json, has an empty document.
    document: StakeJson = field(repr=False, compare=False, default_factory=lambda: cast("StakeJson", {}))

    @classmethod
    def from_json(cls, data: StakeJson) -> StakeResult:
        upload = data.get("upload")
        return cls(int(data["round"]), str(data["model"]), str(data["staker"]), int(data["amount"]), int(data["stake"]),
                   bytes32_from_hex(data["commitment"]), Upload.from_answer(upload) if upload else None,
                   data.get("txn"), int(data.get("gas_used") or 0), data)

    def to_json(self) -> StakeJson:
        return self.document


@dataclass(frozen=True)
class Position:
    """One stake of the participant's (or of the strategy they own) in one round: the stake, the
    round's state, whether the service holds the committed file (open rounds), the published
    result once posted (`valid`, `reason`, `score`, `payout`, `burn`, wei), and what can be
    claimed now (`claimable`, wei) or, in a posted round's challenge period, what is expected
    (`expected`) once final (`final_at`)."""

    round_id: int
    model: str
    staker: str
    through_strategy: bool
    state: str
    stake: int
    commitment: str
    claim: str
    claimable: int
    expected: int | None
    final_at: int | None
    upload: str | None
    uploaded_at: int | None
    valid: bool | None
    reason: str | None
    score: float | None
    payout: int | None
    burn: int | None
    # A record made by hand, not by from_json, has an empty document.
    document: PositionJson = field(repr=False, compare=False, default_factory=lambda: cast("PositionJson", {}))

    @classmethod
    def from_json(cls, data: PositionJson) -> Position:
        score = data.get("score")
        return cls(
            round_id=int(data["round"]), model=str(data["model"]), staker=str(data.get("staker", "")),
            through_strategy=bool(data.get("through_strategy")), state=str(data["state"]), stake=int(data["stake"]),
            commitment=str(data.get("commitment", "")), claim=str(data.get("claim", "")),
            claimable=int(data.get("claimable") or 0), expected=_int_or_none(data.get("expected")),
            final_at=_int_or_none(data.get("final_at")), upload=data.get("upload"),
            uploaded_at=_int_or_none(data.get("uploaded_at")), valid=data.get("valid"), reason=data.get("reason"),
            score=None if score is None else float(score), payout=_int_or_none(data.get("payout")),
            burn=_int_or_none(data.get("burn")), document=data)

    @property
    def note(self) -> str:
        """The `upload / result` cell: the upload held, valid, or why invalid."""
        return position_note(self.document)

    def to_json(self) -> PositionJson:
        return self.document


@dataclass(frozen=True)
class Claimed:
    """What one claim (or, in an expired round, an emergency withdrawal) paid, in wei."""

    round_id: int
    model: str
    stake: int
    burn: int
    payout: int
    amount: int
    kind: str


@dataclass(frozen=True)
class ClaimResult:
    """Every claim sent in one transaction (`txn` None: nothing was claimable), and why each
    remaining stake cannot be claimed now."""

    claims: list[Claimed]
    txn: str | None
    gas_used: int
    not_claimable: list[NotClaimableJson]
    # A record made by hand, not by from_json, has an empty document.
    document: ClaimJson = field(repr=False, compare=False, default_factory=lambda: cast("ClaimJson", {}))

    @classmethod
    def from_json(cls, data: ClaimJson) -> ClaimResult:
        claims = [Claimed(int(c["round"]), str(c["model"]), int(c["stake"]), int(c["burn"]), int(c["payout"]),
                          int(c["amount"]), str(c["kind"])) for c in data["claims"]]
        return cls(claims, data.get("txn"), int(data.get("gas_used") or 0), list(data.get("not_claimable", [])), data)

    def to_json(self) -> ClaimJson:
        return self.document


class Participant:
    """A participant of one tournament.

    `service`: the tournament service (its URL or a ServiceClient; None only on the operator's
    machine, with `deployment`, `delivery` and `results` given). `node`: a node's RPC URL, a
    :class:`~nmrstake.chain.node.Node`, or a connected `Web3`. `account`: the participant's key (:mod:`nmrstake.client.signer`); without
    one, only the reads work. `deployment`: the deployments record to act on; by default the one
    the service serves, pinned in `<home>/deployments` the first time (a service that later serves
    another tournament is refused, never followed). The code at its addresses is checked against
    the code this release carries."""

    def __init__(self, service: str | ServiceClient | None, node: str | Node | Web3, account: LocalAccount | KeyOpening | None = None, *,
                 deployment: Deployment | None = None, delivery: Delivery | None = None,
                 results: Results | None = None, home: str | os.PathLike[str] | None = None) -> None:
        from nmrstake.receipts import ReceiptBook

        if isinstance(service, str):
            from nmrstake.client.http import ServiceClient

            service = ServiceClient(service)
        self.service: ServiceClient | None = service
        self._account = account
        self.address: str | None = str(account.address) if account is not None else None
        if deployment is None:
            if service is None:
                raise ConfigError("no tournament service and no deployment: give the service's URL")
            from nmrstake.client.session import pinned_deployment

            deployment = pinned_deployment(service, home=home)
        self.chain = Chain(node, deployment)
        if service is not None:
            service.check_deployment(self.chain.domain)
            from nmrstake.client.results import ServiceResults

            results = results or ServiceResults(service)
            delivery = delivery or service
        self._delivery = delivery
        self._results = results
        self.receipts: ReceiptBook = ReceiptBook(self.chain.domain, Path(home) / "receipts" if home else None)

    @property
    def delivery(self) -> Delivery | None:
        """Where uploads go: the service, or (the operator's machine) its store; None: nowhere."""
        return self._delivery

    # ------------------------------------------------------------------ who

    @property
    def account(self) -> LocalAccount | None:
        """The key, or None (reads only). A wallet still being decrypted
        (:meth:`nmrstake.wallet.Keystore.load_aside`) is waited for here, on first use: its
        address is known at once, and everything before the first signature overlaps its scrypt."""
        from nmrstake.wallet import KeyOpening

        if isinstance(self._account, KeyOpening):
            self._account = self._account.result()
        return self._account

    def _key(self) -> LocalAccount:
        account = self.account
        if account is None:
            raise ConfigError("this Participant holds no key: give account= (nmrstake.client.signer) to act")
        return account

    def _results_here(self) -> Results:
        if self._results is None:
            raise ConfigError("no published results to read: give the tournament service's URL")
        return self._results

    # ------------------------------------------------------------------ reads

    def rounds(self) -> list[RoundInfo]:
        """Every round of the tournament, oldest first."""
        return self.chain.rounds()

    def rounds_frame(self) -> pd.DataFrame:
        """:meth:`rounds` as a DataFrame, one row a round (amounts in wei, times in Unix seconds)."""
        import pandas as pd

        return pd.DataFrame([info.to_json() for info in self.rounds()])

    def round(self, round_id: int | None = None) -> RoundInfo:
        """One round; by default the round open for staking now."""
        if round_id is not None:
            return self.chain.round(round_id)
        now = self.chain.chain_time()
        open_now = [r for r in self.chain.rounds() if r.state is RoundState.OPEN and r.close_time > now]
        if not open_now:
            raise ChainError("no round is open for staking now")
        return open_now[-1]

    def balances(self, address: str | None = None) -> Balances:
        """NMR, ether and the tournament's NMR allowance of `address` (default: the participant)."""
        who = address or self.address
        if who is None:
            raise ConfigError("balances of whom? give an address, or a key to the Participant")
        chain = self.chain
        return Balances(who, chain.nmr_balance(who), chain.ether_balance(who), chain.allowance(who),
                        str(chain.tournament.address))

    def strategy_address(self, owner: str | None = None) -> str | None:
        """The allocation strategy `owner` (default: the participant) owns, or None (also on a
        deployment without strategies)."""
        who = owner or self.address
        if who is None or "StrategyFactory" not in self.chain.deployment.contracts:
            return None
        return self.strategy.strategy_of(who)

    @cached_property
    def strategy(self) -> Strategies:
        """The participant's allocation strategy: reads and the owner's actions
        (:class:`nmrstake.client.strategy.Strategies`), made once: its factory, implementation and
        invoker checks are a handful of RPC calls that `status` would otherwise make twice."""
        from nmrstake.client.strategy import Strategies

        return Strategies(self.chain, self.account)

    def positions(self, address: str | None = None) -> list[Position]:
        """Every stake of `address` (default: the participant), and of the strategy it owns, with
        its result and what can be claimed now or from when (:class:`Position`)."""
        who = address or self.address
        if who is None:
            raise ConfigError("positions of whom? give an address, or a key to the Participant")
        found = staking.my_positions(self.chain, self._results_here(), who, strategy=self.strategy_address(who))
        return [Position.from_json(p) for p in found]

    def positions_frame(self, address: str | None = None) -> pd.DataFrame:
        """:meth:`positions` as a DataFrame (one row a stake; amounts in wei)."""
        import pandas as pd

        return pd.DataFrame([p.to_json() for p in self.positions(address)])

    def claimable(self) -> list[Position]:
        """The positions with something to claim now (`claimable` > 0)."""
        return [p for p in self.positions() if p.claimable > 0]

    def faucet(self) -> FaucetGrant:
        """Test NMR and ether for gas for the participant's own address, from the service's faucet
        (local and test deployments whose operator turned it on; once a day per address). A
        refusal is a RequestError: 404 `faucet-off`, 429 `faucet-limit` (its message says when to
        come back)."""
        from nmrstake.client.faucet import ask_faucet

        if self.service is None:
            raise ConfigError("the faucet is the tournament service's: give its URL")
        return ask_faucet(self.service, self._key().address)

    # ------------------------------------------------------------------ uploads and stakes

    def upload(self, model: str, predictions: str | os.PathLike[str] | pd.DataFrame, round_id: int | None = None) -> Upload:
        """Upload predictions (a CSV or Parquet file, or a DataFrame with `id` and one prediction
        column) for `model` in a round (default: the open one), signed with the participant's
        key; the service's receipt is checked and kept before it is returned. Nothing is staked."""
        info = self.round(round_id)
        delivery = self._delivery
        if delivery is None:
            raise ConfigError("nowhere to upload: give the tournament service's URL")
        with _as_file(predictions) as path:
            answer = staking.deliver(delivery, self.chain.domain, self._key(), info.round_id, model, path,
                                     keccak_file(path), receipts=self.receipts)
        return Upload.from_answer(answer)

    def stake(self, model: str, amount: str | Decimal | int, predictions: str | os.PathLike[str] | pd.DataFrame | None = None,
              round_id: int | None = None, *, say: Say = _quiet) -> StakeResult:
        """Stake `amount` more NMR (a decimal string or Decimal, or an int of wei) on `model`: with
        `predictions`, they are checked with the oracle's own checks, uploaded, and the stake
        commits to them (with an EIP-2612 permit: one transaction); without, the stake keeps the
        file it committed to (`add`). `amount` 0 with predictions replaces the file."""
        wei = amount if isinstance(amount, int) and not isinstance(amount, bool) else parse_nmr(str(amount), argument="amount")
        rid = round_id if round_id is not None else self.round().round_id
        if predictions is None:
            done = staking.stake_predictions(self.chain, self._key(), None, rid, model, wei, None, say=say)
            return StakeResult.from_json(done)
        with _as_file(predictions) as path:
            done = staking.stake_predictions(self.chain, self._key(), self._delivery, rid, model, wei, path,
                                             receipts=self.receipts, say=say)
        return StakeResult.from_json(done)

    def add(self, model: str, amount: str | Decimal | int, round_id: int | None = None) -> StakeResult:
        """Stake more on a model already staked in the round, keeping its predictions."""
        return self.stake(model, amount, None, round_id)

    def replace(self, model: str, predictions: str | os.PathLike[str] | pd.DataFrame,
                round_id: int | None = None) -> StakeResult:
        """Replace the predictions a stake commits to (no NMR moves)."""
        return self.stake(model, 0, predictions, round_id)

    # ------------------------------------------------------------------ claims and checks

    def claim(self, round_id: int | None = None) -> ClaimResult:
        """Claim every stake of the participant's that can be claimed now (of one round, or of
        all): stake - burn + payout of a final round, from the published results' proof, checked
        against the on-chain root first; all in one transaction. In an expired round (never
        posted), the stakes are withdrawn whole instead."""
        done = staking.claim_all(self.chain, self._key(), self._results_here(),
                                 None if round_id is None else [round_id])
        return ClaimResult.from_json(done)

    def verify(self, round_id: int, folder: str | os.PathLike[str] | None = None) -> VerifyReport:
        """Download a round's published files from the service (each checked against the on-chain
        resultsHash and the manifest as it arrives) into `folder` (default: a temporary one),
        recompute every score, payout and the Merkle tree, compare with the chain, and check the
        delivery receipts kept on this machine. `report.ok`, `report.differences`."""
        from nmrstake.verify import check_receipts, download_round, verify_round

        if self.service is None:
            raise ConfigError("verify downloads from the tournament service: give its URL")
        info = self.chain.round(round_id)
        if not info.posted_at:
            raise ChainError(f"round {round_id} has no result posted on chain: nothing to verify yet")
        with tempfile.TemporaryDirectory(prefix="nmrstake-verify-") as tmp:
            target = Path(folder) if folder is not None else Path(tmp) / f"round-{round_id}"
            if target.exists() and any(target.iterdir()):
                raise ConfigError(f"folder {target}: exists and is not empty; give a new one")
            fetched = download_round(self.service, round_id, target, info.results_hash)
            report = verify_round(self.chain, round_id, target)
            report.checks[:0] = fetched
            check_receipts(report, self.chain, self.receipts.for_round(round_id))
        return report

    def dispute(self, round_id: int, evidence: str, *, say: Say = _quiet) -> DisputeFiled:
        """Dispute the result posted for `round_id` at the deployment's dispute desk, depositing its
        bond, with `evidence` (e.g. the first difference :meth:`verify` found): the result is
        rejected at once and never becomes final; the bond comes back with a reward if another
        result is posted or the arbiter agrees (docs/disputes.md). Checked before anything is sent."""
        from nmrstake.client.disputes import file_dispute

        return file_dispute(self.chain, self._key(), round_id, evidence, say=say)

    def __repr__(self) -> str:
        where = self.service.url if self.service is not None else "this machine's files"
        return f"Participant({self.address or 'read-only'} on {where}, tournament {self.chain.tournament.address})"


@contextmanager
def _as_file(predictions: str | os.PathLike[str] | pd.DataFrame) -> Iterator[Path]:
    """A path for `predictions`: the path given, or a DataFrame written to a temporary CSV
    (`id` and one prediction column; removed afterwards)."""
    from nmrstake.errors import InputError

    if isinstance(predictions, (str, os.PathLike)):
        yield Path(predictions)
        return
    frame = predictions
    if "id" not in frame.columns:
        frame = frame.reset_index()
    if list(frame.columns)[0] != "id" or len(frame.columns) != 2:
        raise InputError(f"predictions: a DataFrame with an `id` column (or index) and one prediction column, "
                         f"got columns {list(frame.columns)}")
    with tempfile.TemporaryDirectory(prefix="nmrstake-upload-") as folder:
        path = Path(folder) / f"predictions-{int(time.time())}.csv"
        frame.to_csv(path, index=False)
        yield path


__all__ = ["Balances", "BalancesJson", "ClaimResult", "Claimed", "Participant", "Position", "StakeResult", "Upload"]
