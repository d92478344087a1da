"""Self-service test NMR: ``POST /v1/faucet`` mints test NMR and sends a little ether for gas to an
address, from a faucet account the operator names when starting the service
(``nmrstake serve --faucet-account TEST::0`` or ``--faucet-wallet NAME``).

The faucet is off unless the operator names an account, and always off on chain 1 (mainnet) and
when the deployment's token is not the project's mintable NMR (or the account may not mint it):
the route then answers 404 ``faucet-off``. Each address gets one grant per period (a day by
default) and the service at most `per_hour` grants an hour; a refusal is a 429 problem with a
``Retry-After``. Grants are recorded in the service's database (:mod:`nmrstake.storage.database`,
table ``faucet_grants``), shared by every replica: a grant is reserved before anything is sent, in
one transaction under the database's "faucet" lock that checks the limits against every grant
before it (whichever replica gave it), and completed once both transactions are mined; a failed
send (a 502) removes the reservation, so it records nothing. A replica killed between the two
leaves its reservation, which counts as a grant (the period then passes without one). The
transactions go through the one sender (:mod:`nmrstake.chain.transactions`) under the service's
chain lock, one request at a time, each sent once (never retried).

This module imports no web framework and no ape at its top; the route is
:mod:`nmrstake.service.routes.faucet`. The participant's side (asking, and the grant it gets back)
is :mod:`nmrstake.client.faucet`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nmrstake.client.faucet import FaucetGrant
from nmrstake.errors import RequestError
from nmrstake.storage.database import Database
from nmrstake.storage.tables import faucet_grants

MAINNET_CHAIN_ID = 1
DEFAULT_NMR_WEI = 100 * 10**18
DEFAULT_ETHER_WEI = 10**17
DEFAULT_PERIOD = 24 * 3600
DEFAULT_PER_HOUR = 60

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

    def __init__(self, client: Any, account: Any, database: Database, *, lock: threading.Lock,
                 settings: FaucetSettings = DEFAULT_SETTINGS, off: str | None = None) -> None:
        self.client, self.account, self.lock, self.settings, self.off = client, account, lock, settings, off
        self.database = database
        self._one_at_a_time = threading.Lock()
        if off is None:
            database.migrate()

    @classmethod
    def open(cls, client: Any, account: Any | None, database: Database, *, lock: threading.Lock,
             settings: FaucetSettings = DEFAULT_SETTINGS) -> Faucet:
        """The faucet of a service: off without an account, on mainnet, or when the token is not
        a mintable NMR the account may mint."""
        return cls(client, account, database, lock=lock, settings=settings, off=why_off(client, account))

    def _check_limits(self, conn: Connection, address: str, now: int) -> None:
        s, g = self.settings, faucet_grants
        last: int | None = conn.execute(sa.select(sa.func.max(g.c.granted_at)).where(g.c.address == address)).scalar_one()
        if last is not None and now < last + s.period:
            raise _Limited(f"address: {address} got test NMR at {_iso(last)}; the faucet gives to an address once "
                           f"every {s.period} s: come back at {_iso(last + s.period)}", last + s.period, "address")
        recent: list[int] = list(conn.execute(sa.select(g.c.granted_at).where(g.c.granted_at > now - 3600)
                              .order_by(g.c.granted_at)).scalars())
        if len(recent) >= s.per_hour:
            back = int(recent[len(recent) - s.per_hour]) + 3600
            raise _Limited(f"the faucet gives at most {s.per_hour} grants an hour; come back at {_iso(back)}", back, None)

    def _reserve(self, address: str, now: int) -> int:
        """Check the limits and reserve the grant, in one transaction no other replica's check
        can interleave with; the reservation's id."""
        s, g = self.settings, faucet_grants
        with self.database.write("faucet") as conn:
            self._check_limits(conn, address, now)
            return int(conn.execute(sa.insert(g).values(address=address, granted_at=now, nmr=str(s.nmr),
                                                        ether=str(s.ether)).returning(g.c.id)).scalar_one())

    def give(self, address: str) -> FaucetGrant:
        """Mint `settings.nmr` test NMR and send `settings.ether` wei to `address` (checksummed),
        each transaction sent once; record the grant once both are mined."""
        from nmrstake.amounts import format_nmr
        from nmrstake.chain.transactions import send, send_ether
        from nmrstake.intake import guarded_chain_read

        if self.off is not None:
            raise RequestError(404, "faucet-off", f"this service gives no test NMR: {self.off}")
        s, g = self.settings, faucet_grants
        with self._one_at_a_time:  # one grant at a time here; the database's lock orders the replicas
            now = int(time.time())
            reserved = self._reserve(address, now)

            def grant() -> tuple[str, str]:
                minted = send(self.client.token.mint, address, s.nmr, sender=self.account,
                              what=f"minting {format_nmr(s.nmr)} test NMR to {address}")
                sent = send_ether(self.account, address, s.ether,
                                  what=f"sending {format_nmr(s.ether)} ETH for gas to {address}")
                return minted.txn_hash, _hex(sent.txn_hash)

            try:
                nmr_txn, ether_txn = guarded_chain_read(self.lock, grant)
            except BaseException:
                with self.database.write() as conn:
                    conn.execute(sa.delete(g).where(g.c.id == reserved))
                raise
            with self.database.write() as conn:
                conn.execute(sa.update(g).where(g.c.id == reserved).values(nmr_txn=nmr_txn, ether_txn=ether_txn))
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
