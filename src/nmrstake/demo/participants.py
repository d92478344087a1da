"""The demo's participants: a wallet each (a standard keystore in out/demo/wallets, as if on its
own machine), ether for gas and NMR from the local faucet, and for a quarter of them an
allocation strategy that the operator stakes every round."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from nmrstake.demo.progress import Progress

WEI = 10**18
#: NMR (whole) each participant gets, and what a strategy owner deposits into its strategy.
FUNDS = 1_000
STRATEGY_DEPOSIT = 400


class Role(str, Enum):
    """How a participant takes part."""

    STAKER = "staker"  # uploads, then stakes from its wallet
    TOPS_UP = "tops-up"  # a staker that adds to its stake with the same predictions
    STRATEGY = "strategy"  # uploads for its strategy; the operator stakes
    INVALID = "invalid"  # stakes but never uploads its predictions: the stake is invalid


def roles(n: int) -> list[Role]:
    """Every fourth participant (the 2nd, 6th, ...) uses an allocation strategy; the first tops
    its stake up; the last participant that does not use a strategy never uploads (with three
    participants or more)."""
    out = [Role.STRATEGY if i % 4 == 1 else Role.STAKER for i in range(n)]
    if out and out[0] is Role.STAKER:
        out[0] = Role.TOPS_UP
    if n > 2:
        last = max(i for i, r in enumerate(out) if r is not Role.STRATEGY)
        if last > 0:
            out[last] = Role.INVALID
    return out


@dataclass
class Participant:
    name: str
    model: str
    role: Role
    #: the participant's wallet, as an ape account that signs without prompting
    account: Any
    #: its AllocationStrategy (Role.STRATEGY), once created
    strategy: str | None = None
    #: the strategy's per-round stake (wei) and mode ("fixed" or "compound")
    per_round: int = 0
    mode: str = ""

    @property
    def address(self) -> str:
        return str(self.account.address)

    @property
    def staker(self) -> str:
        """Who holds the stakes: the strategy for its owner, else the wallet."""
        return self.strategy or self.address

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "role": self.role.value, "address": self.address,
                "strategy": self.strategy, "per_round": str(self.per_round) if self.strategy else None,
                "mode": self.mode or None}


def create_participants(wallets: Path, n: int, owner: Any, token: Any, progress: Progress) -> list[Participant]:
    """n wallets in `wallets` (a light scrypt, so the demo is quick), each given 1 ether for gas
    and NMR by the deployer (the local faucet)."""
    from nmrstake.chain.signers import wallet_account
    from nmrstake.chain.transactions import send
    from nmrstake.wallet import Keystore

    store = Keystore(wallets, kdf="scrypt", iterations=2**10)
    people: list[Participant] = []
    kinds = roles(n)
    with progress.bar(range(n), "wallets, ether and NMR for the participants") as bar:
        for i in bar:
            name, passphrase = f"participant{i:02d}", f"demo-passphrase-{i}"
            if not store.exists(name):
                store.create(name, passphrase)
            account = wallet_account(name, passphrase, store=store)
            _give_ether(owner, account.address, 10**18)
            send(token.mint, account.address, FUNDS * WEI, sender=owner, what=f"minting NMR for {name}")
            people.append(Participant(name, f"model_{i:02d}", kinds[i], account))
    return people


def _give_ether(owner: Any, address: str, wei: int) -> None:
    """Ether for gas: the node's own faucet where it has one (Anvil's `anvil_setBalance`, no
    transaction), else a transfer from the deployer (the embedded EVM)."""
    from ape.exceptions import APINotImplementedError

    from nmrstake.chain.transactions import send_ether

    try:
        owner.provider.set_balance(address, wei)
    except (APINotImplementedError, NotImplementedError):
        send_ether(owner, address, wei, what=f"sending ether for gas to {address}")


def set_up_strategies(client: Any, people: list[Participant], rng: random.Random, progress: Progress) -> None:
    """What `nmrstake strategy create`, `deposit` and `set` do, for each strategy participant,
    through the Python API: a strategy operated by the deployment's StrategyInvoker, NMR
    deposited, and its model set to a fixed or (every other one) compounding stake per round."""
    from nmrstake.chain.transactions import send
    from nmrstake.models import model_id
    from nmrstake.strategies.chain import Mode, StrategyClient
    from nmrstake.token import approve_exactly

    owners = [p for p in people if p.role is Role.STRATEGY]
    if not owners:
        return
    strategies = StrategyClient(client)
    invoker = strategies.invoker_address
    if invoker is None:
        from nmrstake.errors import ConfigError

        raise ConfigError("the deployment has no StrategyInvoker: the demo's strategies need one")
    with progress.bar(owners, "allocation strategies: create, deposit, set") as bar:
        for k, p in enumerate(bar):
            send(strategies.factory.create, invoker, sender=p.account, what=f"creating {p.name}'s strategy")
            p.strategy = strategies.require_strategy_of(p.address)
            deposit = STRATEGY_DEPOSIT * WEI
            approve_exactly(client.token, p.account, p.strategy, deposit, spender_name="the strategy")
            contract = strategies.contract(p.strategy)
            send(contract.deposit, deposit, sender=p.account, what=f"depositing into {p.name}'s strategy")
            mode = Mode.COMPOUND if k % 2 else Mode.FIXED
            p.per_round, p.mode = rng.randrange(20, 120) * WEI, mode.label
            send(contract.setModel, model_id(p.model), p.per_round, int(mode), sender=p.account,
                 what=f"setting {p.model} on {p.name}'s strategy")
