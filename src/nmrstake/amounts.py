"""NMR amounts: exact conversion between decimal text and wei (10**18 wei = 1 NMR).

Never goes through a float: parsing is done on the string's digits.
"""

from __future__ import annotations

import re
from decimal import Decimal

from nmrstake.errors import InputError

__all__ = ["WEI_PER_NMR", "DECIMALS", "parse_nmr", "format_nmr", "nmr_to_wei"]

DECIMALS = 18
WEI_PER_NMR = 10**DECIMALS

# digits, optional fraction ("12", "12.", "12.5") or a bare fraction (".5"); an optional sign is
# captured only to give a better message for negatives.
_AMOUNT = re.compile(r"^([+-]?)(?:(\d+)(?:\.(\d*))?|\.(\d+))$")


def parse_nmr(text: str, *, argument: str = "amount", positive: bool = False) -> int:
    """Parse a decimal NMR amount (e.g. ``"12.5"``) into wei, exactly.

    Accepts plain decimal notation only: digits with an optional fractional part of at most 18
    digits. Rejects negatives, exponents (``1e3``), ``nan``/``inf``, separators and anything else
    with an :class:`InputError` naming ``argument``. With ``positive=True`` zero is rejected too.
    """
    if isinstance(text, Decimal):
        text = format(text, "f")
    if not isinstance(text, str):
        raise InputError(f"{argument}: expected a decimal NMR amount as text, got {type(text).__name__}")
    stripped = text.strip()
    match = _AMOUNT.match(stripped)
    if match is None:
        raise InputError(f"{argument}: {text!r} is not an NMR amount (expected plain decimal digits, e.g. 12.5)")
    sign, whole, frac, bare_frac = match.groups()
    whole = whole or "0"
    frac = (frac if frac is not None else bare_frac) or ""
    if len(frac) > DECIMALS:
        raise InputError(f"{argument}: {text!r} has more than {DECIMALS} decimal places (NMR has {DECIMALS})")
    wei = int(whole) * WEI_PER_NMR + int(frac.ljust(DECIMALS, "0") or "0")
    if sign == "-" and wei != 0:
        raise InputError(f"{argument}: must not be negative (got {text!r})")
    if positive and wei == 0:
        raise InputError(f"{argument}: must be greater than zero (got {text!r})")
    return wei


def nmr_to_wei(amount: str | int, *, argument: str = "amount") -> int:
    """Whole NMR as ``int`` or decimal text -> wei (a convenience for tests and scripts)."""
    if isinstance(amount, bool):
        raise InputError(f"{argument}: expected an NMR amount, got a bool")
    if isinstance(amount, int):
        if amount < 0:
            raise InputError(f"{argument}: must not be negative (got {amount})")
        return amount * WEI_PER_NMR
    return parse_nmr(amount, argument=argument)


def format_nmr(wei: int) -> str:
    """Format wei as exact decimal NMR, trailing zeros trimmed: ``12500000000000000000 -> "12.5"``."""
    if isinstance(wei, bool) or not isinstance(wei, int):
        raise TypeError(f"format_nmr expects an int number of wei, got {type(wei).__name__}")
    sign = "-" if wei < 0 else ""
    whole, frac = divmod(abs(wei), WEI_PER_NMR)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}." + str(frac).rjust(DECIMALS, "0").rstrip("0")
