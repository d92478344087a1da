"""Keccak-256 (Ethereum's, not NIST SHA3-256) of bytes and files, and hex helpers."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from nmrstake.errors import InputError

_new: Callable[..., Any]
try:  # safe-pysha3: the fastest keccak available here (a dependency of the eth-* stack)
    from sha3 import keccak_256

    _new = keccak_256
except ImportError:  # pragma: no cover - fall back on eth-hash's pluggable backend
    from eth_hash.auto import keccak as _eth_keccak

    _new = _eth_keccak.new

__all__ = ["KeccakHasher", "keccak_bytes", "keccak_file", "keccak_hasher", "to_hex", "from_hex", "bytes32_from_hex",
           "checksum_address", "ZERO32"]

ZERO32 = b"\x00" * 32
_CHUNK = 1 << 20


def keccak_bytes(data: bytes | bytearray | memoryview) -> bytes:
    """Keccak-256 of ``data`` (32 bytes)."""
    return _new(bytes(data)).digest()


class KeccakHasher(Protocol):
    """A running keccak-256: bytes given to `update` piece by piece, then their `digest`."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


def keccak_hasher() -> KeccakHasher:
    """A running keccak-256, for bytes that arrive in pieces (an upload's body as it streams in)."""
    hasher: KeccakHasher = _new(b"")
    return hasher


def keccak_file(path: str | os.PathLike[str]) -> bytes:
    """Keccak-256 of a file's bytes, read in chunks (the file's on-chain commitment)."""
    hasher = _new(b"")
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                hasher.update(chunk)
    except OSError as exc:
        raise InputError(f"{Path(path)}: cannot read ({exc.strerror or exc})") from None
    return hasher.digest()


def to_hex(data: bytes | bytearray) -> str:
    """``0x``-prefixed lowercase hex."""
    return "0x" + bytes(data).hex()


def from_hex(text: str | bytes, *, length: int | None = None, argument: str = "value") -> bytes:
    """Decode ``0x``-prefixed (or bare) hex; with ``length``, require exactly that many bytes."""
    if isinstance(text, (bytes, bytearray)):
        raw = bytes(text)
    else:
        if not isinstance(text, str):
            raise InputError(f"{argument}: expected hex text, got {type(text).__name__}")
        body = text[2:] if text[:2].lower() == "0x" else text
        try:
            raw = bytes.fromhex(body)
        except ValueError:
            raise InputError(f"{argument}: {text!r} is not hex") from None
    if length is not None and len(raw) != length:
        raise InputError(f"{argument}: expected {length} bytes, got {len(raw)}")
    return raw


def bytes32_from_hex(text: str, *, argument: str = "value") -> bytes:
    """Decode a 32-byte hex value (a hash, a root, a modelId)."""
    return from_hex(text, length=32, argument=argument)


_ADDRESS = re.compile(r"^(0x|0X)?([0-9a-fA-F]{40})$")


@functools.lru_cache(maxsize=1 << 16)  # a round checksums each staker in several layers
def _eip55(lower: str) -> str:
    """EIP-55: each hex letter of the lowercase address upper-cased where the keccak-256 of the
    lowercase text has a nibble >= 8 at its place. Written here because eth-utils' version costs
    its whole import (pydantic: a quarter of a second), which a participant's command that only
    reads a wallet's address would pay; tests check it against eth-utils on random addresses."""
    digest = keccak_bytes(lower.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(lower))


def checksum_address(value: str | bytes, *, argument: str = "address") -> str:
    """The EIP-55 checksum form (eth-utils') of an address given as hex (any case) or 20 bytes.

    A mixed-case input must already be a valid checksum (as eth-utils requires); all-lowercase or
    all-uppercase hex is accepted as is. Raises :class:`InputError` naming ``argument``.
    """
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 20:
            raise InputError(f"{argument}: expected 20 bytes, got {len(value)}")
        return _eip55(bytes(value).hex())
    match = _ADDRESS.match(value) if isinstance(value, str) else None
    if match is None:
        raise InputError(f"{argument}: {value!r} is not an address (0x and 40 hex digits)")
    body = match.group(2)
    result = _eip55(body.lower())
    if body not in (body.lower(), body.upper()) and result[2:] != body:
        raise InputError(f"{argument}: {value!r} has an invalid checksum (mixed case)")
    return result
