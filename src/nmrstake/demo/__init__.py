"""`nmrstake demo` (what `make demo` runs): a whole tournament on a local chain.

By default the demo is the whole system as separate processes: a local Anvil that moves in time
on its own (:func:`nmrstake.localchain.moving_anvil`), the tournament service (`nmrstake serve`,
with its dashboard), the oracle daemon (`nmrstake oracle run`) and the operator daemon
(`nmrstake operator run`); participants, each with a wallet of its own, upload predictions to the
service over HTTP and stake from their wallets, a quarter of them through an allocation strategy
that the operator stakes. With `--network ethereum:local:test` the same rounds run in one process
on ape's embedded EVM, the oracle and the operator making their passes in-process.

Modules:
- :mod:`~nmrstake.demo.runner`: the entry point (:func:`~nmrstake.demo.runner.run_demo`): the chain,
  the deployment, the crew, the report, keeping the dashboard up;
- :mod:`~nmrstake.demo.participants`: the participants' wallets, funding and strategies;
- :mod:`~nmrstake.demo.crew`: who does the operator's work: daemons as processes, or in-process passes;
- :mod:`~nmrstake.demo.play`: the rounds themselves (one loop for both crews);
- :mod:`~nmrstake.demo.books`: the books check and the summary;
- :mod:`~nmrstake.demo.picture`: out/demo/payouts.png (optional: matplotlib);
- :mod:`~nmrstake.demo.progress`: progress lines on stderr and the wall time of each phase.
"""
