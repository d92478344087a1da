"""A participant's actions on the tournament: deliver predictions, stake on them, see positions,
claim. They run on the node's JSON-RPC and eth-account alone (:class:`~nmrstake.client.chain.Chain`,
a key as an eth-account `LocalAccount`): the Python API (:mod:`nmrstake.client.api`) and the participant's
commands are both built on these functions, and the operator's tools and the tests reach them
through :mod:`nmrstake.participant`.

Every check that can fail is made before anything is sent or written. Staking is two steps, in
this order: the predictions are uploaded to the tournament service (which keeps the file private
until the round's results are published and returns a signed delivery receipt, kept on this
machine), then the stake commits to the file's keccak-256 on chain. A failure between the two
leaves an upload without a stake: harmless, and replaced by the next upload.

Deliveries go over HTTP to the service (:class:`~nmrstake.client.http.ServiceClient`) or, on the
operator's own machine, straight into its submission store through the very same checks (the
service's `LocalDelivery`): both are a :class:`Delivery`. Results come from the service or the
operator's results folders: both are a :class:`~nmrstake.client.results.Results`. Which one is
chosen once, by whoever builds the session.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, Protocol, TypedDict

from nmrstake.amounts import format_nmr
from nmrstake.client.chain import Chain
from nmrstake.client.positions import UploadStateJson, upload_state, utc
from nmrstake.client.results import Results
from nmrstake.errors import ChainError, ConfigError, InputError, NmrstakeError, RequestError
from nmrstake.hashing import bytes32_from_hex, keccak_file, to_hex
from nmrstake.models import model_id, model_label
from nmrstake.signing import DeliveryReceipt, Domain, UploadAuthorisation
from nmrstake.tournament import RoundState, commitment_prefix

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from nmrstake.intake import UploadAnswer
    from nmrstake.receipts import ReceiptBook

PERMIT_LIFETIME = 3600
Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# ---------------------------------------------------------------------------------------- documents
# What the actions return: the documents the participant's commands print with --json, and the
# Python API's records (:mod:`nmrstake.client.api`) are read from. Amounts are wei as decimal strings.


class StakeJson(TypedDict):
    """A stake sent (or only its predictions replaced): `amount` added, `stake` the total now,
    `upload` the delivery (None: nothing uploaded), `txn` None when nothing needed sending."""

    round: int
    model: str
    staker: str
    amount: str
    commitment: str
    upload: UploadAnswer | None  # with `receipt_path` where the receipt is kept
    txn: str | None
    gas_used: int
    stake: str


class PositionJson(TypedDict):
    """One stake and where it stands (:func:`my_positions`); `corr` and `mmc` once the round's
    results are published."""

    round: int
    model: str
    staker: str
    through_strategy: bool
    state: str
    stake: str
    commitment: str
    claim: str
    claimable: str
    expected: str | None
    final_at: int | None
    final_at_iso: str | None
    valid: bool | None
    reason: str | None
    score: str | None
    payout: str | None
    burn: str | None
    upload: str | None
    uploaded_at: int | None
    uploaded_at_iso: str | None
    corr: NotRequired[float | None]
    mmc: NotRequired[float | None]


class ClaimedJson(TypedDict):
    """One claim (`kind` "claim") or, in an expired round, emergency withdrawal (`kind`
    "emergency_withdrawal"), and what it paid: `amount` = `stake` - `burn` + `payout`."""

    round: int
    model: str
    stake: str
    burn: str
    payout: str
    amount: str
    kind: str


class NotClaimableJson(TypedDict):
    """A stake (or a whole round's stakes, without `model`) that cannot be claimed now, and why."""

    round: int
    model: NotRequired[str]
    why: str


class ClaimJson(TypedDict):
    """The claims of one transaction (`txn` None: nothing was claimable) and the stakes left."""

    claims: list[ClaimedJson]
    txn: str | None
    gas_used: int
    not_claimable: list[NotClaimableJson]


# ---------------------------------------------------------------------------------------- delivery


class Delivery(Protocol):
    """Where predictions go: the service over HTTP, or its store on this machine."""

    @property
    def receipt_signer(self) -> str: ...

    def upload(self, *, round_id: int, model: str, staker: str, nonce: int, expiry: int, signature: str,
               path: Path, file_hash: bytes) -> UploadAnswer: ...


def deliver(delivery: Delivery, domain: Domain, account: LocalAccount, round_id: int, model: str, predictions: Path,
            commitment: bytes, *, receipts: ReceiptBook | None = None, staker: str | None = None) -> UploadAnswer:
    """Sign an upload of `predictions` with the staker's key, upload it and check the
    receipt: the service's signature, and that it acknowledges this very file for this stake key.
    The receipt is kept in `receipts` (a ReceiptBook) if given. `staker`: the stake's staker when
    it is not the account (the account's allocation strategy, whose uploads its owner signs)."""
    staker = staker or str(account.address)
    auth = UploadAuthorisation.new(staker, round_id, model, commitment, now=int(time.time()))
    try:
        answer = delivery.upload(round_id=round_id, model=model, staker=staker, nonce=auth.nonce,
                                 expiry=auth.expiry, signature=auth.sign(domain, account),
                                 path=predictions, file_hash=commitment)
    except RequestError as exc:  # name the participant's own file, not the service's view of it
        if exc.field != "file":
            raise
        raise RequestError(exc.status, exc.kind, f"--predictions {predictions}: {exc.message}", field=exc.field) from None
    if not isinstance(answer, dict) or not isinstance(answer.get("receipt"), dict):
        raise ConfigError("the service acknowledged the upload without a receipt; nothing was staked")
    receipt = DeliveryReceipt.from_json(answer["receipt"])
    if (receipt.round_id, receipt.model, receipt.staker, receipt.commitment) != (round_id, model, staker, commitment):
        raise ChainError(f"the service's receipt is for round {receipt.round_id} model {receipt.model} staker "
                         f"{receipt.staker} file {to_hex(receipt.commitment)}, not for this upload; nothing was staked")
    if receipts is not None:
        answer["receipt_path"] = str(receipts.keep(receipt, delivery.receipt_signer))
    elif receipt.signer(domain) != delivery.receipt_signer:
        raise ChainError("the receipt is not signed by the service's receipt signer; nothing was staked")
    return answer


def stake_predictions(
    chain: Chain, account: LocalAccount, delivery: Delivery | None, round_id: int, model: str, wei: int,
    predictions: Path | None, *, receipts: ReceiptBook | None = None, say: Say = _quiet,
) -> StakeJson:
    """Validate and commit to a predictions file, deliver it, and stake `wei` more on it
    (0: only replace the predictions) in one transaction, from `account` (which signs the upload
    and the permit too). `delivery=None` stakes without delivering (a participant whose file
    never arrives: the stake is then invalid). `predictions=None` adds `wei` to an existing
    stake, which keeps the file it committed to (nothing is uploaded).

    The file is checked with the oracle's own checks (:func:`nmrstake.scoring.load_predictions`)
    before anything is staked on it: by the delivery, which runs them on every upload and refuses
    a bad file with an error naming it, when the upload comes first; here, before the stake, when
    nothing is delivered or the stake must come first. (Checking here too would only repeat the
    service's check, and cost pandas' import: a third of the command's time.)"""

    def check_here() -> None:
        from nmrstake.scoring import load_predictions

        assert predictions is not None
        rows = len(load_predictions(predictions))  # the oracle's checks: a clear error naming the file
        say(f"checked {predictions}: {rows} predictions")

    if predictions is not None and delivery is None:
        check_here()
    info = chain.round(round_id)
    now = chain.chain_time()
    if now < info.open_time:
        raise ChainError(f"round {round_id} opens at {utc(info.open_time)} (chain time {utc(now)}); nothing was sent")
    if now >= info.close_time:
        raise ChainError(f"round {round_id} closed at {utc(info.close_time)} (chain time {utc(now)}): staking is "
                         "over; nothing was sent")
    if info.state is not RoundState.OPEN:
        raise ChainError(f"round {round_id} is {info.state.label}: staking is not open; nothing was sent")
    mid = model_id(model, argument="--model")
    current = chain.stake(round_id, mid, account.address)
    if wei == 0 and current.amount == 0:
        raise InputError("--amount 0 only replaces the predictions of an existing stake; you have none on "
                         f"{model} in round {round_id}")
    if predictions is None and (current.amount == 0 or wei == 0):
        raise InputError(f"--predictions: {model} has no stake in round {round_id} to add to; give the predictions "
                         "to stake on" if current.amount == 0 else "--amount: adding 0 NMR changes nothing")
    total = current.amount + wei
    if total < info.min_stake:
        raise InputError(f"--amount: the stake would be {format_nmr(total)} NMR, below the round's minimum {format_nmr(info.min_stake)}")
    if total > info.stake_cap:
        raise InputError(f"--amount: the stake would be {format_nmr(total)} NMR, above the round's cap {format_nmr(info.stake_cap)}")
    balance = chain.nmr_balance(account.address)
    if balance < wei:
        raise ChainError(f"insufficient balance: {account.address} holds {format_nmr(balance)} NMR, the stake needs {format_nmr(wei)}")
    if predictions is None:
        commitment = current.commitment
        delivery = None
    else:
        commitment = keccak_file(predictions)
        say(f"{predictions}: keccak-256 {to_hex(commitment)}")

    # `stake` is set to the stake after, once sent
    result: StakeJson = {"round": round_id, "model": model, "staker": str(account.address), "amount": str(wei),
                         "commitment": to_hex(commitment), "upload": None, "txn": None, "gas_used": 0,
                         "stake": str(current.amount)}

    def upload() -> None:
        assert delivery is not None and predictions is not None
        answer = deliver(delivery, chain.domain, account, round_id, model, predictions, commitment,
                         receipts=receipts)
        result["upload"] = answer
        say(f"uploaded: the service received it at {answer['received_at_iso']} (chain time) and signed a receipt"
            + (f", kept in {answer['receipt_path']}" if answer.get("receipt_path") else ""))

    def stake_on_chain() -> None:
        # As the contract compares commitments: by the 20 bytes it stores.
        if wei == 0 and commitment_prefix(current.commitment) == commitment_prefix(commitment):
            say(f"the stake on {model} already commits to this file: nothing to send on chain")
            return
        functions = chain.tournament.functions
        what = f"staking on {model} in round {round_id}"
        # The token's capabilities are read once (cached): our NMR has a permit, the mainnet NMR
        # has none and only changes an allowance from or to zero.
        caps = chain.token_capabilities() if wei > 0 else None
        if caps is not None and caps.permit and chain.allowance(account.address) < wei:
            deadline = now + PERMIT_LIFETIME
            v, r, s = chain.permit(account, wei, deadline)
            receipt = chain.send(functions.stakeWithPermit(round_id, mid, wei, commitment, deadline, v, r, s),
                                 account, what=what)
        else:
            if caps is not None and not caps.permit:
                chain.approve_exactly(account, wei, say, reason="the token has no permit",
                                      from_zero_only=caps.approve_from_zero_only)
            receipt = chain.send(functions.stake(round_id, mid, wei, commitment), account, what=what)
        result["txn"], result["gas_used"] = str(receipt.txn_hash), int(receipt.gas_used)
        say(f"{'staked ' + format_nmr(wei) + ' NMR' if wei else 'committed the stake to the new file'} "
            f"(txn {receipt.txn_hash}, gas {receipt.gas_used})")

    # Upload first, so that a refused file stakes nothing. A service whose store is full for
    # models not staked yet always takes a staked model's upload: then stake first, and upload.
    try:
        if delivery is not None:
            upload()
        stake_on_chain()
    except RequestError as exc:
        if exc.kind != "store-full" or result["txn"] is not None:
            raise
        say("the service's store is full for models not staked yet: staking first, then uploading")
        check_here()
        stake_on_chain()
        try:
            upload()
        except NmrstakeError as again:
            note = (f" (the stake was sent, txn {result['txn']}; upload the file before the round closes with "
                    f"`nmrstake stake --round {round_id} --model {model} --amount 0 --predictions {predictions}`, "
                    "which stakes nothing more, or the stake is refunded as undelivered)")
            if isinstance(again, RequestError):
                raise RequestError(again.status, again.kind, again.message + note, field=again.field) from None
            raise type(again)(again.message + note) from None
    result["stake"] = str(chain.stored_stake(round_id, mid, account.address).amount)
    return result


def my_positions(chain: Chain, results: Results, address: str,
                 *, strategy: str | None = None) -> list[PositionJson]:
    """Every stake of `address`, with its result (from `results`), for an unresolved round whether the service holds the committed file, and
    what can be claimed now (`claimable`, wei) or, in a posted round's challenge period, what is
    expected (`expected`) once final (`final_at`). With `strategy` (the allocation strategy
    `address` owns), the strategy's stakes follow, marked `"through_strategy": true`."""
    out: list[PositionJson] = []
    stakers = [(address, False)] + ([(strategy, True)] if strategy else [])
    for info in chain.rounds():
        keys = [(k, through) for who, through in stakers for k in chain.stake_keys(info.round_id, who)]
        if not keys:
            continue
        claimed = chain.claimed_keys(info.round_id) if info.state is RoundState.FINAL else set()
        for (mid, staker), through in keys:
            s = chain.stake(info.round_id, mid, staker)
            found = results.claim_row(info.round_id, s.model, staker) if info.posted_at else None
            row = found[0] if found else None
            expected = str(row.stake - row.burn + row.payout) if row else None
            claimable, final_at = "0", None
            if (mid, staker) in claimed:
                what = "claimed"
            elif info.state is RoundState.FINAL and s.amount > 0:
                what = "claimable" if row else f"claimable (results not found at {results.where(info.round_id)})"
                claimable = expected or "0"
            elif info.state is RoundState.EXPIRED:
                what = "withdrawable" if s.amount > 0 else "withdrawn"
                claimable = str(s.amount)
            elif info.state is RoundState.POSTED:
                final_at = info.final_at
                what = f"final at {utc(final_at or 0)}"
            else:
                what = "pending"
            held: UploadStateJson = {"upload": None, "uploaded_at": None, "uploaded_at_iso": None}
            if info.state in (RoundState.OPEN, RoundState.CLOSED):
                uploads = results.uploads(info.round_id, s.model, staker)
                held = upload_state(s.commitment, uploads, info.close_time)
            entry: PositionJson = {
                "round": info.round_id, "model": s.model, "staker": staker, "through_strategy": through,
                "state": info.state.label, "stake": str(row.stake if row else s.amount),
                "commitment": to_hex(s.commitment), "claim": what, "claimable": claimable,
                "expected": expected if info.state is RoundState.POSTED else None,
                "final_at": final_at, "final_at_iso": utc(final_at) if final_at else None,
                "valid": row.valid if row else None, "reason": row.reason if row else None,
                "score": None if row is None or row.score is None else f"{row.score:.5f}",
                "payout": str(row.payout) if row else None, "burn": str(row.burn) if row else None,
                "upload": held["upload"], "uploaded_at": held["uploaded_at"], "uploaded_at_iso": held["uploaded_at_iso"],
            }
            if row:
                entry["corr"], entry["mmc"] = row.corr, row.mmc
            out.append(entry)
    return out


def claim_all(chain: Chain, account: LocalAccount, results: Results, round_ids: list[int] | None) -> ClaimJson:
    """Claim every unclaimed stake of `account` in the given (or all final)
    rounds in one transaction, with proofs from `results` checked against the on-chain root
    first; in expired rounds, withdraw the full stakes instead."""
    from nmrstake.merkle import LEAF_ENCODING, leaf_values, verify

    infos = [chain.round(r) for r in round_ids] if round_ids else chain.rounds()
    claims: list[tuple[int, bytes, str, int, int, list[bytes]]] = []
    described: list[ClaimedJson] = []
    withdrawals: list[tuple[int, bytes, str]] = []
    waiting: list[NotClaimableJson] = []  # the account's stakes that cannot be claimed now, and why
    for info in infos:
        if info.state is RoundState.EXPIRED:
            for mid, staker in chain.stake_keys(info.round_id, account.address):
                held, model = chain.stored_stake(info.round_id, mid, staker).amount, model_label(mid)
                if held > 0:
                    withdrawals.append((info.round_id, mid, model))
                    described.append({"round": info.round_id, "model": model, "stake": str(held), "burn": "0",
                                      "payout": "0", "amount": str(held), "kind": "emergency_withdrawal"})
            continue
        if info.state is not RoundState.FINAL:
            when = f"; it becomes final at {utc(info.final_at)}" if info.final_at else ""
            if round_ids:
                raise ChainError(f"round {info.round_id} is {info.state.label}, not final: nothing can be claimed yet{when}")
            if info.state is not RoundState.SCHEDULED and chain.stake_keys(info.round_id, account.address):
                waiting.append({"round": info.round_id, "why": f"{info.state.label}, not final yet{when}"})
            continue
        for mid, staker in chain.stake_keys(info.round_id, account.address):
            held, model = chain.stored_stake(info.round_id, mid, staker).amount, model_label(mid)
            if held == 0:
                waiting.append({"round": info.round_id, "model": model, "why": "already claimed"})
                continue
            found = results.claim_row(info.round_id, model, staker)
            if found is None:
                raise ConfigError(f"round {info.round_id}: published results not found at {results.where(info.round_id)}")
            r, root = found
            if root and bytes32_from_hex(root) != info.root:
                raise ChainError(f"round {info.round_id}: the published results (root {root}) are not the "
                                 f"result on chain (0x{info.root.hex()}); nothing was sent")
            if r is None:
                raise ConfigError(f"round {info.round_id}: no published row for {model} / {staker}")
            if r.stake != held:  # the contract builds the leaf from the stake it holds
                raise ChainError(f"round {info.round_id}: the published stake of {model} / {staker} ({r.stake} wei) "
                                 f"is not the stake on chain ({held} wei); nothing was sent")
            if not verify(info.root, LEAF_ENCODING, leaf_values(info.round_id, mid, staker, held, r.payout, r.burn),
                          r.proof):
                raise ChainError(f"round {info.round_id}: the proof for {model} / {staker} does not lead to the "
                                 "on-chain root; nothing was sent")
            claims.append((info.round_id, mid, staker, r.payout, r.burn, [bytes32_from_hex(x) for x in r.proof]))
            described.append({"round": info.round_id, "model": model, "stake": str(r.stake), "burn": str(r.burn),
                              "payout": str(r.payout), "amount": str(r.stake - r.burn + r.payout), "kind": "claim"})
    result: ClaimJson = {"claims": described, "txn": None, "gas_used": 0, "not_claimable": waiting}
    if claims:
        receipt = chain.send(chain.tournament.functions.claimMany(claims), account, what="claiming")
        result["txn"], result["gas_used"] = str(receipt.txn_hash), int(receipt.gas_used)
    for rid, mid, model in withdrawals:
        receipt = chain.send(chain.tournament.functions.emergencyWithdraw(rid, mid), account,
                             what=f"withdrawing the stake on {model} in round {rid}")
        result["txn"] = result["txn"] or str(receipt.txn_hash)
        result["gas_used"] += int(receipt.gas_used)
    return result
