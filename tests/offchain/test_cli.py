"""The `nmrstake` CLI driven as a user would (click's runner, in-process, on the embedded EVM):
wallets, faucet, rounds, staking with a permit, adding, replacing predictions, the oracle, verify,
status and claims, `--json` everywhere, and every error leaving chain and files unchanged."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner
from helpers.cli_runner import PASS, js, run
from helpers.scenario import WEI, advance_to, synth_round

from nmrstake.cli import main
from nmrstake.models import model_id

APE_MNEMONIC = "test test test test test test test test test test test junk"


def test_wallet_new_list_address_import(home):
    made = js("wallet", "new", "alice")
    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", made["address"])
    assert js("wallet", "address", "alice")["address"] == made["address"]
    key = "0x" + "11" * 32
    # The prompts go to stderr: stdout holds the JSON alone, for a script to parse.
    imported = CliRunner(mix_stderr=False).invoke(main, ["wallet", "import", "bob", "--json"], input=key + "\n")
    assert imported.exit_code == 0 and "Private key (hex)" in imported.stderr, imported.stderr
    bob = json.loads(imported.stdout)
    from eth_account import Account

    assert bob["address"] == Account.from_key(key).address
    out = CliRunner(mix_stderr=False).invoke(main, ["wallet", "import", "mnem", "--mnemonic", "--json"],
                                             input=APE_MNEMONIC + "\n").stdout
    assert json.loads(out)["address"] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    names = [w["name"] for w in js("wallet", "list")]
    assert set(names) == {"alice", "bob", "mnem"}
    # Never overwritten, and the secret is never echoed.
    again = run("wallet", "import", "bob", input=key + "\n", ok=False)
    assert "already exists" in again.output and "11" * 32 not in again.output


def test_full_participant_flow(cli_world):
    client, common, data, alice, tmp = cli_world
    opened = js("round", "open", "41", "--close", "1h", "--resolve", "1h", "--cap", "50", "--min-stake", "1", *common)
    assert opened["state"] == "open" and opened["clip_bps"] == 500
    assert js("round", "fund", "41", "20", "--account", "TEST::2", *common)["funded"] == str(20 * WEI)
    inputs = synth_round(tmp, 41, models=2)
    f0, f1 = inputs / "predictions" / "model_00.csv", inputs / "predictions" / "model_01.csv"

    staked = js("stake", "--round", "41", "--model", "model_00", "--amount", "12.5", "--predictions", str(f0),
                "--wallet", "alice", *common, *data)
    assert staked["stake"] == str(12_500_000_000_000_000_000) and staked["gas_used"] > 0
    assert _latest_upload(tmp, 41, alice).read_bytes() == f0.read_bytes()
    assert staked["upload"]["receipt"]["commitment"] == staked["commitment"]
    assert js("stake", "--round", "41", "--model", "model_00", "--amount", "2.5", "--predictions", str(f0),
              "--wallet", "alice", *common, *data)["stake"] == str(15 * WEI)
    replaced = js("stake", "--round", "41", "--model", "model_00", "--amount", "0", "--predictions", str(f1),
                  "--wallet", "alice", *common, *data)
    assert replaced["stake"] == str(15 * WEI)
    from nmrstake.hashing import keccak_file

    # The contract stores the first 20 bytes; the client reads the full commitment from the events.
    assert client.stake(41, model_id("model_00"), alice).commitment == keccak_file(f1)
    assert client.stored_stake(41, model_id("model_00"), alice).commits_to(keccak_file(f1))
    assert _latest_upload(tmp, 41, alice).read_bytes() == f1.read_bytes()

    rounds = js("rounds", *common)
    assert [r["round"] for r in rounds] == [41] and rounds[0]["total_staked"] == str(15 * WEI)
    assert js("round", "show", "41", *common)["stake_count"] == 1
    waiting = js("oracle", "status", *common, *data)[0]["reason"]
    assert waiting == f"staking closes at {rounds[0]['close_time_iso']}"  # a date, not Unix seconds
    wallet = js("balance", "--wallet", "alice", *common)
    assert wallet["nmr"] == str(100 * WEI - 15 * WEI) == str(client.token.balanceOf(alice)) and int(wallet["ether"]) > 0
    assert js("balance", alice, *common) == wallet
    assert "one of ADDRESS" in run("balance", alice, "--wallet", "alice", *common, ok=False).output

    advance_to(client.round(41).resolve_time)
    (tmp / "data" / "targets").mkdir(parents=True)
    (tmp / "data" / "targets" / "round-41.csv").write_bytes((inputs / "targets.csv").read_bytes())
    plans = js("oracle", "status", *common, *data)
    assert plans[0]["action"] == "compute"
    run("oracle", "run", "--once", "--account", "TEST::1", *common, *data)
    assert client.round(41).state.label == "posted"
    assert "ok" in run("verify", "41", *common, *data).output
    not_yet = run("claim", "--all", "--wallet", "alice", *common, *data).output
    assert "nothing to claim: round 41: posted, not final yet; it becomes final at" in not_yet

    advance_to(client.round(41).final_at)
    run("oracle", "run", "--once", "--account", "TEST::1", *common, *data)
    status = js("status", "--wallet", "alice", *common, *data)
    [mine] = status["stakes"]
    assert mine["claim"] == "claimable" and mine["model"] == "model_00"
    before = int(client.token.balanceOf(alice))
    claimed = js("claim", "--all", "--wallet", "alice", *common, *data)
    [c] = claimed["claims"]
    assert int(client.token.balanceOf(alice)) - before == int(c["amount"]) == 15 * WEI - int(c["burn"]) + int(c["payout"])
    assert js("claim", "--all", "--wallet", "alice", *common, *data)["claims"] == []
    assert "nothing to claim: round 41 model_00: already claimed" in run("claim", "--all", "--wallet", "alice",
                                                                          *common, *data).output
    assert js("status", "--wallet", "alice", *common, *data)["stakes"][0]["claim"] == "claimed"


def _latest_upload(tmp, round_id, staker):
    """The file the submission store (on this machine) holds last for the staker's model_00."""
    from nmrstake.submissions import SubmissionStore

    upload = SubmissionStore(tmp / "data" / "service").latest(round_id, "model_00", staker)
    assert upload is not None
    return upload.path


def _unchanged(client, alice, submission, tmp):
    from nmrstake.submissions import SubmissionStore

    uploads = [(u.upload_id, u.model, u.file_hash) for u in SubmissionStore(tmp / "data" / "service").uploads(42)]
    return (int(client.token.balanceOf(alice)), tuple(client.tournament.getStake(42, model_id("model_00"), alice)),
            submission().read_bytes(), uploads)


def test_errors_are_one_line_and_change_nothing(cli_world, monkeypatch):
    client, common, data, alice, tmp = cli_world
    js("round", "open", "42", "--close", "1h", "--cap", "50", "--min-stake", "1", *common)
    inputs = synth_round(tmp, 42, models=1)
    good = inputs / "predictions" / "model_00.csv"
    js("stake", "--round", "42", "--model", "model_00", "--amount", "5", "--predictions", str(good),
       "--wallet", "alice", *common, *data)
    def sub():
        return _latest_upload(tmp, 42, alice)

    before = _unchanged(client, alice, sub, tmp)
    nan = tmp / "nan.csv"
    nan.write_text("id,prediction\nn1,0.5\nn2,nan\n")

    def stake(*extra: str, model: str = "model_00", amount: str = "1", predictions=good, ok=False):
        return run("stake", "--round", "42", "--model", model, "--amount", amount, "--predictions", str(predictions),
                   "--wallet", "alice", *common, *data, *extra, ok=ok)

    cases = {
        "over-precise": (stake(amount="1.0000000000000000001"), "decimal places"),
        "negative": (stake(amount="-1"), "--amount"),
        "above the cap": (stake(amount="46"), "cap"),
        "bad model name": (stake(model="Bad Model"), "--model"),
        "invalid file": (stake(predictions=nan), "nan.csv"),
        "missing file": (stake(predictions=tmp / "nope.csv"), "no such file"),
        "no store at --data-dir": (stake("--data-dir", str(tmp / "typo")), "no submission store"),
        "unknown round": (run("stake", "--round", "999", "--model", "model_00", "--amount", "1", "--predictions", str(good),
                              "--wallet", "alice", *common, *data, ok=False), "999"),
    }
    monkeypatch.setenv("NMRSTAKE_PASSPHRASE", "wrong")
    cases["wrong passphrase"] = (stake(), "passphrase")
    monkeypatch.setenv("NMRSTAKE_PASSPHRASE", PASS)
    # Spend most of alice's NMR elsewhere so that a stake within the cap exceeds her balance.
    for other in ("model_01", "model_02"):  # alice: 100 - 5 - 45 - 45 = 5 NMR left
        run("stake", "--round", "42", "--model", other, "--amount", "45", "--predictions", str(good),
            "--wallet", "alice", *common, *data)
    before = _unchanged(client, alice, sub, tmp)
    cases["insufficient balance"] = (stake(amount="10"), "insufficient balance")
    advance_to(client.round(42).close_time)
    cases["round closed"] = (stake(), "closed at")
    for name, (result, needle) in cases.items():
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert lines and lines[-1].startswith("error:"), (name, result.output)
        assert needle.lower() in lines[-1].lower(), (name, lines[-1])
        assert "Traceback" not in result.output, name
        print(f"{name:22} {lines[-1]}")
    assert _unchanged(client, alice, sub, tmp)[1:] == before[1:]
    assert not list((tmp / "data" / "service" / "tmp").iterdir())  # nothing staged left behind


def test_round_show__a_numerai_2026_round__says_no_threshold_instead_of_the_uint96_maximum(cli_world):
    from nmrstake.rounds import NO_THRESHOLD

    _client, common, _data, _alice, _tmp = cli_world
    run("round", "open", "43", "--payouts", "numerai-2026", *common)
    run("round", "open", "44", "--payouts", "numerai-2024", *common)
    shown = run("round", "show", "43", *common).output
    [line] = [line for line in shown.splitlines() if "stake threshold" in line]
    assert line.split() == ["stake", "threshold", "none"], shown
    assert "79228162514" not in shown
    assert js("round", "show", "43", *common)["stake_threshold"] == str(NO_THRESHOLD)  # JSON keeps the number
    [line] = [line for line in run("round", "show", "44", *common).output.splitlines() if "stake threshold" in line]
    assert line.split() == ["stake", "threshold", "72000", "NMR"]


def test_wallet_new__without_a_passphrase_or_a_terminal__says_what_is_missing(home):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NMRSTAKE_PASSPHRASE"}
    out = subprocess.run([sys.executable, "-m", "nmrstake.cli", "wallet", "new", "nopass"], env=env,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Aborted" not in out.stdout + out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: no passphrase for wallet 'nopass'"), out.stderr


def test_wallet_import__with_nothing_on_stdin__says_what_is_missing(home):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "nmrstake.cli", "wallet", "import", "empty"],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Aborted" not in out.stdout + out.stderr
    assert out.stderr.strip().splitlines()[-1] == \
        "error: no private key given: type it at the prompt, or pipe it on stdin (one line)", out.stderr
    assert not (home / "home" / "wallets" / "empty.json").exists()


def test_faucet_refused_off_local_networks(home):
    result = run("faucet", "0x" + "12" * 20, "1", "--network", "ethereum:mainnet:node", ok=False)
    assert "only on local networks" in result.output


def test_score_command(tmp_path):
    inputs = synth_round(tmp_path, 5, models=3)
    files = [str(p) for p in sorted((inputs / "predictions").glob("*.csv"))]
    out = tmp_path / "scores.csv"
    rows = js("score", *files, "--targets", str(inputs / "targets.csv"), "-o", str(out))
    assert [r["model"] for r in rows] == ["model_00", "model_01", "model_02"]
    assert rows[0]["corr"] > rows[2]["corr"]
    assert out.read_text().splitlines()[0] == "model,corr,mmc"
    bad = tmp_path / "dup.csv"
    bad.write_text("id,prediction\nn1,0.1\nn1,0.2\n")
    result = run("score", str(bad), "--targets", str(inputs / "targets.csv"), ok=False)
    assert "dup.csv" in result.output and "duplicate" in result.output.lower()


def test_demo_in_process__runs_a_tournament_and_the_books_balance(home, tmp_path):
    # The embedded chain's demo (the process demo on Anvil is tests/e2e/test_demo_processes.py).
    out = tmp_path / "demo"
    result = run("demo", "--network", "ethereum:local:test", "--participants", "3", "--rounds", "2", "--rows", "300",
                 "--out", str(out), "--json")
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["books_balance"] is True
    assert [r["verified"] for r in summary["rounds"]] == [True, True]
    assert int(summary["supply_before"]) - int(summary["supply_after"]) == int(summary["burned"]) > 0
    assert (out / "payouts.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "data" / "results" / "round-1001" / "manifest.json").is_file()


def test_chain_time_far_behind_the_clock__is_a_warning(capsys):
    import time

    from nmrstake.cli.session import warn_if_time_stands_still

    warn_if_time_stands_still(int(time.time()) - 3600)
    err = capsys.readouterr().err
    assert "chain time is 1.0h behind the clock" in err and "run `nmrstake node`" in err
    warn_if_time_stands_still(int(time.time()) + 3600)  # ahead (time travel in tests): nothing to say
    assert capsys.readouterr().err == ""
