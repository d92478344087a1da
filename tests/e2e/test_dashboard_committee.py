"""The round page's oracle committee and disputes, in a real headless Chromium against a real
`nmrstake serve` on a real Anvil.

The world: a CommitteeTournament of three members (2 of 3) with a DisputeDesk. Round 301 is
published; the two honest members attest the published result at the service, the third attests a
payout one wei higher and then a second, different payout (an equivocation); the result is posted
with the honest signatures. A disputer with hostile evidence (markup, a script, quotes) disputes it,
the arbiter dismisses the dispute with a hostile reason, the committee posts the result again, and a
second disputer disputes it with evidence that is not UTF-8 and stays open. A plain deployment
(no committee, no desk) on the same chain, with its own service, shows none of it, and no error.

The page's committee, contents, signers and disputes are checked against the chain (ape reads of
the contracts and their events) and the service's attestations; the hostile strings must come out
as text, exactly, with nothing injected (no element, no script run, no console error).
"""

from __future__ import annotations

import difflib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers.committee import Posting, member_keys, sign, sign_all
from helpers.scenario import (
    SETTINGS,
    WEI,
    World,
    advance_to,
    deliver_targets,
    open_funded_round,
    stake_all,
    synth_round,
)
from helpers.service_process import chain_reading_app, running_service
from test_dashboard import SHOTS, Visit, chromium_path

from nmrstake.amounts import format_nmr
from nmrstake.daemon import EventLog
from nmrstake.hashing import bytes32_from_hex, to_hex
from nmrstake.localchain import anvil_provider
from nmrstake.oracle import Oracle
from nmrstake.results.layout import DataLayout
from nmrstake.results.read import load_published
from nmrstake.tournament import RoundState, TournamentClient

pytestmark = pytest.mark.nodes  # real Anvil, real service processes and a real browser

ROUND = 301
PLAIN_ROUND = 401
BOND = 10 * WEI
HOSTILE = ('</code></dd></dl><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
           '"quoted" & \'single\' <b id="injected">bold</b> {{ 7 * 7 }} ü')
HOSTILE_REASON = '<i id="reason-injected">wrong</i> & "the root verifies"'
NOT_UTF8 = b"\xff\xfe leaf 3 \x80"


@dataclass
class CommitteeWorld:
    url: str
    plain_url: str
    client: Any
    members: list[str]  # ascending: honest, honest, liar in key order (see the fixture)
    liar: str
    honest: list[str]
    honest_digest: str
    lie_digests: list[str]
    root: str
    disputers: list[str]
    arbiter: str
    service_logs: list[Path]
    chain_app: Any  # the service's app in this process with no event index (helpers.service_process)


def body(posting: Posting, signer: str, signature: bytes, epoch: int) -> dict[str, Any]:
    return {"signer": signer, "signature": "0x" + signature.hex(), "root": to_hex(posting.root),
            "total_payout": str(posting.total_payout), "total_burn": str(posting.total_burn),
            "leaf_count": posting.leaf_count, "results_hash": to_hex(posting.results_hash), "epoch": epoch}


@pytest.fixture(scope="module")
def cworld(project, tmp_path_factory) -> Iterator[CommitteeWorld]:
    from ape import accounts

    from nmrstake.deploy import deploy

    tmp = tmp_path_factory.mktemp("dashboard-committee")
    keys = member_keys(3, "dashboard")
    honest_keys, liar_key = keys[:2], keys[2]
    with anvil_provider():
        owner, arbiter = accounts.test_accounts[0], accounts.test_accounts[1]
        dep, _ = deploy(project, owner, directory=tmp / "deployments", force=True, settings=SETTINGS,
                        committee=[k.address for k in keys], threshold=2, dispute_bond=BOND, dispute_reward=WEI,
                        arbiter=arbiter.address, log=lambda m: None)
        client = TournamentClient(project, dep)
        stakers = list(accounts.test_accounts[3:6])
        for s in [*stakers, accounts.test_accounts[2]]:
            client.token.mint(s, 10_000 * WEI, sender=owner)
        w = World(client, tmp / "deployments", DataLayout(tmp / "data"), owner, arbiter, stakers)
        open_funded_round(w, ROUND)
        inputs = synth_round(tmp, ROUND, models=len(stakers), rows=300)
        stake_all(w, ROUND, inputs)
        deliver_targets(w, ROUND, inputs)
        advance_to(client.round(ROUND).resolve_time)
        Oracle(client, arbiter, w.layout, log=EventLog(out=lambda line: None)).compute(client.round(ROUND))
        pub = load_published(w.layout.published(ROUND))
        members, _, epoch = client.committee()
        chain_id, contract = int(client.provider.chain_id), str(client.tournament.address)
        honest = Posting(ROUND, bytes32_from_hex(pub.merkle_root), pub.total_payout, pub.total_burn, pub.leaf_count,
                         pub.manifest_hash)
        lies = [honest.replace(total_payout=pub.total_payout + k) for k in (1, 2)]
        desk = client.desk
        # A plain deployment (no committee, no desk) on the same chain, with a round of its own.
        plain_dep, _ = deploy(project, owner, directory=tmp / "plain-deployments", force=True, settings=SETTINGS,
                              oracle=arbiter.address, log=lambda m: None)
        plain = TournamentClient(project, plain_dep)
        open_funded_round(World(plain, tmp / "plain-deployments", DataLayout(tmp / "plain-data"), owner, arbiter,
                                stakers), PLAIN_ROUND, fund=0)
        with running_service(w.deployments, w.layout.root, tmp / "service.log") as service, \
                running_service(tmp / "plain-deployments", tmp / "plain-data", tmp / "plain.log") as plain_service:
            listing = f"{service.url}/v1/rounds/{ROUND}/attestations"
            for key in honest_keys:
                answer = requests.post(listing, json=body(honest, key.address, sign(key, honest, epoch, chain_id,
                                                                                    contract), epoch), timeout=60)
                assert answer.status_code == 200, answer.text
            for lie in lies:  # the liar, twice: an equivocation
                answer = requests.post(listing, json=body(lie, liar_key.address, sign(liar_key, lie, epoch, chain_id,
                                                                                      contract), epoch), timeout=60)
                assert answer.status_code == 200, answer.text
            # Posted by the honest signatures (anyone may send it).
            client.tournament.postResultSigned(*honest.args(), sign_all(honest_keys, honest, epoch, chain_id, contract),
                                               sender=stakers[0])
            # A hostile dispute, dismissed by the arbiter with a hostile reason; the committee posts again.
            for s in stakers[1:3]:
                client.token.approve(desk.address, BOND, sender=s)
            desk.dispute(ROUND, honest.root, HOSTILE.encode(), sender=stakers[1])
            desk.rule(ROUND, False, HOSTILE_REASON, sender=arbiter)
            client.tournament.postResultSigned(*honest.args(), sign_all(honest_keys, honest, epoch, chain_id, contract),
                                               sender=stakers[0])
            # A second dispute, with evidence that is not UTF-8, left open.
            desk.dispute(ROUND, honest.root, NOT_UTF8, sender=stakers[2])
            assert client.round(ROUND).state is RoundState.CLOSED  # rejected by the open dispute
            from nmrstake.signing import Attestation

            def digest(p: Posting) -> str:
                return to_hex(Attestation(ROUND, p.root, p.total_payout, p.total_burn, p.leaf_count, p.results_hash,
                                          epoch).digest(client.committee_domain))

            yield CommitteeWorld(service.url, plain_service.url, client, members, liar_key.address,
                                 [k.address for k in honest_keys], digest(honest), [digest(p) for p in lies],
                                 pub.merkle_root, [s.address for s in stakers[1:3]], arbiter.address,
                                 [service.log, plain_service.log], chain_reading_app(client, w.layout))
        for log in (tmp / "service.log", tmp / "plain.log"):
            assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield b
        finally:
            b.close()


def open_page(chromium: Any, origin: str, path: str) -> Visit:
    v = Visit(chromium, origin, viewport={"width": 1280, "height": 900})
    v.goto(path)
    return v


def test_round_page__committee_attested_contents_equivocation_and_signers_of_the_posted_result(cworld, chromium):
    v = open_page(chromium, cworld.url, f"/rounds/{ROUND}")
    page = v.page
    try:
        section = page.locator("#committee")
        members, threshold = cworld.client.tournament.committee()
        assert section.get_attribute("data-threshold") == str(int(threshold)) == "2"
        assert section.get_attribute("data-epoch") == str(int(cworld.client.tournament.committeeEpoch()))
        assert page.eval_on_selector_all("#committee [data-member]", "ls => ls.map(l => l.dataset.member)") == [
            str(m) for m in members] == cworld.members
        # The liar attested two contents: flagged beside its name and in each of its rows.
        assert page.eval_on_selector_all("#committee [data-member] [data-equivocation]",
                                         "ls => ls.map(l => l.parentElement.dataset.member)") == [cworld.liar]
        rows = page.eval_on_selector_all("#attestations tbody tr", """rs => rs.map(r => ({
            digest: r.dataset.digest, root: r.dataset.root, agreed: r.dataset.agreed, posted: r.dataset.posted,
            signers: r.dataset.signers, payout: r.querySelector('[data-col=payout] [data-wei]').dataset.wei,
            payout_text: r.querySelector('[data-col=payout]').innerText.trim(),
            equivocation: r.querySelector('.signers').innerText.includes('(equivocation)')}))""")
        listed = requests.get(f"{cworld.url}/v1/rounds/{ROUND}/attestations", timeout=60).json()
        assert [(r["digest"], r["payout"], r["signers"]) for r in rows] == [
            (c["digest"], c["total_payout"], ",".join(c["signers"])) for c in listed["contents"]]
        by_digest = {r["digest"]: r for r in rows}
        truth = by_digest[cworld.honest_digest]
        assert truth["agreed"] == "true" and truth["posted"] == "true" and truth["root"] == cworld.root
        assert truth["signers"] == ",".join(cworld.honest) and not truth["equivocation"]
        for d in cworld.lie_digests:
            lie = by_digest[d]
            # Shown exactly: a lie of a wei is visible on the page, not rounded away.
            assert lie["payout_text"] == format_nmr(int(lie["payout"])) != truth["payout_text"]
            assert (lie["agreed"], lie["posted"], lie["signers"], lie["equivocation"]) == (
                "false", "false", cworld.liar, True)
        # ResultAttested: the result was posted twice (before and after the dismissed dispute), by the two honest.
        events = cworld.client.attested(ROUND)
        assert len(events) == 2
        shown = page.eval_on_selector_all("#result-attested li", "ls => ls.map(l => [l.dataset.digest, l.dataset.signers])")
        assert shown == [[to_hex(bytes(e.digest)), ",".join(m for i, m in enumerate(cworld.members)
                                                            if int(e.signers) >> i & 1)] for e in events]
        assert all(s == ",".join(cworld.honest) for _, s in shown) and shown[0][0] == cworld.honest_digest
        SHOTS.mkdir(parents=True, exist_ok=True)
        v.shot("round-committee")
    finally:
        v.close()


def test_round_page__disputes_with_hostile_evidence_are_shown_as_text_and_nothing_is_injected(cworld, chromium):
    v = open_page(chromium, cworld.url, f"/rounds/{ROUND}")
    page = v.page
    try:
        disputes = page.eval_on_selector_all("#disputes li.dispute", """ls => ls.map(l => ({
            disputer: l.dataset.disputer, root: l.dataset.root, bond: l.dataset.bond, outcome: l.dataset.outcome,
            evidence: l.querySelector('code.evidence').textContent, kind: l.querySelector('code.evidence').dataset.kind,
            ruling: l.querySelector('.ruling') ? l.querySelector('.ruling').textContent : null}))""")
        filed = cworld.client.desk_logs("Disputed", ROUND)
        settled = cworld.client.desk_logs("DisputeSettled", ROUND)
        assert len(filed) == 2 and len(settled) == 1 and int(settled[0].outcome) == 2  # Dismissed
        assert [(d["disputer"], d["root"], d["bond"]) for d in disputes] == [
            (str(f.disputer), to_hex(bytes(f.disputedRoot)), str(int(f.bond))) for f in filed]
        assert [d["disputer"] for d in disputes] == cworld.disputers and {d["root"] for d in disputes} == {cworld.root}
        assert [d["outcome"] for d in disputes] == ["dismissed", "open"]
        # The hostile strings, exactly, as text; the bytes that are not UTF-8 as hex.
        assert disputes[0]["evidence"] == HOSTILE and disputes[0]["kind"] == "text"
        assert HOSTILE_REASON in disputes[0]["ruling"] and "wrong" in disputes[0]["ruling"]
        assert disputes[1]["evidence"] == "0x" + NOT_UTF8.hex() and disputes[1]["kind"] == "hex"
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#injected, #reason-injected, #disputes img, #disputes script, #disputes b").count() == 0
        assert page.locator("#leaderboard-section").count() == 1  # the page goes on after the evidence
        raw = requests.get(f"{cworld.url}/rounds/{ROUND}", timeout=60).text
        assert "<script>window.__pwned" not in raw and "&lt;script&gt;window.__pwned" in raw
        v.shot("round-disputes")
    finally:
        v.close()  # no console error (a CSP violation would be one), no request elsewhere


def test_round_page__a_deployment_without_committee_or_desk__shows_neither_and_no_error(cworld, chromium):
    v = open_page(chromium, cworld.plain_url, f"/rounds/{PLAIN_ROUND}")
    try:
        assert v.page.locator("#committee, #disputes, #attestations").count() == 0
        assert v.page.locator("h1").inner_text().startswith(f"Round {PLAIN_ROUND}")
    finally:
        v.close()
    answer = requests.get(f"{cworld.plain_url}/v1/rounds/{PLAIN_ROUND}/attestations", timeout=60)
    assert answer.status_code == 404 and answer.json()["type"].endswith("no-committee")


def test_round_page__committee_round_nobody_attested__says_so(cworld, chromium, tmp_path):
    # A round of the committee deployment with no attestations and no disputes: the empty states.
    from ape import accounts

    client = cworld.client
    w = World(client, Path(), DataLayout(tmp_path / "unused"), accounts.test_accounts[0], None, [])
    open_funded_round(w, ROUND + 1, fund=0)
    v = open_page(chromium, cworld.url, f"/rounds/{ROUND + 1}")
    try:
        for selector in ("#no-attestations", "#no-result-attested", "#no-disputes"):
            assert v.page.locator(selector).count() == 1, selector
    finally:
        v.close()
    shutil.rmtree(tmp_path / "unused", ignore_errors=True)


def test_round_page__served_from_the_event_index__reads_as_the_page_reading_the_chain(cworld):
    """The served process reads the round's `ResultAttested` events and its disputes from its event
    index; the same app reading the chain's logs (no index) renders the same page, byte for byte."""
    served = requests.get(f"{cworld.url}/rounds/{ROUND}", timeout=60)
    on_chain = cworld.chain_app.get(f"/rounds/{ROUND}")
    assert served.status_code == on_chain.status_code == 200
    assert served.text == on_chain.text, "\n".join(difflib.unified_diff(
        on_chain.text.splitlines(), served.text.splitlines(), "the chain's", "the index's", lineterm="", n=1))
    # ... and it is the page with something in it: the posted digest, both disputes, both outcomes.
    assert cworld.honest_digest in served.text
    assert served.text.count('<li class="dispute"') == 2
    assert 'data-outcome="dismissed"' in served.text and 'data-outcome="open"' in served.text
    assert "found the disputer wrong" in served.text  # the arbiter ruled False: the dispute was dismissed
