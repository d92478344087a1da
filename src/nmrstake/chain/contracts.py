"""Contract instances as the tools hold them (ape's, at an address a deployment record names), and
their event logs."""

from __future__ import annotations

from typing import Any


def without_error_docs(contract_type: Any) -> Any:
    """`contract_type` (an ethpm `ContractType`) without the NatSpec of its custom errors; the
    same object when it has none. Everything else, the ABI included, is kept."""
    devdoc = contract_type.devdoc or {}
    if "errors" not in devdoc:
        return contract_type
    kept = contract_type.model_copy(update={"devdoc": {k: v for k, v in devdoc.items() if k != "errors"}})
    # The copy shares the original's already computed (cached) error NatSpec: let it compute anew.
    kept.__dict__.pop("_error_natspecs", None)
    return kept


def instance_at(container: Any, address: str) -> Any:
    """`container.at(address)` for an ape `ContractContainer` of the project, lighter:

    - without the NatSpec of the contract's custom errors. ape turns every custom error into a
      Python class the first time any method of the contract is looked up, and when an error has
      NatSpec it imports IPython to give that class a notebook display (0.4 s of a 4 s `stake`).
      The tools never display it: a revert is still raised as that class, named after the
      error's ABI (:func:`nmrstake.chain.transactions.revert_reason`). The NatSpec stays in the
      compiled project and in ITournament.sol.
    - without asking an explorer or probing for a proxy: the deployment record says which
      contract is at the address, and the client checks its code (deploy.check_recorded).

    A contract type ape already holds for the address (one this process deployed) is used as
    it is, as `at` always does."""
    from ape.contracts import ContractContainer

    lighter = ContractContainer(without_error_docs(container.contract_type))
    return lighter.at(address, fetch_from_explorer=False, detect_proxy=False)


def event_logs(event: Any, start_block: int, stop_block: int, search_topics: dict[str, Any] | None = None) -> list[Any]:
    """The logs of `event` (an ape `ContractEvent` of a contract instance) from `start_block` to
    `stop_block`, both included, decoded by ape, in chain order: what `event.range(start_block,
    stop_block + 1, search_topics=...)` returns, asked of the provider directly.

    `range` goes through ape's query manager, which on first use loads every query engine,
    ape_cache's among them (SQLAlchemy: about 0.3 s of a 2.4 s `nmrstake rounds`), only to
    choose the provider's own `get_contract_logs`, which this calls."""
    from ape.types.events import LogFilter

    log_filter = LogFilter.from_event(event=event.abi, search_topics=search_topics, addresses=[event.contract.address],
                                      start_block=start_block, stop_block=stop_block)
    return list(event.provider.get_contract_logs(log_filter))
