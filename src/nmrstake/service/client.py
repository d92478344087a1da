"""The participant's (and verifier's) client of the tournament service, over HTTP.

Every problem document the service returns becomes a RequestError with its status, type and
message; a service that cannot be reached is a ConfigError naming the URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from nmrstake.errors import ConfigError, RequestError
from nmrstake.hashing import checksum_address, to_hex
from nmrstake.signing import Domain

TIMEOUT = 120


def wait_until_healthy(url: str, check_alive: Callable[[], None], *, timeout: float = 90, poll: float = 0.2) -> None:
    """Poll ``GET {url}/healthz`` until it answers 200 (a service starting up, e.g. `nmrstake
    serve` just spawned). `check_alive` raises when the process behind the URL has died, so that a
    crash is reported at once rather than after `timeout`; past `timeout` s, a ConfigError."""
    deadline = time.monotonic() + timeout
    while True:
        check_alive()
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise ConfigError(f"the service did not answer {url}/healthz within {timeout:.0f} s")
        time.sleep(poll)


class ServiceClient:
    """The `/v1` API of one service, e.g. ``ServiceClient("http://127.0.0.1:8000")``."""

    def __init__(self, url: str, *, session: requests.Session | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"--api {url}: not an http(s) URL")
        self.url = url.rstrip("/")
        self.session = session or requests.Session()
        self._info: dict[str, Any] | None = None

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, f"{self.url}{path}", timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise ConfigError(f"cannot reach the tournament service at {self.url} ({type(exc).__name__})") from None
        if response.status_code >= 400:
            try:
                body = response.json()
                if not isinstance(body, dict):
                    raise ValueError("not an object")
                kind = str(body.get("type", "")).rsplit(":", 1)[-1] or "error"
                detail = str(body.get("detail") or body.get("title") or response.reason)
                field = body.get("field")
            except ValueError:
                kind, detail, field = "error", f"HTTP {response.status_code} {response.reason}", None
            raise RequestError(response.status_code, kind, f"the service refused: {detail}", field=field)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self._json(self._request("GET", path, params=params or None))

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ConfigError(f"{response.url}: the service answered something other than JSON "
                              f"({response.headers.get('content-type', 'no content type')}); is --api its URL?") from None

    def fetch(self, path: str) -> bytes:
        """A file's bytes."""
        return self._request("GET", path).content

    # ------------------------------------------------------------------ service

    def info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = self.get("/v1/info")
        return self._info

    def check_deployment(self, domain: Domain) -> None:
        """Refuse a service that serves another chain or tournament than the one we use."""
        info = self.info()
        if not isinstance(info, dict) or not {"chain_id", "tournament", "receipt_signer"} <= set(info):
            raise ConfigError(f"{self.url}/v1/info: not a tournament service's answer; is --api its URL?")
        if int(info["chain_id"]) != domain.chain_id or checksum_address(info["tournament"]) != checksum_address(domain.tournament):
            raise ConfigError(f"the service at {self.url} serves tournament {info['tournament']} on chain "
                              f"{info['chain_id']}, not {domain.tournament} on chain {domain.chain_id}")

    def deployment(self) -> Any:
        """The deployment the service serves (addresses, blocks, code hashes): the client checks
        the code hashes against the chain before using it."""
        import json

        from nmrstake.deploy import Deployment

        return Deployment.from_json(json.dumps(self.get("/v1/deployment")), f"{self.url}/v1/deployment")

    @property
    def receipt_signer(self) -> str:
        return checksum_address(self.info()["receipt_signer"])

    # ------------------------------------------------------------------ uploads

    def upload(self, *, round_id: int, model: str, staker: str, nonce: int, expiry: int, signature: str,
               path: Path, file_hash: bytes) -> dict[str, Any]:
        fields = {"round": str(round_id), "model": model, "staker": staker, "nonce": str(nonce),
                  "expiry": str(expiry), "signature": signature, "file_hash": to_hex(file_hash)}
        with open(path, "rb") as fh:
            return self._json(self._request("POST", "/v1/submissions", data=fields,
                                            files={"file": (Path(path).name, fh, "application/octet-stream")}))

    # ------------------------------------------------------------------ results

    def proof(self, round_id: int, model: str, staker: str) -> dict[str, Any] | None:
        """The claim of a stake from the published results; None if the round is not published."""
        try:
            return self.get(f"/v1/rounds/{round_id}/proofs/{model}/{checksum_address(staker)}")
        except RequestError as exc:
            if exc.status == 404 and exc.kind == "not-published":
                return None
            raise


