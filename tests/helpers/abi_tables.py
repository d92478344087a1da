"""ABI lookup tables for the fuzzing's raw calls (tests/contracts/test_invariants.py and
tests/helpers/fuzz_strategies/adapter.py): selector and types of every function, and the name of every
custom error by selector."""

from __future__ import annotations

from eth_utils import keccak

FunctionSpec = tuple[bytes, list[str], list[str], "list[str] | None"]


def abi_tables(contract_types: dict[str, object]) -> tuple[dict[tuple[str, str], FunctionSpec], dict[bytes, str]]:
    """(functions, errors) of the named contract types: functions[(name, function)] = (selector,
    input types, output types, field names of a single struct output or None);
    errors[selector] = error name (Error and Panic included)."""
    fns: dict[tuple[str, str], FunctionSpec] = {}
    errors = {keccak(b"Error(string)")[:4]: "Error", keccak(b"Panic(uint256)")[:4]: "Panic"}
    for name, contract_type in contract_types.items():
        for item in contract_type.abi:  # type: ignore[attr-defined]
            if item.type == "function":
                ins = [i.canonical_type for i in item.inputs]
                outs = [o.canonical_type for o in item.outputs]
                fields = None
                if len(item.outputs) == 1 and item.outputs[0].components:
                    fields = [c.name for c in item.outputs[0].components]
                assert (name, item.name) not in fns, f"overloaded {name}.{item.name}"
                fns[(name, item.name)] = (keccak(f"{item.name}({','.join(ins)})".encode())[:4], ins, outs, fields)
            elif item.type == "error":
                sig = f"{item.name}({','.join(i.canonical_type for i in item.inputs)})"
                errors[keccak(sig.encode())[:4]] = item.name
    return fns, errors
