"""Allocation strategies: staker-owned contracts that stake every round for their owners.

`chain` reads and writes strategies (the factory, each strategy, the batch invoker); `operator`
is the daemon that stakes, claims and restakes on the owners' behalf.
"""
