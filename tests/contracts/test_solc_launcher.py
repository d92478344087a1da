"""The offline solc launcher (tools/solc), as installed where py-solc-x finds compilers."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import solcx
import solcx.install
import solcx.wrapper

VERSION = "0.8.28"
GOOD = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\ncontract Good { function f() external pure returns (uint) { return 42; } }\n"
BAD = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\ncontract Bad {\n    function f( external {}\n}\n"


@pytest.fixture(scope="module")
def solc() -> Path:
    return Path(solcx.install.get_executable(VERSION))


def run(solc: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(solc), *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_version_format(solc):
    out = run(solc, "--version")
    assert out.returncode == 0
    assert re.search(r"^Version: 0\.8\.28\+commit\.[0-9a-f]{8}", out.stdout, re.M), out.stdout
    assert str(solcx.wrapper.get_solc_version(solc)) == VERSION


def test_compile_standard_through_py_solc_x(tmp_path, solc):
    (tmp_path / "Good.sol").write_text(GOOD)
    out = solcx.compile_standard(
        {
            "language": "Solidity",
            "sources": {"Good.sol": {"urls": ["Good.sol"]}},
            "settings": {"evmVersion": "shanghai", "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}}},
        },
        solc_binary=solc, base_path=tmp_path, allow_paths=[tmp_path],
    )
    contract = out["contracts"]["Good.sol"]["Good"]
    assert contract["abi"][0]["name"] == "f"
    assert len(contract["evm"]["bytecode"]["object"]) > 100


def test_standard_json_writes_only_json(tmp_path, solc):
    request = {"language": "Solidity", "sources": {"Good.sol": {"content": GOOD}},
               "settings": {"outputSelection": {"*": {"*": ["abi"]}}}}
    out = run(solc, "--standard-json", stdin=json.dumps(request))
    assert out.returncode == 0
    json.loads(out.stdout)  # the whole of stdout parses


def test_syntax_error_names_file_and_line(tmp_path, solc):
    (tmp_path / "Bad.sol").write_text(BAD)
    with pytest.raises(solcx.exceptions.SolcError) as info:
        solcx.compile_standard(
            {"language": "Solidity", "sources": {"Bad.sol": {"urls": ["Bad.sol"]}},
             "settings": {"outputSelection": {"*": {"*": ["abi"]}}}},
            solc_binary=solc, base_path=tmp_path, allow_paths=[tmp_path],
        )
    assert "ParserError" in str(info.value)
    assert "Bad.sol:4:" in str(info.value)


def test_imports_resolve_through_base_and_include_paths(tmp_path, solc):
    base, lib = tmp_path / "src", tmp_path / "lib"
    (lib / "pkg").mkdir(parents=True)
    base.mkdir()
    (lib / "pkg" / "Lib.sol").write_text("// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\nlibrary Lib { function one() internal pure returns (uint) { return 1; } }\n")
    (base / "Main.sol").write_text('// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\nimport "pkg/Lib.sol";\ncontract Main { function f() external pure returns (uint) { return Lib.one(); } }\n')
    request = {"language": "Solidity", "sources": {"Main.sol": {"urls": ["Main.sol"]}},
               "settings": {"outputSelection": {"*": {"*": ["abi"]}}}}
    ok = json.loads(run(solc, "--standard-json", "--base-path", str(base), "--include-path", str(lib), stdin=json.dumps(request)).stdout)
    assert "Main" in ok["contracts"]["Main.sol"], ok.get("errors")
    missing = json.loads(run(solc, "--standard-json", "--base-path", str(base), stdin=json.dumps(request)).stdout)
    assert any("pkg/Lib.sol" in e["formattedMessage"] for e in missing["errors"])


def test_file_outside_allowed_paths_is_refused(tmp_path, solc):
    outside = tmp_path / "outside.sol"
    outside.write_text(GOOD)
    base = tmp_path / "base"
    base.mkdir()
    request = {"language": "Solidity", "sources": {"x.sol": {"urls": [str(outside)]}},
               "settings": {"outputSelection": {"*": {"*": ["abi"]}}}}
    out = json.loads(run(solc, "--standard-json", "--base-path", str(base), stdin=json.dumps(request)).stdout)
    assert any("outside of allowed directories" in e["formattedMessage"] for e in out["errors"])
    allowed = json.loads(run(solc, "--standard-json", "--base-path", str(base), "--allow-paths", str(tmp_path), stdin=json.dumps(request)).stdout)
    assert "Good" in allowed["contracts"]["x.sol"]


def test_unknown_flag_fails_clearly(solc):
    out = run(solc, "--bin", "x.sol")
    assert out.returncode == 2
    assert "unsupported option --bin" in out.stderr
    assert out.stdout == ""


def test_combined_json(tmp_path, solc):
    (tmp_path / "Good.sol").write_text(GOOD)
    out = run(solc, "--combined-json", "abi,bin,bin-runtime,srcmap,ast,compact-format", "--allow-paths", ".", str(tmp_path / "Good.sol"))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    [(name, contract)] = data["contracts"].items()
    assert name.endswith("Good.sol:Good")
    assert contract["bin"] and contract["bin-runtime"] and isinstance(contract["abi"], list)
    assert data["sourceList"] and data["version"].startswith(VERSION)


def test_combined_json_error_exit_code(tmp_path, solc):
    (tmp_path / "Bad.sol").write_text(BAD)
    out = run(solc, "--combined-json", "abi", str(tmp_path / "Bad.sol"))
    assert out.returncode == 1
    assert "Bad.sol:4:" in out.stderr
