"""Everything that touches the chain itself: connecting (`connect`), the accounts that sign
(`signers`), sending transactions (`transactions`), the embedded chain's log index
(`evm_logs`), and a node reached by URL in JSON-RPC alone or through a connected Web3 (`node`,
which the participant's path stands on without ape or web3.py). Import from the module that holds a thing."""
