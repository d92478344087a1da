"""`nmrstake status` says what the chain and the service know (issue 19, deliverable 7), driven as a
user would on the embedded EVM with the operator's store on this machine: an open stake without an
upload and one with the committed file uploaded; after resolution an undelivered stake's reason in
the table; a posted round's expected claim and the date it becomes claimable, then what is
claimable now; and a strategy owner seeing the stake made through its strategy."""

from __future__ import annotations

from helpers.cli_runner import js, run
from helpers.scenario import WEI, advance_to, synth_round

from nmrstake.amounts import format_nmr


def _line(output: str, *parts: str) -> str:
    """The one table line holding every part."""
    found = [line for line in output.splitlines() if all(p in line for p in parts)]
    assert len(found) == 1, (parts, output)
    return found[0]


def test_status_upload_reason_and_claims(cli_world):
    from ape import accounts

    from nmrstake.participant import stake_predictions

    client, common, data, alice, tmp = cli_world
    js("round", "open", "51", "--close", "1h", "--resolve", "1h", "--cap", "50", "--min-stake", "1", *common)
    js("round", "fund", "51", "20", "--account", "TEST::2", *common)
    inputs = synth_round(tmp, 51, models=2)
    f0, f1 = inputs / "predictions" / "model_00.csv", inputs / "predictions" / "model_01.csv"
    js("stake", "--round", "51", "--model", "model_00", "--amount", "10", "--predictions", str(f0),
       "--wallet", "alice", *common, *data)
    bob = accounts.test_accounts[2]
    stake_predictions(client, bob, None, 51, "model_01", 5 * WEI, f1)  # staked, never uploaded

    mine = js("status", "--wallet", "alice", *common, *data)
    [m] = mine["stakes"]
    assert (m["upload"], m["through_strategy"], m["claim"]) == ("matches", False, "pending")
    assert m["uploaded_at_iso"] and m["uploaded_at"] < client.round(51).close_time
    assert (m["phase"]["phase"], m["phase"]["amount"], m["phase"]["changes_at"]) == (
        "at stake now", str(10 * WEI), client.round(51).close_time)
    assert f"uploaded {m['uploaded_at_iso']}" in _line(run("status", "--wallet", "alice", *common, *data).output,
                                                       "model_00")
    [b] = js("status", "--account", "TEST::2", *common, *data)["stakes"]
    assert (b["model"], b["upload"], b["uploaded_at"]) == ("model_01", "none", None)
    assert "no upload yet" in _line(run("status", "--account", "TEST::2", *common, *data).output, "model_01")

    advance_to(client.round(51).resolve_time)
    (tmp / "data" / "targets").mkdir(parents=True)
    (tmp / "data" / "targets" / "round-51.csv").write_bytes((inputs / "targets.csv").read_bytes())
    run("oracle", "run", "--once", "--account", "TEST::1", *common, *data)
    info = client.round(51)
    assert info.state.label == "posted"

    [b] = js("status", "--account", "TEST::2", *common, *data)["stakes"]
    assert b["valid"] is False and b["upload"] is None and int(b["burn"]) == 0
    row = _line(run("status", "--account", "TEST::2", *common, *data).output, "model_01")
    assert "invalid: no file delivered by close" in row and "no upload yet" not in row

    [m] = js("status", "--wallet", "alice", *common, *data)["stakes"]
    assert m["valid"] is True and m["final_at"] == info.final_at and int(m["claimable"]) == 0
    expected = 10 * WEI - int(m["burn"]) + int(m["payout"])
    assert int(m["expected"]) == expected and int(m["payout"]) > 0
    assert (m["phase"]["phase"], int(m["phase"]["amount"]), m["phase"]["changes_at"], m["phase"]["expected"]) == (
        "awaiting results", expected, info.final_at, True)
    row = _line(run("status", "--wallet", "alice", *common, *data).output, "model_00")
    assert f"{format_nmr(expected)} NMR claimable from {m['final_at_iso']}" in row and "valid" in row
    assert "nothing to claim" in run("claim", "--all", "--wallet", "alice", *common, *data).output

    advance_to(info.final_at)
    run("oracle", "run", "--once", "--account", "TEST::1", *common, *data)
    [m] = js("status", "--wallet", "alice", *common, *data)["stakes"]
    assert (m["claim"], int(m["claimable"]), m["expected"]) == ("claimable", expected, None)
    out = run("status", "--wallet", "alice", *common, *data).output
    assert f"claimable now: {format_nmr(expected)} NMR" in _line(out, "model_00")
    before = int(client.token.balanceOf(alice))
    js("claim", "--all", "--wallet", "alice", *common, *data)
    assert int(client.token.balanceOf(alice)) - before == expected
    claimed = js("status", "--wallet", "alice", *common, *data)
    [m] = claimed["stakes"]
    assert (m["claim"], m["claimable"]) == ("claimed", "0")
    # Stake and pending apart: what was paid is in "claimed", nothing is left in another phase.
    assert [(t["phase"], t["stakes"], int(t["amount"])) for t in claimed["phases"]] == [
        ("at stake now", 0, 0), ("awaiting results", 0, 0), ("claimable", 0, 0), ("claimed", 1, expected)]
    assert format_nmr(expected) in _line(run("status", "--wallet", "alice", *common, *data).output, "claimed ", "1")


def test_status_of_a_strategy_owner_lists_the_strategy_stakes(cli_world):
    client, common, data, alice, tmp = cli_world
    me = ["--wallet", "alice", *common]
    strategy = js("strategy", "create", *me)["strategy"]
    js("strategy", "deposit", "40", *me)
    run("strategy", "set", "my_model", "--per-round", "10", "--mode", "fixed", *me)
    js("round", "open", "92", "--close", "1h", *common)
    inputs = synth_round(tmp, 92, models=1)
    js("strategy", "submit", "--round", "92", "--model", "my_model", "--predictions",
       str(inputs / "predictions" / "model_00.csv"), *me, *data)
    run("operator", "run", "--once", "--account", "TEST::0", *common, *data)

    status = js("status", "--wallet", "alice", *common, *data)
    assert status["strategy"] == strategy
    [s] = status["stakes"]
    assert (s["staker"], s["through_strategy"], s["model"], s["stake"]) == (strategy, True, "my_model", str(10 * WEI))
    assert s["upload"] == "matches"
    out = run("status", "--wallet", "alice", *common, *data).output
    mine, _, through = out.partition(f"stakes through your allocation strategy {strategy} (the strategy's):")
    assert through and "none" in mine.split(f"stakes of {alice}:")[1]
    assert "my_model" in _line(through, "my_model", "uploaded ") and "10" in _line(through, "my_model")
