"""Stateful fuzzing of allocation strategies (tests/contracts/test_strategy_invariants.py), in three parts kept apart:

* `model`: a pure Python model of the allocation strategies and the StrategyInvoker, built on the
  tournament fuzzing's model of the NMR token and the Tournament (tests/helpers/fuzz_tournament/model.py).
  It predicts every action: success (with the NMR transfers it makes, in order, and its return
  value) or the name of the custom error it reverts with. It never reads the chain.
* `adapter`: deploys the factory, the strategies and the invoker, sends actions to ape's embedded
  EVM and reads state back. The only module that touches ape, eth-tester or web3.
* the machine (tests/contracts/test_strategy_invariants.py): random actors and the round lifecycle, a
  hypothesis `RuleBasedStateMachine` that asks the model, checks the chain agrees, and checks the
  invariants after every step.
"""
