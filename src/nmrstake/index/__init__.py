"""The event index the service's replicas share (issue 21): the deployment's contract logs, kept in
a database by :class:`nmrstake.index.indexer.Indexer` (confirmations counted, reorgs undone) and
read by :mod:`nmrstake.index.queries`, so that a request reads rows instead of scanning logs.

- :mod:`nmrstake.index.tables`: the tables (SQLAlchemy Core, their own ``MetaData``);
- :mod:`nmrstake.index.indexer`: following the chain through ``eth_getLogs`` on the light node;
- :mod:`nmrstake.index.queries`: rounds, stakes, claims and results as dataclasses.
"""
