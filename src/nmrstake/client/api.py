"""The participant's Python API, for notebooks and scripts: one object bound to a tournament
service, a node and the participant's key (docs/python-api.md).

    from nmrstake.client import Participant, signer
    me = Participant("http://127.0.0.1:8000", "http://127.0.0.1:8545", signer.from_wallet("me"))
    me.stake("my_model", "1.5", predictions_frame)      # upload, then stake 1.5 NMR on it
    me.positions()                                       # what is at stake, and what is claimable

It stands on web3.py, eth-account and requests: importing it loads neither ape nor pandas (a
DataFrame given to `upload` is written by pandas, imported then). Errors are the package's own
typed errors (`nmrstake.errors`), the same the CLI prints in one line.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount

from nmrstake.amounts import parse_nmr
from nmrstake.client.chain import Chain, Sent
from nmrstake.deploy import Deployment, deployment_filename
from nmrstake.errors import ChainError, InputError
from nmrstake.hashing import keccak_file
from nmrstake.models import label_model_id, model_id
from nmrstake.signing import DeliveryReceipt
from nmrstake.tournament import RoundInfo, RoundState

if TYPE_CHECKING:
    import pandas as pd

    from nmrstake.client.faucet import FaucetGrant
    from nmrstake.client.http import ServiceClient

#: How long an EIP-2612 permit signed for a stake stays valid.
PERMIT_LIFETIME = 3600


@dataclass(frozen=True)
class Balances:
    """An address's NMR and ether (wei), and its NMR allowance for the tournament."""

    address: str
    nmr: int
    ether: int
    allowance: int


@dataclass(frozen=True)
class Upload:
    """An upload the service acknowledged, with its receipt checked."""

    round_id: int
    model: str
    commitment: bytes
    received_at: int
    receipt: DeliveryReceipt


@dataclass(frozen=True)
class StakeResult:
    """A stake sent (or only its predictions replaced): what is staked now, and the transaction."""

    round_id: int
    model: str
    stake: int
    commitment: bytes
    upload: Upload | None
    txn: Sent | None


@dataclass(frozen=True)
class Claimed:
    round_id: int
    model: str
    amount: int
    txn: Sent


class Participant:
    """A participant of one tournament: `service` is the tournament service's URL, `rpc` a node's
    URL, `account` the participant's key (see :mod:`nmrstake.client.signer`)."""

    def __init__(self, service: str, rpc: str, account: LocalAccount, *, home: str | os.PathLike[str] | None = None) -> None:
        from nmrstake.client.http import ServiceClient

        self.service: ServiceClient = ServiceClient(service)
        self.account = account
        self.address = str(account.address)
        self.chain = Chain(rpc, self._deployment(home))
        self.service.check_deployment(self.chain.domain)

    def _deployment(self, home: str | os.PathLike[str] | None) -> Deployment:
        """The deployment the service serves, pinned in `<home>/deployments` the first time (the
        CLI's pin): a service that later serves another tournament is refused, never followed.
        Chain() then checks the code at each address against the code this release carries."""
        from nmrstake.fsutil import write_atomic
        from nmrstake.wallet import nmrstake_home

        served = self.service.deployment()
        pin = Path(home or nmrstake_home()) / "deployments" / deployment_filename(served.ecosystem, served.network,
                                                                                 served.chain_id)
        if pin.is_file():
            pinned = Deployment.from_json(pin.read_text(), str(pin))
            if pinned.address("Tournament").lower() != served.address("Tournament").lower():
                raise ChainError(f"the service serves tournament {served.address('Tournament')}, but {pin} pins "
                                 f"{pinned.address('Tournament')}: refusing to follow it (remove the pin to trust it)")
            return pinned
        pin.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(pin, served.to_json())
        return served

    # ------------------------------------------------------------------ reads

    def rounds(self) -> list[RoundInfo]:
        """Every round of the tournament, oldest first."""
        return self.chain.rounds()

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
        who = address or self.address
        return Balances(who, self.chain.nmr_balance(who), self.chain.ether_balance(who), self.chain.allowance(who))

    def positions(self) -> list[dict[str, Any]]:
        """Every stake of the participant's, round by round, as the service reads the chain and
        the published results: the stake at close, the round's state, scores, payout and burn once
        posted, and what can be claimed now (`claimable`, wei as a string)."""
        data = self.service.get(f"/v1/stakers/{self.address}")
        return list(data.get("stakes", []))

    def faucet(self) -> FaucetGrant:
        """Test NMR and ether for gas for the participant's own address, from the service's faucet
        (local and test deployments whose operator turned it on; once a day per address). A
        refusal is a RequestError: 404 `faucet-off`, 429 `faucet-limit` (its message says when to
        come back)."""
        from nmrstake.client.faucet import ask_faucet

        return ask_faucet(self.service, self.address)

    # ------------------------------------------------------------------ uploads and stakes

    def upload(self, model: str, predictions: str | os.PathLike[str] | pd.DataFrame, round_id: int | None = None) -> Upload:
        """Upload predictions (a CSV or Parquet file, or a DataFrame with `id` and one prediction
        column) for `model` in a round (default: the open one), signed with the participant's
        key; the service's receipt is checked before it is returned."""
        info = self.round(round_id)
        with _as_file(predictions) as path:
            return self._upload(info.round_id, model, path, keccak_file(path))

    def _upload(self, round_id: int, model: str, path: Path, commitment: bytes) -> Upload:
        from nmrstake.participant import deliver

        domain = self.chain.domain
        self.service.check_deployment(domain)
        answer = deliver(self.service, domain, self.account, round_id, model, path, commitment)
        receipt = DeliveryReceipt.from_json(answer["receipt"])
        return Upload(round_id, model, commitment, int(answer["received_at"]), receipt)

    def stake(self, model: str, amount: str | Decimal | int, predictions: str | os.PathLike[str] | pd.DataFrame | None = None,
              round_id: int | None = None) -> StakeResult:
        """Stake `amount` more NMR (a decimal string or Decimal, or an int of wei) on `model`: with
        `predictions`, they are uploaded first and the stake commits to them; without, the stake
        keeps the file it committed to (`add`). `amount` 0 with predictions replaces the file."""
        from nmrstake.scoring import load_predictions

        wei = amount if isinstance(amount, int) and not isinstance(amount, bool) else parse_nmr(str(amount), argument="amount")
        info = self.round(round_id)
        mid = model_id(model, argument="model")
        current = self.chain.stake(info.round_id, mid, self.address)
        if predictions is None:
            if current.amount == 0:
                raise InputError(f"model {model}: no stake in round {info.round_id} yet; give predictions to stake on")
            return self._stake(info, model, wei, current.commitment, None)
        with _as_file(predictions) as path:
            load_predictions(path)  # the oracle's own checks: a clear error naming the file
            commitment = keccak_file(path)
            upload = self._upload(info.round_id, model, path, commitment)
        if wei == 0 and current.commitment == commitment:
            return StakeResult(info.round_id, model, current.amount, commitment, upload, None)
        return self._stake(info, model, wei, commitment, upload)

    def add(self, model: str, amount: str | Decimal | int, round_id: int | None = None) -> StakeResult:
        """Stake more on a model already staked in the round, keeping its predictions."""
        return self.stake(model, amount, None, round_id)

    def replace(self, model: str, predictions: str | os.PathLike[str] | pd.DataFrame,
                round_id: int | None = None) -> StakeResult:
        """Replace the predictions a stake commits to (no NMR moves)."""
        return self.stake(model, 0, predictions, round_id)

    def _stake(self, info: RoundInfo, model: str, wei: int, commitment: bytes, upload: Upload | None) -> StakeResult:
        from nmrstake.permit import PERMIT_TYPES

        chain, rid, mid = self.chain, info.round_id, model_id(model)
        functions = chain.tournament.functions
        if wei == 0:
            sent = chain.send(functions.stake(rid, mid, 0, commitment), self.account, what=f"recommitting {model}")
        elif chain.allowance(self.address) >= wei:
            sent = chain.send(functions.stake(rid, mid, wei, commitment), self.account, what=f"staking on {model}")
        else:
            from eth_account.messages import encode_typed_data

            token = chain.token.functions
            _, name, version, chain_id, contract, _, _ = token.eip712Domain().call()
            deadline = chain.chain_time() + PERMIT_LIFETIME
            message = {"owner": self.address, "spender": chain.tournament.address, "value": wei,
                       "nonce": int(token.nonces(self.address).call()), "deadline": deadline}
            signed = self.account.sign_message(encode_typed_data(
                domain_data={"name": name, "version": version, "chainId": chain_id, "verifyingContract": contract},
                message_types=PERMIT_TYPES, message_data=message))
            sent = chain.send(functions.stakeWithPermit(rid, mid, wei, commitment, deadline, signed.v,
                                                        int(signed.r).to_bytes(32, "big"), int(signed.s).to_bytes(32, "big")),
                              self.account, what=f"staking on {model}")
        after = chain.stake(rid, mid, self.address)
        return StakeResult(rid, model, after.amount, after.commitment, upload, sent)

    # ------------------------------------------------------------------ claims

    def claim(self, round_id: int | None = None) -> list[Claimed]:
        """Claim every stake of the participant's that can be claimed now (of one round, or of
        all): stake - burn + payout of a final round, from the published results' proof."""
        claimed = []
        for position in self.positions():
            if round_id is not None and int(position["round"]) != round_id:
                continue
            if int(position.get("claimable") or 0) == 0 or position.get("state") != RoundState.FINAL.label:
                continue
            rid, model = int(position["round"]), str(position["model"])
            proof = self.service.proof(rid, model, self.address)
            if proof is None:
                continue
            sent = self.chain.send(
                self.chain.tournament.functions.claim(rid, label_model_id(model), self.address, int(proof["payout"]),
                                                      int(proof["burn"]), [bytes.fromhex(p[2:]) for p in proof["proof"]]),
                self.account, what=f"claiming {model} of round {rid}")
            claimed.append(Claimed(rid, model, int(position["claimable"]), sent))
        return claimed

    def __repr__(self) -> str:
        return f"Participant({self.address} on {self.service.url}, tournament {self.chain.tournament.address})"


@contextmanager
def _as_file(predictions: str | os.PathLike[str] | pd.DataFrame) -> Iterator[Path]:
    """A path for `predictions`: the path given, or a DataFrame written to a temporary CSV
    (`id` and one prediction column; removed afterwards)."""
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


__all__ = ["Balances", "Claimed", "Participant", "StakeResult", "Upload"]
