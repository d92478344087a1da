"""Path arguments of the service's routes, checked: a bad one is a 422 problem naming it.

`round_arg`, `model_arg` and `staker_arg` check a value of any origin (a path, a form part). The
routes take their path arguments through the dependencies `RoundId`, `ModelLabel`, `StakerAddress`
and `AccountAddress`: the document declares each with its real type (an integer round id, a model
label's and an address's pattern), while the check and its message stay the service's own (422
`invalid-field` naming the argument), whatever the value.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path
from pydantic import WithJsonSchema

from nmrstake.errors import InputError, RequestError
from nmrstake.hashing import checksum_address
from nmrstake.intake import parse_uint
from nmrstake.models import check_model_label
from nmrstake.service.schemas import ADDRESS_PATTERN, MODEL_LABEL_REGEX, UINT256_MAX

_DECIMAL = re.compile(r"-?[0-9]+")  # a negative one is then refused as out of range
_ADDRESS = re.compile(ADDRESS_PATTERN)


def round_arg(text: str) -> int:
    """A round id: decimal ASCII digits only, as the document says (Python's int() would also take
    "+1", " 1", "1_0" and other scripts' digits)."""
    if not _DECIMAL.fullmatch(text):
        raise RequestError(422, "invalid-field", f"round: {text!r} is not a whole number", field="round")
    return parse_uint(text, "round")


def model_arg(text: str) -> str:
    try:
        return check_model_label(text, argument="model")
    except InputError as exc:
        raise RequestError(422, "invalid-field", exc.message, field="model") from None


def staker_arg(text: str, *, field: str = "staker") -> str:
    """A 0x-prefixed address, lowercase or EIP-55 checksummed (returned checksummed)."""
    try:
        if not _ADDRESS.fullmatch(text):
            raise InputError(f"{field}: {text!r} is not an address (0x and 40 hex digits)")
        return checksum_address(text, argument=field)
    except InputError as exc:
        raise RequestError(422, "invalid-field", exc.message, field=field) from None


# ------------------------------------------------------------------------------------------ dependencies

_ROUND_SCHEMA = WithJsonSchema({"type": "integer", "minimum": 0, "maximum": UINT256_MAX, "examples": [61]})
_MODEL_SCHEMA = WithJsonSchema({"type": "string", "pattern": MODEL_LABEL_REGEX, "examples": ["my_model"]})
#: A pattern cannot say it: a mixed-case address must be a valid EIP-55 checksum (else 422 invalid-field).
_ADDRESS_SCHEMA = WithJsonSchema({"type": "string", "pattern": ADDRESS_PATTERN,
                                  "examples": ["0x5d5c99EdF529335160FF180fA141Dd4967fc00D2"]})


def _round_path(round_id: Annotated[str, _ROUND_SCHEMA, Path(
        description="the round id (uint256, decimal)")]) -> int:
    return round_arg(round_id)


def _model_path(model: Annotated[str, _MODEL_SCHEMA, Path(
        description="the model: its name, or the 0x-hex of an on-chain id that is not a name (see ModelLabel)")]) -> str:
    return model_arg(model)


def _staker_path(staker: Annotated[str, _ADDRESS_SCHEMA, Path(
        description="the staker's address, lowercase or EIP-55 checksummed (a mixed-case address with a wrong "
                    "checksum is refused: 422 invalid-field)")]) -> str:
    return staker_arg(staker)


def _address_path(address: Annotated[str, _ADDRESS_SCHEMA, Path(
        description="the address, lowercase or EIP-55 checksummed (a mixed-case address with a wrong checksum is "
                    "refused: 422 invalid-field)")]) -> str:
    return staker_arg(address, field="address")


#: `{round_id}`: the round id as an int.
RoundId = Annotated[int, Depends(_round_path)]
#: `{model}`: the model's label.
ModelLabel = Annotated[str, Depends(_model_path)]
#: `{staker}`: the checksummed address.
StakerAddress = Annotated[str, Depends(_staker_path)]
#: `{address}`: the checksummed address.
AccountAddress = Annotated[str, Depends(_address_path)]
