"""Path arguments of the service's routes, checked: a bad one is a 422 problem naming it."""

from __future__ import annotations

from nmrstake.errors import InputError, RequestError
from nmrstake.hashing import checksum_address
from nmrstake.models import check_model_label
from nmrstake.service.intake import parse_uint


def round_arg(text: str) -> int:
    return parse_uint(text, "round")


def model_arg(text: str) -> str:
    try:
        return check_model_label(text, argument="model")
    except InputError as exc:
        raise RequestError(422, "invalid-field", exc.message, field="model") from None


def staker_arg(text: str, *, field: str = "staker") -> str:
    try:
        return checksum_address(text, argument=field)
    except InputError as exc:
        raise RequestError(422, "invalid-field", exc.message, field=field) from None
