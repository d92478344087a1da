"""The oracle with a shared store (--store-url): one machine computes and publishes a round, an
oracle on another machine (another data folder, no submission store) posts exactly that result
from the store; a store that cannot be used stops the command with an error naming it."""

from __future__ import annotations

from helpers.cli_runner import js, run
from helpers.object_store import object_store, s3_bucket, s3_env  # noqa: F401
from helpers.scenario import advance_to, synth_round

from nmrstake.results.layout import DataLayout
from nmrstake.results.read import load_published


def test_a_round_computed_on_one_machine__is_posted_by_an_oracle_on_another_through_the_store(
        cli_world, s3_env, s3_bucket, monkeypatch):  # noqa: F811
    from ape import accounts

    from nmrstake.oracle import Oracle

    client, common, data, alice, tmp = cli_world
    url = f"s3://{s3_bucket}/tournament"
    js("round", "open", "41", "--close", "1h", "--resolve", "1h", "--cap", "50", "--min-stake", "1", *common)
    inputs = synth_round(tmp, 41, models=1)
    monkeypatch.setenv("NMRSTAKE_STORE_URL", url)  # the stake's local delivery puts the file in the bucket too
    js("stake", "--round", "41", "--model", "model_00", "--amount", "12.5", "--predictions",
       str(inputs / "predictions" / "model_00.csv"), "--wallet", "alice", *common, *data)
    advance_to(client.round(41).resolve_time)
    (tmp / "data" / "targets").mkdir(parents=True)
    (tmp / "data" / "targets" / "round-41.csv").write_bytes((inputs / "targets.csv").read_bytes())

    oracle_account = accounts.test_accounts[1]
    here = Oracle(client, oracle_account, DataLayout(tmp / "data", store_url=url))
    folder = here.compute(client.round(41))
    assert folder is not None
    elsewhere = DataLayout(tmp / "machine-b", store_url=url)
    plans = js("oracle", "status", *common, "--data-dir", str(elsewhere.root), "--store-url", url)
    assert plans[0]["action"] == "post", plans  # published, if not on this machine

    run("oracle", "run", "--once", "--account", "TEST::1", *common, "--data-dir", str(elsewhere.root),
        "--store-url", url)
    info = client.round(41)
    assert info.state.label == "posted"
    pulled = elsewhere.published(41)  # copied down from the store to be posted
    assert load_published(pulled).manifest_hash == load_published(folder).manifest_hash == info.results_hash
    [row] = load_published(pulled).rows
    assert row.valid, row.reason  # scored with the delivered file, read from the bucket


def test_oracle_status__with_a_missing_bucket__stops_naming_it(cli_world, s3_env):  # noqa: F811
    _client, common, data, _alice, _tmp = cli_world
    failed = run("oracle", "status", *common, *data, "--store-url", "s3://no-such-bucket-here/x", ok=False)
    assert "bucket 'no-such-bucket-here' does not exist" in failed.output


def test_oracle_status__with_a_store_url_that_is_not_s3__stops_naming_it(cli_world, monkeypatch):
    _client, common, data, _alice, _tmp = cli_world
    monkeypatch.setenv("NMRSTAKE_STORE_URL", "http://example.invalid/bucket")
    failed = run("oracle", "status", *common, *data, ok=False)
    assert "store URL 'http://example.invalid/bucket': expected s3://bucket[/prefix]" in failed.output
