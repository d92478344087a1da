"""The service's API as a contract: the response models of every route, the problem document, and
the encodings a client needs (EIP-712 types, model ids, Merkle leaves, the published manifest),
all written into ``/openapi.json`` so that a client can be written from the document alone.

The routes return plain dicts; FastAPI validates each against its model here before it is sent
(``extra="forbid"``: a key the model does not declare is an error, never dropped silently), so
the document and the answers cannot drift apart. Amounts are wei as decimal strings, hashes and
byte strings 0x-hex, addresses EIP-55 checksummed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from nmrstake.merkle import LEAF_ENCODING
from nmrstake.results.spec import CSV_COLUMNS, RESULTS_FORMAT
from nmrstake.signing import DOMAIN_NAME, DOMAIN_VERSION, RECEIPT_TYPES, UPLOAD_TYPES

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE = "urn:nmrstake:problem:"

_TITLES = {400: "Bad request", 401: "Not signed", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
           408: "Request timeout", 409: "Conflict", 411: "Length required", 413: "Too large",
           415: "Unsupported format", 422: "Invalid request", 429: "Limit reached", 500: "Internal error",
           502: "Chain error", 503: "Unavailable"}


def problem(status: int, kind: str, detail: str, *, instance: str | None = None, field: str | None = None,
            close: bool = False, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An RFC 9457 problem document; `close`: the connection closes after it (a request whose
    body was not read to its end); `headers`: more headers (a 405's `Allow`)."""
    body: dict[str, Any] = {"type": PROBLEM_TYPE + kind, "title": _TITLES.get(status, "Error"), "status": status,
                            "detail": detail}
    if instance:
        body["instance"] = instance
    if field:
        body["field"] = field
    sent = dict(headers or {})
    if close:
        sent["Connection"] = "close"
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=sent or None)


#: The largest uint256: round ids, nonces and expiries are uint256 on chain and in EIP-712.
UINT256_MAX = 2**256 - 1

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
HASH_PATTERN = r"^0x[0-9a-f]{64}$"
WEI_PATTERN = r"^[0-9]+$"
SIGNED_WEI_PATTERN = r"^-?[0-9]+$"
MODEL_NAME_REGEX = r"^[a-z0-9_]{1,32}$"
MODEL_LABEL_REGEX = r"^([a-z0-9_]{1,32}|0x[0-9a-f]{64})$"
ISO_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"


def _type_string(name: str, fields: list[dict[str, str]]) -> str:
    return f"{name}(" + ",".join(f"{f['type']} {f['name']}" for f in fields) + ")"


UPLOAD_TYPE_STRING = _type_string("Upload", UPLOAD_TYPES["Upload"])
RECEIPT_TYPE_STRING = _type_string("Receipt", RECEIPT_TYPES["Receipt"])

MODEL_ID_DESCRIPTION = (
    "A model on chain is a `bytes32` `modelId`: the model's name (`^[a-z0-9_]{1,32}$`) in UTF-8, right-padded "
    "with zero bytes to 32 bytes (`my_model` is `0x6d795f6d6f64656c` followed by 48 zeros). This is the "
    "`modelId` of the EIP-712 `Upload` and `Receipt` messages and of the Merkle leaves. The API names a model "
    "by its *label*: the name, or, for an id read from the chain that is not a name (a Tournament deployed "
    "before ids were checked takes any non-zero bytes32), the id's lowercase 0x-hex (66 characters, which no "
    "name can be). The hex of a name's id is not a label: each id has exactly one label. A stake whose label is "
    "not a name is refunded in full.")

# ------------------------------------------------------------------------------------------ types


def _wei(description: str) -> Any:
    return Field(description=f"{description} (NMR wei, decimal string)", pattern=WEI_PATTERN,
                 examples=["15000000000000000000"])


class _Strict(BaseModel):
    """A response body: exactly these members."""

    model_config = ConfigDict(extra="forbid")


Address = str
Hash = str


def _address(description: str) -> Any:
    return Field(description=f"{description} (EIP-55 checksummed)", pattern=ADDRESS_PATTERN)


def _hash(description: str) -> Any:
    return Field(description=f"{description} (0x-hex, 32 bytes)", pattern=HASH_PATTERN)


def _label(description: str) -> Any:
    return Field(description=f"{description}: its label (a model name, or the 0x-hex of an id that is not one; "
                             "see the ModelId schema)", pattern=MODEL_LABEL_REGEX)


# ------------------------------------------------------------------------------------------ problems


class Problem(BaseModel):
    """An RFC 9457 problem document (`application/problem+json`): every error the service answers."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "type": "urn:nmrstake:problem:round-closed", "title": "Conflict", "status": 409,
        "detail": "round 61 closed at 2026-11-27T18:33:57Z (chain time 2026-11-27T18:33:57Z); no upload is taken "
                  "after close", "instance": "/v1/submissions", "field": "round"}]})

    type: str = Field(description="`urn:nmrstake:problem:` followed by the kind (docs/service.md, Problems): "
                                  "malformed-request, malformed-multipart, unsigned, bad-signature, "
                                  "signature-expired, wrong-signer, submission-private, cannot-stake, "
                                  "unknown-round, not-published, no-upload, no-submission, no-such-file, no-stake, "
                                  "not-found, method-not-allowed, body-too-slow, round-not-open, round-closed, "
                                  "upload-in-progress, signature-replayed, length-required, too-many-uploads, "
                                  "staker-quota-exceeded, store-full, file-too-large, unsupported-media-type, "
                                  "unsupported-format, missing-field, invalid-field, empty-file, invalid-file, "
                                  "file-hash-mismatch, internal-error, bad-published-data, misconfigured, "
                                  "chain-error, chain-unavailable, index-unavailable, database-unavailable, http-error, "
                                  "faucet-off, faucet-limit, "
                                  "no-committee, not-committee-member, wrong-epoch, too-many-attestations",
                      pattern=r"^urn:nmrstake:problem:[a-z0-9-]+$")
    title: str = Field(description="the same for every problem of a status")
    status: int = Field(description="the HTTP status", ge=400, le=599)
    detail: str = Field(description="one line meant for a person")
    instance: str | None = Field(None, description="the request's path")
    field: str | None = Field(None, description="the form part or parameter at fault, when there is one")


#: What each status means, for the responses of the document.
PROBLEM_STATUSES: dict[int, str] = {
    400: "malformed-request, malformed-multipart",
    401: "unsigned, bad-signature, signature-expired",
    403: "wrong-signer, cannot-stake, submission-private",
    404: "unknown-round, not-published, no-upload, no-submission, no-such-file, no-stake",
    408: "body-too-slow (the connection is closed)",
    409: "round-not-open, round-closed, upload-in-progress, signature-replayed",
    411: "length-required",
    413: "file-too-large",
    415: "unsupported-media-type, unsupported-format",
    422: "missing-field, invalid-field (a malformed part or parameter), empty-file, invalid-file, file-hash-mismatch",
    429: "too-many-uploads, staker-quota-exceeded, store-full",
    500: "internal-error, bad-published-data, misconfigured",
    502: "chain-error: the chain refused a read or disagrees with the deployment",
    503: "chain-unavailable: the chain does not answer; index-unavailable, database-unavailable: the "
         "service's database does not answer; try again shortly",
}


def problems(*statuses: int, **kinds: str) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route that can answer these statuses with a problem document; a keyword
    `s404="..."` says which kinds of that status this route gives (default: PROBLEM_STATUSES). 500
    (an unexpected failure) and 503 (the database or the chain away) are declared for every route."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 500, 503}):
        out[status] = {"description": "Problem: " + kinds.get(f"s{status}", PROBLEM_STATUSES[status]),
                       "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    return out


# ------------------------------------------------------------------------------------------ service


class Health(_Strict):
    """The chain connection."""

    status: Literal["ok"]
    chain_id: int
    block: int = Field(description="the latest block's number")
    chain_time: int = Field(description="the timestamp the next block will carry (Unix seconds)")


class Eip712Domain(_Strict):
    """The EIP-712 domain of both messages, one per deployment: a signature made for another chain or
    another Tournament recovers another address. Its type is `EIP712Domain(string name,string version,
    uint256 chainId,address verifyingContract)`."""

    name: Literal["nmrstake"] = Field(description=f"always {DOMAIN_NAME!r}")
    version: Literal["1"] = Field(description=f"always {DOMAIN_VERSION!r}")
    chainId: int = Field(description="the chain id")
    verifyingContract: Address = _address("the Tournament contract")


class Eip712Field(_Strict):
    """One member of an EIP-712 struct type."""

    name: str
    type: str = Field(description="its Solidity type")


EIP712_TYPES_DESCRIPTION = (
    "The two signed messages' types, members in order.\n\n"
    f"`Upload` is signed by the staker (`primaryType: \"Upload\"`, `eth_signTypedData_v4`): `{UPLOAD_TYPE_STRING}`: "
    "`staker` the staker's address, `roundId` the round, `modelId` the model's bytes32 id (see ModelId), `fileHash` "
    "the keccak-256 of the file's bytes, `nonce` any uint256 (fresh for each upload: a signature is accepted once), "
    "`expiry` Unix seconds of the wall clock (at most 24 h ahead).\n\n"
    f"`Receipt` is signed by the service's receipt key (`receipt_signer` of /v1/info): `{RECEIPT_TYPE_STRING}`: "
    "`commitment` the keccak-256 of the file received, `receivedAt` the chain time at which it was accepted. To "
    "check a receipt, recover the signer of this message (`staker`, `roundId` = `round_id`, `modelId` = the bytes32 "
    "id of `model`, `commitment`, `receivedAt` = `received_at`) in the domain of /v1/info, and compare it with "
    "`receipt_signer`.")


class Eip712Types(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"description": EIP712_TYPES_DESCRIPTION})

    Upload: list[Eip712Field] = Field(examples=[UPLOAD_TYPES["Upload"]])
    Receipt: list[Eip712Field] = Field(examples=[RECEIPT_TYPES["Receipt"]])


class Eip712(_Strict):
    """The EIP-712 domain and types uploads and receipts are signed with."""

    domain: Eip712Domain
    types: Eip712Types


class Info(_Strict):
    """What a client needs before it uploads: the deployment, the receipt signer, the upload limit
    and the EIP-712 domain and types."""

    api: Literal["v1"]
    version: str = Field(description="the nmrstake version of the service")
    chain_id: int
    tournament: Address = _address("the Tournament contract")
    token: Address = _address("the NMR token")
    receipt_signer: Address = _address("the address that signs receipts; a receipt is worth what this link is")
    max_upload_bytes: int = Field(description="the largest predictions file taken")
    eip712: Eip712


class ContractRecord(_Strict):
    address: Address = _address("the contract")
    block: int = Field(description="the block of its deployment")
    transaction: str = Field(description="the deploying transaction's hash")
    codehash: str = Field(description="keccak-256 of its runtime code: a client checks the address holds it")


class Deployment(BaseModel):
    """The deployments file the service serves (as `ape run deploy` wrote it): contracts by name
    (`NMR`, `Tournament`, and `StrategyFactory`, `StrategyInvoker` where deployed), role holders by
    role, and the Tournament's constructor settings. May carry more members."""

    model_config = ConfigDict(extra="allow")

    ecosystem: str
    network: str
    chain_id: int
    deployer: Address = _address("the deployer")
    compiler: str
    contracts: dict[str, ContractRecord]
    roles: dict[str, list[str]] = Field(description="holders of each role, by role name")
    settings: dict[str, Any] = Field(description="the Tournament's settings: admin_delay, challenge_period, "
                                                 "grace_period, max_pause (seconds), tournament_contract")
    nmrstake_version: str


# ------------------------------------------------------------------------------------------ uploads


class Receipt(_Strict):
    """The service's signed Receipt (see Eip712Types): it received a file hashing to `commitment`
    for (round, model, staker) at chain time `received_at`."""

    staker: Address = _address("the staker")
    round_id: int = Field(ge=0, le=UINT256_MAX)
    model: str = Field(description="the model name (its modelId: see ModelId)", pattern=MODEL_NAME_REGEX)
    commitment: Hash = _hash("keccak-256 of the file's bytes")
    received_at: int = Field(description="chain time (Unix seconds) the file was accepted at")
    signature: str = Field(description="the receipt signer's 65-byte EIP-712 signature of the Receipt, 0x-hex",
                           pattern=r"^0x[0-9a-f]{130}$")


class Upload(_Strict):
    """An accepted upload and its receipt."""

    upload_id: int = Field(description="the service's number of this upload")
    round: int = Field(ge=0, le=UINT256_MAX)
    model: str = Field(description="the model name", pattern=MODEL_NAME_REGEX)
    staker: Address = _address("the staker")
    commitment: Hash = _hash("keccak-256 of the file's bytes: what a stake commits to")
    size: int = Field(description="the file's size in bytes")
    received_at: int = Field(description="chain time (Unix seconds) the file was accepted at")
    received_at_iso: str = Field(description="the same in ISO 8601 UTC", pattern=ISO_PATTERN)
    receipt: Receipt
    receipt_signer: Address = _address("the service's receipt signer")


class HeldUpload(_Strict):
    """One upload the service holds for a stake key: the file's hash and when it arrived."""

    commitment: Hash = _hash("keccak-256 of the file's bytes")
    received_at: int = Field(description="chain time (Unix seconds) the file was accepted at")


class Submission(_Strict):
    """What the service received for (round, model, staker): never the file."""

    round: int
    model: str = Field(pattern=MODEL_NAME_REGEX)
    staker: Address = _address("the staker")
    latest: Upload = Field(description="the latest upload, with its receipt")
    uploads: int = Field(description="how many uploads the service keeps for this key", ge=1)
    history: list[HeldUpload] = Field(description="every upload kept for this key, oldest first: the oracle scores "
                                                  "the last one received before close whose hash is the stake's "
                                                  "commitment")


UPLOAD_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The parts of an upload, the file last (the limits are then checked before the file is read). "
                   "The staker signs the EIP-712 `Upload` (see Eip712Types) over exactly round, model, the "
                   "file's keccak-256, nonce and expiry.",
    "required": ["round", "model", "staker", "nonce", "expiry", "signature", "file"],
    "properties": {
        "round": {"type": "integer", "minimum": 0, "maximum": UINT256_MAX, "description": "the round id"},
        "model": {"type": "string", "pattern": MODEL_NAME_REGEX, "description": "the model name"},
        "staker": {"type": "string", "pattern": ADDRESS_PATTERN,
                   "description": "the staker's address (checksummed or lowercase)"},
        "nonce": {"type": "integer", "minimum": 0, "maximum": UINT256_MAX,
                  "description": "the `nonce` of the signed Upload: any uint256, fresh for each upload"},
        "expiry": {"type": "integer", "minimum": 0, "maximum": UINT256_MAX,
                   "description": "the `expiry` of the signed Upload: Unix seconds (wall clock), in the future and "
                                  "at most 24 hours ahead"},
        "signature": {"type": "string", "pattern": r"^0x[0-9a-fA-F]{130}$",
                      "description": "the staker's 65-byte EIP-712 signature of the Upload, 0x-hex"},
        "file_hash": {"type": "string", "pattern": r"^0x[0-9a-fA-F]{64}$",
                      "description": "optional: the file's keccak-256; a file that hashes otherwise is refused"},
        "file": {"type": "string", "format": "binary",
                 "description": "the predictions: CSV (UTF-8) or Parquet, an `id` column and one prediction column"},
    },
}


# ------------------------------------------------------------------------------------------ accounts and rounds


class Account(_Strict):
    """An address's balances, from the chain."""

    address: Address = _address("the address")
    nmr: str = _wei("its NMR balance")
    ether: str = Field(description="its ether balance (wei, decimal string)", pattern=WEI_PATTERN)
    allowance: str = _wei("its NMR allowance for the Tournament")
    tournament: Address = _address("the Tournament")
    chain_time: int = Field(description="the latest block's timestamp")


class FaucetRequest(BaseModel):
    """Who is to receive test NMR and ether from the faucet (no signature: it gives test tokens)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "address": "0x5d5c99EdF529335160FF180fA141Dd4967fc00D2"}]})

    address: str = Field(description="the address to receive them: 0x and 40 hex digits, lowercase or EIP-55 "
                                     "checksummed (a bad one is a 422 naming `address`)")


class FaucetGrant(_Strict):
    """What the faucet sent: test NMR minted to the address and ether for gas, with their transactions."""

    address: Address = _address("the address that received them")
    nmr: str = _wei("the test NMR minted to it")
    ether: str = Field(description="the ether sent to it for gas (wei, decimal string)", pattern=WEI_PATTERN)
    nmr_txn: Hash = _hash("the minting transaction")
    ether_txn: Hash = _hash("the ether transfer")
    next_at: int = Field(description="Unix time (the service's clock) from which the address may ask again")


RoundStateLabel = Literal["scheduled", "open", "closed", "posted", "final", "expired"]


class Round(_Strict):
    """A round as the chain holds it: times in Unix seconds of chain time with ISO 8601 UTC twins,
    parameters, totals and the posted result."""

    round: int = Field(ge=0, le=UINT256_MAX)
    state: RoundStateLabel
    open_time: int
    close_time: int
    resolve_time: int
    posted_at: int | None = Field(description="when the result was posted; null before")
    final_at: int | None = Field(description="when the posted result becomes final; null before it is posted")
    expires_at: int = Field(description="after it, a round with no final result refunds every stake")
    open_time_iso: str = Field(pattern=ISO_PATTERN)
    close_time_iso: str = Field(pattern=ISO_PATTERN)
    resolve_time_iso: str = Field(pattern=ISO_PATTERN)
    posted_at_iso: str | None = Field(pattern=ISO_PATTERN)
    final_at_iso: str | None = Field(pattern=ISO_PATTERN)
    expires_at_iso: str = Field(pattern=ISO_PATTERN)
    corr_multiplier_bps: int = Field(description="basis points (10000 = 1.0)")
    mmc_multiplier_bps: int = Field(description="basis points")
    clip_bps: int = Field(description="basis points")
    stake_threshold: str = _wei("the payout factor is min(1, stake_threshold / total at risk)")
    stake_cap: str = _wei("the most one key may stake")
    min_stake: str = _wei("the least one key may stake")
    total_staked: str = _wei("the stakes")
    stake_count: int
    funded: str = _wei("NMR funded for payouts")
    total_payout: str = _wei("the posted payouts")
    total_burn: str = _wei("the posted burns")
    claimed: str = _wei("claimed so far")
    claimable: str = _wei("still to be claimed")
    settled: bool
    root: Hash = _hash("the posted Merkle root (zero before)")
    results_hash: Hash = _hash("the posted keccak-256 of the published manifest.json (zero before)")


class RoundDetail(Round):
    """One round, and whether its results are published here."""

    published: bool = Field(description="the round's results folder is published (files, leaderboard, proofs)")


class ResultRow(_Strict):
    """A stake's published result."""

    model: str = _label("the model")
    staker: Address = _address("the staker")
    stake: str = _wei("the stake at close")
    valid: bool
    reason: str = Field(description="why the stake is invalid; empty if valid")
    corr: float | None = Field(description="null for an invalid stake")
    mmc: float | None = Field(description="null for an invalid stake")
    score: float | None = Field(description="null for an invalid stake")
    fraction: float = Field(description="the stake's fraction won (positive) or lost (negative)")
    payout: str = _wei("the payout")
    burn: str = _wei("the burn")
    leaf_index: int = Field(description="the row's index in results.csv and the tree's values")


class LeaderboardRow(ResultRow):
    """A stake's published result on the leaderboard: with its net result and its rank by it."""

    net: str = Field(description="payout - burn (wei, may be negative)", pattern=SIGNED_WEI_PATTERN)
    rank: int = Field(description="the stake's rank in the round by net result, highest first (1 the best; "
                                  "equal nets share a rank), whatever the page's sort or search")


class Leaderboard(_Strict):
    """A page of the round's published rows."""

    round: int
    merkle_root: Hash = _hash("the published Merkle root")
    results_hash: Hash = _hash("keccak-256 of the published manifest.json")
    total: int = Field(description="every row of the round")
    matched: int = Field(description="the rows that match `q` (all of them without it)")
    offset: int
    rows: list[LeaderboardRow]


class FileEntry(_Strict):
    path: str = Field(description="the file's path in the round's folder ('/' separated): "
                                  "GET /v1/rounds/{round_id}/files/{path}")
    keccak: Hash = _hash("keccak-256 of its bytes, as the manifest lists it")
    size: int


class FileListing(_Strict):
    """The published files, manifest.json first: exactly what the manifest pins, nothing else."""

    round: int
    results_hash: Hash = _hash("keccak-256 of manifest.json: the on-chain resultsHash")
    files: list[FileEntry]


class Proof(ResultRow):
    """A stake's claim: its published row and the Merkle proof of its leaf (see MerkleLeaf)."""

    round: int
    merkle_root: Hash = _hash("the published Merkle root; `claim` checks it against the on-chain root")
    results_hash: Hash = _hash("keccak-256 of the published manifest.json")
    proof: list[Hash] = Field(description="the sibling hashes from the leaf up to the root (see MerkleLeaf)")


# ------------------------------------------------------------------------------------------ dashboard


class VerificationCheck(_Strict):
    check: Literal["manifest", "merkle-root", "stake-count"]
    ok: bool
    detail: str


class Verification(_Strict):
    """Whether the published result is the one on chain. `verified` is null while nothing is posted.
    `manifest_hash`, `rows_root` and `rows` are there once the round is published."""

    round: int
    state: RoundStateLabel
    posted: bool
    chain_root: Hash = _hash("the on-chain root")
    chain_results_hash: Hash = _hash("the on-chain resultsHash")
    chain_stake_count: int
    published: bool
    verified: bool | None
    status: Literal["pending", "unpublished", "verified", "mismatch"]
    detail: str
    checks: list[VerificationCheck]
    manifest_hash: Hash | None = Field(None, description="keccak-256 of the published manifest.json",
                                       pattern=HASH_PATTERN)
    rows_root: Hash | None = Field(None, description="the Merkle root recomputed from the published rows",
                                   pattern=HASH_PATTERN)
    rows: int | None = Field(None, description="the published rows")


class Transaction(_Strict):
    event: Literal["RoundOpened", "Funded", "Allocated", "ResultPosted", "ResultRejected", "Settled"]
    transaction_hash: Hash = _hash("the transaction")
    block: int
    log_index: int
    url: str | None = Field(description="the transaction on the configured explorer, if any")


class Transactions(_Strict):
    """The transactions of the round's events, oldest first."""

    round: int
    explorer: str | None
    transactions: list[Transaction]


class Chart(_Strict):
    """Score and net result (payout - burn, in NMR) of every scored stake, by score."""

    round: int
    score: list[float]
    net: list[float] = Field(description="payout - burn in NMR (a float, for drawing only)")
    scored: int
    rows: int


ClaimState = Literal["pending", "in challenge period", "claimable", "claimed", "withdrawable", "withdrawn"]


PhaseName = Literal["at stake now", "awaiting results", "claimable", "claimed"]
PhaseEvent = Literal["closes", "results due", "final"]


class StakePhase(_Strict):
    """Where a stake's NMR stands (stake and pending apart) and when that changes."""

    phase: PhaseName
    amount: str = _wei("the stake (at stake, awaiting results), the posted result's expected return "
                       "(`expected`), what can be claimed, or what the claim paid")
    expected: bool = Field(description="the amount is a posted result's expected return, final at `changes_at`")
    changes_at: int | None = Field(description="when it moves on (chain time, Unix seconds); null: it does not "
                                   "by itself")
    changes_at_iso: str | None
    event: PhaseEvent | None = Field(description="what happens at `changes_at`")
    late: bool = Field(description="the results were due before the chain's time and none is posted")


class PhaseTotal(_Strict):
    """One phase's stakes and NMR, and the next time one of them moves on."""

    phase: PhaseName
    stakes: int = Field(ge=0)
    amount: str = _wei("the phase's NMR")
    expected: bool = Field(description="some of it is a posted result's expected return")
    next_change: int | None = Field(description="the earliest time one of its stakes moves on (chain time)")
    next_change_iso: str | None
    event: PhaseEvent | None
    late: int = Field(description="stakes whose results were due with none posted", ge=0)


class ClaimTransaction(_Strict):
    """The transaction that took a stake out of its round."""

    transaction_hash: Hash = _hash("the claim's (or the emergency withdrawal's) transaction")
    caller: Address | None = Field(description="who sent it: the staker, or the operator claiming for it (null for "
                                   "an emergency withdrawal)", pattern=ADDRESS_PATTERN)
    url: str | None = Field(description="the transaction on the block explorer, if the service knows one")


class HistoryStake(_Strict):
    """One stake across the history: its result once posted, and what can be claimed now."""

    round: int
    model: str = _label("the model")
    staker: Address = _address("the staker")
    state: RoundStateLabel
    stake: str = _wei("the stake at close")
    result: bool = Field(description="the published rows have this stake")
    valid: bool | None
    reason: str | None
    corr: float | None
    mmc: float | None
    score: float | None
    payout: str | None = Field(pattern=WEI_PATTERN)
    burn: str | None = Field(pattern=WEI_PATTERN)
    net: str | None = Field(description="payout - burn (wei, may be negative)", pattern=SIGNED_WEI_PATTERN)
    return_pct: float | None = Field(description="payout - burn as a percentage of the stake, once posted")
    score_rank: int | None = Field(description="its rank by score in the round, best first (ties share the "
                                   "better rank); null without a score (the leaderboard's `rank` is by net)", ge=1)
    ranked: int | None = Field(description="how many stakes of the round have a score", ge=1)
    percentile: float | None = Field(description="the share of the round's ranked stakes it scored at least as "
                                     "well as, in percent (100: the best)", ge=0, le=100)
    claim: ClaimState
    claim_txn: ClaimTransaction | None = Field(description="claimed or withdrawn: the transaction that took it out")
    claimable: str = _wei("what can be claimed now")
    expected: str | None = Field(description="a posted round in its challenge period: stake - burn + payout, "
                                 "claimable once final (wei)", pattern=WEI_PATTERN)
    final_at: int | None = Field(description="a posted round: when its result becomes final (chain time, Unix seconds)")
    final_at_iso: str | None
    upload: Literal["matches", "differs", "none"] | None = Field(
        description="an open or closed round: the service holds an upload hashing to the stake's commitment "
                    "(received before close), only other files, or nothing; null once resolved")
    uploaded_at: int | None = Field(description="when the matching upload was received (chain time)")
    uploaded_at_iso: str | None
    phase: StakePhase


class HistoryRound(_Strict):
    round: int
    state: RoundStateLabel
    stakes: int
    stake: str = _wei("the stakes of the round")
    result: bool
    payout: str | None = Field(pattern=WEI_PATTERN)
    burn: str | None = Field(pattern=WEI_PATTERN)
    net: str | None = Field(pattern=SIGNED_WEI_PATTERN)
    cumulative_net: str | None = Field(description="net over the rounds with a result so far", pattern=SIGNED_WEI_PATTERN)
    corr: float | None = Field(description="the mean CORR of its stakes with a result in the round")
    mmc: float | None = Field(description="the mean MMC of its stakes with a result in the round")
    score: float | None = Field(description="the mean score of its stakes with a result in the round")
    return_pct: float | None = Field(description="the round's net as a percentage of its stakes with a result")
    best_rank: int | None = Field(description="the best score rank of its stakes in the round", ge=1)
    ranked: int | None = Field(description="how many stakes of the round have a score", ge=1)


class ClaimableStake(_Strict):
    round: int
    model: str = _label("the model")
    staker: Address = _address("the staker")
    amount: str = _wei("claimable")
    how: Literal["claimable", "withdrawable"]


class Claimable(_Strict):
    total: str = _wei("everything claimable now")
    stakes: list[ClaimableStake]


class Totals(_Strict):
    stake: str = _wei("stakes, every round's added up")
    at_risk: str = _wei("the stakes whose result is not final yet (open, closed and posted rounds): what may "
                        "still be burned")
    payout: str = _wei("payouts")
    burn: str = _wei("burns")
    net: str = Field(description="payout - burn (wei, may be negative)", pattern=SIGNED_WEI_PATTERN)


class Standing(_Strict):
    """A model's all-time standing: every stake of its name (whoever staked it) over every round."""

    model: str = _label("the model")
    rounds: int = Field(description="the rounds it staked in")
    stakes: int = Field(description="its stakes (one per round and staker)")
    stake: str = _wei("its stakes at close, in total")
    rounds_with_result: int = Field(description="the rounds it staked in whose result is posted and published")
    payout: str = _wei("its payouts")
    burn: str = _wei("its burns")
    net: str = Field(description="payout - burn over the rounds with a result (wei, may be negative)",
                     pattern=SIGNED_WEI_PATTERN)
    mean_corr: float | None = Field(description="the mean CORR of its valid stakes with a result; null if none")
    mean_score: float | None = Field(description="the mean score of its valid stakes with a result; null if none")
    last_round: int = Field(description="the last round it staked in")


class Standings(_Strict):
    """Every model that ever staked, by net result (highest first), then total staked."""

    rounds: int = Field(description="the rounds opened")
    models: list[Standing]


class ModelSetting(_Strict):
    model: str = _label("the model")
    per_round: str = _wei("the stake per round")
    mode: Literal["off", "fixed", "compound"]
    net: str = Field(description="the running net result (wei, may be negative)", pattern=SIGNED_WEI_PATTERN)
    last_round: int | None
    next_stake: str = _wei("what the next round stakes")


class StrategySetting(ModelSetting):
    strategy: Address = _address("the allocation strategy")
    owner: Address = _address("its owner")


class Strategy(_Strict):
    strategy: Address = _address("the allocation strategy")
    owner: Address = _address("its owner")
    operator: Address | None = Field(description="its operator, if any", pattern=ADDRESS_PATTERN)
    idle: str = _wei("its NMR not staked")
    models: list[ModelSetting]


class _History(_Strict):
    stakes: list[HistoryStake]
    rounds: list[HistoryRound]
    phases: list[PhaseTotal] = Field(description="stake and pending apart: every phase, in order, with its "
                                     "stakes' totals (empty without stakes)")
    chain_time: int | None = Field(description="the chain's time the phases are of, its latest block's (null without stakes)")
    claimable: Claimable
    totals: Totals


class ModelHistory(_History):
    """A model's stakes across rounds (every staker of that name) and the strategies that stake it."""

    model: str = _label("the model")
    strategies: list[StrategySetting]


class NmrMove(_Strict):
    """A transfer of NMR in or out of an allocation strategy, and what it held after it."""

    block: int
    time: int = Field(description="its block's time (Unix seconds)")
    change: str = Field(description="wei in (positive) or out (negative)", pattern=SIGNED_WEI_PATTERN)
    balance: str = _wei("the strategy's NMR after it (idle, not staked)")


class StrategyHistory(_History):
    """The history of the allocation strategy an address owns: the stakes it made with the owner's NMR."""


class StakerHistory(_History):
    """A staker's stakes across rounds, what it can claim now, its NMR balance and its allocation strategy."""

    staker: Address = _address("the staker")
    balance: str = _wei("the NMR it holds now (the token's balanceOf)")
    owned_strategy_history: StrategyHistory | None = Field(
        description="the history of the allocation strategy it owns (its stakes, phases and totals), if any")
    strategy_nmr_history: list[NmrMove] | None = Field(
        description="the idle NMR of the allocation strategy it is or owns, after each transfer in or out, oldest "
                    "first (null without a strategy, or if the token's logs do not add up to its balance now)")
    strategy: Strategy | None = Field(description="the staker's settings if it is an allocation strategy")
    owned_strategy: Strategy | None = Field(description="the allocation strategy the staker owns, if any")


# ------------------------------------------------------------------------------------------ published formats


class ManifestInput(BaseModel):
    role: Literal["targets", "meta_model", "predictions"]
    model: str | None = Field(description="the model of a predictions file")
    staker: str | None = Field(None, description="the staker of a predictions file kept per staker")
    path: str = Field(description="its path in the round's folder")
    keccak: Hash = _hash("keccak-256 of its bytes")
    size: int


MANIFEST_DESCRIPTION = (
    "`manifest.json`, canonical JSON (sorted keys, `,` and `:` separators, ASCII, a final newline): its keccak-256 "
    "is the `resultsHash` posted on chain, and it pins every other published file by its keccak-256 (`files` for "
    "results.csv and tree.json, `inputs` for the copies of the inputs). results.csv has the columns "
    f"{','.join(CSV_COLUMNS)} (proof: the sibling hashes joined by `;`); tree.json is the OpenZeppelin "
    "StandardMerkleTree dump (MerkleTreeDump). Published paths: manifest.json, results.csv, tree.json, "
    "inputs/targets.<csv|parquet>, inputs/meta_model.<ext>, inputs/predictions/<model>.<ext> or "
    "inputs/predictions/<model>/<Staker>.<ext>.")


class Manifest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"description": MANIFEST_DESCRIPTION})

    format: Literal["nmrstake-results-v1"] = Field(description=f"always {RESULTS_FORMAT!r}")
    round_id: int
    chain_id: int
    contract: Address = _address("the Tournament")
    params: dict[str, Any] = Field(description="corr_multiplier_bps, mmc_multiplier_bps, clip_bps, stake_threshold, "
                                               "funded, as on chain at close")
    payout_factor: str = Field(description="an exact fraction, `n/d`")
    payout_factor_float: float
    scale: str = Field(description="an exact fraction, `n/d`")
    scale_float: float
    totals: dict[str, Any] = Field(description="total_staked, total_at_risk, total_payout, total_burn, "
                                               "raw_total_payout (wei strings), stake_count, valid_count")
    merkle_root: Hash = _hash("the root posted on chain")
    leaf_encoding: list[str] = Field(description="the ABI types of a leaf's values (see MerkleLeaf)",
                                     examples=[LEAF_ENCODING])
    leaf_count: int
    targets_keccak: Hash | None
    meta_model_keccak: Hash | None
    predictions_keccak: dict[str, Hash] = Field(description="by `model` or `model/Staker`")
    commitments: list[dict[str, str]] = Field(description="{model, staker, commitment} of every stake, as on chain")
    inputs: list[ManifestInput]
    files: dict[str, Hash] = Field(description="results.csv and tree.json (if any stake) by keccak-256")
    nmrstake_version: str
    software: dict[str, str]
    service: dict[str, Any] | None = Field(None, description="the service whose receipts count: {receipt_signer}")


class MerkleTreeValue(BaseModel):
    value: list[str] = Field(description="the leaf's values in LEAF_ENCODING order: integers as decimal strings, "
                                         "bytes32 as 0x-hex, the address checksummed")
    treeIndex: int


class MerkleTreeDump(BaseModel):
    """`tree.json`: the `dump()` of @openzeppelin/merkle-tree's StandardMerkleTree."""

    format: Literal["standard-v1"]
    leafEncoding: list[str]
    tree: list[Hash]
    values: list[MerkleTreeValue]


# ------------------------------------------------------------------------------------------ attestations

SIGNATURE_PATTERN = r"^0x[0-9a-fA-F]{130}$"
HASH_IN_PATTERN = r"^0x[0-9a-fA-F]{64}$"


class AttestationRequest(BaseModel):
    """A committee member's signed Attestation of a round's result (EIP-712, domain `nmrstake oracle
    committee` / `1` / chain id / the Tournament: docs/committee.md), exactly as it is posted."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "signer": "0x5d5c99EdF529335160FF180fA141Dd4967fc00D2", "signature": "0x" + "1b" * 65,
        "root": "0x" + "ab" * 32, "total_payout": "3000000000000000000", "total_burn": "0", "leaf_count": 2,
        "results_hash": "0x" + "cd" * 32, "epoch": 1}]})

    signer: str = Field(description="the member who signed: 0x and 40 hex digits, lowercase or EIP-55 checksummed "
                                    "(a bad checksum is a 422 naming `signer`)", pattern=ADDRESS_PATTERN)
    signature: str = Field(description="65 bytes r ‖ s ‖ v, 0x-hex (132 characters)", pattern=SIGNATURE_PATTERN)
    root: str = Field(description="the Merkle root posted (0x-hex, 32 bytes)", pattern=HASH_IN_PATTERN)
    total_payout: str = Field(description="totalPayout (NMR wei, decimal string, below 2**256)", pattern=WEI_PATTERN)
    total_burn: str = Field(description="totalBurn (NMR wei, decimal string, below 2**256)", pattern=WEI_PATTERN)
    leaf_count: int = Field(description="leafCount: the stakes in the tree (below 2**256)", ge=0)
    results_hash: str = Field(description="keccak-256 of the published manifest.json (0x-hex, 32 bytes)",
                              pattern=HASH_IN_PATTERN)
    epoch: int = Field(description="committeeEpoch(): signatures of another epoch never verify (below 2**256)", ge=0)


class StoredAttestation(_Strict):
    """One attestation the service keeps: a current or past member's valid signature."""

    signer: Address = _address("the member who signed")
    signature: str = Field(description="65 bytes r ‖ s ‖ v, 0x-hex", pattern=SIGNATURE_PATTERN)
    digest: Hash = _hash("the EIP-712 digest signed (the contract's attestationDigest)")
    root: Hash = _hash("the Merkle root")
    total_payout: str = _wei("totalPayout")
    total_burn: str = _wei("totalBurn")
    leaf_count: int = Field(ge=0, le=UINT256_MAX)
    results_hash: Hash = _hash("the results hash")
    epoch: int = Field(ge=0, le=UINT256_MAX)
    received_at: int = Field(description="when the service stored it (Unix seconds, the service's clock)")
    equivocation: bool = Field(description="the signer attested other content for this round and epoch too: "
                                           "shown, and counted at most once per content")


class AttestedContent(_Strict):
    """One distinct content attested for the round (one digest): who signed it, and whether M agree."""

    digest: Hash = _hash("the EIP-712 digest")
    root: Hash = _hash("the Merkle root")
    total_payout: str = _wei("totalPayout")
    total_burn: str = _wei("totalBurn")
    leaf_count: int = Field(ge=0, le=UINT256_MAX)
    results_hash: Hash = _hash("the results hash")
    epoch: int = Field(ge=0, le=UINT256_MAX)
    signers: list[Address] = Field(description="the distinct members who signed it, ascending by address (the "
                                               "order postResultSigned takes)")
    agreed: bool = Field(description="at least `threshold` distinct current members signed it in the current epoch")


class Attestations(_Strict):
    """A round's attestations, and per distinct content its signers and whether M agree."""

    round: int = Field(ge=0, le=UINT256_MAX)
    epoch: int = Field(description="the committee's current epoch", ge=0, le=UINT256_MAX)
    threshold: int = Field(description="M: the signatures a posting needs", ge=1)
    members: list[Address] = Field(description="the current committee, ascending")
    attestations: list[StoredAttestation]
    contents: list[AttestedContent]


class AttestationStored(_Strict):
    """The answer to a published attestation."""

    new: bool = Field(description="false: the service already held this very attestation (sending it again is harmless)")
    attestation: StoredAttestation


# ------------------------------------------------------------------------------------------ encodings (documentation)


MODEL_ID_SCHEMA: dict[str, Any] = {
    "title": "ModelId", "type": "string", "pattern": HASH_PATTERN, "description": MODEL_ID_DESCRIPTION,
    "examples": ["0x6d795f6d6f64656c000000000000000000000000000000000000000000000000"],
}
MODEL_LABEL_SCHEMA: dict[str, Any] = {
    "title": "ModelLabel", "type": "string", "pattern": MODEL_LABEL_REGEX, "examples": ["my_model"],
    "description": "How the API names a model: its name, or the 0x-hex of an id that is not a name (see ModelId).",
}
MERKLE_LEAF_SCHEMA: dict[str, Any] = {
    "title": "MerkleLeaf", "type": "object",
    "description": (
        "A published stake is a leaf of an OpenZeppelin StandardMerkleTree whose root is posted on chain. Its "
        f"values, ABI types {LEAF_ENCODING}, are (roundId, modelId, staker, stake, payout, burn). The leaf hash is "
        "keccak256(keccak256(abi.encode(roundId, modelId, staker, stake, payout, burn))) (double hashed); an inner "
        "node is keccak256 of its two children sorted ascending (commutative, as Solidity's MerkleProof). A proof "
        "(Proof.proof) lists the sibling hashes from the leaf up to the root: fold the leaf hash with each in turn "
        "and compare with merkle_root. The staker receives stake - burn + payout when the leaf is claimed."),
    "x-leaf-encoding": list(LEAF_ENCODING),
    "required": ["roundId", "modelId", "staker", "stake", "payout", "burn"],
    "properties": {
        "roundId": {"type": "integer", "description": "uint256"},
        "modelId": {"$ref": "#/components/schemas/ModelId"},
        "staker": {"type": "string", "pattern": ADDRESS_PATTERN, "description": "address"},
        "stake": {"type": "string", "pattern": WEI_PATTERN, "description": "uint256: the stake at close"},
        "payout": {"type": "string", "pattern": WEI_PATTERN, "description": "uint256"},
        "burn": {"type": "string", "pattern": WEI_PATTERN, "description": "uint256, at most the stake"},
    },
}

# ------------------------------------------------------------------------------------------ alerts


class WebhookRequestBody(BaseModel):
    """A signed `Webhook` request (EIP-712, ``Webhook(address account,string action,string url,string
    models,uint256 nonce,uint256 expiry)`` in the domain of `/v1/info`): registering (POST /v1/webhooks, action
    "register") or deleting (DELETE /v1/webhooks/{address}, action "delete") a webhook of the signer's
    own address."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "address": "0x5d5c99EdF529335160FF180fA141Dd4967fc00D2", "url": "https://example.com/hook",
        "nonce": "1", "expiry": "1765000000", "signature": "0x" + "00" * 65}]})

    address: str = Field(description="the address whose alerts are sent (the signer): 0x and 40 hex digits",
                         pattern=ADDRESS_PATTERN)
    url: str = Field(description="http or https URL the service POSTs alerts to (no credentials; no loopback or "
                                 "private address unless the operator allows them)", max_length=2048)
    nonce: str = Field(description="decimal: any number below 10**77, distinct per request", pattern="^[0-9]{1,77}$")
    expiry: str = Field(description="decimal: Unix seconds (wall clock) after which the signature is refused, at "
                                    "most a day ahead", pattern="^[0-9]{1,77}$")
    signature: str = Field(description="the address's EIP-712 signature of the Webhook message (0x-hex, 65 bytes)",
                           max_length=200)
    models: list[str] = Field(default_factory=list, max_length=20,
                              description="the models (labels) whose alerts it wants; none: all of the address's. "
                                          "Signed as `models`: the labels sorted and joined by commas")


class WebhookDelivery(_Strict):
    """One (webhook, event) and where its delivery stands."""

    id: int
    hook: int
    event_id: str = Field(description="the event's stable key (also the X-Nmrstake-Event header)")
    event: str = Field(description="round-opened, no-upload, resolved, claimable or claimed")
    status: str = Field(description="pending, sending, delivered or failed")
    attempts: int
    next_at: float = Field(description="Unix seconds of the next attempt (pending)")
    last_error: str | None
    created_at: float
    delivered_at: float | None


class WebhookInfo(_Strict):
    """A registered webhook."""

    id: int
    address: Address = _address("the address whose alerts it receives")
    url: str
    models: list[str] = Field(description="the models whose alerts it receives; none: all of the address's")
    created_at: int


class WebhookList(_Strict):
    """An address's webhooks and their latest deliveries (newest first)."""

    address: Address = _address("the address")
    webhooks: list[WebhookInfo]
    deliveries: list[WebhookDelivery]
    signer: Address = _address("the address that signs every delivery (X-Nmrstake-Signature), the receipt signer")


API_DESCRIPTION = f"""\
Uploads of predictions with signed receipts, rounds, results and claim proofs of one nmrstake
tournament (one chain, one Tournament contract: `/v1/info`).

Conventions: JSON everywhere except file downloads (`text/csv`, `application/octet-stream`, and the
published `manifest.json` and `tree.json` as `application/json`). Amounts are wei as decimal strings.
Times are Unix seconds of chain time, with ISO 8601 UTC twins. Round ids are uint256 integers in
decimal. Addresses are 0x and 40 hex digits, accepted lowercase or EIP-55 checksummed (a pattern
cannot say it: a mixed-case address with a wrong checksum is a 422) and returned checksummed.
Errors are RFC 9457 problem documents
(`application/problem+json`, schema `Problem`), with the statuses each operation declares.

Model ids: {MODEL_ID_DESCRIPTION}

Uploading: sign the EIP-712 `Upload` ({UPLOAD_TYPE_STRING}) in the domain of `/v1/info`
(`EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)`, name
`{DOMAIN_NAME}`, version `{DOMAIN_VERSION}`), then POST its fields and the file to
`/v1/submissions` (multipart/form-data, the file last). The answer carries a `Receipt` ({RECEIPT_TYPE_STRING}) signed by `receipt_signer`:
recover its signer in the same domain and compare. See the schemas Eip712Types, ModelId.

Results: a published round's folder is pinned by `manifest.json` (schema `Manifest`), whose
keccak-256 is posted on chain as `resultsHash`; each stake is a Merkle leaf (schema `MerkleLeaf`)
under the posted root, and `/v1/rounds/{{round_id}}/proofs/{{model}}/{{staker}}` gives its proof.
"""


def extra_schemas() -> dict[str, Any]:
    """Component schemas that no response model references by itself: the problem document, the
    published formats and the encodings (docs for client writers)."""
    _, top = models_json_schema([(m, "serialization") for m in (Problem, Manifest, MerkleTreeDump)],
                                ref_template="#/components/schemas/{model}")
    out: dict[str, Any] = dict(top.get("$defs", {}))
    out["ModelId"] = MODEL_ID_SCHEMA
    out["ModelLabel"] = MODEL_LABEL_SCHEMA
    out["MerkleLeaf"] = MERKLE_LEAF_SCHEMA
    return out


__all__ = [
    "API_DESCRIPTION", "PROBLEM_MEDIA_TYPE", "PROBLEM_TYPE", "problem", "UINT256_MAX", "UPLOAD_FORM_SCHEMA", "extra_schemas",
    "problems",
]
