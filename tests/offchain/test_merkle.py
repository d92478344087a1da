"""The Python StandardMerkleTree against @openzeppelin/merkle-tree itself (node subprocess)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import keccak

from nmrstake.errors import InputError
from nmrstake.merkle import (
    LEAF_ENCODING,
    StandardMerkleTree,
    leaf_hash,
    leaf_values,
    node_hash,
    normalize_values,
    process_proof,
    verify,
)
from nmrstake.models import model_id

ROOT = Path(__file__).resolve().parents[2]
NODE_PACKAGE = ROOT / "node_modules" / "@openzeppelin" / "merkle-tree"

@pytest.fixture
def node_package():
    """The JavaScript reference; a machine without it fails the test (make install provides it)."""
    assert shutil.which("node") and NODE_PACKAGE.is_dir(), "node or @openzeppelin/merkle-tree missing: run `make install`"
    return NODE_PACKAGE


needs_node = pytest.mark.usefixtures("node_package")

JS = r"""
const { StandardMerkleTree } = require(process.argv[1]);
const input = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
const out = {};
if (input.values) {
  const tree = StandardMerkleTree.of(input.values, input.encoding);
  out.root = tree.root;
  out.dump = tree.dump();
  out.proofs = input.values.map((_, i) => tree.getProof(i));
  out.proofsByValue = input.values.map(v => tree.getProof(v));
}
if (input.dump) {
  const loaded = StandardMerkleTree.load(input.dump);
  out.loadedRoot = loaded.root;
  out.loadedProofs = input.dump.values.map((_, i) => loaded.getProof(i));
  out.verified = input.dump.values.every((v, i) =>
    StandardMerkleTree.verify(loaded.root, input.dump.leafEncoding, v.value, loaded.getProof(i)));
}
process.stdout.write(JSON.stringify(out));
"""


def run_js(tmp_path: Path, payload: dict) -> dict:
    data = tmp_path / "input.json"
    data.write_text(json.dumps(payload))
    result = subprocess.run(
        ["node", "-e", JS, str(NODE_PACKAGE), str(data)], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout)


def stake_values(n: int, round_id: int = 42) -> list[list]:
    return [
        leaf_values(
            round_id,
            model_id(f"model_{i}"),
            f"0x{(i * 0x9E3779B97F4A7C15) % 2**160:040x}",
            (i + 1) * 10**18 + i,
            (i * 7919) % 10**18,
            (i * 104729) % 10**17 if i % 3 == 0 else 0,
        )
        for i in range(n)
    ]


@needs_node
@pytest.mark.parametrize("n", [1, 2, 3, 7, 100])
def test_matches_openzeppelin(tmp_path, n):
    values = stake_values(n)
    tree = StandardMerkleTree.of(values, LEAF_ENCODING)
    js = run_js(tmp_path, {"values": values, "encoding": LEAF_ENCODING, "dump": tree.dump()})
    assert js["root"] == tree.root
    assert js["dump"] == tree.dump()
    assert js["proofs"] == tree.all_proofs() == [tree.get_proof(i) for i in range(n)]
    assert js["proofsByValue"] == [tree.get_proof(v) for v in values]
    # JS loads the Python dump and its proofs verify
    assert js["loadedRoot"] == tree.root
    assert js["loadedProofs"] == tree.all_proofs()
    assert js["verified"] is True
    # Python loads the JS dump
    loaded = StandardMerkleTree.load(js["dump"])
    assert loaded.root == tree.root and loaded.dump() == tree.dump()
    for i, value in enumerate(values):
        assert verify(tree.root, LEAF_ENCODING, value, tree.get_proof(i))
        assert tree.verify(i, tree.get_proof(i))


@needs_node
def test_duplicate_values_and_generic_types(tmp_path):
    encoding = ["address", "uint256", "bool", "bytes4", "int8", "string", "bytes"]
    values = [
        ["0x" + "ab" * 20, "5", True, "0x01020304", "-3", "hello", "0x"],
        ["0x" + "cd" * 20, "0", False, "0xffffffff", "127", "", "0xdeadbeef"],
        ["0x" + "ab" * 20, "5", True, "0x01020304", "-3", "hello", "0x"],  # duplicate of the first
    ]
    values = [normalize_values(encoding, v) for v in values]
    tree = StandardMerkleTree.of(values, encoding)
    js = run_js(tmp_path, {"values": values, "encoding": encoding})
    assert js["root"] == tree.root
    assert js["dump"] == tree.dump()
    assert js["proofs"] == tree.all_proofs()


def test_leaf_hash_is_double_keccak_of_abi_encode():
    value = leaf_values(7, model_id("abc"), "0x" + "12" * 20, 10**18, 5, 0)
    encoded = encode(LEAF_ENCODING, [7, model_id("abc"), "0x" + "12" * 20, 10**18, 5, 0])
    assert leaf_hash(LEAF_ENCODING, value) == keccak(keccak(encoded))
    assert value == ["7", "0x" + model_id("abc").hex(), "0x1212121212121212121212121212121212121212", str(10**18), "5", "0"]
    # Python-typed values hash like their canonical text form
    assert leaf_hash(LEAF_ENCODING, [7, model_id("abc"), "0x" + "12" * 20, 10**18, 5, 0]) == leaf_hash(LEAF_ENCODING, value)
    a, b = keccak(b"a"), keccak(b"b")
    assert node_hash(a, b) == node_hash(b, a) == keccak(min(a, b) + max(a, b))


def test_single_leaf_tree_and_bad_proofs():
    values = stake_values(5)
    tree = StandardMerkleTree.of(values, LEAF_ENCODING)
    proof = tree.get_proof(2)
    assert not verify(tree.root, LEAF_ENCODING, values[3], proof)
    assert not verify(tree.root, LEAF_ENCODING, values[2], proof[:-1])
    assert process_proof(tree.leaf_hash_at(2), proof) == tree.root_bytes
    one = StandardMerkleTree.of(values[:1], LEAF_ENCODING)
    assert one.get_proof(0) == [] and one.root == "0x" + leaf_hash(LEAF_ENCODING, values[0]).hex()
    with pytest.raises(InputError, match="not in tree"):
        one.get_proof(values[1])
    with pytest.raises(InputError, match="out of bounds"):
        one.get_proof(1)
    assert "0) 0x" in tree.render()


def test_rejections():
    with pytest.raises(InputError, match="non-zero number of leaves"):
        StandardMerkleTree.of([], LEAF_ENCODING)
    with pytest.raises(InputError, match="expected 6 values"):
        StandardMerkleTree.of([[1, 2]], LEAF_ENCODING)
    with pytest.raises(InputError, match="out of range for uint256"):
        normalize_values(LEAF_ENCODING, [-1, model_id("a"), "0x" + "00" * 20, 0, 0, 0])
    with pytest.raises(InputError, match="bytes32 value has 3 bytes"):
        normalize_values(LEAF_ENCODING, [1, b"abc", "0x" + "00" * 20, 0, 0, 0])
    with pytest.raises(InputError, match="not an address"):
        normalize_values(LEAF_ENCODING, [1, model_id("a"), "0x12", 0, 0, 0])


def test_load_validates():
    tree = StandardMerkleTree.of(stake_values(4), LEAF_ENCODING)
    dump = tree.dump()
    assert StandardMerkleTree.load(json.loads(json.dumps(dump))).root == tree.root
    bad = json.loads(json.dumps(dump))
    bad["tree"][1] = "0x" + "00" * 32
    with pytest.raises(InputError, match="invalid"):
        StandardMerkleTree.load(bad)
    bad = json.loads(json.dumps(dump))
    bad["values"][0]["value"][4] = "123456"
    with pytest.raises(InputError, match="does not match its leaf"):
        StandardMerkleTree.load(bad)
    with pytest.raises(InputError, match="unknown format"):
        StandardMerkleTree.load({**dump, "format": "simple-v1"})
    bad = json.loads(json.dumps(dump))
    bad["values"][0]["treeIndex"] = 0
    with pytest.raises(InputError, match="not a leaf"):
        StandardMerkleTree.load(bad)


def test_ten_thousand_leaves__every_proof_has_the_tree_depth_and_verifies():
    values = stake_values(10_000)
    tree = StandardMerkleTree.of(values, LEAF_ENCODING)
    proofs = tree.all_proofs()
    assert len(proofs) == 10_000 and all(len(p) in (13, 14) for p in proofs)
    for i in (0, 1, 4_999, 9_999):
        assert verify(tree.root, LEAF_ENCODING, values[i], proofs[i])
