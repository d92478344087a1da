"""Contract instances as the tools hold them: ape's, at an address a deployment record names."""

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
