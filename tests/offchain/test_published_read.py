"""Reading a published round folder: the rows, the Merkle root recomputed from them, the identity
of the files read, and damaged or hostile files (always an InputError, never anything else)."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
from pathlib import Path

import pytest

from nmrstake.errors import InputError
from nmrstake.hashing import checksum_address, keccak_file
from nmrstake.merkle import LEAF_ENCODING, StandardMerkleTree, leaf_values
from nmrstake.models import label_model_id
from nmrstake.payouts import RoundParams
from nmrstake.results.evaluate import evaluate_round
from nmrstake.results.publish import publish_round
from nmrstake.results.read import PublishedRow, load_published, published_stamp, rows_merkle_root
from nmrstake.results.spec import PredictionKey, RoundInputs, RoundStake

NMR = 10**18
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PARAMS = RoundParams(corr_multiplier_bps=5_000, mmc_multiplier_bps=20_000, clip_bps=500,
                     stake_threshold=72_000 * NMR, funded=1_000 * NMR)


def published_round(tmp_path: Path, models: int = 5) -> Path:
    """A real round, evaluated and published: targets, one predictions file per model."""
    rng = random.Random(7)
    ids = [f"id{i}" for i in range(60)]
    folder = tmp_path / "in"
    folder.mkdir()
    targets = folder / "targets.csv"
    targets.write_text("id,target\n" + "".join(f"{i},{rng.choice([0, 0.25, 0.5, 0.75, 1])}\n" for i in ids))
    predictions: dict[PredictionKey, Path] = {}
    stakes: list[RoundStake] = []
    for k in range(models):
        path = folder / f"model_{k}.csv"
        path.write_text("id,prediction\n" + "".join(f"{i},{rng.random()}\n" for i in ids))
        predictions[f"model_{k}"] = path
        staker = checksum_address(f"0x{(k + 1) * 0x1111:040x}")
        stakes.append(RoundStake(f"model_{k}", staker, (k + 1) * 100 * NMR, keccak_file(path)))
    result = evaluate_round(4, PARAMS, stakes, RoundInputs(targets=targets, predictions=predictions))
    return publish_round(tmp_path / "results", result, chain_id=31337, contract=CONTRACT,
                         inputs=RoundInputs(targets=targets, predictions=predictions))


def row(model: str, staker: str, stake: int, payout: int, burn: int) -> PublishedRow:
    return PublishedRow(model=model, staker=staker, stake=stake, valid=True, reason="", corr=None, mmc=None,
                        score=None, fraction=0.0, payout=payout, burn=burn, leaf_index=0, proof=[])


def reference_root(round_id: int, rows: list[PublishedRow]) -> str:
    values = [leaf_values(round_id, label_model_id(r.model), r.staker, r.stake, r.payout, r.burn) for r in rows]
    return StandardMerkleTree.of(values, LEAF_ENCODING).root


@pytest.mark.parametrize("count", [1, 2, 3, 7, 64, 301])
def test_rows_merkle_root__is_the_standard_merkle_tree_root_of_the_rows_leaves(count):
    rng = random.Random(count)
    stakers = [f"0x{rng.getrandbits(160):040x}" for _ in range(max(count // 4, 1))]
    rows = [row(f"model_{k:04d}" if k % 9 else "0x" + "ab" * 32, rng.choice(stakers),
                rng.getrandbits(90), rng.choice([0, rng.getrandbits(80)]), rng.choice([0, rng.getrandbits(70)]))
            for k in range(count)]
    rows[0] = row(rows[0].model, checksum_address(rows[0].staker), rows[0].stake, 2**256 - 1, 0)  # mixed case, max
    got = rows_merkle_root(3, rows)
    assert got.problem is None and got.root == reference_root(3, rows)
    assert rows_merkle_root(4, rows).root != got.root  # the round is in every leaf


def test_rows_merkle_root__no_rows_is_the_zero_root():
    assert rows_merkle_root(1, []).root == "0x" + "00" * 32


@pytest.mark.parametrize("bad, named", [
    (row("model_1", "0x" + "11" * 19, 1, 0, 0), "is not an address"),
    (row("model_1", "0x5fbDB2315678afecb367f032d93F642f64180aa3", 1, 0, 0), "invalid checksum"),
    (row("Model 1", "0x" + "11" * 20, 1, 0, 0), "not a valid model name"),
    (row("model_1", "0x" + "11" * 20, -1, 0, 0), "must be uint256"),
    (row("model_1", "0x" + "11" * 20, 1, 2**256, 0), "must be uint256"),
])
def test_rows_merkle_root__a_row_that_is_not_a_leaf_gives_no_root_and_is_named(bad, named):
    good = row("model_0", "0x" + "22" * 20, 5, 1, 0)
    got = rows_merkle_root(1, [good, bad])
    assert got.root is None and named in str(got.problem) and repr(bad.model) in str(got.problem)


def test_load_published__rows_match_the_file__the_root_is_the_manifests__tree_json_is_read_when_asked(tmp_path):
    folder = published_round(tmp_path)
    pub = load_published(folder)
    assert [r.model for r in pub.rows] == [f"model_{k}" for k in range(5)]
    assert pub.rows_root().root == pub.merkle_root and pub.rows_root() is pub.rows_root()
    assert pub.integrity_problems() == []
    assert pub.tree is not None and pub.tree.root == pub.merkle_root
    for r in pub.rows:
        assert r.proof == pub.tree.get_proof(r.leaf_index)


def test_load_published__a_quoted_field_reads_as_the_csv_module_reads_it__and_the_other_rows_alike(tmp_path):
    folder = published_round(tmp_path)
    plain = load_published(folder).rows
    path = folder / "results.csv"
    lines = path.read_text().split("\n")
    fields = lines[2].split(",")
    fields[4] = '"a reason, with a comma, ""quoted"" and a\nnew line"'
    lines[2] = ",".join(fields)
    rewrite(path, "\n".join(lines))
    quoted = load_published(folder).rows
    assert quoted[1].reason == 'a reason, with a comma, "quoted" and a\nnew line'
    assert [r for k, r in enumerate(quoted) if k != 1] == [r for k, r in enumerate(plain) if k != 1]
    assert dataclasses.replace(quoted[1], reason=plain[1].reason) == plain[1]


def test_integrity_problems__a_damaged_tree_json_is_a_problem_not_an_error(tmp_path):
    folder = published_round(tmp_path)
    tree = json.loads((folder / "tree.json").read_text())
    tree["tree"][0] = "0x" + "00" * 32
    os.chmod(folder / "tree.json", 0o644)
    (folder / "tree.json").write_text(json.dumps(tree))
    pub = load_published(folder)  # the rows are still read
    assert pub.rows_root().root == pub.merkle_root
    problems = pub.integrity_problems()
    assert "tree.json: keccak differs from the manifest" in problems
    assert any(p.startswith("tree.json: invalid (merkle tree dump: the tree is invalid") for p in problems)


def test_integrity_problems__rows_changed_in_results_csv_are_flagged(tmp_path):
    folder = published_round(tmp_path)
    path = folder / "results.csv"
    lines = path.read_text().splitlines(keepends=True)
    fields = lines[1].split(",")
    fields[9] = str(int(fields[9]) + 1)  # one more wei of payout
    lines[1] = ",".join(fields)
    os.chmod(path, 0o644)
    path.write_text("".join(lines))
    pub = load_published(folder)
    assert pub.rows_root().root != pub.merkle_root
    problems = pub.integrity_problems()
    assert "results.csv: keccak differs from the manifest" in problems
    assert f"results.csv: model {pub.rows[0].model}: leaf or proof differs from tree.json" in problems


def rewrite(path: Path, text: str | bytes) -> None:
    os.chmod(path, 0o644)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def second_line(change):
    """A change applied to the first row of a CSV file only."""
    def apply(text: str) -> str:
        header, first, rest = text.split("\n", 2)
        return "\n".join((header, change(first), rest))
    return apply


def manifest_field(change):
    """A change applied to the parsed manifest, written back as JSON."""
    def apply(text: str) -> str:
        data = json.loads(text)
        change(data)
        return json.dumps(data)
    return apply


@pytest.mark.parametrize("name, change, message", [
    ("results.csv", second_line(lambda line: line.replace(",true,", ",yes,").replace(",false,", ",yes,")),
     "line 2: malformed row"),
    ("results.csv", second_line(lambda line: line + ",extra"), "line 2: malformed row (14 fields, expected 13)"),
    ("results.csv", second_line(lambda line: line.replace(",", ",,", 1)), "line 2: malformed row (14 fields"),
    ("results.csv", lambda t: t.split("\n", 1)[1], "unexpected columns"),
    ("results.csv", lambda t: "\ufeff" + t, "unexpected columns"),
    ("results.csv", second_line(lambda line: line.replace(",", ',"', 1)), "malformed row"),
    ("results.csv", lambda t: t.replace(",", ',"', 1), "unexpected columns"),
    ("manifest.json", manifest_field(lambda m: m.update(payout_factor="1/0")), "malformed manifest .ZeroDivisionError"),
    ("manifest.json", lambda t: t.replace('"round_id":4', '"round_id":1e999', 1).replace('"round_id": 4', '"round_id": 1e999'),
     "malformed manifest .OverflowError"),
    ("manifest.json", manifest_field(lambda m: m.update(files=[m["files"]])), "files: expected an object"),
    ("manifest.json", manifest_field(lambda m: m["inputs"][0].pop("size")), "inputs: expected objects"),
    ("manifest.json", manifest_field(lambda m: m.update(inputs={"path": "x"})), "inputs: expected a list"),
    ("manifest.json", manifest_field(lambda m: m.update(totals=[])), "malformed manifest .TypeError"),
    ("manifest.json", lambda t: t[:-3], "not JSON"),
    ("manifest.json", lambda t: "[" + t + "]", "not an nmrstake results manifest"),
])
def test_load_published__damaged_or_hostile_files_raise_input_error_naming_the_file(tmp_path, name, change, message):
    folder = published_round(tmp_path)
    path = folder / name
    rewrite(path, change(path.read_text(encoding="utf-8")))
    with pytest.raises(InputError, match=rf"{name}.*{message.replace('(', '.').replace(')', '.')}"):
        load_published(folder)


def test_load_published__random_damage_to_any_file_read_is_an_input_error_or_a_reading(tmp_path):
    folder = published_round(tmp_path)
    originals = {name: (folder / name).read_bytes() for name in ("manifest.json", "results.csv")}
    rng = random.Random(11)
    outcomes = set()
    for _ in range(300):
        name = rng.choice(list(originals))
        data = bytearray(originals[name])
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            data[at] = rng.choice(b'0123456789,;"\n{}[]:-xe.\xff')
        rewrite(folder / name, bytes(data))
        try:
            pub = load_published(folder)
            pub.rows_root()  # never raises: a row that is not a leaf is named in the result
            outcomes.add("read")
        except InputError:
            outcomes.add("InputError")
        rewrite(folder / name, originals[name])
    assert outcomes == {"read", "InputError"}


def test_published_stamp__changes_when_any_file_read_changes__none_without_a_manifest(tmp_path):
    folder = published_round(tmp_path)
    first = published_stamp(folder)
    assert first is not None and published_stamp(folder) == first
    for name in ("manifest.json", "results.csv", "tree.json"):
        path = folder / name
        before = path.stat()
        data = path.read_bytes()
        rewrite(path, data[:-2] + data[-2:][::-1])  # the same size
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same modification time
        assert published_stamp(folder) != first, name
        first = published_stamp(folder)
    shutil.copy2(folder / "tree.json", tmp_path / "tree.json")
    (folder / "tree.json").unlink()
    assert published_stamp(folder) not in (None, first)
    (folder / "manifest.json").unlink()
    assert published_stamp(folder) is None
