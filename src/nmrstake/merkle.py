"""OpenZeppelin ``StandardMerkleTree`` (@openzeppelin/merkle-tree 1.0.x), in Python.

Byte-for-byte compatible with the JavaScript package:

* leaf hash = ``keccak256(keccak256(abi.encode(values)))``;
* leaves sorted by hash (ascending, stable), stored at the end of a flat array in reverse:
  ``tree[len(tree) - 1 - i] = sorted_leaf[i]``, with ``len(tree) = 2n - 1``;
* inner node ``i`` = ``keccak256(sort(tree[2i+1], tree[2i+2]))`` (commutative pair hashing, as
  Solidity's ``MerkleProof``), root = ``tree[0]``;
* a proof is the list of siblings from the leaf up to (not including) the root;
* ``dump()`` = ``{"format": "standard-v1", "leafEncoding": [...], "tree": [...hex...],
  "values": [{"value": [...], "treeIndex": k}, ...]}`` with ``values`` in input order.

Values are stored in the JSON-friendly form the JS package reads back: unsigned/signed integers as
decimal strings, addresses in checksum form, fixed bytes as 0x-hex, bools as bools. Give the JS
package the same (normalised) values and both produce identical dumps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, cast

from eth_abi import encode as abi_encode

from nmrstake.errors import InputError
from nmrstake.hashing import _new as _keccak_new
from nmrstake.hashing import checksum_address

__all__ = [
    "LEAF_ENCODING",
    "StandardMerkleTree",
    "leaf_values",
    "leaf_hash",
    "node_hash",
    "process_proof",
    "verify",
    "normalize_values",
]

#: The leaf of a stake: (roundId, modelId, staker, stake, payout, burn) (docs/interfaces.md).
LEAF_ENCODING: list[str] = ["uint256", "bytes32", "address", "uint256", "uint256", "uint256"]

_INT = re.compile(r"^(u?)int(\d*)$")
_BYTES_N = re.compile(r"^bytes(\d+)$")


def _keccak(data: bytes) -> bytes:
    return _keccak_new(data).digest()


# --------------------------------------------------------------------------------------------
# values and encoding
# --------------------------------------------------------------------------------------------


def _to_int(value: Any, typ: str) -> int:
    if isinstance(value, bool):
        raise InputError(f"merkle leaf: {typ} value {value!r} is a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.lower().startswith(("0x", "-0x")):
                return int(text, 16)
            return int(text, 10)
        except ValueError:
            pass
    raise InputError(f"merkle leaf: {value!r} is not a valid {typ}")


def _to_bytes(value: Any, typ: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str) and value[:2].lower() == "0x":
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise InputError(f"merkle leaf: {value!r} is not a valid {typ} (expected 0x-hex or bytes)")


def _int_normalizer(typ: str, signed: bool, bits: int) -> Callable[[Any], Any]:
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)

    def norm(value: Any) -> str:
        number = _to_int(value, typ)
        if not lo <= number <= hi:
            raise InputError(f"merkle leaf: {number} is out of range for {typ}")
        return str(number)

    return norm


def _address(value: Any) -> str:
    return checksum_address(value, argument="merkle leaf address")


def _bytes_normalizer(typ: str, size: int | None) -> Callable[[Any], Any]:
    def norm(value: Any) -> str:
        raw = _to_bytes(value, typ)
        if size is not None and len(raw) != size:
            raise InputError(f"merkle leaf: {typ} value has {len(raw)} bytes")
        return "0x" + raw.hex()

    return norm


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"merkle leaf: {value!r} is not a bool")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise InputError(f"merkle leaf: {value!r} is not a string")
    return value


def _passthrough(value: Any) -> Any:
    return value  # other types (arrays, tuples) are handed to eth-abi as given


@lru_cache(maxsize=256)
def _normalizer(typ: str) -> Callable[[Any], Any]:
    """The function that turns a value of ``typ`` into its canonical JSON form."""
    m = _INT.match(typ)
    if m:
        return _int_normalizer(typ, not m.group(1), int(m.group(2) or 256))
    if typ == "address":
        return _address
    m = _BYTES_N.match(typ)
    if m:
        return _bytes_normalizer(typ, int(m.group(1)))
    if typ == "bytes":
        return _bytes_normalizer(typ, None)
    if typ == "bool":
        return _bool
    if typ == "string":
        return _string
    return _passthrough


def _normalize(typ: str, value: Any) -> Any:
    """One value -> its canonical JSON form for ``typ``."""
    return _normalizer(typ)(value)


def normalize_values(leaf_encoding: Sequence[str], value: Sequence[Any]) -> list[Any]:
    """A leaf's values in canonical JSON form (see the module docstring)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InputError(f"merkle leaf: expected a list of {len(leaf_encoding)} values, got {value!r}")
    if len(value) != len(leaf_encoding):
        raise InputError(f"merkle leaf: expected {len(leaf_encoding)} values, got {len(value)}")
    return [_normalizer(t)(v) for t, v in zip(leaf_encoding, value)]


def _uint_word(value: Any) -> bytes:
    return (int(value) % (1 << 256)).to_bytes(32, "big")


def _address_word(value: Any) -> bytes:
    return bytes.fromhex(value[2:]).rjust(32, b"\x00")


def _fixed_bytes_word(value: Any) -> bytes:
    return bytes.fromhex(value[2:]).ljust(32, b"\x00")


def _bool_word(value: Any) -> bytes:
    return (1 if value else 0).to_bytes(32, "big")


def _word_encoder(typ: str) -> Callable[[Any], bytes] | None:
    """The ABI head-word encoder of a static scalar type (canonical values), or None."""
    if _INT.match(typ):
        return _uint_word  # two's complement for intN, as abi.encode
    if typ == "address":
        return _address_word
    m = _BYTES_N.match(typ)
    if m and 1 <= int(m.group(1)) <= 32:
        return _fixed_bytes_word
    if typ == "bool":
        return _bool_word
    return None


@lru_cache(maxsize=64)
def _static_encoders(leaf_encoding: tuple[str, ...]) -> tuple[Callable[[Any], bytes], ...] | None:
    encoders = [_word_encoder(t) for t in leaf_encoding]
    return None if any(e is None for e in encoders) else tuple(encoders)  # type: ignore[arg-type]


def _abi_encode(leaf_encoding: Sequence[str], canonical: Sequence[Any]) -> bytes:
    """``abi.encode`` of canonical values: word by word for static scalars, else eth-abi."""
    encoders = _static_encoders(tuple(leaf_encoding))
    if encoders is not None:
        return b"".join([enc(v) for enc, v in zip(encoders, canonical)])
    args = [
        bytes.fromhex(v[2:]) if (t == "bytes" or _BYTES_N.match(t)) else int(v) if _INT.match(t) else v
        for t, v in zip(leaf_encoding, canonical)
    ]
    return abi_encode(list(leaf_encoding), args)


def _leaf_hash_canonical(leaf_encoding: Sequence[str], canonical: Sequence[Any]) -> bytes:
    return _keccak(_keccak(_abi_encode(leaf_encoding, canonical)))


def leaf_hash(leaf_encoding: Sequence[str], value: Sequence[Any]) -> bytes:
    """``keccak256(keccak256(abi.encode(value)))``."""
    return _leaf_hash_canonical(leaf_encoding, normalize_values(leaf_encoding, value))


def node_hash(a: bytes, b: bytes) -> bytes:
    """``keccak256`` of the two 32-byte nodes concatenated in ascending order."""
    return _keccak(a + b if a <= b else b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes | str]) -> bytes:
    """Fold a proof onto a leaf hash; the result is the root if the proof is right."""
    node = leaf
    for sibling in proof:
        node = node_hash(node, _hex32(sibling, "proof"))
    return node


def verify(root: bytes | str, leaf_encoding: Sequence[str], value: Sequence[Any], proof: Sequence[bytes | str]) -> bool:
    """True if ``value`` with ``proof`` leads to ``root`` (``StandardMerkleTree.verify``)."""
    return process_proof(leaf_hash(leaf_encoding, value), proof) == _hex32(root, "root")


def _hex32(value: bytes | str, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    else:
        try:
            raw = bytes.fromhex(value[2:] if value[:2].lower() == "0x" else value)
        except (ValueError, TypeError):
            raise InputError(f"merkle {what}: {value!r} is not hex") from None
    if len(raw) != 32:
        raise InputError(f"merkle {what}: expected 32 bytes, got {len(raw)}")
    return raw


def leaf_values(round_id: int, model_id_bytes: bytes, staker: str, stake: int, payout: int, burn: int) -> list[Any]:
    """The canonical leaf values of one stake, in :data:`LEAF_ENCODING` order."""
    return normalize_values(LEAF_ENCODING, [round_id, model_id_bytes, staker, stake, payout, burn])


# --------------------------------------------------------------------------------------------
# the tree
# --------------------------------------------------------------------------------------------


class StandardMerkleTree:
    """A StandardMerkleTree: build with :meth:`of`, restore with :meth:`load`."""

    def __init__(self, tree: list[bytes], values: list[list[Any]], tree_indices: list[int], leaf_encoding: list[str]):
        self._tree = tree
        self._values = values
        self._tree_indices = tree_indices
        self.leaf_encoding = list(leaf_encoding)
        self._lookup: dict[bytes, int] | None = None

    # -- construction --------------------------------------------------------------------

    @classmethod
    def of(cls, values: Sequence[Sequence[Any]], leaf_encoding: Sequence[str]) -> StandardMerkleTree:
        """Build the tree of ``values`` (a list of leaves, each a list matching ``leaf_encoding``)."""
        if len(values) == 0:
            raise InputError("merkle tree: expected a non-zero number of leaves")
        encoding = list(leaf_encoding)
        canonical = [normalize_values(encoding, v) for v in values]
        hashes = [_leaf_hash_canonical(encoding, v) for v in canonical]
        order = sorted(range(len(hashes)), key=hashes.__getitem__)  # stable, like Array.sort
        n = len(hashes)
        size = 2 * n - 1
        tree: list[bytes] = [b""] * size
        tree_indices = [0] * n
        for leaf_pos, value_index in enumerate(order):
            tree[size - 1 - leaf_pos] = hashes[value_index]
            tree_indices[value_index] = size - 1 - leaf_pos
        for i in range(size - 1 - n, -1, -1):
            a, b = tree[2 * i + 1], tree[2 * i + 2]
            tree[i] = _keccak(a + b if a <= b else b + a)
        return cls(tree, canonical, tree_indices, encoding)

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> StandardMerkleTree:
        """Restore a tree from :meth:`dump` output (or the JS package's ``dump()``), validating
        every node and every value's leaf."""
        if not isinstance(data, Mapping):
            raise InputError("merkle tree dump: expected an object")
        if data.get("format") != "standard-v1":
            raise InputError(f"merkle tree dump: unknown format {data.get('format')!r}")
        encoding = data.get("leafEncoding")
        if not isinstance(encoding, list) or not all(isinstance(t, str) for t in encoding):
            raise InputError("merkle tree dump: expected a leafEncoding list")
        raw_tree = data.get("tree")
        raw_values = data.get("values")
        if not isinstance(raw_tree, list) or not isinstance(raw_values, list) or not raw_tree:
            raise InputError("merkle tree dump: expected non-empty 'tree' and 'values' lists")
        tree = [_hex32(node, "tree node") for node in raw_tree]
        values: list[list[Any]] = []
        indices: list[int] = []
        for k, item in enumerate(raw_values):
            if not isinstance(item, Mapping) or "value" not in item or "treeIndex" not in item:
                raise InputError(f"merkle tree dump: values[{k}] must have 'value' and 'treeIndex'")
            index = item["treeIndex"]
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(tree):
                raise InputError(f"merkle tree dump: values[{k}].treeIndex out of bounds")
            values.append(normalize_values(encoding, item["value"]))
            indices.append(index)
        self = cls(tree, values, indices, encoding)
        self.validate()
        return self

    def validate(self) -> None:
        """Check every inner node and every value's leaf; raise InputError if any is wrong."""
        tree = self._tree
        size = len(tree)
        for i in range(size):
            left, right = 2 * i + 1, 2 * i + 2
            if right >= size:
                if left < size:
                    raise InputError("merkle tree dump: the tree is invalid (malformed layout)")
            elif node_hash(tree[left], tree[right]) != tree[i]:
                raise InputError(f"merkle tree dump: the tree is invalid (node {i})")
        for k, (value, index) in enumerate(zip(self._values, self._tree_indices)):
            if 2 * index + 1 < size:
                raise InputError(f"merkle tree dump: values[{k}].treeIndex is not a leaf")
            if _leaf_hash_canonical(self.leaf_encoding, value) != tree[index]:
                raise InputError(f"merkle tree dump: values[{k}] does not match its leaf")

    # -- reading ------------------------------------------------------------------------

    @property
    def root(self) -> str:
        """The root as 0x-hex (as the JS package)."""
        return "0x" + self._tree[0].hex()

    @property
    def root_bytes(self) -> bytes:
        return self._tree[0]

    def __len__(self) -> int:
        return len(self._values)

    @property
    def values(self) -> list[list[Any]]:
        """The leaves' canonical values, in input order."""
        return [list(v) for v in self._values]

    def at(self, index: int) -> list[Any]:
        return list(self._values[index])

    def tree_index(self, index: int) -> int:
        """Position in the flat tree array of the value at ``index``."""
        return self._tree_indices[index]

    def leaf_hash_at(self, index: int) -> bytes:
        return self._tree[self._tree_indices[index]]

    def index_of(self, value: Sequence[Any]) -> int:
        """Index (in input order) of a leaf value; InputError if it is not in the tree."""
        if self._lookup is None:
            self._lookup = {}
            for k, t in enumerate(self._tree_indices):
                self._lookup.setdefault(self._tree[t], k)
        found = self._lookup.get(leaf_hash(self.leaf_encoding, value))
        if found is None:
            raise InputError("merkle tree: leaf is not in tree")
        return found

    def get_proof(self, leaf: int | Sequence[Any]) -> list[str]:
        """The proof (0x-hex siblings, leaf to root) of the value at ``leaf`` (an index in input
        order) or of the given leaf value."""
        if isinstance(leaf, bool):
            raise InputError("merkle tree: a leaf index cannot be a bool")
        index = leaf if isinstance(leaf, int) else self.index_of(leaf)
        if not 0 <= index < len(self._values):
            raise InputError(f"merkle tree: index {index} out of bounds")
        return ["0x" + node.hex() for node in self._proof_nodes(self._tree_indices[index])]

    def _proof_nodes(self, i: int) -> list[bytes]:
        tree = self._tree
        proof = []
        while i > 0:
            proof.append(tree[i - 1 if i % 2 == 0 else i + 1])
            i = (i - 1) // 2
        return proof

    def all_proofs(self) -> list[list[str]]:
        """Every value's proof, in input order: O(n log n)."""
        hexes = ["0x" + node.hex() for node in self._tree]
        proofs = []
        for i in self._tree_indices:
            proof = []
            while i > 0:
                proof.append(hexes[i - 1 if i % 2 == 0 else i + 1])
                i = (i - 1) // 2
            proofs.append(proof)
        return proofs

    def verify(self, leaf: int | Sequence[Any], proof: Sequence[bytes | str]) -> bool:
        """True if the leaf (an index or a value) with ``proof`` leads to this tree's root."""
        value = self._values[leaf] if isinstance(leaf, int) and not isinstance(leaf, bool) else leaf
        return verify(self._tree[0], self.leaf_encoding, cast(Sequence[Any], value), proof)

    def dump(self) -> dict[str, Any]:
        """The JS package's ``dump()`` format (``standard-v1``)."""
        return {
            "format": "standard-v1",
            "leafEncoding": list(self.leaf_encoding),
            "tree": ["0x" + node.hex() for node in self._tree],
            "values": [{"value": list(v), "treeIndex": t} for v, t in zip(self._values, self._tree_indices)],
        }

    def render(self) -> str:
        """A text drawing of the tree (as the JS package's ``render()``)."""
        lines: list[str] = []
        stack: list[tuple[int, list[int]]] = [(0, [])]
        size = len(self._tree)
        while stack:
            i, path = stack.pop()
            prefix = "".join(["   ", "│  "][p] for p in path[:-1]) + "".join(["└─ ", "├─ "][p] for p in path[-1:])
            lines.append(f"{prefix}{i}) 0x{self._tree[i].hex()}")
            if 2 * i + 2 < size:
                stack.append((2 * i + 2, path + [0]))
                stack.append((2 * i + 1, path + [1]))
        return "\n".join(lines)
