"""The participant's (and verifier's) client of the tournament service, over HTTP.

Every problem document the service returns becomes a RequestError with its status, type and
message; a service that cannot be reached is a ConfigError naming the URL.

Every request has a connect and a read timeout and is retried, within a bounded time, when the
failure is the kind that passes: the connection failed or broke, or the service (or a reverse
proxy in front of it) answered 408, 5xx or, for an upload, 409 `upload-in-progress`
(:class:`RetryPolicy`). Nothing else is retried: a 4xx is the service's final word, and its 429s
are limits, not load. An upload is retried with the very same signed fields, so the service's
refusal of a used signature makes it happen at most once (:meth:`ServiceClient.upload`).
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, cast

import requests

from nmrstake.errors import ConfigError, InputError, RequestError
from nmrstake.hashing import bytes32_from_hex, checksum_address, to_hex
from nmrstake.jsontypes import JsonObject, JsonValue, json_int

if TYPE_CHECKING:
    from nmrstake.deploy import Deployment
    from nmrstake.intake import UploadAnswer
    from nmrstake.signing import Domain, WebhookRequest

CONNECT_TIMEOUT_ENV = "NMRSTAKE_API_CONNECT_TIMEOUT"
READ_TIMEOUT_ENV = "NMRSTAKE_API_READ_TIMEOUT"
RETRY_SECONDS_ENV = "NMRSTAKE_API_RETRY_SECONDS"

#: Answers worth another attempt: the request timed out, the service failed or is unavailable,
#: or a reverse proxy found it down (502, 504). Problem kinds among them that waiting cannot fix
#: (the operator's configuration or published files) are not retried.
RETRIED_STATUSES = frozenset({408, 500, 502, 503, 504})
PERMANENT_KINDS = frozenset({"misconfigured", "bad-published-data"})
#: An upload stops retrying this long before its signature expires (clocks differ).
EXPIRY_MARGIN = 30.0
#: A connection that fails with more than this many seconds of retry budget left is reported at
#: once (a warning on the ``nmrstake.client.http`` logger, which Python prints on stderr when
#: nothing else is configured), so that a mistyped or dead --api does not wait a minute in silence.
NOTICE_BUDGET = 5.0

_log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class RetryPolicy:
    """Timeouts and retries of every request a ServiceClient makes.

    - `connect_timeout`, `read_timeout`: seconds to open the connection, and to wait for each
      piece of the answer (not for the whole of it). The read timeout covers the service's work on
      an upload once the body is in (hashing, loading the file, a chain read), hence a minute.
    - `budget`: seconds during which a failed request is tried again, counted from its first
      attempt; no attempt starts after it (0: a single attempt). An attempt that started in time
      runs to its own timeouts.
    - the pause before the n-th retry is ``first_wait * 2**(n-1)`` capped at `max_wait`, of which
      a random half to all is taken (jitter: clients cut off together do not all come back in the
      same instant); at least what the answer's `Retry-After` asks.

    The environment sets the defaults of the CLI and of a ServiceClient made without a policy:
    ``$NMRSTAKE_API_CONNECT_TIMEOUT``, ``$NMRSTAKE_API_READ_TIMEOUT``, ``$NMRSTAKE_API_RETRY_SECONDS``.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    budget: float = 60.0
    first_wait: float = 0.5
    max_wait: float = 8.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetryPolicy:
        env = os.environ if environ is None else environ

        def seconds(name: str, default: float, *, zero: bool = False) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
                raise ConfigError(f"${name}={raw!r}: not a number of seconds{' (0 or more)' if zero else ' above 0'}")
            return value

        return cls(connect_timeout=seconds(CONNECT_TIMEOUT_ENV, cls.connect_timeout),
                   read_timeout=seconds(READ_TIMEOUT_ENV, cls.read_timeout),
                   budget=seconds(RETRY_SECONDS_ENV, cls.budget, zero=True))

    def pause(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1, 2, ...): jittered exponential backoff."""
        ceiling = min(self.max_wait, self.first_wait * 2 ** min(retry - 1, 30))
        return random.uniform(ceiling / 2, ceiling)


class _Attempts:
    """The attempts of one call: how many so far, and whether the budget leaves room for another."""

    def __init__(self, policy: RetryPolicy, *, until: float | None = None) -> None:
        self.policy = policy
        self.started = time.monotonic()
        self.deadline = self.started + policy.budget if until is None else min(until, self.started + policy.budget)
        self.count = 0
        self.unknown = False  # whether an attempt may have done something at the service we did not hear of
        self.told = False  # whether the caller was told that its call waits on retries

    def again(self, at_least: float = 0.0, *, unreachable: str | None = None) -> bool:
        """Sleep before the next attempt and say True, or say False if the budget has no room for it.
        `unreachable`: the URL of a service whose connection failed, said once per call (see
        NOTICE_BUDGET)."""
        wait = max(self.policy.pause(self.count), at_least)
        left = self.deadline - time.monotonic()
        if wait > left:
            return False
        if unreachable and not self.told and left > NOTICE_BUDGET:
            self.told = True
            _log.warning("no answer from the tournament service at %s; trying again for up to %.0f s "
                         "(Ctrl-C stops; $%s sets how long)", unreachable, left, RETRY_SECONDS_ENV)
        time.sleep(wait)
        return True

    def __str__(self) -> str:
        elapsed = time.monotonic() - self.started
        return (f"{self.count} attempt{'s' if self.count != 1 else ''} in {elapsed:.0f} s, retry budget "
                f"{self.policy.budget:.0f} s, set by ${RETRY_SECONDS_ENV}")


def _transient(exc: requests.RequestException) -> bool:
    """A failure of the connection that may pass: refused, reset, cut short, timed out. Not a
    certificate that does not verify, a host name that does not resolve (a typo in --api is not
    worth a minute of retries), nor a URL that cannot be used."""
    from urllib3.exceptions import NameResolutionError

    inner = exc.args[0] if exc.args else None
    if isinstance(exc, requests.exceptions.SSLError) or isinstance(getattr(inner, "reason", inner), NameResolutionError):
        return False
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError))


def _problem(response: requests.Response) -> RequestError:
    """The RequestError of a non-2xx answer: the problem document's kind, detail and field."""
    try:
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("not an object")
        kind = str(body.get("type", "")).rsplit(":", 1)[-1] or "error"
        detail = str(body.get("detail") or body.get("title") or response.reason)
        field = body.get("field")
    except ValueError:
        kind, detail, field = "error", f"HTTP {response.status_code} {response.reason}", None
    return RequestError(response.status_code, kind, f"the service refused: {detail}",
                        field=field if isinstance(field, str) else None)


def _retry_after(response: requests.Response) -> float:
    """Seconds the answer's Retry-After header asks for (delta-seconds or an HTTP date); 0 if none."""
    value = response.headers.get("Retry-After")
    if not value:
        return 0.0
    from urllib3.exceptions import InvalidHeader
    from urllib3.util.retry import Retry

    try:
        return max(0.0, float(Retry().parse_retry_after(value)))
    except InvalidHeader:
        return 0.0


class ProofJson(TypedDict):
    """A stake's claim as the service answers ``GET /v1/rounds/{r}/proofs/{model}/{staker}`` (its
    `Proof` schema): the published row (amounts in wei, decimal strings), the Merkle proof of its
    leaf, and the round's published root and manifest hash."""

    model: str
    staker: str
    stake: str
    valid: bool
    reason: str
    corr: float | None
    mmc: float | None
    score: float | None
    fraction: float
    payout: str
    burn: str
    leaf_index: int
    round: int
    merkle_root: str
    results_hash: str
    proof: list[str]


class ServiceClient:
    """The `/v1` API of one service, e.g. ``ServiceClient("http://127.0.0.1:8000")``.

    Every request has timeouts and is retried within a time budget (:class:`RetryPolicy`, by
    default from the environment): on a connection that fails, breaks or times out, and on 408,
    500, 502, 503 and 504 (a Retry-After is honoured). It is not retried on any other answer: a
    4xx is final (429s are the service's limits per key, staker and store, which waiting does not
    lift), and so are the 500s `misconfigured` and `bad-published-data`. Only a 2xx answer is a
    success; anything else raises. When the budget is spent, the last refusal is raised as a
    RequestError, or a failed connection as ``ConfigError("cannot reach the tournament service at
    URL (...; N attempts in S s, retry budget B s ...)")``.
    """

    def __init__(self, url: str, *, session: requests.Session | None = None, policy: RetryPolicy | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"--api {url}: not an http(s) URL")
        self.url = url.rstrip("/")
        self.session = session or requests.Session()
        self.policy = policy or RetryPolicy.from_env()
        self._info: JsonObject | None = None

    def _request(self, method: str, path: str, *, attempts: _Attempts | None = None,
                 retry_kinds: frozenset[str] = frozenset(), params: Mapping[str, str | int] | None = None,
                 data: Mapping[str, str] | None = None, files: Mapping[str, tuple[str, bytes, str]] | None = None,
                 json: JsonValue = None) -> requests.Response:
        """A 2xx answer to one request, tried again as the policy says. `retry_kinds`: problem
        kinds retried besides the RETRIED_STATUSES (an upload's `upload-in-progress`)."""
        attempts = attempts or _Attempts(self.policy)
        timeout = (self.policy.connect_timeout, self.policy.read_timeout)
        while True:
            attempts.count += 1
            try:
                response = self.session.request(method, f"{self.url}{path}", timeout=timeout,
                                                allow_redirects=method == "GET", params=params, data=data,
                                                files=files, json=json)
            except requests.RequestException as exc:
                attempts.unknown = attempts.unknown or not _never_sent(exc)
                if _transient(exc) and attempts.again(unreachable=self.url):
                    continue
                how = f"; {attempts}" if _transient(exc) else ""
                raise ConfigError(f"cannot reach the tournament service at {self.url} "
                                  f"({type(exc).__name__}{how})") from None
            if 200 <= response.status_code < 300:
                return response
            if 300 <= response.status_code < 400:
                raise ConfigError(f"{self.url}{path}: the service answered {response.status_code} "
                                  f"{response.reason}, to {response.headers.get('location', 'nowhere')}; "
                                  "give --api the URL it redirects to")
            refusal = _problem(response)
            retried = ((response.status_code in RETRIED_STATUSES and refusal.kind not in PERMANENT_KINDS)
                       or refusal.kind in retry_kinds)
            attempts.unknown = attempts.unknown or response.status_code >= 500
            if retried and attempts.again(_retry_after(response)):
                continue
            if retried and attempts.count > 1:
                raise RequestError(refusal.status, refusal.kind, f"{refusal.message} ({attempts})", field=refusal.field)
            raise refusal

    def get(self, path: str, **params: str | int) -> JsonValue:
        """The JSON answer to ``GET path?params``: whatever the service sent, to be checked where read."""
        return self._json(self._request("GET", path, params=params or None))

    def get_object(self, path: str, **params: str | int) -> JsonObject:
        """The JSON object answering ``GET path?params``; a ConfigError if the answer is another kind."""
        answer = self.get(path, **params)
        if not isinstance(answer, dict):
            raise ConfigError(f"{self.url}{path}: the service answered a JSON {type(answer).__name__}, not an "
                              "object; is --api its URL?")
        return answer

    def post_object(self, path: str, body: JsonObject) -> JsonObject:
        """The JSON object answering ``POST path`` with the JSON `body` (a refusal is its
        RequestError); a ConfigError if the answer is another kind."""
        answer = self._json(self._request("POST", path, json=body))
        if not isinstance(answer, dict):
            raise ConfigError(f"{self.url}{path}: the service answered a JSON {type(answer).__name__}, not an "
                              "object; is --api its URL?")
        return answer

    def _json(self, response: requests.Response) -> JsonValue:
        try:
            found: JsonValue = response.json()
            return found
        except ValueError:
            raise ConfigError(f"{response.url}: the service answered something other than JSON "
                              f"({response.headers.get('content-type', 'no content type')}); is --api its URL?") from None

    def fetch(self, path: str) -> bytes:
        """A file's bytes."""
        return self._request("GET", path).content

    # ------------------------------------------------------------------ service

    def info(self) -> JsonObject:
        if self._info is None:
            found = self.get("/v1/info")
            if not isinstance(found, dict):
                raise ConfigError(f"{self.url}/v1/info: not a tournament service's answer; is --api its URL?")
            self._info = found
        return self._info

    def check_deployment(self, domain: Domain) -> None:
        """Refuse a service that serves another chain or tournament than the one we use."""
        info = self.info()
        if not {"chain_id", "tournament", "receipt_signer"} <= set(info):
            raise ConfigError(f"{self.url}/v1/info: not a tournament service's answer; is --api its URL?")
        if (json_int(info["chain_id"]) != domain.chain_id
                or checksum_address(str(info["tournament"])) != checksum_address(domain.tournament)):
            raise ConfigError(f"the service at {self.url} serves tournament {info['tournament']} on chain "
                              f"{info['chain_id']}, not {domain.tournament} on chain {domain.chain_id}")

    def deployment(self) -> Deployment:
        """The deployment the service serves (addresses, blocks, code hashes): the client checks
        the code hashes against the chain before using it."""
        import json

        from nmrstake.deploy import Deployment

        return Deployment.from_json(json.dumps(self.get("/v1/deployment")), f"{self.url}/v1/deployment")

    @property
    def receipt_signer(self) -> str:
        return checksum_address(str(self.info()["receipt_signer"]))

    # ------------------------------------------------------------------ alerts (webhooks)

    def webhooks(self, address: str) -> JsonObject:
        """An address's webhooks (their URLs' origins) and their latest deliveries (``GET /v1/webhooks/{address}``)."""
        return self.get_object(f"/v1/webhooks/{checksum_address(address, argument='address')}")

    def register_webhook(self, request: WebhookRequest, signature: str) -> JsonObject:
        """Register the signed `request` (action "register"): the webhook as the service keeps it."""
        return self.post_object("/v1/webhooks", _webhook_body(request, signature))

    def delete_webhook(self, request: WebhookRequest, signature: str) -> JsonObject:
        """Delete a webhook with the signed `request` (action "delete")."""
        path = f"/v1/webhooks/{checksum_address(request.account, argument='address')}"
        answer = self._json(self._request("DELETE", path, json=_webhook_body(request, signature)))
        if not isinstance(answer, dict):
            raise ConfigError(f"{self.url}{path}: the service answered a JSON {type(answer).__name__}, not an object")
        return answer

    def verify_alert(self, body: bytes, signature: str) -> bool:
        """Whether an alert's `body` (the bytes a webhook received) carries this service's
        signature (its ``X-Nmrstake-Signature`` header): EIP-191 of keccak-256(body) by the receipt
        signer of ``/v1/info``. A signature that is not one is False, never an error."""
        from nmrstake.signing import body_signer

        try:
            return body_signer(body, signature) == self.receipt_signer
        except InputError:
            return False

    # ------------------------------------------------------------------ uploads

    def upload(self, *, round_id: int, model: str, staker: str, nonce: int, expiry: int, signature: str,
               path: Path, file_hash: bytes) -> UploadAnswer:
        """Upload `path` with the staker's signed fields; the service's 201 answer (the upload and
        its receipt).

        The file is read once, and every attempt sends the same bytes with the same fields. A
        signature is taken once by the service, so a retry cannot store the file twice:
        - an attempt that never reached the service, or that the service lost in a crash before
          logging it (a kill, a restart), left no row, and the retry is taken as the first would
          have been;
        - an attempt the service logged but whose 201 was lost (the connection broke, timed out,
          or a proxy failed after the service answered) makes the retry a 409
          `signature-replayed`. The client then asks ``GET /v1/rounds/{r}/submissions/{model}/
          {staker}`` for the latest upload of the key, and returns it if it is this very file
          (same round, model, staker and keccak-256): the same receipt the lost 201 carried,
          unless the same file was uploaded again meanwhile, whose receipt is as good. If the
          latest is another file, the 409 is raised: the upload happened, and was replaced since.
        - while the service is still working on an attempt the client gave up waiting for, the
          retry is a 409 `upload-in-progress`, retried too.
        Retries stop `EXPIRY_MARGIN` s before the signature expires. The caller checks the
        receipt's signature (``participant.deliver``). Uploading the same file again on purpose
        needs a fresh signature (a new nonce): the service then logs a second upload of it, with
        its own receipt, and keeps the file once (files are named by their keccak-256).
        """
        fields = {"round": str(round_id), "model": model, "staker": staker, "nonce": str(nonce),
                  "expiry": str(expiry), "signature": signature, "file_hash": to_hex(file_hash)}
        content = Path(path).read_bytes()
        attempts = _Attempts(self.policy, until=time.monotonic() + expiry - time.time() - EXPIRY_MARGIN)
        try:
            response = self._request("POST", "/v1/submissions", attempts=attempts,
                                     retry_kinds=frozenset({"upload-in-progress"}), data=fields,
                                     files={"file": (Path(path).name, content, "application/octet-stream")})
        except RequestError as exc:
            if exc.kind == "signature-replayed" and attempts.count > 1:
                return self._lost_answer(round_id, model, staker, file_hash, exc)
            raise
        except ConfigError as exc:
            if not attempts.unknown:
                raise
            raise ConfigError(f"{exc.message}; whether the upload arrived is unknown: uploading the same file "
                              "again is safe") from None
        if response.status_code != 201:
            raise ConfigError(f"{self.url}/v1/submissions answered {response.status_code} {response.reason} to an "
                              "upload, not 201 Created; is --api the tournament service's URL?")
        # The 201's body is the service's `Upload` document; participant.deliver checks its receipt: this
        # file, this key, signed (and refuses an answer without one).
        return cast("UploadAnswer", self._json(response))

    def _lost_answer(self, round_id: int, model: str, staker: str, file_hash: bytes,
                     replayed: RequestError) -> UploadAnswer:
        """The receipt of an upload the service logged while its 201 was lost: the key's latest
        upload, if it is this file."""
        try:
            seen = self.get(f"/v1/rounds/{round_id}/submissions/{model}/{checksum_address(staker)}")
        except RequestError as exc:
            if exc.status != 404:
                raise
            seen = {}
        latest = seen.get("latest") if isinstance(seen, dict) else None
        try:
            return self._upload_answer(latest, round_id, model, staker, file_hash)
        except ConfigError:
            raise RequestError(409, "signature-replayed", f"{replayed.message}; its answer to an earlier attempt was "
                               f"lost, and the latest upload it holds for round {round_id} model {model} of {staker} "
                               "is not this file (another upload came after it): upload again, with a fresh "
                               "signature", field="signature") from None

    def _upload_answer(self, answer: JsonValue, round_id: int, model: str, staker: str, file_hash: bytes) -> UploadAnswer:
        """`answer` if it describes an upload of this file for this key, with a receipt for it."""
        try:
            if not isinstance(answer, dict):
                raise ValueError("no receipt")
            found = answer.get("receipt")
            if not isinstance(found, dict):
                raise ValueError("no receipt")
            from nmrstake.signing import DeliveryReceipt

            receipt = DeliveryReceipt.from_json(found)
            commitment = bytes32_from_hex(str(answer.get("commitment")), argument="commitment")
            ours = (round_id, model, checksum_address(staker), file_hash)
            if ((receipt.round_id, receipt.model, checksum_address(receipt.staker), receipt.commitment) != ours
                    or commitment != file_hash):
                raise ValueError("another upload")
        except (ValueError, KeyError, TypeError, InputError) as exc:
            raise ConfigError(f"{self.url}/v1/submissions: the service's answer is not a receipt for round {round_id} "
                              f"model {model} staker {staker} file {to_hex(file_hash)} ({exc})") from None
        # Checked above: an object with this file's receipt, as the service's `Upload` document has it.
        return cast("UploadAnswer", answer)

    # ------------------------------------------------------------------ results

    def proof(self, round_id: int, model: str, staker: str) -> ProofJson | None:
        """The claim of a stake from the published results; None if the round is not published.
        Its fields are read with checks by :class:`~nmrstake.client.results.ServiceResults`."""
        path = f"/v1/rounds/{round_id}/proofs/{model}/{checksum_address(staker)}"
        try:
            found = self.get(path)
        except RequestError as exc:
            if exc.status == 404 and exc.kind == "not-published":
                return None
            raise
        if not isinstance(found, dict):
            raise ConfigError(f"{self.url}{path}: the service's proof for {model} / {staker} is malformed "
                              f"(a JSON {type(found).__name__}, not an object)")
        return cast("ProofJson", found)  # the service's `Proof` document; its reader checks each field



def _webhook_body(request: WebhookRequest, signature: str) -> JsonObject:
    return {"address": request.account, "url": request.url, "nonce": str(request.nonce), "expiry": str(request.expiry),
            "signature": signature, "models": list(request.models)}


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the request failed before a connection was made (refused, no route, no such host,
    connect timeout): then it certainly did nothing at the service."""
    from urllib3.exceptions import ConnectTimeoutError  # NewConnectionError, NameResolutionError are ones

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    inner = exc.args[0] if exc.args else None
    return isinstance(getattr(inner, "reason", inner), ConnectTimeoutError)
