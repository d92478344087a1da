"""Upload requests built by hand, byte for byte, for the tests that play a client the service did
not expect: a multipart body with the parts in any order, the fields of a signed upload, and a
predictions CSV of any shape; and uploads straight through an intake of a round always open (no
chain, no HTTP), for the tests of what the store keeps."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nmrstake.chain.signers import key_account
from nmrstake.hashing import keccak_bytes, keccak_file, to_hex
from nmrstake.intake import DEFAULT_LIMITS, Intake, RoundWindow, UploadLimits
from nmrstake.signing import Domain, UploadAuthorisation
from nmrstake.submissions import StoredUpload, SubmissionStore

BOUNDARY = "nmrstake-test-boundary-7f3a"
MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def csv_file(rows: int = 40, *, seed: int = 0, header: str = "id,prediction", value: Callable[[int], str] | None = None,
             ids: Callable[[int], str] | None = None) -> bytes:
    """A predictions CSV: `rows` lines of id and one value in (0, 1)."""
    lines = [header]
    for i in range(rows):
        v = value(i) if value else f"{((i * 7919 + seed * 104729) % 997 + 1) / 1000:.3f}"
        lines.append(f"{ids(i) if ids else f'id_{i:04d}'},{v}")
    return ("\n".join(lines) + "\n").encode()


def multipart(parts: list[tuple[str, str | bytes]], *, filename: str = "preds.csv") -> bytes:
    """A multipart/form-data body with BOUNDARY, the parts in the given order. A bytes value is
    a file part; a str value a plain field."""
    out = b""
    for name, value in parts:
        out += f"--{BOUNDARY}\r\n".encode()
        if isinstance(value, bytes):
            out += (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n").encode() + value + b"\r\n"
        else:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    return out + f"--{BOUNDARY}--\r\n".encode()


def signed_fields(domain: Domain, staker: str, signer: Any, *, round_id: int, model: str, content: bytes,
                  expiry: int | None = None) -> dict[str, str]:
    """The fields of an upload of `content` signed by `signer` (an ape account or eth-account
    LocalAccount through an ape signer) as participant.deliver() signs one, `file_hash` included."""
    auth = UploadAuthorisation(staker, round_id, model, keccak_bytes(content), secrets.randbits(64),
                               expiry if expiry is not None else int(time.time()) + 600)
    return {"round": str(round_id), "model": model, "staker": staker, "nonce": str(auth.nonce),
            "expiry": str(auth.expiry), "signature": auth.sign(domain, signer), "file_hash": to_hex(keccak_bytes(content))}


#: The deployment the intake-only tests sign for, and their staker's key.
INTAKE_DOMAIN = Domain(31337, "0x" + "cc" * 20)
INTAKE_STAKER_KEY = b"\x11" * 32


def open_intake(store: SubmissionStore, limits: UploadLimits = DEFAULT_LIMITS) -> Intake:
    """An intake of a round always open, on no chain (the files and rows are what is tested)."""
    return Intake(store, INTAKE_DOMAIN, window=lambda r: RoundWindow(r, 0, 2**62), chain_now=lambda: int(time.time()),
                  limits=limits)


def intake_upload(intake: Intake, path: Path, *, round_id: int = 7, model: str = "model_00") -> StoredUpload:
    """`path` uploaded through `intake` by INTAKE_STAKER_KEY's address, signed as a participant signs."""
    account = key_account(INTAKE_STAKER_KEY)
    auth = UploadAuthorisation.new(account.address, round_id, model, keccak_file(path), now=int(time.time()))
    with open(path, "rb") as fh:
        return intake.receive(round_id=round_id, model=model, staker=account.address, nonce=auth.nonce,
                              expiry=auth.expiry, signature=auth.sign(INTAKE_DOMAIN, account), source=fh)
