"""The package's layers: a module imports only from its own layer or the layers below it.

LAYERS lists them bottom to top; each names modules (`nmrstake.wallet`) and packages
(`nmrstake.results`: every module in it). A module belongs to the longest name that covers it, so
`nmrstake.strategies.chain` (contract access) sits below the rest of `nmrstake.strategies`. Every
import under src/nmrstake is read with `ast`: at module level, inside functions (the lazy imports
that keep commands fast) and under `if TYPE_CHECKING:` too. Type-only imports are held to the same
rule: an annotation naming a class of a higher layer ties the lower module's interface to it just
as much. A new module must be placed in LAYERS; an upward import fails, naming the file and line.

KNOWN_UPWARD is the short list of upward imports not fixed yet, each with why; it may only shrink
(an entry no longer found fails too, so that it is removed).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "nmrstake"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # Plain values and files: no chain, no network. The package root only holds __version__.
    ("base", ("nmrstake", "nmrstake.errors", "nmrstake.amounts", "nmrstake.hashing", "nmrstake.models",
              "nmrstake.fsutil", "nmrstake.tables", "nmrstake.merkle", "nmrstake.scoring", "nmrstake.prepared",
              "nmrstake.payouts", "nmrstake.synth", "nmrstake.wallet", "nmrstake.jsontypes")),
    # ape and the node: connecting, local nodes, the accounts that sign, the one transaction sender,
    # contract instances and logs, revert reasons.
    ("chain", ("nmrstake.localchain", "nmrstake.chain")),
    # The project's contracts on top of it: the packaged ABIs, EIP-712 messages and permits, the
    # token, deployments, the typed tournament client, rounds, the strategies' contracts.
    ("contracts", ("nmrstake.abi", "nmrstake.signing", "nmrstake.permit", "nmrstake.token", "nmrstake.deploy",
                   "nmrstake.tournament", "nmrstake.rounds", "nmrstake.strategies.chain")),
    # Data on disk: published results and the operator's data folder, the submission store the
    # service writes and the oracle reads, the intake that checks every upload into it (the
    # service's route and the operator's local delivery alike), the participant's receipts, and
    # verifying a round; the event index the service's replicas share (the contracts' logs in the
    # database); the storage both live in (the database, and the blob store: the local disk or an
    # S3 bucket).
    ("data", ("nmrstake.results", "nmrstake.submissions", "nmrstake.intake", "nmrstake.receipts", "nmrstake.verify",
              "nmrstake.index", "nmrstake.storage")),
    # The participant's side on web3.py, eth-account and HTTP: the Python API, its chain access,
    # the key, the service's HTTP client, the faucet request, the strategy owner's actions.
    ("client", ("nmrstake.client",)),
    # The participant's actions through ape (stake, deliver, claim) and the strategies' operator
    # daemon (`strategy_operator`: it reads the service through the client's Results).
    ("actions", ("nmrstake.participant", "nmrstake.strategies", "nmrstake.strategy_operator")),
    # Processes: the tournament service, the oracle, the daemon loop they run in, the demo.
    # In the service: the app, its context, an upload's body and the routes (one router per resource);
    # the alerts (events, webhooks' deliveries) and their Atom feeds.
    ("processes", ("nmrstake.service", "nmrstake.service.context", "nmrstake.service.upload",
                   "nmrstake.service.alerts", "nmrstake.service.feeds",
                   "nmrstake.service.routes", "nmrstake.oracle", "nmrstake.daemon", "nmrstake.demo")),
    # The `nmrstake` command.
    ("cli", ("nmrstake.cli",)),
]

# (importing module, imported module): upward imports not fixed yet, each with why.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    importer: str
    imported: str

    def where(self) -> str:
        return f"{self.path.relative_to(SRC.parent)}:{self.line}"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    base = SRC.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path) -> list[Import]:
    """Every import of a nmrstake module in `path`, wherever it is in the file. `from X import y`
    names the module X.y when y is a module, else X."""
    importer = module_name(path)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the importer's package up
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            names = [f"{source}.{a.name}" if is_module(f"{source}.{a.name}") else source for a in node.names]
        else:
            continue
        found += [Import(path, node.lineno, importer, name) for name in names
                  if name == "nmrstake" or name.startswith("nmrstake.")]
    return found


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the longest name covering `module` (the root covers only itself)."""
    best: tuple[int, int] | None = None
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            if module == name or (name != "nmrstake" and module.startswith(name + ".")):
                if best is None or len(name) > best[0]:
                    best = (len(name), index)
    return None if best is None else best[1]


def all_imports() -> list[Import]:
    return [i for path in sorted(PACKAGE.rglob("*.py")) for i in imports_of(path)]


def describe(i: Import) -> str:
    theirs, mine = layer_of(i.imported), layer_of(i.importer)
    assert theirs is not None and mine is not None
    return (f"{i.where()} imports {i.imported} (layer {theirs}, {LAYERS[theirs][0]}) "
            f"from layer {mine} ({LAYERS[mine][0]})")


def test_every_module_is_in_a_layer():
    unplaced = sorted(module_name(p) for p in PACKAGE.rglob("*.py") if layer_of(module_name(p)) is None)
    assert not unplaced, f"modules in no layer (add them to LAYERS in {Path(__file__).name}): {unplaced}"


def test_each_layer_name_is_a_module_and_listed_once():
    names = [name for _, layer in LAYERS for name in layer]
    assert len(names) == len(set(names))
    assert [n for n in names if not is_module(n)] == []


def test_imports_only_go_down():
    upward = [i for i in all_imports()
              if (layer_of(i.imported) or 0) > (layer_of(i.importer) or 0)
              and (i.importer, i.imported) not in KNOWN_UPWARD]
    assert not upward, "upward imports (a layer imports only from itself and the layers below):\n" + "\n".join(
        describe(i) for i in upward)


def test_known_upward_imports_are_still_there():
    """An allowance whose import is gone (or no longer upward) must leave KNOWN_UPWARD."""
    still = {(i.importer, i.imported) for i in all_imports()
             if (layer_of(i.imported) or 0) > (layer_of(i.importer) or 0)}
    assert sorted(set(KNOWN_UPWARD) - still) == [], "fixed: remove these from KNOWN_UPWARD"


def test_the_reader_sees_lazy_type_only_and_module_level_imports():
    """The check reads this package's own import forms (a guard against a reader that sees too little)."""
    seen = {(i.importer, i.imported) for i in all_imports()}
    assert ("nmrstake.cli", "nmrstake.cli.strategy") in seen  # `from nmrstake.cli import ..., strategy`
    assert ("nmrstake.cli", "nmrstake.chain.connect") in seen  # inside main()
    assert ("nmrstake.client.faucet", "nmrstake.client.http") in seen  # under TYPE_CHECKING, and in ask_faucet
    assert ("nmrstake.results.publish", "nmrstake") in seen  # `import nmrstake` (its __version__)
