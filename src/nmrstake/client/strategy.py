"""The participant's allocation strategy, on web3.py and eth-account alone (no ape): the reads an
owner needs (their strategy, its models and settings, idle NMR, operator, open stakes) and the
owner's actions (create, deposit, withdraw, set a model, choose or revoke the operator, exit an
unclaimed stake, upload predictions for the strategy), each simulated, signed with the owner's
eth-account `LocalAccount` and sent through :meth:`nmrstake.client.chain.Chain.send`, which names
a revert by its custom error.

Nothing is trusted because a deployments file says so: the factory's code is checked against the
packaged StrategyFactory, its implementation against AllocationStrategy (bound to this very
tournament), the invoker against StrategyInvoker, and every strategy acted on must be a minimal
proxy (EIP-1167) of that implementation (:func:`nmrstake.abi.is_clone_of`).

The records (:class:`~nmrstake.strategies.chain.Mode`, :class:`~nmrstake.strategies.chain.ModelSetting`,
:class:`~nmrstake.strategies.chain.StrategyView`, :func:`~nmrstake.strategies.chain.stake_amount`) are
the ones the operator's tools use (that module imports ape only inside the operator's methods).

    from nmrstake.client.strategy import Strategies
    mine = Strategies(chain, account)
    mine.create()                                   # operated by the deployment's StrategyInvoker
    mine.deposit("40")                              # 40 NMR (an int is wei)
    mine.set_model("my_model", "10", "compound")
    mine.view(mine.mine())
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from nmrstake.client.chain import Chain, Sent
from nmrstake.errors import ConfigError, InputError
from nmrstake.hashing import checksum_address as to_checksum_address
from nmrstake.models import check_model_name, model_id, model_label
from nmrstake.strategies.chain import ZERO_ADDRESS, Mode, ModelSetting, StrategyView
from nmrstake.tournament import ChainStake

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from nmrstake.chain.node import ContractHandle
    from nmrstake.client.staking import Delivery
    from nmrstake.intake import UploadAnswer
    from nmrstake.receipts import ReceiptBook

Say = Callable[[str], None]

#: `Strategies.create(operator=INVOKER)`: the deployment's StrategyInvoker, run by the tournament operator.
INVOKER = "invoker"

Amount = str | Decimal | int


def _quiet(_: str) -> None:
    pass


def _wei(amount: Amount, argument: str, *, positive: bool) -> int:
    """An amount as the Python API takes it: an int of wei, or NMR as a decimal string or Decimal."""
    from nmrstake.amounts import parse_nmr

    if isinstance(amount, bool):
        raise InputError(f"{argument}: an amount, not {amount!r}")
    if isinstance(amount, int):
        if amount < 0 or (positive and amount == 0):
            raise InputError(f"{argument}: {amount} wei: must be {'above' if positive else 'at least'} 0")
        return amount
    return parse_nmr(str(amount), argument=argument, positive=positive)


@dataclass(frozen=True)
class Created:
    """A strategy just created: where it is, whose it is and who operates it (None: nobody)."""

    strategy: str
    owner: str
    operator: str | None
    sent: Sent


@dataclass(frozen=True)
class Moved:
    """NMR moved into (deposit) or out of (withdraw) a strategy; `idle` is its idle NMR after,
    `approvals` the approvals a deposit sent first."""

    strategy: str
    amount: int
    idle: int
    sent: Sent
    approvals: tuple[Sent, ...] = ()


@dataclass(frozen=True)
class ModelSet:
    """A model's settings as the strategy holds them after `set_model`."""

    strategy: str
    setting: ModelSetting
    sent: Sent


class Strategies:
    """The allocation strategies of `chain`'s deployment, seen and acted on by `account` (an
    eth-account `LocalAccount`; None reads only). The owner's actions act on `account`'s own
    strategy (one per owner, found through the factory)."""

    def __init__(self, chain: Chain, account: LocalAccount | None = None) -> None:
        from nmrstake.abi import code_matches, load

        self.chain = chain
        self.account = account
        node, deployment = chain.node, chain.deployment
        contracts = deployment.contracts
        if "StrategyFactory" not in contracts:
            raise ConfigError("this deployment has no StrategyFactory: deploy again with `ape run deploy` "
                              "to add allocation strategies")

        def checked(name: str, given: str, what: str) -> str:
            address = to_checksum_address(given)
            if not code_matches(name, node.code(address)):
                raise ConfigError(f"{what} at {address} on chain {deployment.chain_id} does not hold the {name} code "
                                  "this nmrstake release was built with")
            return address

        factory = checked("StrategyFactory", deployment.address("StrategyFactory"), "the StrategyFactory")
        self.factory = node.contract(factory, load("StrategyFactory"))
        self.start_block = contracts["StrategyFactory"].block
        self.implementation: str = checked("AllocationStrategy", str(self.factory.functions.implementation().call()),
                                      "the StrategyFactory's implementation")
        self._strategy_abi = load("AllocationStrategy")
        bound = str(node.contract(self.implementation, self._strategy_abi).functions.tournament().call())
        if bound.lower() != str(chain.tournament.address).lower():
            raise ConfigError(f"the StrategyFactory at {factory} makes strategies for the tournament {bound}, not the "
                              f"deployment's {chain.tournament.address}")
        invoker = contracts.get("StrategyInvoker")
        self.invoker = None if invoker is None else node.contract(
            checked("StrategyInvoker", invoker.address, "the StrategyInvoker"), load("StrategyInvoker"))
        self._clones: set[str] = set()

    @property
    def invoker_address(self) -> str | None:
        """The deployment's StrategyInvoker (the tournament operator's batch caller), if any."""
        return None if self.invoker is None else to_checksum_address(self.invoker.address)

    # ------------------------------------------------------------------ reads

    def strategy_of(self, owner: str) -> str | None:
        """`owner`'s strategy, or None."""
        address = str(self.factory.functions.strategyOf(to_checksum_address(owner)).call())
        return None if int(address, 16) == 0 else to_checksum_address(address)

    def require_strategy_of(self, owner: str, *, argument: str | None = None) -> str:
        """`owner`'s strategy, or an error saying how to create one (prefixed by `argument`, the
        option that named the owner, e.g. ``"--wallet alice"``)."""
        address = self.strategy_of(owner)
        if address is None:
            prefix = f"{argument}: " if argument else ""
            raise ConfigError(f"{prefix}{to_checksum_address(owner)} has no strategy yet: create one with "
                              "`nmrstake strategy create`")
        return address

    def mine(self, *, argument: str | None = None) -> str:
        """The account's own strategy (:meth:`require_strategy_of` of the account)."""
        return self.require_strategy_of(self._signer().address, argument=argument)

    def predict(self, owner: str) -> str:
        """The address `owner`'s strategy has, or will have once created."""
        return to_checksum_address(str(self.factory.functions.predict(to_checksum_address(owner)).call()))

    def is_strategy(self, address: str) -> bool:
        return bool(self.factory.functions.isStrategy(to_checksum_address(address)).call())

    def contract(self, strategy: str) -> ContractHandle:
        """The strategy at `strategy` as a contract handle, once its code is checked: a minimal proxy of
        the factory's (checked) implementation, and nothing else."""
        from nmrstake.abi import is_clone_of

        address = to_checksum_address(strategy)
        if address not in self._clones:
            if not is_clone_of(self.chain.node.code(address), self.implementation):
                raise ConfigError(f"{address} is not an allocation strategy of this deployment (its code is not a "
                                  f"clone of the AllocationStrategy at {self.implementation})")
            self._clones.add(address)
        return self.chain.node.contract(address, self._strategy_abi)

    def strategies(self) -> list[tuple[str, str]]:
        """(strategy, owner) of every strategy the factory made, in creation order."""
        logs = self.factory.events.StrategyCreated().get_logs(from_block=self.start_block)
        return [(to_checksum_address(log["args"]["strategy"]), to_checksum_address(log["args"]["owner"]))
                for log in logs]

    def model_ids(self, strategy: str) -> list[bytes]:
        """Every model the owner ever set on `strategy` (from its ModelSet events), first-set order."""
        logs = self.contract(strategy).events.ModelSet().get_logs(from_block=self.start_block)
        return list(dict.fromkeys(bytes(log["args"]["modelId"]).rjust(32, b"\0") for log in logs))

    def setting(self, strategy: str, model: str | bytes) -> ModelSetting:
        """A model's settings and running record (net result, last round staked)."""
        mid = model if isinstance(model, bytes) else model_id(model, argument="model")
        per_round, mode, net, last_round = self.contract(strategy).functions.model(mid).call()
        return ModelSetting(model=model_label(mid), model_id=mid, per_round=int(per_round), mode=Mode(int(mode)),
                            net=int(net), last_round=int(last_round))

    def settings(self, strategy: str) -> list[ModelSetting]:
        return [self.setting(strategy, mid) for mid in self.model_ids(strategy)]

    def owner_of(self, strategy: str) -> str:
        return to_checksum_address(str(self.contract(strategy).functions.owner().call()))

    def operator(self, strategy: str) -> str | None:
        """The strategy's operator, None when there is none."""
        address = str(self.contract(strategy).functions.operator().call())
        return None if int(address, 16) == 0 else to_checksum_address(address)

    def idle(self, strategy: str) -> int:
        """The strategy's idle NMR (wei): what it holds, not at stake."""
        return self.chain.nmr_balance(strategy)

    def view(self, strategy: str) -> StrategyView:
        """Owner, operator, idle NMR and every model's settings and net result."""
        return StrategyView(address=to_checksum_address(strategy), owner=self.owner_of(strategy),
                            operator=self.operator(strategy), idle=self.idle(strategy),
                            models=tuple(self.settings(strategy)))

    def open_stakes(self, strategy: str) -> list[ChainStake]:
        """The strategy's stakes still in the tournament (not claimed, exited or withdrawn), by round."""
        self.contract(strategy)
        stakes = [s for s in self.chain.stakes_of(strategy) if s.amount > 0]
        return sorted(stakes, key=lambda s: s.round_id)

    # ------------------------------------------------------------------ the owner's actions

    def _signer(self) -> LocalAccount:
        if self.account is None:
            raise ConfigError("no account to act as: give Strategies an eth-account LocalAccount "
                              "(nmrstake.client.signer)")
        return self.account

    def create(self, operator: str | None = INVOKER) -> Created:
        """Create the account's strategy (one per owner, at :meth:`predict`), operated by `operator`:
        :data:`INVOKER` (the default) for the deployment's StrategyInvoker, an address, or None for
        no operator (the owner stakes through it alone)."""
        from nmrstake.hashing import checksum_address

        account = self._signer()
        existing = self.strategy_of(account.address)
        if existing:
            raise InputError(f"{account.address} already has a strategy at {existing}")
        if operator is None:
            chosen = ZERO_ADDRESS
        elif operator == INVOKER:
            if self.invoker_address is None:
                raise ConfigError("this deployment has no StrategyInvoker: pass --operator ADDRESS or --no-operator")
            chosen = self.invoker_address
        else:
            chosen = checksum_address(operator, argument="--operator")
        sent = self.chain.send(self.factory.functions.create(chosen), account, what="creating the strategy")
        address = self.require_strategy_of(account.address)
        self.contract(address)  # the factory made a clone of its implementation: checked all the same
        return Created(address, to_checksum_address(account.address), None if chosen == ZERO_ADDRESS else chosen, sent)

    def deposit(self, amount: Amount, *, say: Say = _quiet, argument: str = "amount") -> Moved:
        """Move `amount` of the account's NMR into its strategy, approving the strategy for it first
        when the allowance falls short (the strategy takes no permit; on a token that changes
        allowances only from or to zero, the old one is reset first). Each step through `say`."""
        account = self._signer()
        wei = _wei(amount, argument, positive=True)
        address = self.mine()
        strategy = self.contract(address)
        held = self.chain.nmr_balance(account.address)
        if held < wei:
            from nmrstake.amounts import format_nmr

            raise InputError(f"{argument}: {account.address} holds {format_nmr(held)} NMR, less than {format_nmr(wei)}")
        caps = self.chain.token_capabilities()
        approvals = self.chain.approve_exactly(account, wei, say, spender=address, spender_name="your strategy",
                                               from_zero_only=caps.approve_from_zero_only)
        sent = self.chain.send(strategy.functions.deposit(wei), account, what="depositing into the strategy")
        return Moved(address, wei, self.idle(address), sent, tuple(approvals))

    def withdraw(self, amount: Amount | None = None, *, argument: str = "amount") -> Moved:
        """Send `amount` (None: all) of the strategy's idle NMR to the owner, the only place a
        withdrawal can go. Staked NMR comes back to the strategy when its round is claimed."""
        from nmrstake.amounts import format_nmr

        account = self._signer()
        address = self.mine()
        strategy = self.contract(address)
        idle = self.idle(address)
        wei = idle if amount is None else _wei(amount, argument, positive=True)
        if wei == 0:
            raise InputError(f"{argument}: the strategy {address} holds no idle NMR")
        if wei > idle:
            raise InputError(f"{argument}: the strategy holds {format_nmr(idle)} idle NMR, less than {format_nmr(wei)} "
                             "(staked NMR comes back when its round is claimed)")
        sent = self.chain.send(strategy.functions.withdraw(wei), account, what="withdrawing from the strategy")
        return Moved(address, wei, self.idle(address), sent)

    def set_model(self, model: str, per_round: Amount, mode: Mode | str, *, argument: str = "per_round") -> ModelSet:
        """Set how `model` is staked each round: `per_round` in `mode` (fixed: `per_round` each
        round; compound: `per_round` plus the model's net results since it entered compound; off:
        not staked). Changing the mode resets the model's net result."""
        account = self._signer()
        check_model_name(model, argument="model")
        chosen = mode if isinstance(mode, Mode) else Mode.parse(mode, argument="mode")
        wei = _wei(per_round, argument, positive=chosen is not Mode.OFF)
        address = self.mine()
        mid = model_id(model)
        sent = self.chain.send(self.contract(address).functions.setModel(mid, wei, int(chosen)), account,
                               what=f"setting {model}")
        return ModelSet(address, self.setting(address, mid), sent)

    def set_operator(self, operator: str | None) -> Sent:
        """Make `operator` the strategy's operator (None revokes it: only the owner can stake
        through it then); takes effect at once."""
        from nmrstake.hashing import checksum_address

        account = self._signer()
        new = ZERO_ADDRESS if operator is None else checksum_address(operator, argument="operator")
        address = self.mine()
        return self.chain.send(self.contract(address).functions.setOperator(new), account,
                               what="setting the operator" if operator else "revoking the operator")

    def revoke_operator(self) -> Sent:
        return self.set_operator(None)

    def exit_unclaimed(self, round_id: int, model: str) -> Sent:
        """Take a stake the posted results left out back from a final round once its claim
        window is over (the tournament's `exitUnclaimed`); its result goes into the model's net."""
        account = self._signer()
        address = self.mine()
        return self.chain.send(self.contract(address).functions.exitUnclaimed(round_id, model_id(model, argument="model")),
                               account, what=f"exiting {model}'s unclaimed stake of round {round_id}")

    def submit(self, delivery: Delivery, round_id: int, model: str, predictions: str | Path, *,
               receipts: ReceiptBook | None = None, say: Say = _quiet, argument: str = "predictions") -> UploadAnswer:
        """Upload `predictions` for the strategy's `model` in a round, signed by the owner (the
        service accepts an owner's upload for its strategy); the operator then stakes the model on
        them. Returns the service's answer with its receipt checked (`staker` is the strategy)."""
        from nmrstake.client.staking import deliver
        from nmrstake.hashing import keccak_file, to_hex

        account = self._signer()
        check_model_name(model, argument="model")
        path = Path(predictions)
        if not path.is_file():
            raise InputError(f"{argument} {path}: no such file")
        address = self.mine()
        self.contract(address)
        commitment = keccak_file(path)
        # The delivery checks the file with the oracle's own checks and refuses a bad one,
        # naming it; nothing is staked on it here (the strategy's operator stakes later).
        say(f"{path}: keccak-256 {to_hex(commitment)}")
        return deliver(delivery, self.chain.domain, account, round_id, model, path, commitment, receipts=receipts,
                       staker=address)

    def __repr__(self) -> str:
        who = f" as {self.account.address}" if self.account is not None else ""
        return f"Strategies(factory {self.factory.address}{who})"


__all__ = ["INVOKER", "Created", "Mode", "ModelSet", "ModelSetting", "Moved", "Strategies", "StrategyView"]
