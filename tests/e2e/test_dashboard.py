"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright, against a real
`nmrstake serve` process on a real Anvil with rounds that the oracle (`nmrstake oracle run --once`,
a process) resolved, published and posted.

The world (one for the module):
- round 201: three stakers, four model names each (model_00..model_03, each staker with its own
  file), one stake never delivered (invalid), plus an allocation strategy staking model_04; final,
  settled, and staker 0 has claimed its model_00 stake;
- round 202: the same stakers and the strategy again, other amounts; final, nobody has claimed;
- round 203: open for a month, with Numerai's 2026 payout settings (no stake threshold), one stake:
  nothing posted.

Each page's numbers are checked against the chain (ape reads of the contract and its logs) and the
published files (results.csv and manifest.json read with the csv and json modules); the browser
console must stay free of errors, and every request must go to the service's own origin. The run
saves a screenshot of each page under out/dashboard/. A test that cannot start what it needs
(Anvil, the service, chromium) fails; nothing is skipped.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from helpers.scenario import (
    HOUR,
    WEI,
    advance_to,
    advance_to_final,
    deliver_targets,
    make_world,
    open_funded_round,
    oracle_once,
    synth_round,
)
from helpers.service_process import running_service

from nmrstake.client.positions import utc
from nmrstake.hashing import keccak_bytes, keccak_file, to_hex
from nmrstake.localchain import anvil_provider
from nmrstake.models import model_id
from nmrstake.participant import LocalDelivery, deliver, stake_predictions
from nmrstake.rounds import NO_THRESHOLD, RoundSpec, open_round, payout_preset
from nmrstake.tournament import RoundState

pytestmark = pytest.mark.nodes  # real Anvil, a real service process and a real browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "dashboard"
R1, R2, R_OPEN = 201, 202, 203
MODELS = 4  # model_00..model_03 per staker; model_04 is the strategy's
STRATEGY_MODEL = "model_04"
PER_ROUND = 10 * WEI
TZ = "Asia/Kathmandu"  # UTC+05:45: a reader's time zone no server default would produce by accident


# ---------------------------------------------------------------------------------------- expectations


def nmr_short(wei: int) -> str:
    """What the pages' tables and cards show for an amount: NMR to exactly 4 decimals, half away
    from zero (a column's decimals line up: 78.7340 beside 41.9344)."""
    value = (Decimal(abs(wei)) / WEI).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    text = format(value, "f")
    return "-" + text if wei < 0 and value != 0 else text


def local_time(ts: int, tz: str = TZ) -> str:
    d = datetime.fromtimestamp(ts, ZoneInfo(tz))
    offset = d.utcoffset()
    assert offset is not None  # an aware datetime (ZoneInfo)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{d:%Y-%m-%d %H:%M} UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def net_of(row: dict[str, str]) -> int:
    return int(row["payout"]) - int(row["burn"])


def score_text(value: str) -> str:
    return "—" if value == "" else f"{float(value):.4f}"


def published_rows(data: Path, rid: int) -> list[dict[str, str]]:
    with open(data / "results" / f"round-{rid}" / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------------------------------- the world


@dataclass
class World:
    url: str
    data: Path
    client: Any
    stakers: list[Any]
    strategy: str
    strategy_owner: Any
    claimed: tuple[int, str, str]
    service_log: Path
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(project, tmp_path_factory) -> Iterator[World]:
    from ape import accounts

    tmp = tmp_path_factory.mktemp("dashboard")
    with anvil_provider():
        w = make_world(project, tmp, n_stakers=3)
        client = w.client
        owner7 = accounts.test_accounts[7]
        client.token.mint(owner7, 1_000 * WEI, sender=w.owner)
        # An allocation strategy with no operator: its owner stakes it by hand.
        factory = project.StrategyFactory.at(client.deployment.address("StrategyFactory"))
        factory.create("0x" + "00" * 20, sender=owner7)
        strategy = project.AllocationStrategy.at(factory.strategyOf(owner7))
        client.token.approve(strategy.address, 100 * WEI, sender=owner7)
        strategy.deposit(100 * WEI, sender=owner7)
        strategy.setModel(model_id(STRATEGY_MODEL), PER_ROUND, 1, sender=owner7)  # Fixed, 10 NMR a round
        delivery = LocalDelivery(client, w.layout)

        for rid in (R1, R2):
            open_funded_round(w, rid, fund=50 * WEI)
        inputs = {rid: synth_round(tmp, rid, models=len(w.stakers) * MODELS + 1, rows=300, seed=rid) for rid in (R1, R2)}
        for rid in (R1, R2):
            for s, acct in enumerate(w.stakers):
                for k in range(MODELS):
                    undelivered = rid == R1 and (s, k) == (2, 3)
                    # 0.00005678 NMR more than a round amount: shown rounded to 4 decimals, "x.0001" or "x.5001"
                    amount = ((s + 1) * (k + 2) + (5 if rid == R2 else 0)) * WEI // 2 + 56_780_000_000_000
                    stake_predictions(client, acct, None if undelivered else delivery, rid, f"model_{k:02d}",
                                      amount, inputs[rid] / "predictions" / f"model_{s * MODELS + k:02d}.csv")
            path = inputs[rid] / "predictions" / f"model_{len(w.stakers) * MODELS:02d}.csv"
            deliver(delivery, client.domain, owner7, rid, STRATEGY_MODEL, path, keccak_file(path),
                    staker=str(strategy.address))
            strategy.stake(rid, model_id(STRATEGY_MODEL), keccak_file(path), sender=owner7)
        numerai_2026 = payout_preset("numerai-2026")  # no stake threshold: the payout factor is always 1
        open_round(client, w.owner, RoundSpec(round_id=R_OPEN, open_in=0, close_after=30 * 24 * HOUR,
                                              resolve_after=HOUR, min_stake=WEI // 10, stake_cap=1_000 * WEI,
                                              corr_multiplier_bps=numerai_2026.corr_multiplier_bps,
                                              mmc_multiplier_bps=numerai_2026.mmc_multiplier_bps,
                                              clip_bps=numerai_2026.clip_bps,
                                              stake_threshold=numerai_2026.stake_threshold))
        open_inputs = synth_round(tmp, R_OPEN, models=2, rows=300, seed=R_OPEN)
        stake_predictions(client, w.stakers[1], delivery, R_OPEN, "model_01", 3 * WEI,
                          open_inputs / "predictions" / "model_01.csv")

        advance_to(client.round(R1).resolve_time)
        for rid in (R1, R2):
            deliver_targets(w, rid, inputs[rid])
        oracle_once(w)  # publishes and posts 201 and 202
        for rid in (R1, R2):
            assert client.round(rid).state is RoundState.POSTED
        advance_to_final(client.round(R2))
        oracle_once(w)  # settles the final rounds
        # Staker 0 claims its model_00 stake of round 201.
        who = w.stakers[0]
        [row] = [r for r in published_rows(w.layout.root, R1) if r["model"] == "model_00" and r["staker"] == who.address]
        client.tournament.claim(R1, model_id("model_00"), who.address, int(row["payout"]), int(row["burn"]),
                                row["proof"].split(";") if row["proof"] else [], sender=who)

        with running_service(w.deployments, w.layout.root, tmp / "service.log") as service:
            yield World(service.url, w.layout.root, client, w.stakers, str(strategy.address), owner7,
                        (R1, "model_00", who.address), tmp / "service.log",
                        extra={"scenario": w, "delivery": delivery, "tmp": tmp})
        assert "Traceback" not in service.log_text(), service.log_text()


# ---------------------------------------------------------------------------------------- the browser


def chromium_path() -> str:
    path = shutil.which("chromium")
    assert path, "Debian's chromium is not on PATH: run `make install` (it installs it with apt-get)"
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield b
        finally:
            b.close()


class Visit:
    """A browser context in the reader's time zone that records console errors, page errors,
    failed requests and every URL the pages ask for."""

    def __init__(self, browser: Any, origin: str, **options: Any) -> None:
        self.origin = origin
        self.context = browser.new_context(timezone_id=TZ, locale="en-GB", **options)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        # A request the browser drops because the page navigated away (the favicon Chromium
        # fetches after load, when a test types into the search box at once) is not the page's
        # failure; a request aborted with no navigation after it is.
        self.navigations = 0
        self.issued_at: dict[Any, int] = {}
        self.aborted: list[tuple[str, int]] = []
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("framenavigated", self._navigated)
        self.page.on("requestfailed", self._failed)
        self.page.on("request", self._issued)

    def _navigated(self, frame: Any) -> None:
        if frame == self.page.main_frame:
            self.navigations += 1

    def _issued(self, request: Any) -> None:
        self.requests.append(request.url)
        self.issued_at[request] = self.navigations

    def _failed(self, request: Any) -> None:
        message = f"request failed: {request.url} {request.failure}"
        if "ERR_ABORTED" in (request.failure or ""):
            self.aborted.append((message, self.issued_at.get(request, self.navigations)))
        else:
            self.errors.append(message)

    def failures(self) -> list[str]:
        """Every error so far, with aborted requests counted only when no navigation followed them."""
        return self.errors + [m for m, at in self.aborted if at == self.navigations]

    def goto(self, path: str) -> Any:
        response = self.page.goto(self.origin + path, wait_until="load")
        assert response is not None and response.status == 200, (path, response and response.status)
        csp = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp, csp
        return self.page

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        return path

    def close(self) -> None:
        failures = self.failures()
        self.context.close()
        assert not failures, failures
        foreign = [u for u in self.requests if not (u.startswith(self.origin + "/") or u.startswith("data:"))]
        assert not foreign, f"requests that left the service's origin: {foreign}"


@pytest.fixture
def visit(browser, world) -> Iterator[Visit]:
    v = Visit(browser, world.url, viewport={"width": 1280, "height": 900})
    yield v
    v.close()


def wait_board(page: Any) -> None:
    page.wait_for_selector("#board[data-state=ready]", timeout=30_000)


def board_rows(page: Any) -> list[dict[str, Any]]:
    return page.eval_on_selector_all("#board tbody tr", """rows => rows.map(tr => {
        const cell = c => tr.querySelector(`[data-col=${c}]`);
        const wei = c => cell(c).querySelector('[data-wei]').dataset.wei;
        return {leaf: tr.dataset.leaf, model: tr.dataset.model, staker: tr.dataset.staker,
                rank: cell('rank').innerText.trim(), net: wei('net'), net_text: cell('net').innerText.trim(),
                staker_link: cell('staker').querySelector('a').getAttribute('href'),
                stake: wei('stake'), stake_text: cell('stake').innerText.trim(),
                corr: cell('corr').innerText.trim(), mmc: cell('mmc').innerText.trim(),
                score: cell('score').innerText.trim(), payout: wei('payout'), payout_text: cell('payout').innerText.trim(),
                burn: wei('burn'), burn_text: cell('burn').innerText.trim(), valid: cell('valid').innerText.trim()};
    })""")


def wei_of(page: Any, selector: str) -> int:
    return int(page.get_attribute(f"{selector} [data-wei]", "data-wei"))


def text_of(page: Any, selector: str) -> str:
    return page.inner_text(selector).strip()


# ---------------------------------------------------------------------------------------- tests


def test_rounds_page__every_round_with_state_local_times_totals_funding_stakes_and_verification(world, visit):
    page = visit.goto("/")
    ids = world.client.round_ids()
    assert ids == [R1, R2, R_OPEN]
    assert page.eval_on_selector_all("#rounds tbody tr", "rs => rs.map(r => +r.dataset.round)") == ids[::-1]
    for rid in ids:
        info = world.client.round(rid)
        row = f"#rounds tr[data-round='{rid}']"
        assert text_of(page, f"{row} .state") == info.state.label
        for col, ts in (("open", info.open_time), ("close", info.close_time), ("resolve", info.resolve_time)):
            assert text_of(page, f"{row} [data-col={col}]") == local_time(ts), (rid, col)
        for col, wei in (("staked", info.total_staked), ("funded", info.funded), ("payout", info.total_payout),
                         ("burn", info.total_burn)):
            assert wei_of(page, f"{row} [data-col={col}]") == wei, (rid, col)
            assert text_of(page, f"{row} [data-col={col}]") == nmr_short(wei), (rid, col)
        assert text_of(page, f"{row} [data-col=stakes]") == str(info.stake_count)
        badge = page.get_attribute(f"{row} [data-col=verified] [data-verified]", "data-verified")
        if rid == R_OPEN:
            assert badge == "" and info.state is RoundState.OPEN
        else:
            manifest = json.loads((world.data / "results" / f"round-{rid}" / "manifest.json").read_text())
            assert int(manifest["totals"]["total_payout"]) == info.total_payout
            assert int(manifest["totals"]["total_burn"]) == info.total_burn
            assert badge == "true", rid
    assert world.client.round(R1).stake_count == 3 * MODELS + 1
    # The tournament as a whole: totals over every round and the trend per round, the chain's.
    infos = [world.client.round(rid) for rid in (R1, R2, R_OPEN)]
    for col, wei in (("staked", sum(i.total_staked for i in infos)), ("payout", sum(i.total_payout for i in infos)),
                     ("burn", sum(i.total_burn for i in infos)), ("at_risk", infos[2].total_staked)):
        assert wei_of(page, f"#tournament [data-col={col}]") == wei, col
    assert sum(i.total_burn for i in infos) > 0
    page.wait_for_selector("#trend-chart[data-state=ready]")
    trend = page.evaluate("() => window.nmrstake.charts.trend.data")
    assert trend[0] == [R1, R2, R_OPEN]
    assert trend[1] == pytest.approx([i.total_staked / WEI for i in infos])
    assert trend[2] == pytest.approx([i.total_payout / WEI for i in infos])
    assert trend[3] == pytest.approx([i.total_burn / WEI for i in infos])
    assert page.query_selector("#late-rounds") is None  # the open round resolves long after now
    # Stake and pending apart for the whole tournament, by round: the open round's stakes at stake
    # until it closes; the final rounds' returns claimable (every published row the chain still
    # holds, at stake - burn + payout) and claimed (what the chain counts as claimed).
    phase = "#tournament-phases tr[data-phase='{}'] [data-col={}]"
    assert (text_of(page, phase.format("at stake now", "stakes")), wei_of(page, phase.format("at stake now", "amount"))) \
        == ("1", infos[2].total_staked)
    assert text_of(page, phase.format("at stake now", "next")) == f"closes {utc(infos[2].close_time)}"
    held = sum(int(r["stake"]) - int(r["burn"]) + int(r["payout"]) for rid in (R1, R2) for r in published_rows(world.data, rid)
               if int(world.client.tournament.getStake(rid, model_id(r["model"]), r["staker"])[0]) > 0)
    assert wei_of(page, phase.format("claimable", "amount")) == held
    assert wei_of(page, phase.format("claimed", "amount")) == infos[0].claimed + infos[1].claimed > 0
    assert wei_of(page, phase.format("awaiting results", "amount")) == 0
    visit.shot("rounds")


def test_round_page__leaderboard_ranked_by_net_totals_verification_files_and_transactions_match_chain_and_published(
        world, visit):
    info = world.client.round(R1)
    page = visit.goto(f"/rounds/{R1}")
    wait_board(page)
    # Totals: the chain's.
    for col, wei in (("staked", info.total_staked), ("funded", info.funded), ("payout", info.total_payout),
                     ("burn", info.total_burn), ("claimed", info.claimed), ("claimable", info.claimable)):
        assert wei_of(page, f"#totals [data-col={col}]") == wei, col
        assert text_of(page, f"#totals [data-col={col}] [data-wei]") == nmr_short(wei), col
    assert info.claimed > 0  # staker 0 claimed one stake
    # Stake and pending apart: a final round's stakes are claimable, with what was claimed and what is left.
    assert page.get_attribute("#round-phase", "data-phase") == "claimable"
    assert wei_of(page, "#round-phase [data-col=claimed]") == info.claimed
    # What is left: every published row whose stake the chain still holds, at stake - burn + payout.
    left = sum(int(r["stake"]) - int(r["burn"]) + int(r["payout"]) for r in published_rows(world.data, R1)
               if int(world.client.tournament.getStake(R1, model_id(r["model"]), r["staker"])[0]) > 0)
    assert wei_of(page, "#round-phase [data-col=left]") == left == info.claimable - info.claimed
    assert text_of(page, "#totals [data-col=stakes]") == str(info.stake_count)
    for col, ts in (("open", info.open_time), ("close", info.close_time), ("posted", info.posted_at),
                    ("final", info.final_at)):
        assert text_of(page, f"#times [data-col={col}]") == local_time(ts), col
    # Every row of results.csv, by net result (payout - burn) highest first, each with its rank by
    # it (equal nets share one) and its numbers.
    published = published_rows(world.data, R1)
    shown = board_rows(page)
    assert len(shown) == len(published) == info.stake_count
    assert text_of(page, "#board-status") == f"1–{len(published)} of {len(published)}"
    assert page.get_attribute("#board th[data-sort=net]", "aria-sort") == "descending"
    by_net = sorted(published, key=lambda r: (net_of(r), int(r["leaf_index"])), reverse=True)
    nets = [net_of(r) for r in published]
    for got, want in zip(shown, by_net):
        assert got["rank"] == str(1 + sum(n > net_of(want) for n in nets))
        assert got["net"] == str(net_of(want)) and got["net_text"] == nmr_short(net_of(want))
        assert (got["leaf"], got["model"], got["staker"]) == (want["leaf_index"], want["model"], want["staker"])
        assert got["staker_link"] == f"/stakers/{want['staker']}"
        assert (got["stake"], got["payout"], got["burn"]) == (want["stake"], want["payout"], want["burn"])
        assert got["stake_text"] == nmr_short(int(want["stake"])) and got["payout_text"] == nmr_short(int(want["payout"]))
        assert got["burn_text"] == nmr_short(int(want["burn"]))
        assert (got["corr"], got["mmc"], got["score"]) == tuple(score_text(want[c]) for c in ("corr", "mmc", "score"))
        assert got["valid"] == ("yes" if want["valid"] == "true" else f"no: {want['reason']}")
    invalid = [r for r in shown if r["valid"] != "yes"]
    assert len(invalid) == 1 and "no predictions file delivered" in invalid[0]["valid"]
    # Each stake's amount is the one the chain recorded at close (Staked events).
    at_close = {(s.model, s.staker): s.amount for s in world.client.stakes_at_close(R1)}
    assert {(r["model"], r["staker"]): int(r["stake"]) for r in shown} == at_close
    # Verified: the manifest's keccak is the on-chain resultsHash, the rows' Merkle root the on-chain root.
    manifest = world.data / "results" / f"round-{R1}" / "manifest.json"
    assert to_hex(keccak_file(manifest)) == to_hex(info.results_hash)
    assert page.get_attribute("h1 [data-verified]", "data-verified") == "true"
    assert page.eval_on_selector_all("#verification [data-check]", "cs => cs.map(c => [c.dataset.check, c.dataset.ok])") \
        == [["manifest", "true"], ["merkle-root", "true"], ["stake-count", "true"]]
    assert text_of(page, "#chain-root") == to_hex(info.root)
    # Published files: each link serves the file whose keccak the manifest lists.
    links = page.eval_on_selector_all("#files a[data-keccak]", "as => as.map(a => [a.getAttribute('href'), a.dataset.keccak])")
    listed = json.loads(manifest.read_text())
    assert {h.rsplit("/files/", 1)[1] for h, _ in links} == {"manifest.json", *listed["files"],
                                                              *(i["path"] for i in listed["inputs"])}
    for href, digest in links:
        body = requests.get(world.url + href, timeout=30).content
        assert to_hex(keccak_bytes(body)) == digest, href
    # On-chain transactions: those of the round's events, from the chain's logs.
    expected = []
    head = world.client.head() + 1
    for name in ("RoundOpened", "Funded", "ResultPosted", "Settled"):
        logs = getattr(world.client.tournament, name).range(world.client.start_block, head,
                                                            search_topics={"roundId": R1})
        assert logs, name
        expected += [(name, str(log.transaction_hash).lower()) for log in logs]
    got = page.eval_on_selector_all("#transactions [data-tx]", "ls => ls.map(l => [l.dataset.event, l.dataset.tx])")
    assert sorted((e, t.lower()) for e, t in got) == sorted(
        (e, t if t.startswith("0x") else "0x" + t) for e, t in expected)
    # The chart: one point per scored stake, score against payout - burn.
    page.wait_for_selector("#round-chart[data-state=ready]", timeout=30_000)
    scored = sorted((float(r["score"]), (int(r["payout"]) - int(r["burn"])) / WEI) for r in published if r["score"])
    data = page.evaluate("() => window.nmrstake.charts.round.data")
    assert len(data[0]) == len(scored) == info.stake_count - 1
    assert data[0] == pytest.approx([s for s, _ in scored]) and data[1] == pytest.approx([n for _, n in scored])
    assert page.eval_on_selector("#round-chart canvas", "c => c.width > 200 && c.height > 100")
    assert f"{world.url}/static/vendor/uPlot.iife.min.js" in visit.requests  # the chart library, from the service
    visit.shot("round")


def test_round_page__sorting_search_and_paging_are_done_by_the_service(world, visit):
    published = published_rows(world.data, R1)
    page = visit.goto(f"/rounds/{R1}?rows=5")
    wait_board(page)
    assert len(board_rows(page)) == 5 and text_of(page, "#board-status") == f"1–5 of {len(published)}"

    def click_sort(column: str, order: str) -> None:
        page.click(f"#board th[data-sort={column}]")
        page.wait_for_selector(f"#board th[data-sort={column}][aria-sort={order}]")
        wait_board(page)

    def keyed(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
        return [(r["model"], r["staker"]) for r in rows]

    # Score, descending first (invalid stakes, with no score, last), then ascending; pages follow on.
    with_score = [r for r in published if r["score"]]
    by_score_desc = sorted(with_score, key=lambda r: float(r["score"]), reverse=True) + \
        [r for r in published if not r["score"]]
    click_sort("score", "descending")
    first = board_rows(page)
    assert keyed(first) == keyed(by_score_desc[:5])
    page.click("#board-next")
    page.wait_for_selector("#board[data-state=ready][data-offset='5']")
    assert keyed(board_rows(page)) == keyed(by_score_desc[5:10])
    click_sort("score", "ascending")
    assert keyed(board_rows(page)) == keyed(sorted(with_score, key=lambda r: float(r["score"]))[:5])
    # Stake, descending; payout, descending: the numbers really are in order.
    click_sort("stake", "descending")
    stakes = [int(r["stake"]) for r in board_rows(page)]
    assert stakes == sorted((int(r["stake"]) for r in published), reverse=True)[:5]
    click_sort("payout", "descending")
    assert [int(r["payout"]) for r in board_rows(page)] == sorted((int(r["payout"]) for r in published), reverse=True)[:5]
    click_sort("model", "ascending")
    assert [r["model"] for r in board_rows(page)] == sorted(r["model"] for r in published)[:5]
    visit.shot("round-sorted")

    # Search by model name: exactly that model's stakes (every staker of the name).
    page.fill("#board-search", "model_01")
    page.wait_for_function("() => document.querySelector('#board').dataset.matched === '3'")
    wait_board(page)
    assert {r["model"] for r in board_rows(page)} == {"model_01"}
    assert text_of(page, "#board-status") == f"1–3 of 3 matching ({len(published)} in all)"
    # Search by part of an address, in any case: that staker's stakes only.
    who = world.stakers[1].address
    page.fill("#board-search", who[2:12].upper())
    page.wait_for_function(f"() => document.querySelector('#board').dataset.matched === '{MODELS}'")
    wait_board(page)
    assert {r["staker"] for r in board_rows(page)} == {who}
    page.fill("#board-search", "no_such_model")
    page.wait_for_function("() => document.querySelector('#board').dataset.matched === '0'")
    assert board_rows(page) == [] and page.is_disabled("#board-next")
    page.fill("#board-search", "")
    page.wait_for_function(f"() => document.querySelector('#board').dataset.matched === '{len(published)}'")


def test_model_page__history_one_chart_point_per_round_claimable_and_strategy_settings(world, visit):
    page = visit.goto("/models/model_00")
    rows = {rid: [r for r in published_rows(world.data, rid) if r["model"] == "model_00"] for rid in (R1, R2)}
    assert all(len(v) == 3 for v in rows.values())
    # One row per round, with the totals of the model's stakes in it and the running net result.
    assert page.eval_on_selector_all("#history-rounds tbody tr", "rs => rs.map(r => +r.dataset.round)") == [R1, R2]
    cumulative = 0
    expected_y = []
    for rid in (R1, R2):
        stake = sum(int(r["stake"]) for r in rows[rid])
        net = sum(int(r["payout"]) - int(r["burn"]) for r in rows[rid])
        cumulative += net
        expected_y.append(cumulative / WEI)
        tr = f"#history-rounds tr[data-round='{rid}']"
        assert wei_of(page, f"{tr} [data-col=stake]") == stake
        assert wei_of(page, f"{tr} [data-col=net]") == net
        assert wei_of(page, f"{tr} [data-col=cumulative]") == cumulative
        assert text_of(page, f"{tr} [data-col=cumulative]") == nmr_short(cumulative)
    # The chart: one point per round, the cumulative net result after it.
    page.wait_for_selector("#history-chart[data-state=ready]")
    data = page.evaluate("() => window.nmrstake.charts.history.data")
    assert data[0] == [R1, R2] and data[1] == pytest.approx(expected_y)
    assert page.get_attribute("#history-chart", "data-points") == "2"
    # Claimable now: every stake of a final round not yet claimed (the chain still holds it).
    claimable = 0
    for rid in (R1, R2):
        for r in rows[rid]:
            left = int(world.client.tournament.getStake(rid, model_id("model_00"), r["staker"])[0])
            tr = f"#history-stakes tr[data-round='{rid}'][data-staker='{r['staker']}']"
            if (rid, "model_00", r["staker"]) == world.claimed:
                assert left == 0 and text_of(page, f"{tr} [data-col=claim]").startswith("claimed")
                assert wei_of(page, f"{tr} [data-col=claimable]") == 0
                # The claim's transaction, as the chain's Claimed log names it.
                [claim_log] = [log for log in world.client.logs("Claimed", {"roundId": rid})
                               if log.staker == r["staker"]]
                txn = claim_log.transaction_hash
                assert page.get_attribute(f"{tr} [data-col=claim_txn]", "title") == (
                    txn if isinstance(txn, str) else to_hex(txn))
            else:
                due = int(r["stake"]) - int(r["burn"]) + int(r["payout"])
                assert left == int(r["stake"]) and text_of(page, f"{tr} [data-col=claim]") == "claimable"
                assert wei_of(page, f"{tr} [data-col=claimable]") == due
                claimable += due
    assert wei_of(page, "#summary [data-col=claimable]") == claimable
    # Performance over time: per round the mean score, CORR and MMC of the model's stakes, its
    # best rank among the round's scored stakes and its return on stake; per stake its rank and
    # return. Ranks are recomputed here from every published row: by score, best first, ties
    # sharing the better rank.
    means = {}
    for rid in (R1, R2):
        everyone = published_rows(world.data, rid)
        scores = sorted((float(r["score"]) for r in everyone if r["score"] not in ("", None)), reverse=True)
        rank_of = {r["staker"]: 1 + sum(1 for x in scores if x > float(r["score"])) for r in rows[rid] if r["score"]}
        scored = [r for r in rows[rid] if r["score"]]
        means[rid] = [sum(float(r[k]) for r in scored) / len(scored) for k in ("score", "corr", "mmc")]
        tr = f"#history-rounds tr[data-round='{rid}']"
        assert text_of(page, f"{tr} [data-col=score]") == score_text(repr(means[rid][0]))
        assert text_of(page, f"{tr} [data-col=rank]") == f"{min(rank_of.values())} of {len(scores)}"
        stake = sum(int(r["stake"]) for r in rows[rid])
        net = sum(int(r["payout"]) - int(r["burn"]) for r in rows[rid])
        assert float(page.get_attribute(f"{tr} [data-col=return] [data-pct]", "data-pct")) == round(100 * net / stake, 2)
        for r in scored:
            cell = text_of(page, f"#history-stakes tr[data-round='{rid}'][data-staker='{r['staker']}'] [data-col=rank]")
            assert cell.startswith(f"{rank_of[r['staker']]} of {len(scores)}"), cell
    page.wait_for_selector("#performance-chart[data-state=ready]")
    chart = page.evaluate("() => window.nmrstake.charts.performance.data")
    assert chart[0] == [R1, R2]
    for k in range(3):
        assert chart[1 + k] == pytest.approx([means[R1][k], means[R2][k]])
    visit.shot("model")

    # The strategy's model: its settings, as the strategy contract holds them.
    page = visit.goto(f"/models/{STRATEGY_MODEL}")
    strategy = world.client.project.AllocationStrategy.at(world.strategy)
    setting = strategy.model(model_id(STRATEGY_MODEL))
    tr = f"#strategies tr[data-strategy='{world.strategy}']"
    assert text_of(page, f"{tr} [data-col=mode]") == "fixed" and int(setting.mode) == 1
    assert wei_of(page, f"{tr} [data-col=per_round]") == int(setting.perRound) == PER_ROUND
    assert wei_of(page, f"{tr} [data-col=next_stake]") == int(strategy.nextStake(model_id(STRATEGY_MODEL)))
    page.wait_for_selector("#history-chart[data-state=ready]")
    assert page.evaluate("() => window.nmrstake.charts.history.data[0]") == [R1, R2]


def test_staker_page__history_claimable_pending_round_and_strategy(world, visit):
    who = world.stakers[1].address
    page = visit.goto(f"/stakers/{who.lower()}")  # any case: the page shows the checksummed address
    assert text_of(page, "#subject") == who
    assert page.eval_on_selector_all("#history-rounds tbody tr", "rs => rs.map(r => +r.dataset.round)") == [R1, R2, R_OPEN]
    # The open round: staked, no result yet, not in the chart.
    tr = f"#history-stakes tr[data-round='{R_OPEN}']"
    assert text_of(page, f"{tr} [data-col=claim]") == "pending"
    assert wei_of(page, f"{tr} [data-col=stake]") == int(world.client.tournament.getStake(R_OPEN, model_id("model_01"), who)[0])
    page.wait_for_selector("#history-chart[data-state=ready]")
    assert page.evaluate("() => window.nmrstake.charts.history.data[0]") == [R1, R2]
    total = 0
    for rid in (R1, R2):
        mine = [r for r in published_rows(world.data, rid) if r["staker"] == who]
        assert len(mine) == MODELS
        for r in mine:
            tr = f"#history-stakes tr[data-round='{rid}'][data-model='{r['model']}']"
            assert wei_of(page, f"{tr} [data-col=payout]") == int(r["payout"])
            assert wei_of(page, f"{tr} [data-col=burn]") == int(r["burn"])
            assert text_of(page, f"{tr} [data-col=score]") == score_text(r["score"])
            total += int(r["stake"]) - int(r["burn"]) + int(r["payout"])
    assert wei_of(page, "#summary [data-col=claimable]") == total
    # Stake and pending apart: the open round's stake is at stake until it closes; the final
    # rounds' returns are claimable; nothing awaits a result or was claimed.
    phase = "#phases tr[data-phase='{}'] [data-col={}]"
    open_stake = int(world.client.tournament.getStake(R_OPEN, model_id("model_01"), who)[0])
    close = world.client.round(R_OPEN).close_time
    assert (text_of(page, phase.format("at stake now", "stakes")), wei_of(page, phase.format("at stake now", "amount"))) \
        == ("1", open_stake)
    assert text_of(page, phase.format("at stake now", "next")) == f"closes {utc(close)}"
    assert (text_of(page, phase.format("claimable", "stakes")), wei_of(page, phase.format("claimable", "amount"))) == (
        str(2 * MODELS), total)
    for empty in ("awaiting results", "claimed"):
        assert (text_of(page, phase.format(empty, "stakes")), wei_of(page, phase.format(empty, "amount"))) == ("0", 0)
    # The wallet's context: its NMR balance, and what is at risk now (the open stake, not every
    # round's stakes added up).
    assert wei_of(page, "#summary [data-col=balance]") == int(world.client.token.balanceOf(who))
    assert wei_of(page, "#summary [data-col=at_risk]") == open_stake
    visit.shot("staker")

    # The strategy as a staker: its settings and idle NMR; its owner's page shows it too.
    strategy = world.client.project.AllocationStrategy.at(world.strategy)
    idle = int(world.client.token.balanceOf(world.strategy))
    for address in (world.strategy, world.strategy_owner.address):
        page = visit.goto(f"/stakers/{address}")
        box = f"section.strategy[data-strategy='{world.strategy}']"
        assert wei_of(page, f"{box} [data-col=idle]") == idle
        assert text_of(page, f"{box} tr[data-model='{STRATEGY_MODEL}'] [data-col=mode]") == "fixed"
        assert wei_of(page, f"{box} tr[data-model='{STRATEGY_MODEL}'] [data-col=per_round]") == \
            int(strategy.model(model_id(STRATEGY_MODEL)).perRound)
    visit.shot("strategy")

    # The owner's own page: no stakes of its own, but what its strategy did with its NMR.
    page = visit.goto(f"/stakers/{world.strategy_owner.address}")
    assert "its allocation strategy stakes for it" in text_of(page, "#no-stakes")
    box = f"#owned-strategy-history[data-strategy='{world.strategy}']"
    rows = [r for rid in (R1, R2) for r in published_rows(world.data, rid) if r["staker"] == world.strategy]
    assert len(rows) == 2
    net = sum(int(r["payout"]) - int(r["burn"]) for r in rows)
    claimable = sum(int(r["stake"]) - int(r["burn"]) + int(r["payout"]) for r in rows)  # neither claimed
    assert wei_of(page, f"{box} .cards [data-col=net]") == net
    assert wei_of(page, f"{box} .cards [data-col=claimable]") == claimable
    assert wei_of(page, f"{box} .cards [data-col=at_risk]") == 0
    assert wei_of(page, f"{box} .cards [data-col=value]") == idle + claimable
    assert wei_of(page, f"{box} tr[data-phase='claimable'] [data-col=amount]") == claimable
    assert wei_of(page, f"{box} #strategy-rounds tr[data-round='{R2}'] [data-col=cumulative]") == net
    # The strategy's idle NMR over time: after each transfer in or out, what the token held for it
    # at that block (read back from the chain's state at each block), ending at its balance now.
    page.wait_for_selector("#idle-chart[data-state=ready]")
    xs, ys = page.evaluate("() => window.nmrstake.charts.idle.data")
    moves = api(world, f"/v1/stakers/{world.strategy_owner.address}")["strategy_nmr_history"]
    assert len(moves) == len(xs) == len(ys) >= 3  # the deposit, the two stakes (no claim yet)
    token = world.client.token
    for mv, x, y in zip(moves, xs, ys):
        held = int(token.balanceOf(world.strategy, block_id=mv["block"]))
        assert int(mv["balance"]) == held and y == pytest.approx(held / WEI)
        assert x == mv["time"] == world.client.provider.get_block(mv["block"]).timestamp
    assert int(moves[-1]["balance"]) == idle
    last = f"#idle-moves tr[data-block='{moves[-1]['block']}'] [data-col=balance]"
    assert wei_of(page, last) == idle
    visit.shot("strategy-owner")


def test_phone_width__every_page_fits_the_screen_and_the_leaderboard_works(world, browser):
    phone = Visit(browser, world.url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                  device_scale_factor=2)
    try:
        for path, name in phone_pages(world):
            page = phone.goto(path)
            loaded(page, name)
            if name == "round":
                page.click("#board th[data-sort=payout]")
                page.wait_for_selector("#board th[data-sort=payout][aria-sort=descending]")
                wait_board(page)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390, (path, width)  # wide tables scroll inside their own box
            phone.shot(f"{name}-phone")
    finally:
        phone.close()


# ---------------------------------------------------------------------------------------- all-time standings


def expected_standings(world: World) -> dict[str, dict[str, Any]]:
    """Every model that ever staked, from the chain (each round's stakes at close, `Staked` events)
    and the published results (payout, burn, CORR and score of the rounds with a result)."""
    out: dict[str, dict[str, Any]] = {}
    for rid in world.client.round_ids():
        rows = {(r["model"], r["staker"]): r for r in published_rows(world.data, rid)} \
            if world.client.round(rid).state in (RoundState.POSTED, RoundState.FINAL) else {}
        for s in world.client.stakes_at_close(rid):
            m = out.setdefault(s.model, {"rounds": set(), "stake": 0, "payout": 0, "burn": 0, "corr": [], "score": []})
            m["rounds"].add(rid)
            m["stake"] += s.amount
            row = rows.get((s.model, s.staker))
            if row is not None:
                assert int(row["stake"]) == s.amount
                m["payout"] += int(row["payout"])
                m["burn"] += int(row["burn"])
                m["corr"] += [float(row["corr"])] if row["corr"] else []
                m["score"] += [float(row["score"])] if row["score"] else []
    return out


def mean_text(values: list[float]) -> str:
    return f"{sum(values) / len(values):.4f}" if values else "—"


def standings_rows(page: Any) -> list[dict[str, Any]]:
    return page.eval_on_selector_all("#standings tbody tr", """rows => rows.map(tr => {
        const cell = c => tr.querySelector(`[data-col=${c}]`);
        const wei = c => cell(c).querySelector('[data-wei]').dataset.wei;
        return {model: tr.dataset.model, rank: cell('rank').innerText.trim(),
                link: cell('model').querySelector('a').getAttribute('href'), rounds: cell('rounds').innerText.trim(),
                stake: wei('stake'), stake_text: cell('stake').innerText.trim(), net: wei('net'),
                net_text: cell('net').innerText.trim(), payout: wei('payout'), burn: wei('burn'),
                mean_score: cell('mean_score').innerText.trim(), mean_corr: cell('mean_corr').innerText.trim()};
    })""")


def test_standings_page__every_model_that_ever_staked_with_rounds_stake_net_and_mean_scores_from_chain_and_files(
        world, visit):
    expected = expected_standings(world)
    assert len(expected) == MODELS + 1 and len(expected["model_01"]["rounds"]) == 3  # model_01 staked round 203 too
    page = visit.goto("/")
    page.click("header nav a:text('Standings')")  # linked from the navigation
    page.wait_for_url(f"{world.url}/standings")
    page.wait_for_selector("#standings[data-state=ready]")
    shown = standings_rows(page)
    assert {r["model"] for r in shown} == set(expected)
    # By net result, highest first; equal nets share a rank.
    nets = [int(r["net"]) for r in shown]
    assert nets == sorted(nets, reverse=True)
    assert page.get_attribute("#standings th[data-sort=net]", "aria-sort") == "descending"
    for r in shown:
        want = expected[r["model"]]
        net = want["payout"] - want["burn"]
        assert r["rank"] == str(1 + sum(e["payout"] - e["burn"] > net for e in expected.values())), r
        assert r["link"] == f"/models/{r['model']}"
        assert r["rounds"] == str(len(want["rounds"]))
        assert (int(r["stake"]), int(r["payout"]), int(r["burn"]), int(r["net"])) == \
            (want["stake"], want["payout"], want["burn"], net), r["model"]
        assert (r["stake_text"], r["net_text"]) == (nmr_short(want["stake"]), nmr_short(net))
        assert (r["mean_score"], r["mean_corr"]) == (mean_text(want["score"]), mean_text(want["corr"])), r["model"]
    # The same numbers as JSON.
    doc = api(world, "/v1/standings")
    assert doc["rounds"] == 3 and [m["model"] for m in doc["models"]] == [r["model"] for r in shown]
    assert {m["model"]: int(m["net"]) for m in doc["models"]} == {r["model"]: int(r["net"]) for r in shown}
    visit.shot("standings")
    # Sortable: by total staked, highest first, then lowest first; by model name.
    page.click("#standings th[data-sort=stake] button")
    assert page.get_attribute("#standings th[data-sort=stake]", "aria-sort") == "descending"
    assert page.get_attribute("#standings th[data-sort=net]", "aria-sort") == "none"
    stakes = [int(r["stake"]) for r in standings_rows(page)]
    assert stakes == sorted((e["stake"] for e in expected.values()), reverse=True)
    page.click("#standings th[data-sort=stake] button")
    assert page.get_attribute("#standings th[data-sort=stake]", "aria-sort") == "ascending"
    assert [int(r["stake"]) for r in standings_rows(page)] == sorted(stakes)
    page.click("#standings th[data-sort=model] button")
    assert [r["model"] for r in standings_rows(page)] == sorted(expected)
    # A model's row opens its page.
    page.click("#standings tr[data-model='model_02'] [data-col=model] a")
    page.wait_for_url(f"{world.url}/models/model_02")
    assert text_of(page, "#subject") == "model_02"
    loaded(page, "model")
    assert wei_of(page, "#summary [data-col=net]") == expected["model_02"]["payout"] - expected["model_02"]["burn"]


# ---------------------------------------------------------------------------------------- phone and accessibility


def phone_pages(world: World) -> list[tuple[str, str]]:
    return [("/", "rounds"), (f"/rounds/{R1}", "round"), (f"/rounds/{R_OPEN}", "round-open"), ("/standings", "standings"),
            ("/models/model_00", "model"), (f"/stakers/{world.stakers[0].address}", "staker"),
            (f"/stakers/{world.strategy_owner.address}", "strategy-owner")]


@pytest.fixture
def phone(browser, world) -> Iterator[Visit]:
    v = Visit(browser, world.url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
              device_scale_factor=2)
    yield v
    v.close()


def loaded(page: Any, name: str) -> None:
    if name == "round":
        wait_board(page)
        page.wait_for_selector("#round-chart[data-state=ready]", timeout=30_000)
    if name in ("model", "staker"):
        page.wait_for_selector("#history-chart[data-state=ready]", timeout=30_000)
        page.wait_for_selector("#performance-chart[data-state=ready]", timeout=30_000)
    if name == "rounds":
        page.wait_for_selector("#trend-chart[data-state=ready]", timeout=30_000)


def test_phone_width__a_wide_table_scrolls_in_its_box_to_its_last_column_with_its_first_column_in_view(world, phone):
    for path, name in phone_pages(world):
        page = phone.goto(path)
        loaded(page, name)
        tables = page.eval_on_selector_all("div.scroll > table.grid", "ts => ts.map(t => t.id || '')")
        assert tables, path
        for i in range(len(tables)):
            result = page.evaluate("""i => {
                const box = document.querySelectorAll('div.scroll')[i];
                box.scrollIntoView({block: 'center'});
                const table = box.querySelector('table.grid');
                const row = table.tBodies[0].rows[0] || table.tHead.rows[0];
                const first = row.cells[0], last = row.cells[row.cells.length - 1];
                const before = last.getBoundingClientRect().right;
                box.scrollLeft = box.scrollWidth;
                const b = box.getBoundingClientRect(), f = first.getBoundingClientRect(), l = last.getBoundingClientRect();
                const seen = document.elementFromPoint(f.left + 4, f.top + f.height / 2);
                return {wide: box.scrollWidth > box.clientWidth + 2, before, boxLeft: b.left, boxRight: b.right,
                        firstLeft: f.left, lastLeft: l.left, lastRight: l.right, firstOnTop: first.contains(seen),
                        sticky: getComputedStyle(first).position};
            }""", i)
            where = (path, tables[i])
            assert result["sticky"] == "sticky" or tables[i] == "attestations", where
            if not result["wide"]:
                continue
            assert result["before"] > result["boxRight"], where  # the last column ends beyond its box ...
            assert result["boxLeft"] - 1 <= result["lastLeft"] and result["lastRight"] <= result["boxRight"] + 1, where
            assert abs(result["firstLeft"] - result["boxLeft"]) <= 2, where  # ... the first stays at the box's edge
            assert result["firstOnTop"], where  # and is drawn over the scrolled cells
        if name == "round":  # the leaderboard's Payout and Burn are reachable: scrolled into view in the box
            for col in ("payout", "burn"):
                cell = page.locator(f"#board tbody tr:first-child [data-col={col}]")
                cell.scroll_into_view_if_needed()
                box = cell.bounding_box()
                assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= 391, (col, box)
        phone.shot(f"{name}-phone-scrolled")


def test_phone_width__every_link_and_button_is_at_least_24_px_tall(world, phone):
    for path, name in phone_pages(world):
        page = phone.goto(path)
        loaded(page, name)
        small = page.eval_on_selector_all("a, button", """els => els
            .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
            .map(e => [e.textContent.trim().slice(0, 40), e.getBoundingClientRect().height])
            .filter(([, h]) => h < 24)""")
        assert small == [], (path, small)
        assert page.eval_on_selector_all("a", "as => as.length") > 3


def test_sortable_headers__stay_th_with_aria_sort_and_sort_by_a_button_inside_also_from_the_keyboard(world, visit):
    for path, table in ((f"/rounds/{R1}", "#board"), ("/standings", "#standings")):
        page = visit.goto(path)
        page.wait_for_selector(f"{table}[data-state=ready]", timeout=30_000)
        loaded(page, "round" if table == "#board" else "standings")
        heads = page.eval_on_selector_all(f"{table} th[data-sort]", """ths => ths.map(th => ({
            key: th.dataset.sort, tag: th.tagName, role: th.getAttribute('role'), sort: th.getAttribute('aria-sort'),
            tabindex: th.getAttribute('tabindex'), buttons: th.querySelectorAll('button').length}))""")
        assert len(heads) >= 8
        for h in heads:
            assert h["tag"] == "TH" and h["role"] is None and h["tabindex"] is None and h["buttons"] == 1, (path, h)
        assert [h["sort"] for h in heads if h["sort"] != "none"] == ["descending"], path  # one sorted column: net
        assert page.eval_on_selector(f"{table} thead tr", "tr => [...tr.cells].every(c => c.tagName === 'TH')")
        # The keyboard: the score header's button takes the focus (a native button: a tab stop) and Enter sorts.
        key = "score" if table == "#board" else "mean_score"
        page.focus(f"{table} th[data-sort={key}] button")
        page.keyboard.press("Enter")
        page.wait_for_selector(f"{table} th[data-sort={key}][aria-sort=descending]")
        assert page.get_attribute(f"{table} th[data-sort=net]", "aria-sort") == "none"
        if table == "#board":
            wait_board(page)
            published = published_rows(world.data, R1)
            best = max(published, key=lambda r: float(r["score"]) if r["score"] else -1e9)
            assert board_rows(page)[0]["model"] == best["model"]
            assert board_rows(page)[0]["staker"] == best["staker"]
        else:
            scores = page.eval_on_selector_all("#standings tbody [data-col=mean_score]", "cs => cs.map(c => c.dataset.value)")
            numbers = [float(v) for v in scores if v]
            assert numbers == sorted(numbers, reverse=True) and all(scores[: len(numbers)])


def test_charts__have_a_text_alternative_with_their_numbers(world, visit):
    page = visit.goto(f"/rounds/{R1}")
    page.wait_for_selector("#round-chart[data-state=ready]", timeout=30_000)
    published = published_rows(world.data, R1)
    scored = [r for r in published if r["score"]]
    assert page.get_attribute("#round-chart", "role") == "img"
    label = page.get_attribute("#round-chart", "aria-label")
    assert f"for {len(scored)} scored stakes" in label, label
    lowest = min(float(r["score"]) for r in scored)
    assert f"scores from {lowest:.4f}" in label, label
    gained = sum(net_of(r) > 0 for r in scored)
    assert f"{gained} gained" in label, label
    described = page.get_attribute("#round-chart", "aria-describedby")
    assert "leaderboard" in text_of(page, f"#{described}")
    page = visit.goto("/models/model_00")
    page.wait_for_selector("#history-chart[data-state=ready]")
    label = page.get_attribute("#history-chart", "aria-label")
    cumulative = 0
    for rid in (R1, R2):
        cumulative += sum(net_of(r) for r in published_rows(world.data, rid) if r["model"] == "model_00")
        assert f"round {rid}, {nmr_short(cumulative)}" in label, label
    assert page.get_attribute("#history-chart", "role") == "img"


def test_skip_link__is_the_first_tab_stop_and_moves_focus_to_the_content(world, visit):
    page = visit.goto(f"/rounds/{R1}")
    loaded(page, "round")
    page.keyboard.press("Tab")
    assert page.evaluate("() => [document.activeElement.id, document.activeElement.textContent.trim()]") == \
        ["skip", "Skip to content"]
    box = page.locator("#skip").bounding_box()
    assert box is not None and box["y"] >= 0 and box["height"] >= 24  # visible once focused
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'content'")
    assert page.evaluate("() => document.activeElement.tagName") == "MAIN"


def test_cards_show_their_unit_and_amount_columns_have_four_decimals_in_every_row(world, visit):
    for path, name in phone_pages(world):
        page = visit.goto(path)
        loaded(page, name)
        cards = page.eval_on_selector_all(".card p", "ps => ps.map(p => p.innerText.trim())")
        if name != "rounds" and name != "standings":
            assert cards, path
        for text in cards:
            assert re.fullmatch(r"-?\d+\.\d{4} NMR", text), (path, text)
        amounts = page.eval_on_selector_all("table.grid td .nmr", "ns => ns.map(n => n.innerText.trim())")
        assert amounts, path
        for text in amounts:
            assert re.fullmatch(r"-?\d+\.\d{4}", text), (path, text)


def test_a_path_that_is_no_page__is_an_html_404_page__while_api_paths_stay_json(world, browser):
    reader = Visit(browser, world.url, viewport={"width": 1280, "height": 900})
    try:
        response = reader.page.goto(world.url + "/no/such/page", wait_until="load")
        assert response is not None and response.status == 404
        assert response.headers["content-type"].startswith("text/html")
        assert text_of(reader.page, "h1") == "Page not found"
        assert "/no/such/page" in text_of(reader.page, "#error")
        reader.page.click("main a[href='/standings']")  # a way on from it
        reader.page.wait_for_selector("#standings")
    finally:
        # Chromium logs the 404 document's status as a console error: that one is expected.
        reader.errors = [e for e in reader.errors if "status of 404" not in e]
        reader.close()
    for path in ("/v1/no-such-thing", "/v1/rounds/201/nothing", "/static/nothing.css"):
        problem = api(world, path, 404)
        assert problem["type"] == "urn:nmrstake:problem:not-found", path
    html = requests.get(world.url + "/rounds", timeout=30, headers={"Accept": "text/html"})
    assert html.status_code == 404 and html.headers["content-type"].startswith("text/html")


def test_search_box__a_round_number_opens_the_round_an_address_the_staker_anything_else_the_model(world, visit):
    who = world.stakers[2].address
    for typed, landing, heading, kind in ((str(R2), f"/rounds/{R2}", f"Round {R2}", "round"),
                                          (f" round {R1} ", f"/rounds/{R1}", f"Round {R1}", "round"),
                                          (who.lower(), f"/stakers/{who.lower()}", who, "staker"),
                                          ("Model_03", "/models/model_03", "model_03", "model")):
        page = visit.goto("/standings")
        page.fill("#jump-to", typed)
        page.press("#jump-to", "Enter")
        page.wait_for_url(world.url + landing)
        assert heading in text_of(page, "h1"), (typed, text_of(page, "h1"))
        loaded(page, kind)  # the page's own requests done before the next visit
    assert api(world, "/?to=%23202", 303).headers["location"] == "/rounds/202"


def test_a_published_file_that_differs_from_the_chain__is_shown_as_not_verifying(world, visit):
    manifest = world.data / "results" / f"round-{R2}" / "manifest.json"
    original = manifest.read_bytes()
    os.chmod(manifest, 0o644)
    try:
        manifest.write_bytes(original.replace(b"\n", b" \n"))  # still the same JSON, another keccak
        page = visit.goto("/")
        assert page.get_attribute(f"#rounds tr[data-round='{R2}'] [data-verified]", "data-verified") == "false"
        assert page.get_attribute(f"#rounds tr[data-round='{R1}'] [data-verified]", "data-verified") == "true"
        page = visit.goto(f"/rounds/{R2}")
        assert page.eval_on_selector_all("#verification [data-check]", "cs => cs.map(c => [c.dataset.check, c.dataset.ok])") \
            == [["manifest", "false"], ["merkle-root", "true"], ["stake-count", "true"]]
        wait_board(page)
    finally:
        manifest.write_bytes(original)
    page = visit.goto(f"/rounds/{R2}")
    assert page.get_attribute("h1 [data-verified]", "data-verified") == "true"


def replace_file(path: Path, data: bytes) -> None:
    """Replace a published file at once, as a publisher does (a reader never sees half of it)."""
    spare = path.with_name(path.name + ".new")
    spare.write_bytes(data)
    os.replace(spare, path)


def settled(page: Any) -> None:
    """The round page's leaderboard and chart are in: no request of the page is still running."""
    wait_board(page)
    page.wait_for_selector("#round-chart[data-state=ready]", timeout=30_000)


def test_rows_changed_in_results_csv_alone__are_read_again_and_shown_as_not_verifying(world, visit):
    """The service keeps one reading of a round's files while they stay the same: results.csv
    rewritten with the manifest untouched is read again, and its rows no longer make the posted root."""
    path = world.data / "results" / f"round-{R2}" / "results.csv"
    original = path.read_bytes()
    settled(visit.goto(f"/rounds/{R2}"))  # the service has read the round
    rows = published_rows(world.data, R2)
    rows[0]["payout"] = str(int(rows[0]["payout"]) + 1)  # one wei more for the first row
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    try:
        replace_file(path, text.getvalue().encode())
        page = visit.goto(f"/rounds/{R2}")
        assert page.get_attribute("h1 [data-verified]", "data-verified") == "false"
        assert page.eval_on_selector_all("#verification [data-check]", "cs => cs.map(c => [c.dataset.check, c.dataset.ok])") \
            == [["manifest", "true"], ["merkle-root", "false"], ["stake-count", "true"]]
        settled(page)
        board = api(world, f"/v1/rounds/{R2}/leaderboard")
        assert board["rows"][0]["payout"] == rows[0]["payout"]  # what the file says now
        assert api(world, f"/v1/rounds/{R2}/verification")["status"] == "mismatch"
    finally:
        replace_file(path, original)
    page = visit.goto(f"/rounds/{R2}")
    assert page.get_attribute("h1 [data-verified]", "data-verified") == "true"
    settled(page)


def test_a_damaged_results_csv__pages_still_load_and_show_the_round_as_not_verifying(world, visit):
    path = world.data / "results" / f"round-{R2}" / "results.csv"
    original = path.read_bytes()
    try:
        replace_file(path, original[: len(original) // 2] + b'"\xff,garbage\n')
        page = visit.goto("/")
        assert page.get_attribute(f"#rounds tr[data-round='{R2}'] [data-verified]", "data-verified") == "false"
        assert page.get_attribute(f"#rounds tr[data-round='{R1}'] [data-verified]", "data-verified") == "true"
        page = visit.goto(f"/rounds/{R2}")
        assert page.get_attribute("h1 [data-verified]", "data-verified") == "false"
        assert page.eval_on_selector_all("#verification [data-check]", "cs => cs.map(c => [c.dataset.check, c.dataset.ok])") \
            == [["manifest", "true"], ["merkle-root", "false"], ["stake-count", "false"]]
        assert "cannot be read" in text_of(page, "#verification")
        assert "cannot be read" in text_of(page, "#no-results")
        visit.goto(f"/models/{STRATEGY_MODEL}")
        verification = api(world, f"/v1/rounds/{R2}/verification")
        assert verification["verified"] is False and verification["status"] == "mismatch"
        assert "rows_root" not in verification
        problem = api(world, f"/v1/rounds/{R2}/leaderboard", 500)
        assert problem["type"] == "urn:nmrstake:problem:bad-published-data" and "results.csv" in problem["detail"]
    finally:
        replace_file(path, original)
    page = visit.goto(f"/rounds/{R2}")
    assert page.get_attribute("h1 [data-verified]", "data-verified") == "true"
    settled(page)


# ---------------------------------------------------------------------------------------- the JSON routes (no browser)


def api(world: World, path: str, status: int = 200) -> Any:
    resp = requests.get(world.url + path, timeout=30, allow_redirects=False)
    assert resp.status_code == status, (path, resp.status_code, resp.text[:500])
    return resp.json() if resp.headers.get("content-type", "").split(";")[0].endswith("json") else resp


def test_api_leaderboard__without_new_parameters_is_unchanged__with_them_sorts_searches_and_pages(world):
    published = published_rows(world.data, R1)
    plain = api(world, f"/v1/rounds/{R1}/leaderboard?offset=2&limit=4")
    assert plain["total"] == plain["matched"] == len(published) and plain["offset"] == 2
    assert [(r["model"], r["staker"]) for r in plain["rows"]] == [(r["model"], r["staker"]) for r in published[2:6]]
    by_burn = api(world, f"/v1/rounds/{R1}/leaderboard?sort=burn&order=desc&limit=100")["rows"]
    assert [int(r["burn"]) for r in by_burn] == sorted((int(r["burn"]) for r in published), reverse=True)
    by_net = api(world, f"/v1/rounds/{R1}/leaderboard?sort=net&order=asc&limit=100")["rows"]
    nets = [int(r["payout"]) - int(r["burn"]) for r in by_net]
    assert nets == sorted(nets) and len(nets) == len(published)
    # Each row's net result and its rank in the round by it, whatever the sort or search.
    assert [int(r["net"]) for r in by_net] == nets
    every_net = [net_of(r) for r in published]
    for r in [*by_net, *plain["rows"]]:
        assert r["rank"] == 1 + sum(n > int(r["net"]) for n in every_net), r
    by_corr = api(world, f"/v1/rounds/{R1}/leaderboard?sort=corr&order=asc&limit=100")["rows"]
    assert by_corr[-1]["corr"] is None and not by_corr[-1]["valid"]  # missing values last
    assert [r["corr"] for r in by_corr[:-1]] == sorted(float(r["corr"]) for r in published if r["corr"])
    found = api(world, f"/v1/rounds/{R1}/leaderboard?q=MODEL_02&sort=stake&order=desc&offset=1&limit=1")
    assert found["matched"] == 3 and found["total"] == len(published) and len(found["rows"]) == 1
    assert found["rows"][0]["stake"] == str(sorted((int(r["stake"]) for r in published if r["model"] == "model_02"),
                                                   reverse=True)[1])
    for query, field_name in (("sort=proof", "sort"), ("sort=stake&order=up", "order"), ("q=" + "x" * 101, "q")):
        problem = api(world, f"/v1/rounds/{R1}/leaderboard?{query}", 422)
        assert problem["type"] == "urn:nmrstake:problem:invalid-field" and problem["field"] == field_name
    api(world, f"/v1/rounds/{R_OPEN}/leaderboard?sort=stake", 404)


def test_api_verification_transactions_and_chart(world):
    info = world.client.round(R1)
    v = api(world, f"/v1/rounds/{R1}/verification")
    assert v["verified"] is True and v["status"] == "verified" and v["chain_root"] == to_hex(info.root)
    assert v["manifest_hash"] == to_hex(keccak_file(world.data / "results" / f"round-{R1}" / "manifest.json"))
    assert v["rows_root"] == to_hex(info.root) and v["rows"] == info.stake_count
    pending = api(world, f"/v1/rounds/{R_OPEN}/verification")
    assert pending["verified"] is None and pending["status"] == "pending" and not pending["published"]
    assert api(world, "/v1/rounds/999/verification", 404)["type"] == "urn:nmrstake:problem:unknown-round"
    txs = api(world, f"/v1/rounds/{R_OPEN}/transactions")
    assert [t["event"] for t in txs["transactions"]] == ["RoundOpened"] and txs["explorer"] is None
    [opened] = world.client.tournament.RoundOpened.range(world.client.start_block, world.client.head() + 1,
                                                         search_topics={"roundId": R_OPEN})
    assert txs["transactions"][0]["block"] == int(opened.block_number)
    chart = api(world, f"/v1/rounds/{R2}/chart")
    rows = published_rows(world.data, R2)
    assert chart["rows"] == len(rows) and chart["scored"] == len(chart["score"]) == len(chart["net"]) == len(rows)
    assert chart["score"] == sorted(chart["score"])


def test_api_model_and_staker_histories(world):
    model = api(world, "/v1/models/model_01")
    assert [r["round"] for r in model["rounds"]] == [R1, R2, R_OPEN]
    assert model["rounds"][-1]["result"] is False and model["rounds"][-1]["cumulative_net"] is None
    net = sum(int(r["payout"]) - int(r["burn"]) for rid in (R1, R2) for r in published_rows(world.data, rid)
              if r["model"] == "model_01")
    assert model["rounds"][1]["cumulative_net"] == model["totals"]["net"] == str(net)
    assert model["strategies"] == []
    strategy_model = api(world, f"/v1/models/{STRATEGY_MODEL}")
    assert [s["strategy"] for s in strategy_model["strategies"]] == [world.strategy]
    assert strategy_model["strategies"][0]["owner"] == world.strategy_owner.address
    staker = api(world, f"/v1/stakers/{world.strategy}")
    assert staker["strategy"]["owner"] == world.strategy_owner.address and staker["owned_strategy"] is None
    assert [m["model"] for m in staker["strategy"]["models"]] == [STRATEGY_MODEL]
    owner = api(world, f"/v1/stakers/{world.strategy_owner.address}")
    assert owner["stakes"] == [] and owner["owned_strategy"]["strategy"] == world.strategy
    assert api(world, "/v1/models/nobody_here")["stakes"] == []
    assert api(world, "/v1/models/Bad-Name", 422)["field"] == "model"
    assert api(world, "/v1/stakers/0x1234", 422)["field"] == "staker"


def test_round_page__a_round_without_a_stake_threshold__shows_none_not_the_uint96_maximum(world):
    assert world.client.round(R_OPEN).stake_threshold == NO_THRESHOLD
    html = api(world, f"/rounds/{R_OPEN}").text
    assert "79228162514" not in html
    assert re.search(r"<dt>Threshold</dt><dd>\s*<span[^>]*>none</span>\s*</dd>", html), html[:3000]
    with_threshold = api(world, f"/rounds/{R1}").text  # numerai-2024: 72,000 NMR
    assert re.search(r"<dt>Threshold</dt><dd>\s*<span class=\"nmr\"[^>]*>72000</span> NMR\s*</dd>", with_threshold)


def test_pages__unknown_round_and_bad_names_are_error_pages__the_search_box_redirects(world):
    resp = api(world, "/rounds/999", 404)
    assert "does not exist" in resp.text and resp.headers["content-type"].startswith("text/html")
    assert api(world, "/models/Bad-Name", 422).headers["content-type"].startswith("text/html")
    assert api(world, "/?to=Model_00", 303).headers["location"] == "/models/model_00"
    who = world.stakers[0].address
    assert api(world, f"/?to={who}", 303).headers["location"] == f"/stakers/{who}"
    assert api(world, "/static/vendor/other.js", 404)["type"] == "urn:nmrstake:problem:not-found"
    assert api(world, "/static/nothing.css", 404)["type"] == "urn:nmrstake:problem:not-found"
    css = api(world, "/static/dashboard.css")
    assert css.headers["content-type"].startswith("text/css") and b"@media" in css.content


def test_round_page__open_round__lists_its_stakes_and_counts_down_to_its_close(world, visit):
    from nmrstake.service.dashboard import duration_text

    info = world.client.round(R_OPEN)
    page = visit.goto(f"/rounds/{R_OPEN}")
    # No result yet, but the staked models are listed, as the chain holds them.
    rows = page.eval_on_selector_all("#staked tbody tr", "rs => rs.map(r => [r.dataset.model, r.dataset.staker])")
    assert rows == [["model_01", world.stakers[1].address]]
    tr = f"#staked tr[data-model='model_01'][data-staker='{world.stakers[1].address}']"
    assert wei_of(page, f"{tr} [data-col=stake]") == int(world.client.tournament.getStake(
        R_OPEN, model_id("model_01"), world.stakers[1].address)[0]) == info.total_staked
    # The countdown: to the close, from the chain's time (not the reader's clock).
    clock = page.query_selector("#round-clock")
    assert clock.get_attribute("data-event") == "closes" and int(clock.get_attribute("data-at")) == info.close_time
    assert int(clock.get_attribute("data-now")) >= world.client.now()
    assert text_of(page, "#round-clock [data-col=left]").startswith("in ")
    assert page.query_selector("#round-late") is None
    assert page.get_attribute("#round-phase", "data-phase") == "at stake now"
    # The page's ticking countdown says durations as the server does.
    for seconds in (0, 1, 59, 61, 3_661, 90_061, 2_591_995, -7_260, -86_400):
        assert page.evaluate(f"() => window.nmrstake.durationText({seconds})") == duration_text(seconds)
    # ... and amounts as the server does, trimmed and fixed, halves away from zero, no "-0".
    from nmrstake.service.dashboard import nmr_fixed, nmr_short

    for wei in (0, 1, 49_999_999_999_999, 50_000_000_000_000, -50_000_000_000_000, -49_999_999_999_999, WEI,
                78_734 * 10**14, 123 * WEI + 5 * 10**13, -(10**24) - 1):
        got = page.evaluate(f"() => [window.nmrstake.nmrShort('{wei}'), window.nmrstake.nmrFixed('{wei}')]")
        assert got == [nmr_short(wei), nmr_fixed(wei)], wei
    visit.shot("round-open")


def test_a_late_round__is_flagged_on_both_pages__then_posted__its_stake_awaits_final_at_its_expected_return(
        world, visit):
    """Near the end of the module: it moves the chain's clock (the open round stays open: it closes in 30 days)."""
    late, w = 204, world.extra["scenario"]
    who = world.stakers[2]
    open_funded_round(w, late, fund=20 * WEI)
    inputs = synth_round(world.extra["tmp"], late, models=1, rows=300, seed=late)
    stake_predictions(world.client, who, world.extra["delivery"], late, "model_00", 4 * WEI,
                      inputs / "predictions" / "model_00.csv")
    info = world.client.round(late)
    advance_to(info.resolve_time + 60)
    page = visit.goto("/")
    assert page.eval_on_selector_all("#late-rounds a", "as => as.map(a => a.getAttribute('href'))") == [f"/rounds/{late}"]
    assert page.get_attribute(f"#rounds tr[data-round='{late}'] [data-late]", "data-late") == "true"
    assert page.query_selector(f"#rounds tr[data-round='{R_OPEN}'] [data-late]") is None
    page = visit.goto(f"/rounds/{late}")
    assert page.query_selector("#round-late") is not None
    assert page.get_attribute("#round-phase", "data-phase") == "awaiting results"
    clock = page.query_selector("#round-clock")
    assert clock.get_attribute("data-event") == "expires" and int(clock.get_attribute("data-at")) == info.expires_at
    visit.shot("round-late")

    # Posted at last: in its challenge period the stake awaits its expected return, final at the
    # chain's final time; nothing is claimable yet.
    deliver_targets(w, late, inputs)
    oracle_once(w)
    info = world.client.round(late)
    assert info.state is RoundState.POSTED
    [row] = [r for r in published_rows(world.data, late) if r["staker"] == who.address]
    expected = int(row["stake"]) - int(row["burn"]) + int(row["payout"])
    page = visit.goto(f"/stakers/{who.address}")
    phase = "#phases tr[data-phase='awaiting results'] [data-col={}]"
    assert (text_of(page, phase.format("stakes")), wei_of(page, phase.format("amount"))) == ("1", expected)
    assert "(expected)" in text_of(page, phase.format("amount"))
    assert text_of(page, phase.format("next")) == f"final {utc(info.final_at)}"
    tr = f"#history-stakes tr[data-round='{late}'][data-model='model_00']"
    assert wei_of(page, f"{tr} [data-col=expected]") == expected
    assert utc(info.final_at) in text_of(page, f"{tr} [data-col=claimable]")
    page = visit.goto("/")
    assert page.query_selector("#late-rounds") is None  # posted: no longer late


def test_dust_sent_to_a_strategy__its_page_shows_the_latest_transfers_counted_back_from_its_balance_now(world):
    """Someone sends a strategy many tiny transfers to weigh its page down: the page reads only the
    latest NMR_MOVES_SHOWN of them, each balance still the chain's at that block. Last in the module:
    its two hundred blocks would only slow the tests after it."""
    from nmrstake.service.dashboard import NMR_MOVES_SHOWN

    sender = world.stakers[2]
    for _ in range(NMR_MOVES_SHOWN + 5):
        world.client.token.transfer(world.strategy, 1, sender=sender)
    moves = api(world, f"/v1/stakers/{world.strategy}")["strategy_nmr_history"]
    assert len(moves) == NMR_MOVES_SHOWN
    assert [int(mv["change"]) for mv in moves] == [1] * NMR_MOVES_SHOWN
    token = world.client.token
    assert int(moves[-1]["balance"]) == int(token.balanceOf(world.strategy))
    for mv in (moves[0], moves[len(moves) // 2], moves[-1]):
        assert int(mv["balance"]) == int(token.balanceOf(world.strategy, block_id=mv["block"]))


def accounts_owner() -> Any:
    from ape import accounts

    return accounts.test_accounts[0]  # the deployer (helpers.scenario.make_world), who opens rounds
