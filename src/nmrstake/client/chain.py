"""The participant's view of the chain, without ape: the deployment's token and tournament, their
reads, and transactions signed with the participant's own key (eth-account), on a
:class:`~nmrstake.chain.node.Node` (a node's URL in JSON-RPC alone, or a connected `Web3`).

Contract ABIs come from the package's data (:mod:`nmrstake.abi`), so a participant's machine needs
no compiler and no ape project. Rounds and stakes come back as the same records the rest of the
package uses (:class:`~nmrstake.tournament.RoundInfo`, :class:`~nmrstake.tournament.ChainStake`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

from nmrstake.chain.node import AbiItem, AbiValue, EventLog, Node, abi_bytes, abi_int, abi_params, as_node
from nmrstake.deploy import Deployment
from nmrstake.errors import ChainError, ConfigError, UnknownRoundError
from nmrstake.hashing import checksum_address as to_checksum_address
from nmrstake.models import model_label
from nmrstake.signing import Domain
from nmrstake.tournament import (
    ZERO32,
    ChainStake,
    RoundInfo,
    RoundState,
    RoundTerms,
    StoredStake,
    check_logged_commitment,
    read_stake,
)

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from eth_account.types import TransactionDictType
    from web3 import Web3

    from nmrstake.chain.node import ContractCall
    from nmrstake.token import TokenCapabilities

Say = Callable[[str], None]

#: How long a transaction may take to be mined before the client gives up waiting (it may still be).
RECEIPT_TIMEOUT = 120.0


@dataclass(frozen=True)
class Sent:
    """A mined transaction of the participant's."""

    txn_hash: str
    gas_used: int
    block_number: int


def _named(outputs: Sequence[AbiItem], value: Iterable[AbiValue]) -> SimpleNamespace:
    """A decoded struct (web3 gives tuples) as an object with the ABI's field names."""
    if len(outputs) == 1 and outputs[0].get("type") == "tuple":
        outputs = abi_params(outputs[0], "components")
    return SimpleNamespace(**{str(o["name"]): v for o, v in zip(outputs, value)})


class Chain:
    """One deployment's NMR and Tournament on a node: a node's RPC URL, or a connected `Web3`
    (the operator's tools and the tests hand over ape's, :func:`nmrstake.client.session.open_node`),
    or a :class:`~nmrstake.chain.node.Node`.

    The Tournament's code is checked against the code this release carries; so is the NMR's when
    it is this project's NMR (a deployment on the mainnet NMR, `NumeraireTournament`, holds
    Erasure's token, whose address the checked Tournament holds as an immutable)."""

    def __init__(self, node: str | Node | Web3, deployment: Deployment, *, timeout: float = 30.0,
                 code_checked: bool = False) -> None:
        """`code_checked`: the caller has checked the deployment's code already (the operator's
        tools, whose ape client checks it against their own build, which may hold test doubles
        the package carries no data for: those are read with the Tournament's ABI)."""
        from nmrstake.abi import CONTRACTS, code_matches, load

        self.node = as_node(node, timeout=timeout)
        where = self.node.where
        self.deployment = deployment
        try:
            chain_id = self.node.chain_id()
        except Exception as exc:  # noqa: BLE001 - requests and web3 raise many types for a dead node
            raise ConfigError(f"cannot reach the node at {where} ({type(exc).__name__})") from None
        if chain_id != deployment.chain_id:
            raise ConfigError(f"the deployment is for chain {deployment.chain_id}, the node at {where} is chain {chain_id}")
        kind = str(deployment.settings.get("tournament_contract") or "Tournament")
        checked = (("Tournament", kind),) if kind != "Tournament" else (("NMR", "NMR"), ("Tournament", kind))
        for name, abi_name in () if code_checked else checked:
            code = self.node.code(to_checksum_address(deployment.address(name)))
            if not code_matches(abi_name, code):
                raise ConfigError(f"{name} at {deployment.address(name)} on chain {chain_id} does not hold the "
                                  f"{abi_name} code this nmrstake release was built with")
        self._tournament_abi = load(kind if kind in CONTRACTS else "Tournament")
        self.tournament = self.node.contract(deployment.address("Tournament"), self._tournament_abi)
        staked_token = str(self.tournament.functions.nmr().call())
        if staked_token.lower() != deployment.address("NMR").lower():
            raise ConfigError(f"the Tournament at {self.tournament.address} stakes {staked_token}, not the "
                              f"deployment's NMR {deployment.address('NMR')}")
        self.token = self.node.contract(staked_token, load("NMR"))
        self.start_block = deployment.contracts["Tournament"].block
        self.challenge_period = int(self.tournament.functions.challengePeriod().call())
        self.grace_period = int(self.tournament.functions.gracePeriod().call())
        self._caps: TokenCapabilities | None = None

    @property
    def domain(self) -> Domain:
        return Domain(self.deployment.chain_id, str(self.tournament.address))

    # ------------------------------------------------------------------ reads

    def now(self) -> int:
        """The latest block's timestamp (what `block.timestamp` was last)."""
        found = self.node.block_timestamp("latest")
        if found is None:
            raise ChainError(f"the node at {self.node.where} serves no latest block")
        return found

    def chain_time(self) -> int:
        """The timestamp the next block will carry: the pending block's where the node serves one,
        else the latest block's + 1 (the earliest the next can carry)."""
        latest = self.now()
        try:
            pending = self.node.block_timestamp("pending")
        except Exception:  # noqa: BLE001 - nodes refuse "pending" in several ways
            pending = None
        return latest + 1 if pending is None else max(int(pending), latest)

    def _outputs(self, function: str) -> list[AbiItem]:
        return next(abi_params(item, "outputs") for item in self._tournament_abi
                    if item.get("type") == "function" and item.get("name") == function)

    def round(self, round_id: int) -> RoundInfo:
        functions = self.tournament.functions
        state = RoundState(int(functions.roundState(round_id).call()))
        if state is RoundState.NONE:
            raise UnknownRoundError(f"round {round_id} does not exist on chain {self.deployment.chain_id}")
        raw = _named(self._outputs("getRound"), functions.getRound(round_id).call())
        return RoundInfo(
            **vars(RoundTerms.from_contract(raw)), round_id=round_id, state=state,
            total_staked=int(raw.totalStaked), stake_count=int(raw.stakeCount), funded=int(raw.funded),
            total_payout=int(raw.totalPayout), total_burn=int(raw.totalBurn), claimed=int(raw.claimed),
            claimable=int(raw.claimable), posted_at=int(raw.postedAt), settled=bool(raw.settled),
            root=bytes(raw.root).rjust(32, b"\0") if raw.root else ZERO32,
            results_hash=bytes(raw.resultsHash).rjust(32, b"\0") if raw.resultsHash else ZERO32,
            challenge_period=self.challenge_period, grace_period=self.grace_period,
        )

    def _logs(self, event: str, **filters: int | str | bytes) -> list[EventLog]:
        """The tournament's `event` logs from its deployment block, in chain order."""
        return list(getattr(self.tournament.events, event)().get_logs(from_block=self.start_block,
                                                                      argument_filters=filters or None))

    def round_ids(self) -> list[int]:
        return sorted({abi_int(log["args"]["roundId"]) for log in self._logs("RoundOpened")})

    def rounds(self) -> list[RoundInfo]:
        return [self.round(rid) for rid in self.round_ids()]

    def stored_stake(self, round_id: int, model_id: bytes, staker: str) -> StoredStake:
        """What the contract stores of the stake (`getStake`, one call): its amount and its
        commitment's first 20 bytes, both zero if never staked and once taken."""
        amount, prefix = self.tournament.functions.getStake(round_id, model_id, to_checksum_address(staker)).call()
        return StoredStake(int(amount), bytes(prefix))

    def logged_commitment(self, round_id: int, model_id: bytes, staker: str) -> bytes | None:
        """The key's last logged commitment (`Staked` or `CommitmentChanged`), None if it never staked."""
        who = to_checksum_address(staker)
        logs = [*self._logs("Staked", roundId=round_id, modelId=model_id, staker=who),
                *self._logs("CommitmentChanged", roundId=round_id, modelId=model_id, staker=who)]
        if not logs:
            return None
        args = max(logs, key=lambda log: (int(log["blockNumber"]), int(log["logIndex"])))["args"]
        return abi_bytes(args["commitment"] if "commitment" in args else args["newCommitment"])

    def stake(self, round_id: int, model_id: bytes, staker: str) -> ChainStake:
        """The stake as it stands: its amount now (0 once claimed, exited or withdrawn) and its full
        commitment, the key's last logged one (checked against the 20 bytes the contract stores).
        Two log queries besides the call: to know only whether a stake commits to a file,
        :meth:`stored_stake` is one call."""
        stored, commitment = read_stake(lambda: self.stored_stake(round_id, model_id, staker),
                                        lambda: self.logged_commitment(round_id, model_id, staker),
                                        f"round {round_id} model {model_label(model_id)} staker {staker}")
        return ChainStake(round_id, model_label(model_id), model_id, to_checksum_address(staker), stored.amount,
                          commitment)

    def stake_keys(self, round_id: int, staker: str | None = None) -> list[tuple[bytes, str]]:
        """The distinct (modelId, staker) keys that staked in a round, in first-stake order."""
        filters: dict[str, int | str] = {"roundId": round_id}
        if staker:
            filters["staker"] = to_checksum_address(staker)
        seen = dict.fromkeys((abi_bytes(log["args"]["modelId"]), to_checksum_address(str(log["args"]["staker"])))
                             for log in self._logs("Staked", **filters))
        return list(seen)

    def claimed_keys(self, round_id: int) -> set[tuple[bytes, str]]:
        return {(abi_bytes(log["args"]["modelId"]), to_checksum_address(str(log["args"]["staker"])))
                for log in self._logs("Claimed", roundId=round_id)}

    def stakes_at_close(self, round_id: int) -> list[ChainStake]:
        """Every stake of a round as it stood at close, from its events alone: the last
        `Staked.newTotal` of each key and its latest commitment (`Staked` or `CommitmentChanged`).
        Unlike :meth:`stake`, claims made since do not show."""
        logs = [*self._logs("Staked", roundId=round_id), *self._logs("CommitmentChanged", roundId=round_id)]
        logs.sort(key=lambda log: (int(log["blockNumber"]), int(log["logIndex"])))
        amounts: dict[tuple[bytes, str], int] = {}
        commitments: dict[tuple[bytes, str], bytes] = {}
        for log in logs:
            args = log["args"]
            key = (abi_bytes(args["modelId"]), to_checksum_address(str(args["staker"])))
            if log["event"] == "Staked":
                amounts[key] = abi_int(args["newTotal"])
                commitments[key] = abi_bytes(args["commitment"])
            else:
                commitments[key] = abi_bytes(args["newCommitment"])
        return [ChainStake(round_id, model_label(mid), mid, who, amounts[(mid, who)], commitments[(mid, who)])
                for mid, who in amounts]

    def stakes_of(self, staker: str) -> list[ChainStake]:
        """Every stake `staker` made, one per (round, model), as it stands now: two log queries
        for all the keys and their last logged commitments, then one call per key."""
        who = to_checksum_address(staker)
        logs = [*self._logs("Staked", staker=who), *self._logs("CommitmentChanged", staker=who)]
        logs.sort(key=lambda log: (int(log["blockNumber"]), int(log["logIndex"])))
        logged: dict[tuple[int, bytes], bytes] = {}
        for log in logs:
            args = log["args"]
            key = (abi_int(args["roundId"]), abi_bytes(args["modelId"]))
            logged[key] = abi_bytes(args["commitment"] if log["event"] == "Staked" else args["newCommitment"])
        out = []
        for (rid, mid), last in logged.items():
            stored = self.stored_stake(rid, mid, who)
            try:
                commitment = check_logged_commitment(stored, last, f"round {rid} model {model_label(mid)} staker {who}")
            except ChainError:  # a transaction of the key's mined since the logs were read
                out.append(self.stake(rid, mid, who))
                continue
            out.append(ChainStake(rid, model_label(mid), mid, who, stored.amount, commitment))
        return out

    def nmr_balance(self, address: str) -> int:
        return int(self.token.functions.balanceOf(to_checksum_address(address)).call())

    def ether_balance(self, address: str) -> int:
        return self.node.balance(to_checksum_address(address))

    def allowance(self, owner: str, spender: str | None = None) -> int:
        return int(self.token.functions.allowance(to_checksum_address(owner),
                                                  to_checksum_address(spender or self.tournament.address)).call())

    def token_capabilities(self) -> TokenCapabilities:
        """What the staked token can do (a permit; allowances only from or to zero), read from its
        code once (:func:`nmrstake.token.token_capabilities`)."""
        if self._caps is None:
            from nmrstake.token import token_capabilities

            self._caps = token_capabilities(self.node, str(self.token.address))
        return self._caps

    # ------------------------------------------------------------------ transactions

    def send(self, call: ContractCall, account: LocalAccount, *, what: str) -> Sent:
        """Simulate `call` (a web3 contract function with its arguments) from `account` (an
        eth-account LocalAccount), then sign, send and wait for it. A call that would revert is
        never sent: the error names the contract's custom error."""
        sender = to_checksum_address(account.address)
        try:
            call.call({"from": sender})
            gas = int(call.estimate_gas({"from": sender}))
        except Exception as exc:  # noqa: BLE001 - web3 raises ContractCustomError, ContractLogicError, ...
            raise ChainError(f"{what} would revert: {self.describe_revert(exc)}; nothing was sent") from None
        tx = call.build_transaction({
            "from": sender, "nonce": self.node.next_nonce(sender),
            "gas": gas + gas // 5, "chainId": self.deployment.chain_id,
        })
        # The fields web3.py (or RpcCall, likewise) built: ints and 0x-hex strings, as eth-account takes them.
        signed = account.sign_transaction(cast("TransactionDictType", tx))
        txn_hash = self.node.send_raw(bytes(signed.raw_transaction))
        receipt = self.node.wait(txn_hash, timeout=RECEIPT_TIMEOUT)
        if receipt.status != 1:
            raise ChainError(f"{what}: transaction {txn_hash} failed when mined")
        return Sent(txn_hash, receipt.gas_used, receipt.block_number)

    def permit(self, account: LocalAccount, value: int, deadline: int) -> tuple[int, bytes, bytes]:
        """An EIP-2612 permit of the token for the tournament to take `value` from `account`,
        signed with the token's EIP-5267 domain and the owner's nonce: (v, r, s)."""
        from eth_account.messages import encode_typed_data

        from nmrstake.permit import PERMIT_TYPES

        token = self.token.functions
        try:
            _, name, version, chain_id, contract, _, _ = token.eip712Domain().call()
            nonce = int(token.nonces(account.address).call())
        except Exception as exc:  # noqa: BLE001 - an accept-anything fallback returns nothing to decode
            raise ConfigError(f"the token at {self.token.address} has no EIP-2612 permit ({type(exc).__name__}): "
                              "stake with an approval instead") from None
        message = {"owner": account.address, "spender": self.tournament.address, "value": value, "nonce": nonce,
                   "deadline": deadline}
        signed = account.sign_message(encode_typed_data(
            domain_data={"name": name, "version": version, "chainId": chain_id, "verifyingContract": contract},
            message_types=PERMIT_TYPES, message_data=message))
        return int(signed.v), int(signed.r).to_bytes(32, "big"), int(signed.s).to_bytes(32, "big")

    def approve_exactly(self, account: LocalAccount, amount: int, say: Say, *, reason: str | None = None,
                        from_zero_only: bool | None = None, spender: str | None = None,
                        spender_name: str = "the tournament") -> list[Sent]:
        """Make `account`'s allowance for the tournament (or `spender`) at least `amount`, in a way
        every NMR accepts: nothing when it covers it; approve(amount) from zero; else approve(0)
        first (the mainnet NMR only changes an allowance from or to zero), unless `from_zero_only`
        is False. Each step is simulated before it is sent and announced through `say`."""
        from nmrstake.amounts import format_nmr

        to = to_checksum_address(spender or self.tournament.address)
        current = self.allowance(account.address, to)
        if current >= amount:
            say(f"the allowance for {spender_name} ({format_nmr(current)} NMR) already covers {format_nmr(amount)} "
                "NMR: no approval needed")
            return []
        sent = []
        approve = self.token.functions.approve
        if current != 0 and from_zero_only is not False:
            why = ("the token only changes allowances from or to zero" if from_zero_only
                   else "the token may only change allowances from or to zero, as the mainnet NMR does")
            say(f"resetting the allowance for {spender_name} from {format_nmr(current)} NMR to 0 first ({why})")
            sent.append(self.send(approve(to, 0), account, what="resetting the NMR allowance to 0"))
        say(f"{reason + ': ' if reason else ''}approving {format_nmr(amount)} NMR for {spender_name}")
        sent.append(self.send(approve(to, amount), account, what=f"approving {format_nmr(amount)} NMR"))
        now = self.allowance(account.address, to)
        if now != amount:
            raise ChainError(f"approving {format_nmr(amount)} NMR for {spender_name} left the allowance at "
                             f"{format_nmr(now)} NMR (the token refused the approval without reverting)")
        return sent

    def describe_revert(self, exc: Exception) -> str:
        """A revert by its custom error's name and arguments, from the packaged ABIs."""
        from nmrstake.abi import describe_error
        from nmrstake.chain.reverts import revert_data

        data = revert_data(exc)
        named = describe_error(data) if data is not None else None
        return named or str(exc) or type(exc).__name__
