"""A race lost between the one sender's simulation and its transaction: real transactions on a
real chain, in an order chosen by the test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ape.api.address import BaseAddress


class LosesTheRace(BaseAddress):
    """`account`, whose transactions are signed only after `competitor` has sent its own (once):
    `nmrstake.chain.transactions.send` simulated the call on the state before, and the mined
    transaction meets the state the competitor left."""

    def __init__(self, account: Any, competitor: Callable[[], Any]) -> None:
        self._account, self._competitor = account, competitor
        self.raced = False

    @property
    def address(self) -> Any:
        return self._account.address

    def sign_transaction(self, txn: Any) -> Any:
        txn = self._account.prepare_transaction(txn)  # nonce and gas, as for the account itself
        if not self.raced:
            self.raced = True
            self._competitor()
        return self._account.sign_transaction(txn)
