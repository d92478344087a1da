"""Model identifiers: a model's name <-> its on-chain ``bytes32`` ``modelId``.

``modelId`` is the model's name in UTF-8 (1..32 bytes), right-padded with zero bytes; names match
``^[a-z0-9_]{1,32}$`` as Numerai's do (see docs/interfaces.md).

A participant chooses its model id, and a Tournament deployed before ids were checked on chain
accepts any non-zero ``bytes32``. Whatever reads ids from the chain therefore names them with
:func:`model_label`, which never fails: the name when the id is one, else the id's 0x-hex (66
characters, which no name can be). A stake whose label is not a name is invalid and refunded
(docs/security.md, "Nothing a participant sends stops anyone else").
"""

from __future__ import annotations

import re

from nmrstake.errors import InputError

__all__ = [
    "MODEL_NAME_PATTERN", "is_model_name", "check_model_name", "model_id", "model_name",
    "model_label", "is_model_label", "check_model_label", "label_model_id",
]

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


#: What a model label that is not a name looks like: a model id's 32 bytes in lowercase 0x-hex.
_HEX_LABEL = re.compile(r"^0x[0-9a-f]{64}$")


def model_label(model_id_bytes: bytes | bytearray) -> str:
    """How a 32-byte ``modelId`` read from the chain is named: its model name, or, for an id that
    is not one, its lowercase 0x-hex. Never raises for 32 bytes."""
    raw = bytes(model_id_bytes)
    if len(raw) != 32:
        raise InputError(f"modelId: expected 32 bytes, got {len(raw)}")
    try:
        return model_name(raw)
    except InputError:
        return "0x" + raw.hex()


def is_model_label(label: object) -> bool:
    """True if ``label`` is what :func:`model_label` gives for some id: a name, or the 0x-hex of
    an id that is not a name (the hex of a name's id is not a label: each id has one label)."""
    if is_model_name(label):
        return True
    if not isinstance(label, str) or _HEX_LABEL.fullmatch(label) is None:
        return False
    return not _decodes_to_name(bytes.fromhex(label[2:]))


def _decodes_to_name(raw: bytes) -> bool:
    try:
        model_name(raw)
    except InputError:
        return False
    return True


def check_model_label(label: object, *, argument: str = "model") -> str:
    """Return ``label`` if it is a model label (see :func:`is_model_label`), else raise
    :class:`InputError` naming ``argument``."""
    if not is_model_label(label):
        if isinstance(label, str) and label.startswith("0x"):
            raise InputError(f"{argument}: {label!r} is not a model id that is not a name "
                             "(0x and 64 lowercase hex digits; a name's id is written as the name)")
        check_model_name(label, argument=argument)
    return str(label)


def label_model_id(label: str, *, argument: str = "model") -> bytes:
    """The 32-byte ``modelId`` a model label stands for (the inverse of :func:`model_label`)."""
    check_model_label(label, argument=argument)
    if label.startswith("0x"):
        return bytes.fromhex(label[2:])
    return model_id(label, argument=argument)
