"""`POST`/`GET /v1/rounds/{round_id}/attestations` of the tournament service, in one process on the
embedded EVM: a member's valid attestation is stored and listed with its digest, sending it again
is idempotent, a member's second content for the round is kept and flagged as equivocation (never
counted twice), M agreeing members make a content `agreed`, and every refusal (a non-member, a
bad signature, another epoch, an unknown round, a malformed field, a deployment without a
committee) is a 4xx problem naming the field, with nothing stored."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient
from helpers.scenario import WEI, deployed_with_open_round

from nmrstake.hashing import to_hex
from nmrstake.results.layout import DataLayout
from nmrstake.service.app import create_app
from nmrstake.service.attestations import MAX_PER_SIGNER, AttestationStore
from nmrstake.service.server import service_context
from nmrstake.signing import Attestation

ROUND = 7


@pytest.fixture
def committee(accounts):
    return sorted([accounts[i] for i in (5, 6, 7)], key=lambda a: int(a.address, 16))


def _service(project, owner, tmp_path, committee, threshold=2):
    client = deployed_with_open_round(project, owner, tmp_path, ROUND,
                                      committee=[m.address for m in committee] if committee else None,
                                      threshold=threshold if committee else None)
    layout = DataLayout(tmp_path / "data")
    return client, layout, TestClient(create_app(service_context(client, layout)))


@pytest.fixture
def service(project, owner, tmp_path, committee):
    return _service(project, owner, tmp_path, committee)


def _attestation(root=b"\x01" * 32, payout=3 * WEI, epoch=1) -> Attestation:
    return Attestation(ROUND, root, payout, 4 * WEI, 2, b"\x02" * 32, epoch)


def _body(att: Attestation, signer, signature: str) -> dict:
    return {"signer": str(signer), "signature": signature, "root": to_hex(att.root),
            "total_payout": str(att.total_payout), "total_burn": str(att.total_burn), "leaf_count": att.leaf_count,
            "results_hash": to_hex(att.results_hash), "epoch": att.epoch}


def _signed(client, att, account) -> dict:
    return _body(att, account.address, att.sign(client.committee_domain, account))


def _post(http, body, round_id=ROUND):
    return http.post(f"/v1/rounds/{round_id}/attestations", json=body)


def _problem(answer, status, kind, field):
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["type"] == f"urn:nmrstake:problem:{kind}" and problem.get("field") == field, problem
    assert "\n" not in problem["detail"]


def _stored(layout) -> int:
    return len(AttestationStore(layout.store().database).round(ROUND))


def test_attestations__a_members_attestation__is_stored_listed_and_idempotent(service, committee):
    client, layout, http = service
    att = _attestation()
    body = _signed(client, att, committee[0])
    first = _post(http, body)
    assert first.status_code == 200, first.text
    assert first.json()["new"] is True
    assert first.json()["attestation"]["digest"] == to_hex(att.digest(client.committee_domain))
    again = _post(http, body)
    assert again.status_code == 200 and again.json()["new"] is False
    listed = http.get(f"/v1/rounds/{ROUND}/attestations").json()
    assert listed["epoch"] == 1 and listed["threshold"] == 2
    assert listed["members"] == [m.address for m in committee]
    assert [a["signer"] for a in listed["attestations"]] == [committee[0].address]
    [content] = listed["contents"]
    assert content["signers"] == [committee[0].address] and content["agreed"] is False
    assert content["digest"] == to_hex(att.digest(client.committee_domain))


def test_attestations__m_members_on_identical_content__agree_and_sign_in_address_order(service, committee):
    client, _, http = service
    att = _attestation()
    for member in (committee[2], committee[0]):
        assert _post(http, _signed(client, att, member)).status_code == 200
    [content] = http.get(f"/v1/rounds/{ROUND}/attestations").json()["contents"]
    assert content["signers"] == [committee[0].address, committee[2].address]
    assert content["agreed"] is True


def test_attestations__a_members_second_content__is_stored_flagged_and_counted_once(service, committee):
    client, _, http = service
    honest, other = _attestation(), _attestation(payout=5 * WEI)
    assert _post(http, _signed(client, honest, committee[0])).status_code == 200
    second = _post(http, _signed(client, other, committee[0]))
    assert second.status_code == 200 and second.json()["new"] is True
    assert second.json()["attestation"]["equivocation"] is True
    listed = http.get(f"/v1/rounds/{ROUND}/attestations").json()
    assert [a["equivocation"] for a in listed["attestations"]] == [True, True]
    assert [(c["signers"], c["agreed"]) for c in listed["contents"]] == [([committee[0].address], False)] * 2


def test_attestations__a_non_member_signature__is_refused_and_nothing_is_stored(service, accounts):
    client, layout, http = service
    stranger = accounts[9]
    _problem(_post(http, _signed(client, _attestation(), stranger)), 403, "not-committee-member", "signer")
    assert _stored(layout) == 0


def test_attestations__a_signature_by_another_key__is_refused_as_a_bad_signature(service, committee):
    client, layout, http = service
    att = _attestation()
    forged = _body(att, committee[0].address, att.sign(client.committee_domain, committee[1]))
    _problem(_post(http, forged), 401, "bad-signature", "signature")
    over_other = _body(att, committee[0].address, _attestation(payout=1).sign(client.committee_domain, committee[0]))
    _problem(_post(http, over_other), 401, "bad-signature", "signature")
    assert _stored(layout) == 0


def test_attestations__another_epoch__is_refused_naming_epoch(service, committee):
    client, layout, http = service
    _problem(_post(http, _signed(client, _attestation(epoch=2), committee[0])), 409, "wrong-epoch", "epoch")
    assert _stored(layout) == 0


def test_attestations__an_unknown_round__is_a_404(service, committee):
    client, layout, http = service
    att = dataclasses.replace(_attestation(), round_id=ROUND + 1)
    _problem(_post(http, _signed(client, att, committee[0]), round_id=ROUND + 1), 404, "unknown-round", None)
    assert http.get(f"/v1/rounds/{ROUND + 1}/attestations").status_code == 404
    assert _stored(layout) == 0


@pytest.mark.parametrize(("field", "value"), [
    ("signer", "0x1234"), ("signature", "0x" + "11" * 64), ("signature", "nothex"), ("root", "0x12"),
    ("total_payout", "-1"), ("total_burn", "1e18"), ("results_hash", "zz"), ("leaf_count", -1), ("epoch", "one"),
])
def test_attestations__a_malformed_field__is_a_422_naming_it(service, committee, field, value):
    client, layout, http = service
    body = {**_signed(client, _attestation(), committee[0]), field: value}
    _problem(_post(http, body), 422, "invalid-field", field)
    assert _stored(layout) == 0


def test_attestations__a_member_fills_only_its_own_share(service, committee):
    client, layout, http = service
    for i in range(MAX_PER_SIGNER):
        assert _post(http, _signed(client, _attestation(payout=i), committee[0])).status_code == 200
    _problem(_post(http, _signed(client, _attestation(payout=99), committee[0])), 429, "too-many-attestations",
             "signer")
    assert _post(http, _signed(client, _attestation(), committee[1])).status_code == 200
    assert _stored(layout) == MAX_PER_SIGNER + 1


def test_attestations__a_deployment_without_committee__is_a_404_no_committee(project, owner, tmp_path, committee):
    client, layout, http = _service(project, owner, tmp_path, None)
    att = _attestation()
    body = _body(att, committee[0].address, "0x" + "11" * 64 + "1b")
    _problem(_post(http, body), 404, "no-committee", None)
    _problem(http.get(f"/v1/rounds/{ROUND}/attestations"), 404, "no-committee", None)
    assert _stored(layout) == 0


def test_attestations__a_flood_from_strangers__reads_the_committee_once_and_never_the_round(service, accounts,
                                                                                          monkeypatch):
    """Checks that cost nothing come first: strangers' attestations (validly signed by their own
    keys, or not at all) are refused against the committee's last reading, so a flood of them
    cannot keep the service's one chain connection busy for the uploads and pages that share it."""
    client, layout, http = service
    reads = {"committee": 0, "round": 0}
    for name in reads:
        real = getattr(client, name)

        def counted(*args, _real=real, _name=name):
            reads[_name] += 1
            return _real(*args)

        monkeypatch.setattr(client, name, counted)
    strangers = [accounts[8], accounts[9]]
    for i in range(30):
        body = _signed(client, _attestation(root=bytes([i + 1]) * 32), strangers[i % 2])
        if i % 3 == 0:
            body["signature"] = "0x" + "11" * 65
        answer = _post(http, body)
        assert answer.status_code in (401, 403), answer.text
    assert reads == {"committee": 1, "round": 0}
    assert _stored(layout) == 0
