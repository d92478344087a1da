"""Malformed input everywhere a user or an operator can give some: predictions files to
`nmrstake stake` and `nmrstake score`, targets files to `nmrstake score` and to the oracle, and
bad arguments to the commands.

Each case must fail with one clear line (`error: ...` last, non-zero exit, no traceback) naming
the file, the line/row or the argument, and must leave everything as it was: the chain (head
block, NMR and ether balances, NMR supply, stakes, rounds) and the data folder (submissions,
results). Given bad targets, the oracle must log `round_error` naming the file, and neither
publish nor post the round.

One world for the module (embedded EVM), so that the file stays fast:
- round 59: closed and resolvable, nobody staked in it;
- round 60: staked, closed and resolvable (the oracle cases; `stake` into a closed round);
- round 61: open for two days, with stakes (every `stake` case).

Cases that show a bug are kept, marked `xfail(strict=True, reason="BUG: ...")`: they fail until
the bug is fixed, then the mark must go.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner
from helpers.scenario import SETTINGS, WEI, advance_to

from nmrstake.cli import main
from nmrstake.daemon import EventLog
from nmrstake.deploy import deploy
from nmrstake.hashing import keccak_file
from nmrstake.models import model_id
from nmrstake.oracle import Oracle, alarm_hold_until
from nmrstake.participant import LocalDelivery, stake_predictions
from nmrstake.results.layout import DataLayout
from nmrstake.results.read import load_published
from nmrstake.rounds import RoundSpec, fund_round, open_round
from nmrstake.synth import generate, write
from nmrstake.tournament import RoundState, TournamentClient
from nmrstake.wallet import Keystore

if TYPE_CHECKING:
    from ape.api import AccountAPI

PASS = "bad input pass phrase"
WALLET_KEY = "0x" + "5a" * 32
MIN, HOUR = 60, 3600
EMPTY_ROUND, CLOSED_ROUND, OPEN_ROUND = 59, 60, 61
ROWS = 400
HUGE_ROWS = 2_000_000



# ---------------------------------------------------------------------------------------- the world


@dataclasses.dataclass
class World:
    client: TournamentClient
    root: Path  # the module's tmp folder
    layout: DataLayout
    deployments: Path
    staker: AccountAPI  # ape test account 3: stakes with --account TEST::3
    other: AccountAPI  # ape test account 4
    wallet_address: str  # the nmrstake wallet 'walt'
    good: Path  # a valid predictions file for round 61's ids
    targets: dict[int, Path]  # each round's good targets
    inputs: dict[int, Path]

    @property
    def deploy_args(self) -> list[str]:
        return ["--deployments-dir", str(self.deployments)]

    @property
    def common(self) -> list[str]:
        return [*self.deploy_args, "--data-dir", str(self.layout.root)]


@pytest.fixture(scope="module")
def world(project, tmp_path_factory):
    from ape import accounts

    root = tmp_path_factory.mktemp("bad_input")
    mp = pytest.MonkeyPatch()
    mp.setenv("NMRSTAKE_HOME", str(root / "home"))
    mp.setenv("NMRSTAKE_PASSPHRASE", PASS)
    for var in ("NMRSTAKE_DATA", "NMRSTAKE_NETWORK", "NMRSTAKE_DEPLOYMENTS"):
        mp.delenv(var, raising=False)
    owner, oracle, funder = accounts.test_accounts[0], accounts.test_accounts[1], accounts.test_accounts[2]
    staker, other = accounts.test_accounts[3], accounts.test_accounts[4]
    deployments = root / "deployments"
    dep, _ = deploy(project, owner, directory=deployments, force=True, oracle=oracle.address,
                    settings=SETTINGS, log=lambda m: None)
    client = TournamentClient(project, dep)
    layout = DataLayout(root / "data")
    # A wallet with a cheap KDF (the CLI decrypts with the parameters stored in the file).
    keystore = Keystore(root / "home" / "wallets", kdf="scrypt", iterations=2**4)
    wallet_address = keystore.import_key("walt", WALLET_KEY, PASS)
    for who in (staker.address, other.address, funder.address, wallet_address):
        client.token.mint(who, 10_000 * WEI, sender=owner)
    owner.transfer(wallet_address, 10**18)

    inputs, targets = {}, {}
    for rid in (CLOSED_ROUND, OPEN_ROUND):
        inputs[rid] = root / "inputs" / f"round-{rid}"
        write(generate(rows=ROWS, models=3, seed=11, round_index=rid), inputs[rid])
        targets[rid] = inputs[rid] / "targets.csv"
    t0 = int(client.now()) + 10
    short = dict(open_in=0, close_after=10 * MIN, resolve_after=10 * MIN, stake_threshold=72_000 * WEI,
                 stake_cap=1_000 * WEI, min_stake=WEI // 10)
    open_round(client, owner, RoundSpec(round_id=EMPTY_ROUND, **short), start=t0)
    open_round(client, owner, RoundSpec(round_id=CLOSED_ROUND, **short), start=t0)
    open_round(client, owner, RoundSpec(round_id=OPEN_ROUND, **{**short, "close_after": 2 * 24 * HOUR}), start=t0)
    advance_to(t0)
    fund_round(client, funder, EMPTY_ROUND, 100 * WEI)
    for rid in (CLOSED_ROUND, OPEN_ROUND):
        fund_round(client, funder, rid, 100 * WEI)
        for k, acct in enumerate((staker, other)):
            f = inputs[rid] / "predictions" / f"model_{k:02d}.csv"
            stake_predictions(client, acct, LocalDelivery(client, layout), rid, f"model_{k:02d}",
                              (k + 1) * 10 * WEI, f)
    w = World(client, root, layout, deployments, staker, other, wallet_address,
              inputs[OPEN_ROUND] / "predictions" / "model_00.csv", targets, inputs)
    # The wallet stakes once through the CLI: a stake that the bad cases must not touch.
    out = cli("stake", "--round", OPEN_ROUND, "--model", "walts", "--amount", "3", "--predictions", w.good,
              "--wallet", "walt", *w.common)
    assert out.exit_code == 0, out.output
    advance_to(client.round(CLOSED_ROUND).resolve_time)
    assert client.round(CLOSED_ROUND).state is RoundState.CLOSED
    assert client.round(OPEN_ROUND).state is RoundState.OPEN
    yield w
    mp.undo()


def cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


# ---------------------------------------------------------------------------------------- state

_chain_cache: dict[tuple[int, bytes], dict] = {}


def snapshot(w: World) -> dict:
    """Everything a failed command must leave as it was: the head block (every transaction on the
    embedded chain mines one, even a reverted one, and the block hash covers the state root), NMR
    and ether balances and nonces, NMR supply, the stakes, the rounds, the pool, and every file under
    results/ and of the submission store's files/ and tmp/ (hidden temporaries included), and the
    store's upload log. The chain's values are read once per head block: the same head is the same
    state."""
    head = w.client.provider.web3.eth.get_block("latest")
    key = (int(head["number"]), bytes(head["hash"]))
    if key not in _chain_cache:
        _chain_cache[key] = _chain_values(w)
    files = {}
    store = w.layout.store()
    for folder in (store.files_dir, store.tmp_dir, w.layout.results_dir):
        if folder.is_dir():
            for p in sorted(folder.rglob("*")):
                files[str(p.relative_to(w.layout.root))] = keccak_file(p).hex() if p.is_file() else "dir"
    uploads = [(u.upload_id, u.round_id, u.model, u.staker, u.file_hash.hex(), u.received_at)
               for rid in (CLOSED_ROUND, OPEN_ROUND) for u in store.uploads(rid)]
    return {"head": key[0], "head_hash": key[1].hex(), **_chain_cache[key], "files": files, "uploads": uploads}


def _chain_values(w: World) -> dict:
    from ape import accounts

    c = w.client
    web3 = c.provider.web3
    ops = [a.address for a in accounts.test_accounts[:3]]  # owner/manager, oracle, funder
    people = [w.staker.address, w.other.address, w.wallet_address, accounts.test_accounts[5].address]
    stakes = {}
    for rid in (CLOSED_ROUND, OPEN_ROUND):
        for model in ("model_00", "model_01", "walts", "huge", "fresh"):
            for who in people:
                amount, commitment = c.tournament.getStake(rid, model_id(model), who)
                stakes[f"{rid}/{model}/{who}"] = (int(amount), bytes(commitment).hex())
    return {
        "nmr": {a: int(c.token.balanceOf(a)) for a in [*people, *ops, c.tournament.address]},
        "eth": {a: int(web3.eth.get_balance(a)) for a in [*people, *ops]},
        "nonces": {a: int(web3.eth.get_transaction_count(a)) for a in [*people, *ops]},
        "supply": int(c.token.totalSupply()),
        "stakes": stakes,
        "rounds": {rid: dataclasses.asdict(c.round(rid)) for rid in c.round_ids()},
        "last_round": int(c.tournament.lastRoundId()),
        "pool": int(c.tournament.pool()),
    }


def assert_unchanged(before: dict, after: dict) -> None:
    """Names what changed (a short list, not two pages of dicts)."""
    changed = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            for sub in sorted(set(a) | set(b), key=str):
                if a.get(sub) != b.get(sub):
                    changed.append(f"{key}[{sub}]: {a.get(sub)!r} -> {b.get(sub)!r}")
        else:
            changed.append(f"{key}: {a!r} -> {b!r}")
    assert not changed, "changed: " + "; ".join(changed[:8])


@contextmanager
def contained(w: World) -> Iterator[None]:
    """Whatever happens inside (e.g. a bug that posts a round), put the chain and the data folder
    back as they were, so that later cases see the same world."""
    from ape import chain

    provider = chain.provider
    head = provider.web3.eth.get_block("latest")["hash"]
    # The provider's own snapshot (not chain.snapshot(), whose bookkeeping is ape's isolation's).
    snap = provider.snapshot()
    files = set(w.layout.root.rglob("*"))
    try:
        yield
    finally:
        for p in sorted(set(w.layout.root.rglob("*")) - files, key=lambda p: len(p.parts)):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists():
                p.unlink()
        if provider.web3.eth.get_block("latest")["hash"] != head:
            provider.restore(snap)
            chain.history.revert_to_block(chain.blocks.height)


def assert_one_line_error(result, *needles: str) -> str:
    """Non-zero exit, no traceback, last line `error: ...` containing every needle."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"unhandled {type(result.exception).__name__} (a traceback for the user):\n{result.output}\n{tb}")
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines, "no output at all"
    last = lines[-1]
    # ours: "error: ..."; click's own usage errors: "Error: Invalid value for ..."
    assert last.lower().startswith("error:"), result.output
    for needle in needles:
        assert str(needle).lower() in last.lower(), f"{needle!r} not in {last!r}"
    return last


# ---------------------------------------------------------------------------------------- bad predictions

#: name -> (file bytes, what the error line must say besides the file's name)
BAD_PREDICTIONS: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "empty": (b"", ("empty",)),
    "blank_lines": (b"\n\n  \n", ("empty",)),
    "header_only": (b"id,prediction\n", ("no rows",)),
    "no_id_column": (b"ident,prediction\nn1,0.5\nn2,0.25\n", ("'id'",)),
    "only_id": (b"id\nn1\nn2\n", ("no prediction column",)),
    "two_prediction_columns": (b"id,a,b\nn1,0.5,0.1\nn2,0.25,0.2\n", ("one prediction column",)),
    "duplicate_ids": (b"id,prediction\nn1,0.5\nn2,0.25\nn1,0.75\n", ("duplicate ids", "'n1'")),
    "empty_id": (b"id,prediction\nn1,0.5\n,0.25\n", ("empty id", "line 3")),
    "nan": (b"id,prediction\nn1,0.5\nn2,nan\nn3,0.1\n", ("nan", "line 3", "'n2'")),
    "empty_cell": (b"id,prediction\nn1,0.5\nn2,\nn3,0.1\n", ("missing", "line 3")),
    "plus_inf": (b"id,prediction\nn1,0.5\nn2,inf\n", ("infinite", "line 3")),
    "minus_inf": (b"id,prediction\nn1,0.5\nn2,0.3\nn3,-inf\n", ("infinite", "line 4")),
    "text": (b"id,prediction\nn1,0.5\nn2,high\n", ("'high'", "not a number", "line 3")),
    "above_one": (b"id,prediction\nn1,0.5\nn2,1.5\n", ("outside", "line 3")),
    "below_zero": (b"id,prediction\nn1,-0.01\nn2,0.5\n", ("outside", "line 2")),
    "latin1": ("id,prediction\ncaf\u00e9,0.5\nn2,0.25\n".encode("latin-1"), ("utf-8", "offset 17")),
    "utf16": ("id,prediction\nn1,0.5\nn2,0.25\n".encode("utf-16"), ("utf-8",)),
    "extra_field": (b"id,prediction\nn1,0.5\nn2,0.25,0.7\n", ("line 3",)),
    "duplicate_header": (b"id,prediction,prediction\nn1,0.5,0.5\n", ("duplicate column",)),
    "bad_parquet": (b"PAR1" + b"\x00garbage" * 20, ("parquet",)),
    "binary": (bytes(range(256)) * 4, ("utf-8",)),
}


def bad_file(w: World, name: str, raw: bytes | None = None) -> Path:
    folder = w.root / "bad"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.csv"
    path.write_bytes(BAD_PREDICTIONS[name][0] if raw is None else raw)
    return path


def stake_args(w: World, predictions: Path | str, *, model: str = "model_00", amount: str = "1",
               round_id: int = OPEN_ROUND, who: tuple[str, ...] = ("--account", "TEST::3")) -> list[str]:
    return ["stake", "--round", str(round_id), "--model", model, "--amount", amount,
            "--predictions", str(predictions), *who, *w.common]


@pytest.mark.parametrize("case", sorted(BAD_PREDICTIONS))
def test_stake_refuses_bad_predictions_file(world, case):
    path = bad_file(world, case)
    before = snapshot(world)
    assert_one_line_error(cli(*stake_args(world, path)), path.name, *BAD_PREDICTIONS[case][1])
    assert_unchanged(before, snapshot(world))


@pytest.mark.parametrize("case", sorted(BAD_PREDICTIONS))
def test_score_refuses_bad_predictions_file(world, case):
    path = bad_file(world, case)
    out = world.root / "scores" / f"{case}.csv"
    good = world.inputs[OPEN_ROUND] / "predictions" / "model_01.csv"
    listing = sorted(p.name for p in path.parent.iterdir())
    # alone (read as a wide file: a column per model), and beside a good file (a file per model)
    for files in ([path], [good, path]):
        needles = (path.name, *BAD_PREDICTIONS[case][1])
        if case == "two_prediction_columns" and len(files) == 1:
            # alone, it is a wide file of two models (a, b) whose ids are not the targets'
            needles = ("targets file", "shares only 0 ids", "best-matching predictions file")
        result = cli("score", *files, "--targets", world.targets[OPEN_ROUND], "-o", out)
        assert_one_line_error(result, *needles)
        assert not out.parent.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == listing


def test_bad_meta_model_given_to_score(world):
    path = bad_file(world, "nan")
    files = sorted((world.inputs[OPEN_ROUND] / "predictions").glob("*.csv"))
    result = cli("score", *files, "--targets", world.targets[OPEN_ROUND], "--meta-model", path)
    assert_one_line_error(result, "meta model file", path.name, "line 3")


def test_directory_instead_of_a_file(world):
    folder = world.root / "a_folder.csv"
    folder.mkdir(exist_ok=True)
    before = snapshot(world)
    assert_one_line_error(cli(*stake_args(world, folder)), "--predictions", "a_folder.csv", "directory")
    assert_one_line_error(cli("score", folder, "--targets", world.targets[OPEN_ROUND]), "a_folder.csv", "directory")
    assert_one_line_error(cli("score", world.good, "--targets", folder), "--targets", "a_folder.csv", "directory")
    assert_unchanged(before, snapshot(world))


def test_missing_file(world):
    before = snapshot(world)
    nope = world.root / "nope.csv"
    assert_one_line_error(cli(*stake_args(world, nope)), "--predictions", "nope.csv", "no such file")
    assert_one_line_error(cli("score", nope, "--targets", world.targets[OPEN_ROUND]), "nope.csv", "no such file")
    assert_one_line_error(cli("score", world.good, "--targets", nope), "nope.csv", "no such file")
    assert_unchanged(before, snapshot(world))


@pytest.fixture(scope="module")
def huge(world) -> Path:
    """2 million rows of valid predictions (~30 MB): round 61's ids first, then made-up ones."""
    path = world.root / "huge.csv"
    ids = [line.split(",", 1)[0] for line in world.good.read_text().splitlines()[1:]]
    head = "".join(f"{i},{(k % 997) / 997:.6f}\n" for k, i in enumerate(ids))
    body = "".join(f"x{k},0.{k % 997:03d}\n" for k in range(HUGE_ROWS - len(ids)))
    path.write_text("id,prediction\n" + head + body)
    return path




def test_huge_predictions_file_staked(world, huge):
    """2 million rows to `stake`: accepted or refused, either way clearly and within seconds."""
    with contained(world):
        before = snapshot(world)
        result = cli(*stake_args(world, huge, model="huge", amount="1"))
        if result.exit_code == 0:  # accepted: the stake commits to the file, submitted byte for byte
            s = world.client.stake(OPEN_ROUND, model_id("huge"), world.staker.address)
            assert s.amount == WEI and s.commitment == keccak_file(huge)
            stored = world.layout.store().latest(OPEN_ROUND, "huge", world.staker.address)
            assert keccak_file(stored.path) == keccak_file(huge)
        else:
            assert_one_line_error(result, huge.name)
            assert_unchanged(before, snapshot(world))


def test_huge_predictions_file_scored(world, huge):
    """2 million rows to `score`: accepted or refused, either way clearly and within seconds."""
    result = cli("score", huge, "--targets", world.targets[OPEN_ROUND], "--json")
    if result.exit_code == 0:
        [row] = json.loads(result.output)
        assert row["model"] == "huge"
    else:
        assert_one_line_error(result, huge.name)


# ---------------------------------------------------------------------------------------- bad targets


def bad_targets(w: World, case: str, rid: int) -> tuple[bytes, tuple[str, ...]]:
    """Round `rid`'s good targets file, spoiled as `case` says; and what the error must say."""
    lines = w.targets[rid].read_text().splitlines()
    header, rows = lines[0], lines[1:]
    assert header == "id,target"

    def text(*body: str) -> bytes:
        return ("\n".join(body) + "\n").encode()

    def with_value(k: int, value: str) -> list[str]:
        out = list(rows)
        out[k] = out[k].split(",")[0] + "," + value
        return out

    if case == "empty":
        return b"", ("empty",)
    if case == "header_only":
        return b"id,target\n", ("no rows",)
    if case == "no_target_column":
        return text("id,label", *rows), ("'target'",)
    if case == "no_id_column":
        return text("ident,target", *rows), ("'id'",)
    if case == "duplicate_ids":
        return text(header, *rows, rows[5]), ("duplicate ids", repr(rows[5].split(",")[0]))
    if case == "above_one":
        return text(header, *with_value(3, "1.25")), ("outside", "line 5")
    if case == "below_zero":
        return text(header, *with_value(0, "-0.25")), ("outside", "line 2")
    if case == "inf":
        return text(header, *with_value(7, "inf")), ("infinite", "line 9")
    if case == "text":
        return text(header, *with_value(2, "high")), ("not a number", "line 4")
    if case == "mostly_nan":
        return text(header, *[r if k % 2 else r.split(",")[0] + "," for k, r in enumerate(rows)]), ("have a target",)
    if case == "all_equal":
        return text(header, *[r.split(",")[0] + ",0.5" for r in rows]), ("equal",)
    if case == "latin1":
        return ("id,target\ncaf\u00e9,0.5\n" + "\n".join(rows) + "\n").encode("latin-1"), ("utf-8",)
    if case == "utf16":
        return "\n".join([header, *rows]).encode("utf-16"), ("utf-8",)
    if case == "other_round":  # the other round's file: other ids
        other = CLOSED_ROUND if rid == OPEN_ROUND else OPEN_ROUND
        return w.targets[other].read_bytes(), ("shares only 0 ids", "this round's complete targets")
    if case == "tiny_overlap":  # 10 of the predictions' 400 ids
        return text(header, *rows[:10]), ("shares only 10 ids", "400 ids")
    raise AssertionError(case)


TARGET_CASES = [
    "empty", "header_only", "no_target_column", "no_id_column", "duplicate_ids", "above_one", "below_zero",
    "inf", "text", "mostly_nan", "all_equal", "latin1", "utf16", "other_round",
    "tiny_overlap",
]


@pytest.mark.parametrize("case", TARGET_CASES)
def test_score_refuses_bad_targets(world, case):
    raw, needles = bad_targets(world, case, OPEN_ROUND)
    path = world.root / "bad" / f"targets_{case}.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(raw)
    files = sorted((world.inputs[OPEN_ROUND] / "predictions").glob("*.csv"))
    out = world.root / "scores" / f"t_{case}.csv"
    result = cli("score", *files, "--targets", path, "-o", out)
    assert_one_line_error(result, path.name, *needles)
    assert not out.exists()


def run_oracle(w: World) -> list[dict]:
    """One in-process pass of the oracle over every round; returns its log lines."""
    from ape import accounts

    lines: list[str] = []
    Oracle(w.client, accounts.test_accounts[1], w.layout, log=EventLog(json_lines=True, out=lines.append)).tick()
    return [json.loads(line) for line in lines]


def deliver(w: World, rid: int, raw: bytes, suffix: str = ".csv") -> Path:
    w.layout.targets_dir.mkdir(parents=True, exist_ok=True)
    path = w.layout.targets_dir / f"round-{rid}{suffix}"
    path.write_bytes(raw)
    return path


def assert_round_refused(w: World, events: list[dict], rid: int, *needles: str) -> None:
    errors = [e for e in events if e["event"] == "round_error"]
    assert [e["round"] for e in errors] == [rid], events
    message = errors[0]["error"]
    assert "\n" not in message, message
    for needle in needles:
        assert needle.lower() in message.lower(), (needle, message)
    assert not [e for e in events if e["event"] in ("published", "sent", "posted")], events
    assert w.client.round(rid).state is RoundState.CLOSED
    assert not w.layout.published(rid).exists()
    assert not (w.layout.results_dir.exists() and list(w.layout.results_dir.iterdir()))


#: Targets that load but match no delivered file: the oracle posts (every such stake refunded) and
#: raises an alarm instead of holding the round, since the files are the stakers' (docs/oracle.md).
MISMATCHED_TARGET_CASES = ["other_round", "tiny_overlap"]


@pytest.mark.parametrize("case", [c for c in TARGET_CASES if c not in MISMATCHED_TARGET_CASES])
def test_oracle_does_not_post_on_bad_targets(world, case):
    raw, needles = bad_targets(world, case, CLOSED_ROUND)
    with contained(world):
        path = deliver(world, CLOSED_ROUND, raw)
        before = snapshot(world)
        assert_round_refused(world, run_oracle(world), CLOSED_ROUND, path.name, *needles)
        assert_unchanged(before, snapshot(world))


@pytest.mark.parametrize("case", MISMATCHED_TARGET_CASES)
def test_oracle__targets_matching_no_file__alarms_holds_then_posts_every_stake_refunded(world, case):
    from ape import chain

    raw, needles = bad_targets(world, case, CLOSED_ROUND)
    if case == "tiny_overlap":  # the files have 40 x the targets' rows: refused for it before parsing
        needles = ("every delivered predictions file", "the targets' 10 ids")
    with contained(world):
        path = deliver(world, CLOSED_ROUND, raw)
        events = run_oracle(world)
        alarms = [e for e in events if e["event"] == "alarm"]
        assert [e["round"] for e in alarms] == [CLOSED_ROUND], events
        for needle in (path.name, *needles):
            assert needle.lower() in alarms[0]["alarm"].lower(), (needle, alarms[0])
        assert world.client.round(CLOSED_ROUND).state is RoundState.CLOSED, events  # held for the operator
        chain.pending_timestamp = alarm_hold_until(world.client.round(CLOSED_ROUND))
        chain.mine(1)
        events = run_oracle(world)
        assert world.client.round(CLOSED_ROUND).state is RoundState.POSTED, events
        rows = load_published(world.layout.published(CLOSED_ROUND)).rows
        assert rows and all(not r.valid and r.payout == 0 and r.burn == 0 for r in rows), rows


def test_oracle_refuses_two_targets_files(world):
    raw = world.targets[CLOSED_ROUND].read_bytes()
    with contained(world):
        deliver(world, CLOSED_ROUND, raw)
        deliver(world, CLOSED_ROUND, raw, ".parquet")
        before = snapshot(world)
        assert_round_refused(world, run_oracle(world), CLOSED_ROUND, "round-60.csv", "round-60.parquet", "keep one")
        assert_unchanged(before, snapshot(world))


def test_oracle_refuses_a_bad_meta_model(world):
    with contained(world):
        deliver(world, CLOSED_ROUND, world.targets[CLOSED_ROUND].read_bytes())
        world.layout.meta_models_dir.mkdir(parents=True, exist_ok=True)
        meta = world.layout.meta_models_dir / f"round-{CLOSED_ROUND}.csv"
        meta.write_bytes(BAD_PREDICTIONS["plus_inf"][0])
        before = snapshot(world)
        assert_round_refused(world, run_oracle(world), CLOSED_ROUND, "meta model", meta.name, "infinite")
        assert_unchanged(before, snapshot(world))


def test_oracle_cli_once_on_bad_targets(world):
    """`nmrstake oracle run --once` logs the round's error, naming the file, and posts nothing."""
    raw, _ = bad_targets(world, "no_target_column", CLOSED_ROUND)
    with contained(world):
        path = deliver(world, CLOSED_ROUND, raw)
        before = snapshot(world)
        result = cli("oracle", "run", "--once", "--account", "TEST::1", "--log-json", *world.common)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "Traceback" not in result.output
        events = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
        assert_round_refused(world, events, CLOSED_ROUND, path.name, "'target'")
        assert_unchanged(before, snapshot(world))


def test_oracle_round_without_stakes_blocks_nothing(world):
    """Targets delivered for a round nobody staked in (59) and for a good round (60): nothing can be
    posted for 59 (the contract wants a non-zero root), so the oracle must send nothing for it and
    go on to resolve round 60."""
    from ape import accounts

    oracle_address = accounts.test_accounts[1].address
    with contained(world):
        deliver(world, EMPTY_ROUND, world.targets[CLOSED_ROUND].read_bytes())
        deliver(world, CLOSED_ROUND, world.targets[CLOSED_ROUND].read_bytes())
        nonce = world.client.provider.web3.eth.get_transaction_count(oracle_address)
        try:
            events = run_oracle(world)
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"the oracle's pass died on the empty round: {type(exc).__name__}: {exc}")
        assert world.client.round(EMPTY_ROUND).state is RoundState.CLOSED
        assert not [e for e in events if e.get("round") == EMPTY_ROUND and e["event"] in ("sent", "posted")], events
        assert world.client.round(CLOSED_ROUND).state is RoundState.POSTED, events
        # exactly one transaction: round 60's posting
        assert world.client.provider.web3.eth.get_transaction_count(oracle_address) == nonce + 1


# ---------------------------------------------------------------------------------------- arguments


def _arg_case(w: World, case: str) -> tuple[list[str], tuple[str, ...]]:
    good = str(w.good)

    def s(**kw: Any) -> list[str]:
        return stake_args(w, good, **kw)

    wallet = ("--wallet", "walt")
    d = w.deploy_args
    cases: dict[str, tuple[list[str], tuple[str, ...]]] = {
        "negative_amount": (s(amount="-1"), ("--amount", "negative")),
        "zero_amount_new_stake": (s(amount="0", model="fresh"), ("--amount 0", "fresh")),
        "over_precise_amount": (s(amount="1.0000000000000000001"), ("--amount", "decimal places")),
        "exponent_amount": (s(amount="1e3"), ("--amount", "'1e3'")),
        "nan_amount": (s(amount="nan"), ("--amount", "'nan'")),
        "comma_amount": (s(amount="1,5"), ("--amount", "'1,5'")),
        "below_min_stake": (s(amount="0.01", model="fresh"), ("--amount", "minimum")),
        "above_cap": (s(amount="1000"), ("--amount", "cap")),
        "insufficient_balance": (s(model="fresh", who=("--account", "TEST::5")), ("insufficient balance",)),
        "unknown_round": (s(round_id=999), ("round 999",)),
        "closed_round": (s(round_id=CLOSED_ROUND), (f"round {CLOSED_ROUND} closed at", "staking is over")),
        "round_not_a_number": (["stake", "--round", "sixty", *s()[3:]], ("--round", "sixty")),
        "unknown_network": ([*s(), "--network", "ethereum:nonesuch"], ("--network", "nonesuch")),
        "unknown_provider": ([*s(), "--network", "ethereum:local:nonesuch"], ("--network", "nonesuch")),
        "missing_deployments": ([*s(), "--deployments-dir", str(w.root / "empty_dir")], ("no deployment", "empty_dir")),
        "wrong_passphrase": (s(who=wallet), ("passphrase", "walt")),
        "unknown_wallet": (s(who=("--wallet", "nobody")), ("nobody",)),
        "bad_wallet_name": (s(who=("--wallet", "../etc/passwd")), ("wallet name",)),
        "wallet_and_account": (s(who=(*wallet, "--account", "TEST::3")), ("--wallet", "--account")),
        "unknown_test_account": (s(who=("--account", "TEST::99")), ("--account", "TEST::99")),
        "unknown_ape_account": (s(who=("--account", "nosuchalias")), ("--account", "nosuchalias")),
        "bad_model_name": (s(model="Model-1"), ("--model", "'Model-1'")),
        "too_long_model_name": (s(model="m" * 33), ("--model",)),
        "claim_without_round": (["claim", "--account", "TEST::3", *w.common], ("--round", "--all")),
        "claim_round_and_all": (["claim", "--round", str(OPEN_ROUND), "--all", "--account", "TEST::3", *w.common],
                                ("--round", "--all")),
        "claim_open_round": (["claim", "--round", str(OPEN_ROUND), "--account", "TEST::3", *w.common],
                             (f"round {OPEN_ROUND}", "not final")),
        "claim_unknown_round": (["claim", "--round", "999", "--account", "TEST::3", *w.common], ("round 999",)),
        "open_clip_2": (["round", "open", "70", "--clip", "2", *d], ("--clip",)),
        "open_clip_tiny": (["round", "open", "70", "--clip", "0.00001", *d], ("--clip", "0.00001")),
        "open_clip_zero": (["round", "open", "70", "--clip", "0", *d], ("--clip",)),
        "open_clip_negative": (["round", "open", "70", "--clip", "-0.1", *d], ("--clip",)),
        "open_clip_text": (["round", "open", "70", "--clip", "lots", *d], ("--clip", "'lots'")),
        "open_bad_duration": (["round", "open", "70", "--close", "1y", *d], ("--close", "'1y'")),
        "open_zero_close": (["round", "open", "70", "--close", "0", *d], ("--close",)),
        "open_existing_round": (["round", "open", str(OPEN_ROUND), *d],
                                ("round ids only increase", f"{OPEN_ROUND} is not above the last one, {OPEN_ROUND}")),
        "open_min_above_cap": (["round", "open", "70", "--cap", "1", "--min-stake", "2", *d], ("--min-stake",)),
        "fund_zero": (["round", "fund", str(OPEN_ROUND), "0", "--account", "TEST::2", *d], ("AMOUNT",)),
        "fund_unknown_round": (["round", "fund", "999", "5", "--account", "TEST::2", *d], ("round 999",)),
        "fund_negative": (["round", "fund", "--account", "TEST::2", *d, str(OPEN_ROUND), "--", "-5"],
                          ("AMOUNT", "negative")),
        "faucet_bad_address": (["faucet", "0x1234", "5", *d], ("ADDRESS",)),
        # a positional "-5" is an unknown option to click; after "--" it reaches the amount check
        "faucet_negative_as_option": (["faucet", w.staker.address, "-5", *d], ("-5",)),
        "faucet_negative": (["faucet", *d, w.staker.address, "--", "-5"], ("AMOUNT", "negative")),
        "verify_unpublished_round": (["verify", str(OPEN_ROUND), *w.common], ("round 61", "no published results")),
    }
    return cases[case]


ARG_CASES = [
    "negative_amount", "zero_amount_new_stake", "over_precise_amount", "exponent_amount", "nan_amount",
    "comma_amount", "below_min_stake", "above_cap", "insufficient_balance", "unknown_round", "closed_round",
    "round_not_a_number", "unknown_network", "unknown_provider", "missing_deployments", "wrong_passphrase",
    "unknown_wallet", "bad_wallet_name", "wallet_and_account", "unknown_test_account", "unknown_ape_account",
    "bad_model_name", "too_long_model_name", "claim_without_round", "claim_round_and_all", "claim_open_round",
    "claim_unknown_round", "open_clip_2", "open_clip_tiny", "open_clip_zero", "open_clip_negative",
    "open_clip_text", "open_bad_duration", "open_zero_close",
    "open_existing_round",
    "open_min_above_cap",
    "fund_zero", "fund_unknown_round", "fund_negative", "faucet_bad_address", "faucet_negative_as_option",
    "faucet_negative", "verify_unpublished_round",
]


@pytest.mark.parametrize("case", ARG_CASES)
def test_bad_argument(world, case, monkeypatch):
    args, needles = _arg_case(world, case)
    if case == "wrong_passphrase":
        monkeypatch.setenv("NMRSTAKE_PASSPHRASE", "not the pass phrase")
    if case == "missing_deployments":
        (world.root / "empty_dir").mkdir(exist_ok=True)
    with contained(world):
        before = snapshot(world)
        assert_one_line_error(cli(*args), *needles)
        assert_unchanged(before, snapshot(world))


STAKES_CASES = {
    "stakes_exponent": ("model,stake\nmodel_00,1e3\nmodel_01,2\nmodel_02,3\n", ("line 2", "'1e3'")),
    "stakes_negative": ("model,stake\nmodel_00,1\nmodel_01,-2\nmodel_02,3\n", ("line 3", "negative")),
    "stakes_unknown_model": ("model,stake\nmodel_00,1\nnobody,1\n", ("nobody",)),
    "stakes_no_stake_column": ("model,amount\nmodel_00,1\n", ("'stake'",)),
}


@pytest.mark.parametrize("case", sorted(STAKES_CASES))
def test_score_refuses_bad_stakes_file(world, case):
    body, needles = STAKES_CASES[case]
    path = world.root / "bad" / f"{case}.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text(body)
    files = sorted((world.inputs[OPEN_ROUND] / "predictions").glob("*.csv"))
    result = cli("score", *files, "--targets", world.targets[OPEN_ROUND], "--stakes", path)
    assert_one_line_error(result, path.name, *needles)


def test_score_accepts_a_good_stakes_file(world):
    """The reference for the bad stakes files above: the documented format works."""
    path = world.root / "good_stakes.csv"
    path.write_text("model,stake\nmodel_00,1\nmodel_01,2.5\nmodel_02,3\n")
    files = sorted((world.inputs[OPEN_ROUND] / "predictions").glob("*.csv"))
    result = cli("score", *files, "--targets", world.targets[OPEN_ROUND], "--stakes", path, "--json")
    assert result.exit_code == 0, result.output
    assert [r["model"] for r in json.loads(result.output)] == ["model_00", "model_01", "model_02"]
