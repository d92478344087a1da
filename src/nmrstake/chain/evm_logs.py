"""An index of logs by block for the embedded chain (eth-tester), so that a log query reads only
the blocks it has not seen before.

eth-tester's `get_logs` walks every block of the range and rebuilds every transaction's receipt
on every query (O(chain) per query, O(chain²) for a session): 90 % of the demo's time on the
embedded chain. The index keeps each mined block's raw log entries, keyed by the block's hash, so
a snapshot revert or a reset (which replace blocks at the same numbers) can never serve stale
logs: a block whose hash is new is read again. Results are exactly eth-tester's (same filter,
same order, same normalisation).
"""

from __future__ import annotations

from functools import partial
from typing import Any

_INSTALLED = False
_MAX_BLOCKS = 200_000  # far more than any local session mines; a bound on memory all the same


def _canonical_hash(tester: Any, number: int) -> bytes | None:
    """The hash of canonical block `number`, read from the chain database (no serialisation)."""
    chain = getattr(tester.backend, "chain", None)
    if chain is None:
        return None
    try:
        return bytes(chain.chaindb.get_canonical_block_hash(number))
    except Exception:  # noqa: BLE001 - not canonical (the pending block) or an unknown backend
        return None


def _indexed_get_logs(self: Any, from_block: Any = None, to_block: Any = None, address: Any = None,
                      topics: Any = None) -> tuple[Any, ...]:
    from eth_tester.utils.filters import Filter, check_if_log_matches

    self.validator.validate_inbound_filter_params(from_block=from_block, to_block=to_block, address=address,
                                                  topics=topics)
    raw_from, raw_to, raw_address, raw_topics = self.normalizer.normalize_inbound_filter_params(
        from_block=from_block, to_block=to_block, address=address, topics=topics)
    params = {"from_block": raw_from, "to_block": raw_to, "addresses": raw_address, "topics": raw_topics}
    log_filter = Filter(filter_params=params, filter_fn=partial(check_if_log_matches, **params))
    lower = raw_from if isinstance(raw_from, int) else self.get_block_by_number(raw_from or "latest")["number"]
    upper = raw_to if isinstance(raw_to, int) else self.get_block_by_number(raw_to or "latest")["number"]
    index: dict[bytes, list[Any]] = self.__dict__.setdefault("_nmrstake_log_index", {})
    for number in range(lower, upper + 1):
        key = _canonical_hash(self, number)
        entries = index.get(key) if key is not None else None
        if entries is None:
            block = self.get_block_by_number(number)
            entries = []
            for transaction_hash in block["transactions"]:
                for log_entry in self.get_transaction_receipt(transaction_hash)["logs"]:
                    entries.append(self.normalizer.normalize_inbound_log_entry(log_entry))
            if key is not None:
                if len(index) >= _MAX_BLOCKS:
                    index.clear()
                index[key] = entries
        for entry in entries:
            log_filter.add(entry)
    return tuple(self.normalizer.normalize_outbound_log_entry(item) for item in log_filter.get_all())


def install() -> None:
    """Index eth-tester's log queries (idempotent; affects only the embedded chain)."""
    global _INSTALLED
    if _INSTALLED:
        return
    try:
        from eth_tester.main import EthereumTester
    except ImportError:  # no embedded chain installed: nothing to index
        return
    # Kept for the tests that compare the index with eth-tester's own walk.
    EthereumTester._nmrstake_original_get_logs = EthereumTester.get_logs.__wrapped__
    EthereumTester.get_logs = _indexed_get_logs
    _INSTALLED = True


__all__ = ["install"]
