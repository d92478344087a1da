"""`nmrstake strategy ...` and `nmrstake operator ...` driven as a user would (click's runner,
in-process, on the embedded EVM): set up a strategy, upload for it, let the operator stake it;
every refusal is one line naming the argument, and leaves the chain as it was."""

from __future__ import annotations

from helpers.cli_runner import js, run
from helpers.scenario import WEI, synth_round

from nmrstake.models import model_id


def _error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:") and "Traceback" not in result.output, result.output
    return lines[-1]


def test_strategy_commands__owner_sets_up_uploads_and_the_operator_stakes(cli_world):
    client, common, data, alice, tmp = cli_world
    me = ["--wallet", "alice", *common]
    created = js("strategy", "create", *me)
    strategy = created["strategy"]
    assert created["operator"] == client.deployment.address("StrategyInvoker")
    assert "already has a strategy" in _error_line(run("strategy", "create", *me, ok=False))

    too_much = run("strategy", "deposit", "1000", *me, ok=False)
    assert _error_line(too_much).startswith("error: AMOUNT: ") and int(client.token.balanceOf(strategy)) == 0
    assert js("strategy", "deposit", "40", *me)["idle"] == str(40 * WEI)
    out = run("strategy", "set", "my_model", "--per-round", "10", "--mode", "compound", *me).output
    assert "my_model: compound, 10 NMR per round; next stake 10 NMR" in out
    assert "--per-round" in _error_line(run("strategy", "set", "my_model", "--per-round", "0", "--mode", "fixed",
                                            *me, ok=False))
    assert "MODEL" in _error_line(run("strategy", "set", "Bad Model", "--per-round", "1", "--mode", "fixed", *me,
                                      ok=False))
    over = run("strategy", "withdraw", "41", *me, ok=False)
    assert "idle NMR, less than 41" in _error_line(over) and int(client.token.balanceOf(strategy)) == 40 * WEI

    js("round", "open", "91", "--close", "1h", "--payouts", "numerai-2026", *common)
    assert client.round(91).clip_bps == 10_000 and client.round(91).mmc_multiplier_bps == 100_000
    inputs = synth_round(tmp, 91, models=1)
    up = js("strategy", "submit", "--round", "91", "--model", "my_model", "--predictions",
            str(inputs / "predictions" / "model_00.csv"), *me, *data)
    assert up["staker"] == strategy and up["strategy"] == strategy

    plan = js("operator", "status", *common, *data)
    assert [(p["round"], p["action"]) for p in plan] == [(91, "stake")]
    run("operator", "run", "--once", "--account", "TEST::0", *common, *data)
    assert int(client.tournament.getStake(91, model_id("my_model"), strategy)[0]) == 10 * WEI

    status = js("strategy", "status", *me)
    assert status["idle"] == str(30 * WEI) and status["open_stakes"] == [
        {"round": 91, "model": "my_model", "amount": str(10 * WEI)}]
    [m] = status["models"]
    assert (m["mode"], m["per_round"], m["last_round"]) == ("compound", str(10 * WEI), 91)

    assert "either ADDRESS or --revoke" in _error_line(run("strategy", "operator", *me, ok=False))
    assert js("strategy", "operator", "--revoke", *me)["operator"] is None
    assert js("strategy", "withdraw", "all", *me)["withdrawn"] == str(30 * WEI)
    assert int(client.token.balanceOf(strategy)) == 0
