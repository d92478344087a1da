"""Allocation strategies: staker-owned contracts that stake every round for their owners.

`chain` reads and writes strategies (the factory, each strategy, the batch invoker). The daemon
that stakes, claims and restakes on the owners' behalf reads the tournament service as well, so it
sits above the participant's client, beside the oracle: :mod:`nmrstake.strategy_operator`.
"""
