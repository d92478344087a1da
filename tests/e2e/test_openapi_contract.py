"""The service's OpenAPI document is its contract: a real `nmrstake serve` on a real Anvil.

(a) schemathesis reads the live `/openapi.json` and calls every operation with inputs it makes from
    the document (its examples, its coverage cases and a bounded number of random ones, with a fixed
    seed): every response must be declared (status, media type, schema, a 405's `Allow`) and no
    input may get a 5xx. Random values name nothing that exists, so every read operation is then
    called with values that do exist in this world (the published round's files, proofs, uploads,
    histories), and each 2xx answer is checked against the document too.
(b) a client generated from the saved document by openapi-python-client (and none of the package's
    HTTP code) uploads a signed file, checks the receipt's signature against `/v1/info`'s receipt
    signer, and fetches a published stake's proof, which it checks against the on-chain root with
    the leaf encoding the document states.

A deeper run than CI's: NMRSTAKE_SCHEMATHESIS_EXAMPLES=150 (random examples per operation) and
NMRSTAKE_SCHEMATHESIS_SEED=N.

One world for the module: round 11 staked, resolved by the oracle, published and final; round 12
open for 30 days; round 13 opening in 20 days; an allocation strategy with one model set.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from eth_abi import encode as abi_encode
from eth_utils import keccak
from helpers.scenario import (
    HOUR,
    WEI,
    advance_to,
    advance_to_final,
    deliver_targets,
    make_world,
    open_funded_round,
    stake_all,
    synth_round,
)
from helpers.service_process import Service, running_service
from helpers.uploads import csv_file, signed_fields
from hypothesis import HealthCheck, settings

from nmrstake.localchain import anvil_provider
from nmrstake.rounds import RoundSpec, open_round
from nmrstake.signing import DeliveryReceipt, Domain

pytestmark = pytest.mark.nodes  # real Anvil and a real service process: run after the embedded-EVM tests

DAY = 24 * HOUR
R_PUB, R_OPEN, R_FUTURE = 11, 12, 13
MAX_UPLOAD = 64 * 1024
#: Random examples per operation in the fuzzing phase (the examples and coverage phases add theirs).
FUZZ_EXAMPLES = 25
SEED = 20260419
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
#: The operations the document must have (the dashboard's HTML pages and static files are not in it).
OPERATIONS = {
    "GET /healthz", "GET /v1/info", "GET /v1/deployment", "POST /v1/submissions",
    "GET /v1/rounds/{round_id}/submissions/{model}/{staker}",
    "GET /v1/rounds/{round_id}/submissions/{model}/{staker}/file", "GET /v1/accounts/{address}", "GET /v1/rounds",
    "GET /v1/rounds/{round_id}", "GET /v1/rounds/{round_id}/leaderboard", "GET /v1/rounds/{round_id}/files",
    "GET /v1/rounds/{round_id}/files/{path}", "GET /v1/rounds/{round_id}/proofs/{model}/{staker}",
    "GET /v1/rounds/{round_id}/verification", "GET /v1/rounds/{round_id}/transactions",
    "GET /v1/rounds/{round_id}/chart", "GET /v1/standings", "GET /v1/models/{model}", "GET /v1/stakers/{staker}",
    "POST /v1/faucet",
    "POST /v1/rounds/{round_id}/attestations", "GET /v1/rounds/{round_id}/attestations",
    "POST /v1/webhooks", "GET /v1/webhooks/{address}", "DELETE /v1/webhooks/{address}",
    "GET /v1/feeds/models/{model}.atom", "GET /v1/feeds/addresses/{address}.atom",
}


@dataclass
class World:
    service: Service
    domain: Domain
    stakers: list[Any]
    strategy: str
    strategy_owner: Any

    @property
    def url(self) -> str:
        return self.service.url


@pytest.fixture(scope="module")
def world(project, tmp_path_factory) -> Any:
    from ape import accounts

    from nmrstake.models import model_id
    from nmrstake.strategies.chain import Mode, StrategyClient

    tmp = tmp_path_factory.mktemp("openapi_contract")
    with anvil_provider():
        w = make_world(project, tmp)
        open_funded_round(w, R_PUB)
        inputs = synth_round(tmp, R_PUB, models=len(w.stakers), rows=200)
        stake_all(w, R_PUB, inputs)  # through the operator's store: the uploads are the service's
        open_round(w.client, w.owner, RoundSpec(round_id=R_OPEN, open_in=0, close_after=30 * DAY, resolve_after=HOUR))
        open_round(w.client, w.owner, RoundSpec(round_id=R_FUTURE, open_in=20 * DAY, close_after=DAY,
                                                resolve_after=HOUR))
        advance_to(w.client.round(R_PUB).resolve_time)
        deliver_targets(w, R_PUB, inputs)
        oracle = subprocess.run(
            [sys.executable, "-m", "nmrstake.cli", "oracle", "run", "--network", "ethereum:local:foundry",
             "--account", "TEST::1", "--data-dir", str(w.layout.root), "--deployments-dir", str(w.deployments),
             "--once"], env=os.environ.copy(), capture_output=True, text=True, timeout=300)
        assert oracle.returncode == 0, oracle.stdout + oracle.stderr
        assert (w.layout.published(R_PUB) / "manifest.json").is_file(), oracle.stdout + oracle.stderr
        advance_to_final(w.client.round(R_PUB))
        owner = accounts.test_accounts[2]
        strategies = StrategyClient(w.client)
        strategies.factory.create(owner.address, sender=owner)
        strategy = strategies.require_strategy_of(owner.address)
        strategies.contract(strategy).setModel(model_id("model_00"), WEI, int(Mode.FIXED), sender=owner)
        with running_service(w.deployments, w.layout.root, tmp / "service.log",
                             "--max-upload-bytes", str(MAX_UPLOAD)) as service:
            yield World(service, w.client.domain, w.stakers, strategy, owner)
        assert "Traceback" not in service.log_text(), service.log_text()


# ---------------------------------------------------------------------------------------- (a) schemathesis


@pytest.fixture(scope="module")
def api_schema(world):
    listing = requests.get(f"{world.url}/v1/rounds/{R_PUB}/files", timeout=30).json()
    addresses = [a for s in world.stakers for a in (s.address, s.address.lower())]
    addresses += [world.strategy, world.strategy_owner.address]
    config = schemathesis.Config.from_dict({
        "seed": int(os.environ.get("NMRSTAKE_SCHEMATHESIS_SEED", SEED)),
        "generation": {"max-examples": int(os.environ.get("NMRSTAKE_SCHEMATHESIS_EXAMPLES", FUZZ_EXAMPLES)),
                       "deterministic": True, "database": "none"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": False}},
        # Random values name nothing that exists: half the time, a path argument is one that does (the
        # rounds, the published round's files, staked models and their stakers), so that the queries
        # and paths are fuzzed against real data too.
        "dictionaries": {
            "rounds": {"values": [R_PUB, R_OPEN, R_FUTURE]},
            "models": {"values": ["model_00", "model_01", "model_02"]},
            "addresses": {"values": addresses},
            "files": {"values": [f["path"] for f in listing["files"]]},
        },
        "parameters": {
            "path.round_id": {"dictionary": "rounds", "probability": 0.5},
            "path.model": {"dictionary": "models", "probability": 0.5},
            "path.staker": {"dictionary": "addresses", "probability": 0.5},
            "path.address": {"dictionary": "addresses", "probability": 0.5},
            "path.path": {"dictionary": "files", "probability": 0.5},
        },
        "operations": [{
            # The upload is fuzzed like every operation (no 5xx, every answer declared), but no generated
            # input can be a valid one: it needs the staker's EIP-712 signature over the very file sent,
            # an expiry within 24 h of now and an open round. So "a schema-valid request is accepted" is
            # not asked of it; test_generated_client__uploads_checks_the_receipt_and_a_proof uploads.
            "include-operation-id": "upload",
            "checks": {"positive_data_acceptance": {"enabled": False}},
        }, *[{
            # Likewise a webhook's registration and deletion: valid only signed by the address named,
            # with an expiry within a day of now; tests/e2e/test_webhooks_e2e.py registers and deletes.
            "include-operation-id": name,
            "checks": {"positive_data_acceptance": {"enabled": False}},
        } for name in ("register_webhook", "delete_webhook")]],
    })
    schema = schemathesis.openapi.from_url(f"{world.url}/openapi.json", config=config, timeout=30)

    @schema.hook
    def map_path_parameters(context, path_parameters):
        # A mixed-case address is valid only with its EIP-55 checksum, which a pattern cannot state
        # (the document says so in words): an address drawn from the pattern is sent lowercase.
        return {k: v.lower() if isinstance(v, str) and ADDRESS.match(v) else v
                for k, v in (path_parameters or {}).items()} or path_parameters

    return schema


lazy_schema = schemathesis.pytest.from_fixture("api_schema")


def test_the_document__has_every_operation(api_schema):
    """Nothing is left out of the fuzzing below: it runs every operation of the document."""
    found = {f"{op.ok().method.upper()} {op.ok().path}" for op in api_schema.get_all_operations()}
    assert found == OPERATIONS


@lazy_schema.parametrize()
@settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_every_operation__answers_as_declared_and_never_5xx(case):
    case.call_and_validate(timeout=60)


def test_every_read__of_what_exists__answers_as_declared(world, api_schema):
    """The 2xx answers of every read, with values that exist, checked against the document."""
    staker, other = world.stakers[0].address, world.stakers[1].address
    listing = requests.get(f"{world.url}/v1/rounds/{R_PUB}/files", timeout=30).json()
    calls: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
        ("GET", "/healthz", {}, {}), ("GET", "/v1/info", {}, {}), ("GET", "/v1/deployment", {}, {}),
        ("GET", "/v1/rounds", {}, {}),
        *[("GET", "/v1/rounds/{round_id}", {"round_id": r}, {}) for r in (R_PUB, R_OPEN, R_FUTURE)],
        ("GET", "/v1/rounds/{round_id}/leaderboard", {"round_id": R_PUB}, {}),
        ("GET", "/v1/rounds/{round_id}/leaderboard", {"round_id": R_PUB},
         {"sort": "score", "order": "desc", "q": "model_0", "limit": 2, "offset": 1}),
        ("GET", "/v1/rounds/{round_id}/files", {"round_id": R_PUB}, {}),
        *[("GET", "/v1/rounds/{round_id}/files/{path}", {"round_id": R_PUB, "path": f["path"]}, {})
          for f in listing["files"]],
        *[("GET", "/v1/rounds/{round_id}/proofs/{model}/{staker}",
           {"round_id": R_PUB, "model": f"model_{i:02d}", "staker": s.address}, {})
          for i, s in enumerate(world.stakers)],
        ("GET", "/v1/rounds/{round_id}/submissions/{model}/{staker}",
         {"round_id": R_PUB, "model": "model_00", "staker": staker}, {}),
        ("GET", "/v1/rounds/{round_id}/submissions/{model}/{staker}/file",
         {"round_id": R_PUB, "model": "model_01", "staker": other}, {}),
        *[("GET", f"/v1/rounds/{{round_id}}/{what}", {"round_id": r}, {})
          for what in ("verification", "transactions") for r in (R_PUB, R_OPEN)],
        ("GET", "/v1/rounds/{round_id}/chart", {"round_id": R_PUB}, {}),
        ("GET", "/v1/standings", {}, {}),
        ("GET", "/v1/models/{model}", {"model": "model_00"}, {}),
        *[("GET", "/v1/stakers/{staker}", {"staker": who}, {})
          for who in (staker, world.strategy, world.strategy_owner.address)],
        ("GET", "/v1/accounts/{address}", {"address": staker.lower()}, {}),
        ("GET", "/v1/webhooks/{address}", {"address": staker}, {}),
        ("GET", "/v1/feeds/models/{model}.atom", {"model": "model_00"}, {}),
        ("GET", "/v1/feeds/addresses/{address}.atom", {"address": staker}, {}),
    ]
    # This world's deployment has no oracle committee: its attestations answer 404 no-committee (checked
    # by the fuzzing above); tests/offchain/test_attestation_route.py reads a committee's.
    assert {f"{m} {p}" for m, p, _, _ in calls} == OPERATIONS - {
        "POST /v1/submissions", "POST /v1/faucet", "POST /v1/rounds/{round_id}/attestations",
        "GET /v1/rounds/{round_id}/attestations", "POST /v1/webhooks", "DELETE /v1/webhooks/{address}"}
    for method, path, params, query in calls:
        case = api_schema[path][method].Case(path_parameters=params, query=query)
        response = case.call_and_validate(timeout=60)
        assert response.status_code == 200, (path, params, response.text[:500])
    # The files are declared with their real media types, not as JSON.
    types = {f["path"]: requests.get(f"{world.url}/v1/rounds/{R_PUB}/files/{f['path']}", timeout=30)
             .headers["content-type"].split(";")[0] for f in listing["files"]}
    assert types["manifest.json"] == "application/json" and types["results.csv"] == "text/csv", types


@pytest.mark.parametrize("path, field", [
    (f"/v1/rounds/+{R_PUB}", "round"), (f"/v1/rounds/%20{R_PUB}", "round"), ("/v1/rounds/1_1", "round"),
    ("/v1/rounds/%D9%A1%D9%A1", "round"),  # Arabic-Indic digits, which int() takes
    ("/v1/accounts/0X" + "ab" * 20, "address"), ("/v1/accounts/" + "ab" * 20, "address"),
    ("/v1/stakers/0x" + "ab" * 20 + "%0A", "staker"),
])
def test_path_arguments__outside_the_documents_types__are_422_problems(world, path, field):
    """The service takes exactly what the document declares: an integer round id in decimal digits,
    a 0x-prefixed address (Python's int() and eth-utils would take more)."""
    resp = requests.get(f"{world.url}{path}", timeout=30)
    assert resp.status_code == 422, (path, resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["type"] == "urn:nmrstake:problem:invalid-field" and body["field"] == field, body


# ---------------------------------------------------------------------------------------- (b) a generated client


@pytest.fixture(scope="module")
def generated(world, tmp_path_factory) -> Any:
    """The client openapi-python-client writes from the document the service serves."""
    tmp = tmp_path_factory.mktemp("generated_client")
    document = requests.get(f"{world.url}/openapi.json", timeout=30).json()
    (tmp / "openapi.json").write_text(json.dumps(document))
    (tmp / "config.json").write_text(json.dumps({"post_hooks": []}))  # no formatter: the code as generated
    tool = Path(sys.executable).with_name("openapi-python-client")
    out = subprocess.run([str(tool), "generate", "--path", str(tmp / "openapi.json"), "--output-path",
                          str(tmp / "nmrstake_api_client"), "--meta", "none", "--config", str(tmp / "config.json")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    sys.path.insert(0, str(tmp))
    try:
        yield importlib.import_module("nmrstake_api_client")
    finally:
        sys.path.remove(str(tmp))
        for name in [m for m in sys.modules if m == "nmrstake_api_client" or m.startswith("nmrstake_api_client.")]:
            del sys.modules[name]


def test_generated_client__uploads_checks_the_receipt_and_a_proof(world, generated):
    api = importlib.import_module("nmrstake_api_client.api")
    importlib.import_module("nmrstake_api_client.api.service.info")
    importlib.import_module("nmrstake_api_client.api.submissions.upload")
    importlib.import_module("nmrstake_api_client.api.results.proof")
    importlib.import_module("nmrstake_api_client.api.rounds.one_round")
    models = importlib.import_module("nmrstake_api_client.models")
    types = importlib.import_module("nmrstake_api_client.types")
    client = generated.Client(base_url=world.url, raise_on_unexpected_status=True)

    info = api.service.info.sync(client=client)
    assert isinstance(info, models.Info), info
    domain = Domain(info.eip712.domain.chain_id, info.eip712.domain.verifying_contract)
    assert domain == world.domain

    # Upload: the staker signs the Upload of /v1/info's types; the client sends the form.
    staker, content = world.stakers[0], csv_file(seed=11)
    fields = signed_fields(domain, staker.address, staker, round_id=R_OPEN, model="generated", content=content)
    body = models.UploadBody(round_=R_OPEN, model="generated", staker=staker.address, nonce=int(fields["nonce"]),
                             expiry=int(fields["expiry"]), signature=fields["signature"],
                             file_hash=fields["file_hash"],
                             file=types.File(payload=io.BytesIO(content), file_name="preds.csv", mime_type="text/csv"))
    answer = api.submissions.upload.sync_detailed(client=client, body=body)
    assert answer.status_code == 201, answer.content
    uploaded = answer.parsed
    assert isinstance(uploaded, models.Upload), uploaded
    assert (uploaded.round_, uploaded.model, uploaded.staker, uploaded.commitment) == (
        R_OPEN, "generated", staker.address, fields["file_hash"])

    # The receipt: signed by /v1/info's receipt signer over exactly this upload.
    receipt = DeliveryReceipt.from_json(uploaded.receipt.to_dict())
    assert receipt.signer(domain) == info.receipt_signer == uploaded.receipt_signer
    assert receipt.signer(Domain(domain.chain_id + 1, domain.tournament)) != info.receipt_signer

    # A refusal comes back as the document's Problem.
    refused = api.submissions.upload.sync_detailed(client=client, body=body)  # the same signature again
    assert refused.status_code == 409 and isinstance(refused.parsed, models.Problem), refused.content
    assert refused.parsed.type_ == "urn:nmrstake:problem:signature-replayed"

    # A proof of the published round, checked with the leaf encoding the document gives.
    document = requests.get(f"{world.url}/openapi.json", timeout=30).json()
    encoding = document["components"]["schemas"]["MerkleLeaf"]["x-leaf-encoding"]
    mine = api.results.proof.sync(client=client, round_id=R_PUB, model="model_01", staker=world.stakers[1].address)
    assert isinstance(mine, models.Proof), mine
    model_id = mine.model.encode().ljust(32, b"\0")  # the name, right-padded to bytes32 (schema ModelId)
    node = keccak(keccak(abi_encode(encoding, [R_PUB, model_id, mine.staker, int(mine.stake), int(mine.payout),
                                               int(mine.burn)])))
    for sibling in mine.proof:
        node = keccak(b"".join(sorted([node, bytes.fromhex(sibling[2:])])))
    assert "0x" + node.hex() == mine.merkle_root
    on_chain = api.rounds.one_round.sync(client=client, round_id=R_PUB)
    assert isinstance(on_chain, models.RoundDetail) and on_chain.root == mine.merkle_root
