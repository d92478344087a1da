"""Allocation strategies on chain: the factory, each owner's strategy and the batch invoker.

The one place that reads strategies and builds their transactions; the CLI (`nmrstake strategy`)
and the operator daemon use it. Amounts follow the contract exactly (`stake_amount` mirrors
`AllocationStrategy.stakeAmount`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from nmrstake.chain.contracts import event_logs
from nmrstake.errors import ConfigError, InputError
from nmrstake.models import model_id, model_label

if TYPE_CHECKING:
    from nmrstake.tournament import TournamentClient

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class Mode(IntEnum):
    """How a model is staked each round (the contract's `Mode`)."""

    OFF = 0
    FIXED = 1
    COMPOUND = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str, *, argument: str = "--mode") -> Mode:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise InputError(f"{argument} {text!r}: choose fixed, compound or off") from None


def stake_amount(per_round: int, mode: Mode, net: int) -> int:
    """What a model stakes in a round: 0 if off, `per_round` if fixed, `per_round + net` (never
    below 0) if compound. The contract's `stakeAmount`, exactly."""
    if mode is Mode.OFF:
        return 0
    if mode is Mode.FIXED:
        return per_round
    return max(0, per_round + net)


@dataclass(frozen=True)
class ModelSetting:
    """A model of a strategy: its settings and running record, as the contract holds them."""

    model: str
    model_id: bytes
    per_round: int
    mode: Mode
    net: int
    last_round: int

    @property
    def next_stake(self) -> int:
        return stake_amount(self.per_round, self.mode, self.net)

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "per_round": str(self.per_round), "mode": self.mode.label,
                "net": str(self.net), "last_round": self.last_round or None, "next_stake": str(self.next_stake)}


@dataclass(frozen=True)
class StrategyView:
    """One strategy: who owns and operates it, its idle NMR and its models."""

    address: str
    owner: str
    operator: str | None
    idle: int
    models: tuple[ModelSetting, ...]

    def to_json(self) -> dict[str, Any]:
        return {"strategy": self.address, "owner": self.owner, "operator": self.operator, "idle": str(self.idle),
                "models": [m.to_json() for m in self.models]}


class StrategyClient:
    """Strategies of one deployment (a TournamentClient with a StrategyFactory)."""

    def __init__(self, client: TournamentClient) -> None:
        self.client = client
        contracts = client.deployment.contracts
        if "StrategyFactory" not in contracts:
            raise ConfigError("this deployment has no StrategyFactory: deploy again with `ape run deploy` "
                              "to add allocation strategies")
        self.factory = client.project.StrategyFactory.at(client.deployment.address("StrategyFactory"))
        self.start_block = contracts["StrategyFactory"].block
        invoker = contracts.get("StrategyInvoker")
        self.invoker = client.project.StrategyInvoker.at(invoker.address) if invoker else None

    # ------------------------------------------------------------------ reads

    def strategy_of(self, owner: str) -> str | None:
        address = str(self.factory.strategyOf(to_checksum_address(owner)))
        return None if int(address, 16) == 0 else to_checksum_address(address)

    def require_strategy_of(self, owner: str) -> str:
        address = self.strategy_of(owner)
        if address is None:
            raise ConfigError(f"{owner} has no strategy yet: create one with `nmrstake strategy create`")
        return address

    def is_strategy(self, address: str) -> bool:
        return bool(self.factory.isStrategy(to_checksum_address(address)))

    def contract(self, strategy: str) -> Any:
        return self.client.project.AllocationStrategy.at(to_checksum_address(strategy))

    def strategies(self) -> list[tuple[str, str]]:
        """(strategy, owner) of every strategy the factory made, in creation order."""
        logs = event_logs(self.factory.StrategyCreated, self.start_block, self.client.head())
        return [(to_checksum_address(log.strategy), to_checksum_address(log.owner)) for log in logs]

    def model_ids(self, strategy: str) -> list[bytes]:
        """Every model the owner ever set on `strategy` (from its ModelSet events), first-set order."""
        logs = event_logs(self.contract(strategy).ModelSet, self.start_block, self.client.head())
        seen: dict[bytes, None] = {}
        for log in logs:
            seen.setdefault(bytes(log.modelId).rjust(32, b"\0"), None)
        return list(seen)

    def setting(self, strategy: str, mid: bytes) -> ModelSetting:
        raw = self.contract(strategy).model(mid)
        return ModelSetting(model=model_label(mid), model_id=mid, per_round=int(raw.perRound), mode=Mode(int(raw.mode)),
                            net=int(raw.net), last_round=int(raw.lastRound))

    def settings(self, strategy: str) -> list[ModelSetting]:
        return [self.setting(strategy, mid) for mid in self.model_ids(strategy)]

    def operator(self, strategy: str) -> str | None:
        address = str(self.contract(strategy).operator())
        return None if int(address, 16) == 0 else to_checksum_address(address)

    def view(self, strategy: str) -> StrategyView:
        c = self.contract(strategy)
        return StrategyView(address=to_checksum_address(strategy), owner=to_checksum_address(str(c.owner())),
                            operator=self.operator(strategy), idle=int(self.client.token.balanceOf(strategy)),
                            models=tuple(self.settings(strategy)))

    @cached_property
    def invoker_address(self) -> str | None:
        return None if self.invoker is None else to_checksum_address(self.invoker.address)


def parse_model(text: str) -> bytes:
    return model_id(text, argument="MODEL")


__all__ = ["Mode", "ModelSetting", "StrategyClient", "StrategyView", "ZERO_ADDRESS", "parse_model", "stake_amount"]
