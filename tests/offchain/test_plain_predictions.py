"""`scoring.plain_predictions_ok`, the intake's quick check of an upload: whatever it accepts,
`load_predictions` (the full check, through pandas) accepts too, with the same values and ids (the
values and the ids' fingerprint are what the service keeps for the oracle: nmrstake.prepared). It
may refuse a good file (the full check then runs); it must never accept a bad one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pandas._libs.parsers import STR_NA_VALUES

from nmrstake.errors import InputError
from nmrstake.scoring import (
    _PANDAS_NA_IDS,
    _PLAIN_BYTES,
    IdTemplate,
    load_predictions,
    plain_predictions,
    plain_predictions_ok,
)


def _csv(rows: list[tuple[str, str]], header: str = "id,prediction", end: str = "\n") -> bytes:
    return (header + "\n" + "\n".join(f"{i},{v}" for i, v in rows) + end).encode()


def _loaded(tmp_path, raw: bytes) -> pd.Series | None:
    path = tmp_path / "p.csv"
    path.write_bytes(raw)
    try:
        return load_predictions(path)
    except InputError:
        return None


def _accepted(tmp_path, raw: bytes) -> bool:
    return _loaded(tmp_path, raw) is not None


def test_plain_predictions_ok__a_usual_file__is_accepted_as_load_predictions_accepts_it(tmp_path):
    raw = _csv([(f"n{k:015x}", repr(k / 1000)) for k in range(1000)])
    assert plain_predictions_ok(raw)
    assert _accepted(tmp_path, raw)


def test_plain_predictions_ok__every_missing_value_spelling_pandas_knows__is_listed():
    spellable = {na for na in STR_NA_VALUES if na and all(_PLAIN_BYTES[b] for b in na.encode())}
    assert spellable <= set(_PANDAS_NA_IDS), spellable - set(_PANDAS_NA_IDS)


@pytest.mark.parametrize("raw", [
    _csv([("a", "0.1"), ("a", "0.2")]),                      # duplicate ids
    _csv([("NA", "0.1"), ("b", "0.2")]),                     # an id pandas reads as missing
    _csv([("null", "0.1")]), _csv([("None", "0.1")]), _csv([("nan", "0.1")]),
    _csv([("", "0.1"), ("b", "0.2")]),                       # an empty id
    _csv([("a", ""), ("b", "0.2")]),                         # an empty value
    _csv([("a", "1.5")]), _csv([("a", "-0.1")]), _csv([("a", "nan")]), _csv([("a", "inf")]),
    _csv([("a", "0.1")], end=""),                             # no newline at the end
    _csv([("a", "0.1")]).replace(b"\n", b"\r\n"),            # CRLF
    b"\xef\xbb\xbf" + _csv([("a", "0.1")]),                  # a BOM
    _csv([("a", "0.1")], header="prediction,id"),            # columns the other way round
    _csv([("a", "0.1,0.2")], header="id,p,q"),                # three columns
    _csv([("a", "0.1")], header="id,id"),
    _csv([('"a"', "0.1")]),                                   # quotes
    _csv([(" a", "0.1")]),                                    # a space
    b"id,prediction\n",                                       # no rows
    b"id,prediction\na,0.1\n\nb,0.2\n",                        # a blank line
])
def test_plain_predictions_ok__anything_unusual__is_left_to_the_full_check(raw):
    assert not plain_predictions_ok(raw)


_IDS = st.one_of(st.text("abcnNAUL019_.-+", min_size=0, max_size=6), st.sampled_from(sorted(STR_NA_VALUES)))
_VALUES = st.one_of(
    st.floats(min_value=-0.5, max_value=1.5).map(repr),
    st.floats().map(repr),
    st.text("0123456789.eE+-", min_size=0, max_size=8),
    st.sampled_from(["", "nan", "NaN", "NA", "null", "1", "0", "-0", "+1", ".5", "5.", "1e-400", "1e0", "0.5e1"]),
)


_GOOD_ROWS = st.lists(st.tuples(st.text("abcdef0123456789", min_size=1, max_size=6),
                                 st.floats(min_value=0, max_value=1).map(repr)),
                       min_size=1, max_size=12, unique_by=lambda row: row[0])


@settings(max_examples=300, deadline=None)
@given(rows=_GOOD_ROWS, bad=st.lists(st.tuples(st.integers(0, 11), _IDS, _VALUES, st.booleans()), max_size=2),
       header=st.sampled_from(["id,prediction", "id,p", "id,nan", "id,id", "p,id", "id"]),
       end=st.sampled_from(["\n", "\n", "\n", "", "\n\n"]))
@example(rows=[("a", "0.5"), ("b", "1")], bad=[], header="id,prediction", end="\n")
def test_plain_predictions_ok__whatever_it_accepts__load_predictions_accepts(tmp_path_factory, rows, bad, header, end):
    """Good files with up to two rows made wild (an id or a value from anywhere, pandas' missing
    spellings included), under several headers and endings."""
    for at, wild_id, wild_value, on_id in bad:
        k = at % len(rows)
        rows[k] = (wild_id, rows[k][1]) if on_id else (rows[k][0], wild_value)
    raw = _csv(rows, header=header, end=end)
    plain = plain_predictions(raw)
    assert plain_predictions_ok(raw) == (plain is not None)
    if plain is not None:
        loaded = _loaded(tmp_path_factory.mktemp("plain"), raw)
        assert loaded is not None, raw
        # The same values in the file's order, and the fingerprint of the same ids in that order.
        assert np.array_equal(plain.values, loaded.to_numpy(dtype=np.float64)), raw
        assert plain.ids == IdTemplate([str(i) for i in loaded.index]).fingerprint, raw
