"""Stateful fuzzing of the Tournament (tests/contracts/test_invariants.py), in three parts kept apart:

* `model`: a pure Python model of the NMR token and the Tournament (rounds, stakes, funding, the
  pool, results, claims, restakes, expired withdrawals, exits, the pause), the one model of them:
  the strategy fuzzing's model (tests/helpers/fuzz_strategies/model.py) extends it. It predicts every
  action: success (with the NMR transfers it makes) or the name of the custom error it reverts
  with, and keeps the books the invariants need. It never reads the chain.
* `adapter`: sends ABI-encoded calls and signed transactions to ape's embedded EVM and reads the
  token and the tournament back (its plumbing shared with the strategy fuzzing's adapter in
  tests/helpers/raw_evm.py). The only module that touches ape, eth-tester or web3.
* the machine (tests/contracts/test_invariants.py): random actors and the round lifecycle, a hypothesis
  `RuleBasedStateMachine` that draws each action's arguments, asks the model, checks the chain
  agrees, and checks the invariants after every step.

The committee fuzzing (tests/contracts/test_committee_invariants.py) extends both, kept apart the
same way: `committee`, the model of the oracle committee and the dispute desk (a subclass of the
tournament's model), and `committee_adapter`, the tournament's adapter with the desk and the
committee's reads. Both machines choose the round an action targets through `picking`.
"""
