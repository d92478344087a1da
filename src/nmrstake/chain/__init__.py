"""Everything that touches the chain itself: connecting (`connect`), the accounts that sign
(`signers`), sending transactions (`transactions`), and the embedded chain's log index
(`evm_logs`). Import from the module that holds a thing."""
