"""Model identifiers: a model's name <-> its on-chain ``bytes32`` ``modelId``.

``modelId`` is the model's name in UTF-8 (1..32 bytes), right-padded with zero bytes; names match
``^[a-z0-9_]{1,32}$`` as Numerai's do (see docs/interfaces.md).
"""

from __future__ import annotations

import re

from nmrstake.errors import InputError

__all__ = ["MODEL_NAME_PATTERN", "is_model_name", "check_model_name", "model_id", "model_name"]

#: What a model name must match.
MODEL_NAME_PATTERN = re.compile(r"^[a-z0-9_]{1,32}$")


def is_model_name(name: object) -> bool:
    """True if ``name`` is a valid model name."""
    return isinstance(name, str) and MODEL_NAME_PATTERN.fullmatch(name) is not None


def check_model_name(name: object, *, argument: str = "model") -> str:
    """Return ``name`` if it is a valid model name, else raise :class:`InputError`."""
    if not isinstance(name, str):
        raise InputError(f"{argument}: expected a model name, got {type(name).__name__}")
    if not is_model_name(name):
        raise InputError(
            f"{argument}: {name!r} is not a valid model name "
            "(1 to 32 characters among lowercase letters a-z, digits 0-9 and _)"
        )
    return name


def model_id(name: str, *, argument: str = "model") -> bytes:
    """The 32-byte ``modelId`` of a model name (UTF-8, right-padded with zero bytes)."""
    check_model_name(name, argument=argument)
    return name.encode("ascii").ljust(32, b"\x00")


def model_name(model_id_bytes: bytes | bytearray | str, *, argument: str = "modelId") -> str:
    """The model name encoded in a 32-byte ``modelId`` (bytes or 0x-hex string).

    Raises :class:`InputError` if the value is not 32 bytes, has a zero byte before a non-zero
    one, or does not decode to a valid model name.
    """
    if isinstance(model_id_bytes, str):
        text = model_id_bytes[2:] if model_id_bytes[:2].lower() == "0x" else model_id_bytes
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise InputError(f"{argument}: {model_id_bytes!r} is not hex") from None
    else:
        raw = bytes(model_id_bytes)
    if len(raw) != 32:
        raise InputError(f"{argument}: expected 32 bytes, got {len(raw)}")
    stripped = raw.rstrip(b"\x00")
    shown = "0x" + raw.hex()
    if b"\x00" in stripped or not stripped:
        raise InputError(f"{argument}: {shown} is not a zero-padded model name")
    try:
        name = stripped.decode("ascii")
    except UnicodeDecodeError:
        raise InputError(f"{argument}: {shown} is not a zero-padded model name") from None
    if not is_model_name(name):
        raise InputError(f"{argument}: {shown} decodes to {name!r}, not a valid model name")
    return name
