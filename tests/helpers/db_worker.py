"""A separate process acting on the service's database, as one replica of `nmrstake serve` would:
the tests of holds and uniqueness across processes (tests/offchain/test_database.py) start it
with :func:`start` and read what it prints, one line per event.

    python -m helpers.db_worker migrate URL FOLDER
    python -m helpers.db_worker store URL FOLDER AUTHORISATION        (prints stored | conflict)
    python -m helpers.db_worker hold URL FOLDER ROUND MODEL STAKER LEASE
        (prints held, then keeps the hold until a line arrives on stdin, or it is killed; or refused KIND: MESSAGE)
    python -m helpers.db_worker seen URL FOLDER AUTHORISATION EXPIRY (prints first | seen)
    python -m helpers.db_worker signer URL FOLDER KEY_FILE           (prints signer ADDRESS | refused: MESSAGE)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from nmrstake.errors import ConfigError, RequestError
from nmrstake.hashing import bytes32_from_hex, keccak_bytes
from nmrstake.intake import Intake, RoundWindow
from nmrstake.signing import DeliveryReceipt, Domain
from nmrstake.storage.database import open_database
from nmrstake.submissions import SubmissionStore

STAKER = "0x" + "a1" * 20
DOMAIN = Domain(31337, "0x" + "cc" * 20)
TESTS = Path(__file__).resolve().parents[1]
SRC = TESTS.parent / "src"


def start(*args: str) -> subprocess.Popen[str]:
    """This module in a new Python process, its stdout and stdin as text pipes."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)])}
    return subprocess.Popen([sys.executable, "-m", "helpers.db_worker", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def run(*args: str) -> str:
    """This module's output for `args`, once it has ended (its error output if it failed)."""
    worker = start(*args)
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, f"db_worker {args[0]} failed ({worker.returncode}): {err}"
    return out.strip()


def intake(store: SubmissionStore, lease: float = 30.0) -> Intake:
    """An intake of a round always open, on no chain: only the database's holds matter here."""
    return Intake(store.open_for_writing(), DOMAIN, window=lambda r: RoundWindow(r, 0, 2**62),
                  chain_now=lambda: int(time.time()), hold_lease=lease)


def say(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str]) -> int:
    command, url, folder = argv[0], argv[1], Path(argv[2])
    store = SubmissionStore(folder, database_url=url)
    if command == "migrate":
        open_database(url, folder).migrate()
        say("migrated")
    elif command == "store":
        from sqlalchemy.exc import IntegrityError

        store.open_for_writing()
        content = os.urandom(16)
        digest = keccak_bytes(content)
        with store.staging() as staged:
            staged.write_bytes(content)
            try:
                store.store(staged, round_id=7, model="m", staker=STAKER, file_hash=digest, extension=".csv",
                            received_at=1, authorisation=bytes32_from_hex(argv[3]), signature="0x",
                            receipt=DeliveryReceipt(STAKER, 7, "m", digest, 1))
                say("stored")
            except IntegrityError:
                say("conflict")
    elif command == "hold":
        key = (int(argv[3]), argv[4], argv[5])
        try:
            with intake(store, float(argv[6])).exclusive(key):
                say("held")
                sys.stdin.readline()  # until told, or killed
            say("released")
        except RequestError as exc:
            say(f"refused {exc.kind}: {exc.message}")
    elif command == "seen":
        first = intake(store).first_hold(bytes32_from_hex(argv[3]), int(argv[4]))
        say("first" if first else "seen")
    elif command == "signer":
        try:
            store = SubmissionStore(folder, database_url=url, receipt_key_file=Path(argv[3]))
            say(f"signer {intake(store).receipt_signer}")
        except ConfigError as exc:
            say(f"refused: {exc.message}")
    else:
        raise SystemExit(f"unknown command {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
