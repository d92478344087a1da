"""tools/compile.py: a full compile whenever the inputs of the build changed, none otherwise.

ape compiles incrementally by each file's own checksum, so a changed contract does not recompile
the contracts that import or embed it (StrategyFactory embeds AllocationStrategy's creation code).
The tool stamps the inputs (every contracts/**/*.sol, ape-config.yaml, the solc and OpenZeppelin
package versions) and the manifest it built; `make compile`, `make test` and tests/conftest.py run
it. Here its logic runs on temporary project folders with a stand-in for `ape compile --force` that
records its calls and writes a manifest; the last test checks the real build of this session.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("nmrstake_compile_tool_under_test", ROOT / "tools" / "compile.py")
    assert spec is not None and spec.loader is not None  # a .py file: the source loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _tool()


class FakeApe:
    """Stands in for `ape compile --force`: counts its calls and writes a new manifest each time."""

    def __init__(self, delay: float = 0.0, fail: bool = False):
        self.calls = 0
        self.delay, self.fail = delay, fail

    def __call__(self, root: Path) -> None:
        self.calls += 1
        time.sleep(self.delay)
        if self.fail:
            raise tool.CompileError("solc: ParserError")
        (root / ".build").mkdir(exist_ok=True)
        (root / ".build" / "__local__.json").write_text(json.dumps({"build": self.calls}))


@pytest.fixture
def project(tmp_path) -> Path:
    """A project folder: two contracts (one nested), the ape config, the npm packages' versions."""
    (tmp_path / "contracts" / "test").mkdir(parents=True)
    (tmp_path / "contracts" / "AllocationStrategy.sol").write_text("contract AllocationStrategy {}\n")
    (tmp_path / "contracts" / "StrategyFactory.sol").write_text(
        'import "./AllocationStrategy.sol";\ncontract StrategyFactory {}\n')
    (tmp_path / "contracts" / "test" / "Token.sol").write_text("contract Token {}\n")
    (tmp_path / "ape-config.yaml").write_text("solidity:\n  version: 0.8.28\n  evm_version: shanghai\n")
    for package in ("solc", "@openzeppelin/contracts"):
        (tmp_path / "node_modules" / package).mkdir(parents=True)
        (tmp_path / "node_modules" / package / "package.json").write_text('{"version": "1.0.0"}')
    return tmp_path


def test_ensure_compiled__never_compiled__forces_a_compile_and_records_the_stamp(project):
    ape = FakeApe()
    assert not tool.is_current(project)
    assert tool.ensure_compiled(project, compiler=ape) is True
    assert ape.calls == 1
    assert tool.is_current(project)
    stamp = json.loads((project / ".build" / "nmrstake-compile.json").read_text())
    assert stamp == {"sources": tool.source_stamp(project), "manifest": tool.current_state(project)["manifest"]}


def test_ensure_compiled__nothing_changed__compiles_nothing(project):
    ape = FakeApe()
    tool.ensure_compiled(project, compiler=ape)
    for _ in range(3):
        assert tool.ensure_compiled(project, compiler=ape) is False
    assert ape.calls == 1
    # --force compiles all the same.
    assert tool.ensure_compiled(project, compiler=ape, force=True) is True
    assert ape.calls == 2


def _append_comment(root: Path) -> None:
    path = root / "contracts" / "AllocationStrategy.sol"
    path.write_text(path.read_text() + "// a comment changes the metadata hash in the bytecode\n")


CHANGES = {
    "imported contract edited": lambda root: (root / "contracts" / "AllocationStrategy.sol").write_text(
        "contract AllocationStrategy { uint256 x; }\n"),
    "comment added": _append_comment,
    "nested test contract edited": lambda root: (root / "contracts" / "test" / "Token.sol").write_text(
        "contract Token { }\n"),
    "contract added": lambda root: (root / "contracts" / "ModelIds.sol").write_text("library ModelIds {}\n"),
    "contract removed": lambda root: (root / "contracts" / "test" / "Token.sol").unlink(),
    "contract renamed": lambda root: (root / "contracts" / "test" / "Token.sol").rename(
        root / "contracts" / "test" / "Token2.sol"),
    "compiler settings changed": lambda root: (root / "ape-config.yaml").write_text(
        "solidity:\n  version: 0.8.28\n  evm_version: cancun\n"),
    "OpenZeppelin upgraded": lambda root: (root / "node_modules" / "@openzeppelin" / "contracts" / "package.json")
    .write_text('{"version": "1.0.1"}'),
    "solc upgraded": lambda root: (root / "node_modules" / "solc" / "package.json").write_text('{"version": "2"}'),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_ensure_compiled__an_input_changed__forces_a_full_compile(project, change):
    ape = FakeApe()
    tool.ensure_compiled(project, compiler=ape)
    before = tool.source_stamp(project)
    CHANGES[change](project)
    assert tool.source_stamp(project) != before
    assert not tool.is_current(project)
    assert tool.ensure_compiled(project, compiler=ape) is True
    assert ape.calls == 2
    assert tool.is_current(project)
    assert tool.ensure_compiled(project, compiler=ape) is False


def test_ensure_compiled__change_reverted__compiles_again(project):
    """Back to the sources of an earlier full compile: the build in between was of other sources."""
    ape = FakeApe()
    tool.ensure_compiled(project, compiler=ape)
    original = (project / "contracts" / "AllocationStrategy.sol").read_text()
    _append_comment(project)
    tool.ensure_compiled(project, compiler=ape)
    (project / "contracts" / "AllocationStrategy.sol").write_text(original)
    assert tool.ensure_compiled(project, compiler=ape) is True
    assert ape.calls == 3


def test_ensure_compiled__build_written_by_anything_else__forces_a_full_compile(project):
    """An incremental `ape compile` (or another process) wrote the manifest after the full compile,
    or it was deleted: the build no longer is the one stamped."""
    ape = FakeApe()
    tool.ensure_compiled(project, compiler=ape)
    (project / ".build" / "__local__.json").write_text('{"incremental": true}')
    assert tool.ensure_compiled(project, compiler=ape) is True
    (project / ".build" / "__local__.json").unlink()
    assert not tool.is_current(project)
    assert tool.ensure_compiled(project, compiler=ape) is True
    assert ape.calls == 3


def test_ensure_compiled__failed_compile__records_no_stamp_and_tries_again(project):
    ape = FakeApe()
    tool.ensure_compiled(project, compiler=ape)
    _append_comment(project)
    failing = FakeApe(fail=True)
    with pytest.raises(tool.CompileError, match="ParserError"):
        tool.ensure_compiled(project, compiler=failing)
    assert not (project / ".build" / "nmrstake-compile.json").exists()
    assert not tool.is_current(project)
    assert tool.ensure_compiled(project, compiler=ape) is True  # nothing was marked current


def test_ensure_compiled__concurrent_callers__one_compiles_the_others_wait(project):
    """Two sessions (or make and an `ape test`) at once: the lock makes the second wait, and it then
    finds the build current instead of compiling over the first one's compile."""
    ape = FakeApe(delay=0.5)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(tool.ensure_compiled(project, compiler=ape)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ape.calls == 1
    assert sorted(results) == [False, False, True]


def test_main__check_says_whether_a_compile_is_needed(project, monkeypatch, capsys):
    monkeypatch.setattr(tool, "ROOT", project)
    assert tool.main(["--check"]) == 1
    tool.ensure_compiled(project, compiler=FakeApe())
    assert tool.main(["--check"]) == 0
    assert "build is current" in capsys.readouterr().out


def test_this_session_build__strategy_factory_embeds_the_current_allocation_strategy():
    """The build the tests run on (made current by tests/conftest.py through the tool): the
    factory's creation code holds AllocationStrategy's creation code byte for byte. A stale
    factory after an edit of AllocationStrategy.sol alone, what ape's incremental compile leaves,
    fails here."""
    types = json.loads((ROOT / ".build" / "__local__.json").read_text())["contractTypes"]
    implementation = types["AllocationStrategy"]["deploymentBytecode"]["bytecode"].removeprefix("0x")
    factory = types["StrategyFactory"]["deploymentBytecode"]["bytecode"].removeprefix("0x")
    assert len(implementation) > 1_000 and implementation in factory
