"""JSON as it arrives from elsewhere (the tournament service's answers, a node's JSON-RPC results),
typed as what it is until a check says more: :data:`JsonValue`, and the checks that narrow it where
a value is read. A failed check raises the TypeError that using the value as the wrong kind would
have raised, so callers that turn malformed answers into their own errors keep doing so."""

from __future__ import annotations

from typing import TypeAlias

#: Any JSON document or part of one, as ``json.loads`` gives it.
JsonValue: TypeAlias = "None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]"
#: A JSON object.
JsonObject: TypeAlias = "dict[str, JsonValue]"


def json_object(value: object, what: str = "value") -> JsonObject:
    """`value` if it is a JSON object; else a TypeError naming `what`."""
    if not isinstance(value, dict):
        raise TypeError(f"{what}: not a JSON object but {type(value).__name__}")
    return value


def json_list(value: object, what: str = "value") -> list[JsonValue]:
    """`value` if it is a JSON array; else a TypeError naming `what`."""
    if not isinstance(value, list):
        raise TypeError(f"{what}: not a JSON array but {type(value).__name__}")
    return value


def json_objects(value: object, what: str = "value") -> list[JsonObject]:
    """`value` if it is a JSON array of objects; else a TypeError naming `what`."""
    return [json_object(item, what) for item in json_list(value, what)]


def json_str(value: object, what: str = "value") -> str:
    """`value` if it is a JSON string; else a TypeError naming `what`."""
    if not isinstance(value, str):
        raise TypeError(f"{what}: not a JSON string but {type(value).__name__}")
    return value


def json_int(value: object) -> int:
    """``int(value)`` of a JSON number or decimal string (wei amounts are strings); a TypeError
    for anything else, as ``int()`` raises."""
    if not isinstance(value, (int, float, str)):
        raise TypeError(f"int() argument must be a string or a number, not '{type(value).__name__}'")
    return int(value)


def json_hex_int(value: object) -> int:
    """A JSON-RPC quantity (``"0x1a"``) as an int; a TypeError for anything but a string."""
    if not isinstance(value, str):
        raise TypeError(f"not a hex quantity but {type(value).__name__}")
    return int(value, 16)


__all__ = ["JsonObject", "JsonValue", "json_hex_int", "json_int", "json_list", "json_object", "json_objects", "json_str"]
