"""models, amounts, hashing, errors: pure helpers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from nmrstake.amounts import WEI_PER_NMR, format_nmr, nmr_to_wei, parse_nmr
from nmrstake.errors import ChainError, ConfigError, InputError, NmrstakeError
from nmrstake.hashing import checksum_address, from_hex, keccak_bytes, keccak_file, to_hex
from nmrstake.models import model_id, model_name

# ---------------------------------------------------------------- errors


def test_error_hierarchy_and_one_line_message():
    for cls in (InputError, ChainError, ConfigError):
        assert issubclass(cls, NmrstakeError)
    err = InputError("file x.csv:\n  line 3 is bad")
    assert str(err) == "file x.csv: line 3 is bad"
    assert "\n" not in err.message
    assert InputError("a  b").message == "a  b"  # single-line messages are kept as is
    assert {InputError.exit_code, ChainError.exit_code, ConfigError.exit_code} == {2, 3, 4}


# ---------------------------------------------------------------- models


def test_model_id_round_trip():
    mid = model_id("integration_test")
    assert len(mid) == 32
    assert mid == b"integration_test" + b"\x00" * 16
    assert model_name(mid) == "integration_test"
    assert model_name("0x" + mid.hex()) == "integration_test"
    assert model_name(model_id("a" * 32)) == "a" * 32


@pytest.mark.parametrize("bad", ["", "A", "has space", "a" * 33, "émile", "a-b", "a.b", 5, None])
def test_model_id_rejects_bad_names(bad):
    with pytest.raises(InputError, match="model"):
        model_id(bad)


def test_model_id_error_names_argument():
    with pytest.raises(InputError, match="--model: 'Bad' is not a valid model name"):
        model_id("Bad", argument="--model")


@pytest.mark.parametrize(
    "raw",
    [b"\x00" * 32, b"ab" + b"\x00" + b"c" + b"\x00" * 28, b"AB".ljust(32, b"\x00"), b"ab", "0xzz", b"\xff" * 32],
)
def test_model_name_rejects_bad_ids(raw):
    with pytest.raises(InputError):
        model_name(raw)


@given(st.from_regex(r"^[a-z0-9_]{1,32}$", fullmatch=True))
@settings(max_examples=200, deadline=None)
def test_model_id_property(name):
    assert model_name(model_id(name)) == name


# ---------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    "text, wei",
    [
        ("0", 0),
        ("1", WEI_PER_NMR),
        ("12.5", 12 * WEI_PER_NMR + WEI_PER_NMR // 2),
        ("0.000000000000000001", 1),
        (".5", WEI_PER_NMR // 2),
        ("3.", 3 * WEI_PER_NMR),
        (" 7 ", 7 * WEI_PER_NMR),
        ("1000000.123456789012345678", 1000000 * WEI_PER_NMR + 123456789012345678),
        ("-0", 0),
    ],
)
def test_parse_nmr(text, wei):
    assert parse_nmr(text) == wei


@pytest.mark.parametrize(
    "text, message",
    [
        ("-1", "must not be negative"),
        ("1e3", "not an NMR amount"),
        ("nan", "not an NMR amount"),
        ("inf", "not an NMR amount"),
        ("1,5", "not an NMR amount"),
        ("1_000", "not an NMR amount"),
        ("", "not an NMR amount"),
        ("0x10", "not an NMR amount"),
        ("1.0000000000000000001", "more than 18 decimal places"),
        ("abc", "not an NMR amount"),
    ],
)
def test_parse_nmr_rejects(text, message):
    with pytest.raises(InputError, match=message) as info:
        parse_nmr(text, argument="--stake")
    assert info.value.message.startswith("--stake")


def test_parse_nmr_positive_and_types():
    with pytest.raises(InputError, match="--amount: must be greater than zero"):
        parse_nmr("0.0", argument="--amount", positive=True)
    assert parse_nmr("0.1", positive=True) == WEI_PER_NMR // 10
    with pytest.raises(InputError, match="as text"):
        parse_nmr(1.5)  # type: ignore[arg-type]
    assert parse_nmr(Decimal("2.25")) == 2 * WEI_PER_NMR + WEI_PER_NMR // 4  # type: ignore[arg-type]
    assert nmr_to_wei(3) == 3 * WEI_PER_NMR
    assert nmr_to_wei("0.5") == WEI_PER_NMR // 2


@pytest.mark.parametrize(
    "wei, text",
    [(0, "0"), (1, "0.000000000000000001"), (12_500_000_000_000_000_000, "12.5"), (10**18, "1"),
     (-(10**17), "-0.1"), (123 * 10**18 + 10**16, "123.01")],
)  # fmt: skip
def test_format_nmr(wei, text):
    assert format_nmr(wei) == text


@given(st.integers(min_value=0, max_value=10**30))
@settings(max_examples=300, deadline=None)
def test_format_parse_round_trip(wei):
    assert parse_nmr(format_nmr(wei)) == wei


@given(st.decimals(min_value=0, max_value=10**9, places=18, allow_nan=False, allow_infinity=False))
@settings(max_examples=200, deadline=None)
def test_parse_matches_decimal(value):
    text = format(value, "f")
    assert parse_nmr(text) == int(value * WEI_PER_NMR)


# ---------------------------------------------------------------- hashing


def test_keccak(tmp_path):
    assert keccak_bytes(b"") == keccak(b"")
    assert to_hex(keccak_bytes(b"abc")) == "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    data = bytes(range(256)) * 9000  # > 1 chunk
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert keccak_file(path) == keccak(data)
    with pytest.raises(InputError, match="cannot read"):
        keccak_file(tmp_path / "missing.csv")


def test_hex_helpers():
    assert from_hex("0x0102") == b"\x01\x02"
    assert from_hex("0102", length=2) == b"\x01\x02"
    with pytest.raises(InputError, match="root: expected 32 bytes"):
        from_hex("0x01", length=32, argument="root")
    with pytest.raises(InputError, match="not hex"):
        from_hex("0xzz")


@given(st.binary(min_size=20, max_size=20))
@settings(max_examples=200, deadline=None)
def test_checksum_address_matches_eth_utils(raw):
    expected = to_checksum_address(raw)
    assert checksum_address(raw) == expected
    assert checksum_address("0x" + raw.hex()) == expected
    assert checksum_address(expected) == expected


def test_checksum_address_rejects():
    good = to_checksum_address("0x" + "ab" * 20)
    with pytest.raises(InputError, match="invalid checksum"):
        checksum_address(good[:2] + good[2:].swapcase())
    with pytest.raises(InputError, match="--to: 'nope' is not an address"):
        checksum_address("nope", argument="--to")
