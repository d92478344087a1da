"""What the tests share, imported as `helpers.<module>` (tests/ is on sys.path through its conftest):

* `harness`: NMR amounts, the tournament's test settings and the round/tree/claim harness;
* `scenario`: a deployed world (service, oracle, stakers) for the off-chain and end-to-end tests;
* `chains`: Anvil and Ganache as fixtures; `service_process`: `nmrstake serve` as a process;
* `installed`: the wheel built from the repository, pip-installed into a fresh virtualenv as a
  participant installs it (no ape), and its commands run with nothing of the repository around;
* `abi_tables`, `raw_evm`: ABI lookups and raw transactions for the fuzzing adapters;
* `fuzz_tournament`, `fuzz_strategies`: the stateful fuzzing's models and chain adapters.
"""
