"""Self-service test NMR: ``POST /v1/faucet`` mints test NMR and sends a little ether for gas to an
address, from a faucet account the operator names when starting the service
(``nmrstake serve --faucet-account TEST::0`` or ``--faucet-wallet NAME``).

The faucet is off unless the operator names an account, and always off on chain 1 (mainnet) and
when the deployment's token is not the project's mintable NMR (or the account may not mint it):
the route then answers 404 ``faucet-off``. Each address gets one grant per period (a day by
default) and the service at most `per_hour` grants an hour; a refusal is a 429 problem with a
``Retry-After``. Grants are recorded in ``faucet.sqlite3`` in the service's data folder, beside
the upload log, once both transactions are mined: a failed send (a 502) records nothing. The
transactions go through the one sender (:mod:`nmrstake.chain.transactions`) under the service's
chain lock, one request at a time, each sent once (never retried).

This module imports no web framework and no ape at its top; the route is
:mod:`nmrstake.service.routes.faucet`. The participant's side (asking, and the grant it gets back)
is :mod:`nmrstake.client.faucet`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nmrstake.client.faucet import FaucetGrant
from nmrstake.errors import RequestError
from nmrstake.fsutil import thread_connection

MAINNET_CHAIN_ID = 1
DEFAULT_NMR_WEI = 100 * 10**18
DEFAULT_ETHER_WEI = 10**17
DEFAULT_PERIOD = 24 * 3600
DEFAULT_PER_HOUR = 60

SCHEMA = """
CREATE TABLE IF NOT EXISTS grants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    address TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    nmr TEXT NOT NULL,
    ether TEXT NOT NULL,
    nmr_txn TEXT NOT NULL,
    ether_txn TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS grants_by_address ON grants (address, granted_at);
CREATE INDEX IF NOT EXISTS grants_by_time ON grants (granted_at);
"""


@dataclass(frozen=True)
class FaucetSettings:
    """What one grant gives (wei), and how often: once per `period` seconds per address, and at
    most `per_hour` grants an hour in all."""

    nmr: int = DEFAULT_NMR_WEI
    ether: int = DEFAULT_ETHER_WEI
    period: int = DEFAULT_PERIOD
    per_hour: int = DEFAULT_PER_HOUR


DEFAULT_SETTINGS = FaucetSettings()


class Faucet:
    """The service's faucet: `account` (an ape account holding MINTER_ROLE on the deployment's
    NMR, and ether) sends, `client` is the service's TournamentClient, `lock` its chain lock.
    `off` says why it gives nothing (None when it is on)."""

    def __init__(self, client: Any, account: Any, folder: Path, *, lock: threading.Lock,
                 settings: FaucetSettings = DEFAULT_SETTINGS, off: str | None = None) -> None:
        self.client, self.account, self.lock, self.settings, self.off = client, account, lock, settings, off
        self.db_path = Path(folder) / "faucet.sqlite3"
        self._local = threading.local()
        self._one_at_a_time = threading.Lock()
        if off is None:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self._db().executescript(SCHEMA)

    @classmethod
    def open(cls, client: Any, account: Any | None, folder: Path, *, lock: threading.Lock,
             settings: FaucetSettings = DEFAULT_SETTINGS) -> Faucet:
        """The faucet of a service: off without an account, on mainnet, or when the token is not
        a mintable NMR the account may mint."""
        return cls(client, account, folder, lock=lock, settings=settings, off=why_off(client, account))

    def _db(self) -> sqlite3.Connection:
        return thread_connection(self._local, self.db_path)

    def _check_limits(self, address: str, now: int) -> None:
        db, s = self._db(), self.settings
        last = db.execute("SELECT MAX(granted_at) FROM grants WHERE address = ?", (address,)).fetchone()[0]
        if last is not None and now < last + s.period:
            raise _Limited(f"address: {address} got test NMR at {_iso(last)}; the faucet gives to an address once "
                           f"every {s.period} s: come back at {_iso(last + s.period)}", last + s.period, "address")
        recent = db.execute("SELECT granted_at FROM grants WHERE granted_at > ? ORDER BY granted_at",
                            (now - 3600,)).fetchall()
        if len(recent) >= s.per_hour:
            back = int(recent[len(recent) - s.per_hour][0]) + 3600
            raise _Limited(f"the faucet gives at most {s.per_hour} grants an hour; come back at {_iso(back)}", back, None)

    def give(self, address: str) -> FaucetGrant:
        """Mint `settings.nmr` test NMR and send `settings.ether` wei to `address` (checksummed),
        each transaction sent once; record the grant once both are mined."""
        from nmrstake.amounts import format_nmr
        from nmrstake.chain.transactions import send, send_ether
        from nmrstake.intake import guarded_chain_read

        if self.off is not None:
            raise RequestError(404, "faucet-off", f"this service gives no test NMR: {self.off}")
        s = self.settings
        with self._one_at_a_time:  # one grant at a time: the limits are checked against every grant before it
            now = int(time.time())
            self._check_limits(address, now)

            def grant() -> tuple[str, str]:
                minted = send(self.client.token.mint, address, s.nmr, sender=self.account,
                              what=f"minting {format_nmr(s.nmr)} test NMR to {address}")
                sent = send_ether(self.account, address, s.ether,
                                  what=f"sending {format_nmr(s.ether)} ETH for gas to {address}")
                return minted.txn_hash, _hex(sent.txn_hash)

            nmr_txn, ether_txn = guarded_chain_read(self.lock, grant)
            self._db().execute("INSERT INTO grants (address, granted_at, nmr, ether, nmr_txn, ether_txn) "
                               "VALUES (?, ?, ?, ?, ?, ?)", (address, now, str(s.nmr), str(s.ether), nmr_txn, ether_txn))
        return FaucetGrant(address, s.nmr, s.ether, nmr_txn, ether_txn, now + s.period)


class _Limited(RequestError):
    def __init__(self, message: str, back_at: int, field: str | None) -> None:
        super().__init__(429, "faucet-limit", message, field=field)
        self.back_at = back_at


def why_off(client: Any, account: Any | None) -> str | None:
    """Why a faucet with `account` would give nothing on this deployment, or None if it can give."""
    if account is None:
        return "the operator started it without --faucet-account or --faucet-wallet"
    chain_id = int(client.provider.chain_id)
    if chain_id == MAINNET_CHAIN_ID:
        return "the faucet is always off on mainnet (chain 1)"
    token = client.token
    try:
        may_mint = bool(token.hasRole(token.MINTER_ROLE(), account.address))
    except Exception:  # noqa: BLE001 - a token without roles (not the project's NMR) raises its own types
        return f"the token {token.address} is not the project's mintable NMR"
    if not may_mint:
        return f"the faucet account {account.address} may not mint the token {token.address} (no MINTER_ROLE)"
    return None


def _hex(txn_hash: Any) -> str:
    text = txn_hash.hex() if isinstance(txn_hash, (bytes, bytearray)) else str(txn_hash)
    return text if text.startswith("0x") else "0x" + text


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


__all__ = ["Faucet", "FaucetSettings", "why_off"]
