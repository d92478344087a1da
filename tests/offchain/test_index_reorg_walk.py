"""The index's walk back to the common ancestor after a reorganisation
(`nmrstake.index.indexer.common_ancestor`), on a model chain: hashes of an old branch, a fork at
some height, a new branch above it; whatever the fork's depth and the window of hashes kept."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nmrstake.index.indexer import common_ancestor


def chain(prefix: str, start: int, end: int) -> dict[int, str]:
    return {n: f"{prefix}{n}" for n in range(start, end)}


@given(length=st.integers(1, 60), fork=st.integers(-1, 60), new_length=st.integers(0, 80), keep=st.integers(1, 30))
def test_common_ancestor__is_the_highest_kept_block_below_the_fork_or_none(length, fork, new_length, keep):
    fork = min(fork, length - 1)  # blocks 0..fork are shared; the old branch runs to length - 1
    old = {**chain("a", 0, fork + 1), **chain("old", fork + 1, length)}
    new = {**chain("a", 0, fork + 1), **chain("new", fork + 1, max(fork + 1, new_length))}
    stored = {n: h for n, h in old.items() if n > length - 1 - keep}  # the last `keep` blocks indexed
    found = common_ancestor(stored, new.get)
    shared = [n for n in stored if n <= fork and n in new]
    assert found == (max(shared) if shared else None)


def test_common_ancestor__of_an_unchanged_chain__is_its_top():
    blocks = chain("a", 0, 10)
    assert common_ancestor(blocks, blocks.get) == 9
