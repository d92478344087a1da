"""Deploying nmrstake's contracts and remembering where they are.

A deployment is recorded in ``deployments/<ecosystem>-<network>-<chainid>.json``. Deploying
again on the same chain reuses every recorded contract that is still there: same address, and
the runtime code whose hash was recorded. A recorded contract with no code (an Anvil that was
restarted) or with other code is deployed again, with a message saying why.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address

from nmrstake import __version__
from nmrstake.errors import ConfigError, InputError
from nmrstake.fsutil import write_atomic

#: Where deployments files live, relative to the project root (``NMRSTAKE_DEPLOYMENTS`` overrides).
DEFAULT_DEPLOYMENTS_DIR = Path("deployments")

LOCAL_NETWORKS = frozenset({"local"})

Log = Callable[[str], None]


#: Tournament.MAX_PAUSE_LIMIT (365 days): the longest pause the constructor accepts.
MAX_PAUSE_LIMIT = 365 * 24 * 3600

#: The constructor's parameter types: uint48 adminDelay, uint64 for the three periods.
_UINT48_MAX = 2**48 - 1
_UINT64_MAX = 2**64 - 1

_UNITS = (("d", 86400), ("h", 3600), ("m", 60))


def format_duration(seconds: int) -> str:
    """Seconds in the notation of the duration flags, exactly: 604800 -> '7d', 5400 -> '90m',
    90 -> '90s' (the largest unit that divides it)."""
    if seconds > 0:
        for suffix, size in _UNITS:
            if seconds % size == 0:
                return f"{seconds // size}{suffix}"
    return f"{seconds}s"


@dataclass(frozen=True)
class TournamentSettings:
    """Per-deployment parameters of the Tournament contract (seconds)."""

    challenge_period: int = 24 * 3600
    grace_period: int = 14 * 24 * 3600
    admin_delay: int = 2 * 24 * 3600
    max_pause: int = 7 * 24 * 3600

    def problems(self) -> list[str]:
        """Why the Tournament constructor would refuse these settings (empty: it accepts them).

        Mirrors the constructor one rule for one (contracts/Tournament.sol, `InvalidConfig`):
        challengePeriod > 0, gracePeriod > challengePeriod, maxPauseDuration > 0,
        maxPauseDuration <= MAX_PAUSE_LIMIT and maxPauseDuration <= gracePeriod - challengePeriod;
        plus the ranges of the parameter types (uint48 adminDelay, uint64 for the periods), which
        the ABI encoding enforces. adminDelay has no rule of its own. Each problem is one line
        naming the `ape run deploy` flag, the rule and the numbers.
        """
        fmt = format_duration
        c, g, m = self.challenge_period, self.grace_period, self.max_pause
        out_of_range = [
            f"{flag}: {value} is not a duration the contract takes (0 to {top} seconds, {kind})"
            for flag, value, top, kind in (
                ("--admin-delay", self.admin_delay, _UINT48_MAX, "uint48"),
                ("--challenge-period", c, _UINT64_MAX, "uint64"),
                ("--grace-period", g, _UINT64_MAX, "uint64"),
                ("--max-pause", m, _UINT64_MAX, "uint64"),
            )
            if not 0 <= value <= top
        ]
        if out_of_range:
            return out_of_range
        problems = []
        if c == 0:
            problems.append("--challenge-period: must be more than 0s")
        if g <= c:
            problems.append(f"--grace-period: {fmt(g)} must be longer than --challenge-period ({fmt(c)})")
        if m == 0:
            problems.append("--max-pause: must be more than 0s")
        if m > MAX_PAUSE_LIMIT:
            problems.append(f"--max-pause: {fmt(m)} must be at most the contract's limit of {fmt(MAX_PAUSE_LIMIT)}")
        # A pause may never cover a round's whole posting window (only meaningful when grace > challenge).
        if g > c and m > g - c:
            problems.append(
                f"--max-pause: {fmt(m)} must be at most the posting window, "
                f"--grace-period - --challenge-period = {fmt(g)} - {fmt(c)} = {fmt(g - c)}"
            )
        return problems


def check_settings(settings: TournamentSettings) -> None:
    """Raise a one-line InputError naming every flag whose value the Tournament constructor would
    refuse; return None when it would accept them. Sends nothing."""
    problems = settings.problems()
    if problems:
        raise InputError("; ".join(problems))


@dataclass
class ContractRecord:
    address: str
    block: int
    transaction: str
    codehash: str


@dataclass
class Deployment:
    """What a deployments file holds."""

    ecosystem: str
    network: str
    chain_id: int
    deployer: str
    compiler: str
    contracts: dict[str, ContractRecord] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)
    settings: dict[str, int] = field(default_factory=dict)
    nmrstake_version: str = __version__

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "deployments file") -> Deployment:
        try:
            raw = json.loads(text)
            contracts = {k: ContractRecord(**v) for k, v in raw.pop("contracts").items()}
            return cls(contracts=contracts, **raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{source} is not a valid nmrstake deployments file: {exc}") from exc

    def address(self, name: str) -> str:
        try:
            return self.contracts[name].address
        except KeyError:
            raise ConfigError(f"the deployment on chain {self.chain_id} has no {name} contract") from None


def deployments_dir(root: Path | None = None) -> Path:
    env = os.environ.get("NMRSTAKE_DEPLOYMENTS")
    if env:
        return Path(env)
    return (root or Path.cwd()) / DEFAULT_DEPLOYMENTS_DIR


def deployment_filename(ecosystem: str, network: str, chain_id: int) -> str:
    return f"{ecosystem}-{network}-{chain_id}.json"


def deployment_path(provider: Any, directory: Path) -> Path:
    """The deployments file of the chain `provider` is connected to."""
    net = provider.network
    return directory / deployment_filename(net.ecosystem.name, net.name, provider.chain_id)


def load_deployment(path: Path) -> Deployment:
    if not path.is_file():
        raise ConfigError(
            f"no deployment recorded in {path}: run `ape run deploy --network ...` for this chain first"
        )
    return Deployment.from_json(path.read_text(), str(path))


def codehash(provider: Any, address: str) -> str | None:
    """keccak-256 of the runtime code at `address`, or None when there is no code."""
    code = bytes(provider.get_code(address))
    return "0x" + keccak(code).hex() if code else None


def check_recorded(provider: Any, name: str, record: ContractRecord) -> str | None:
    """None when the recorded contract is live with the recorded code; else why not."""
    found = codehash(provider, record.address)
    if found is None:
        return (
            f"{name} recorded at {record.address} has no code on chain {provider.chain_id} "
            "(the node was restarted or reset?): deploying it again"
        )
    if found != record.codehash:
        return f"{name} at {record.address} has other code than was recorded: deploying it again"
    return None


def compiler_label(project: Any) -> str:
    for compiler in project.manifest.compilers or []:
        if compiler.name == "solidity":
            evm = (compiler.settings or {}).get("evmVersion", "default")
            return f"solc {compiler.version} (evm {evm})"
    return "unknown"


def _record(provider: Any, contract: Any) -> ContractRecord:
    receipt = provider.get_receipt(contract.txn_hash)
    return ContractRecord(
        address=contract.address,
        block=int(receipt.block_number),
        transaction=str(receipt.txn_hash),
        codehash=codehash(provider, contract.address) or "",
    )


def deploy(
    project: Any,
    deployer: Any,
    *,
    directory: Path,
    force: bool = False,
    nmr_address: str | None = None,
    oracle: str | None = None,
    manager: str | None = None,
    settings: TournamentSettings | None = None,
    log: Log = print,
) -> tuple[Deployment, Path]:
    """Deploy (or reuse) the token and the tournament on the connected chain.

    `nmr_address` points the tournament at an existing NMR instead of deploying one. The oracle
    and manager roles go to `oracle` / `manager` (default: the deployer). Returns the deployment
    and the path of its file, which is written only after every transaction succeeded.
    Settings the Tournament constructor would refuse raise InputError before anything is sent.
    """
    from ape import chain

    settings = settings or TournamentSettings()
    check_settings(settings)  # before any transaction: bad settings leave nothing on chain
    provider = chain.provider
    contract_types = project.load_contracts()  # compiles if needed, so the manifest names the compiler
    path = deployment_path(provider, directory)
    previous: Deployment | None = None
    if path.is_file() and not force:
        previous = load_deployment(path)
        if previous.chain_id != provider.chain_id:
            raise ConfigError(f"{path} records chain {previous.chain_id}, connected to {provider.chain_id}")

    deployment = Deployment(
        ecosystem=provider.network.ecosystem.name,
        network=provider.network.name,
        chain_id=provider.chain_id,
        deployer=deployer.address,
        compiler=compiler_label(project),
        settings=asdict(settings),
    )
    has_tournament = "Tournament" in contract_types

    def reusable(name: str) -> bool:
        if previous is None or name not in previous.contracts:
            return False
        problem = check_recorded(provider, name, previous.contracts[name])
        if problem:
            log(problem)
            return False
        log(f"{name}: reusing {previous.contracts[name].address} (block {previous.contracts[name].block})")
        deployment.contracts[name] = previous.contracts[name]
        return True

    # The token: an existing one, the recorded one, or a new one.
    token_redeployed = False
    if nmr_address:
        address = to_checksum_address(nmr_address)
        if codehash(provider, address) is None:
            raise ConfigError(f"--nmr {address}: no contract at that address on chain {provider.chain_id}")
        deployment.contracts["NMR"] = ContractRecord(address, 0, "", codehash(provider, address) or "")
        log(f"NMR: using existing token at {address}")
    elif not reusable("NMR"):
        token = deployer.deploy(project.NMR, deployer)
        deployment.contracts["NMR"] = _record(provider, token)
        token_redeployed = True
        log(f"NMR: deployed at {token.address}")

    if has_tournament:
        # A tournament is bound to its token: a new token means a new tournament.
        if token_redeployed or not reusable("Tournament"):
            tournament = deployer.deploy(
                project.Tournament,
                deployment.address("NMR"),
                deployer,
                settings.admin_delay,
                settings.challenge_period,
                settings.grace_period,
                settings.max_pause,
            )
            deployment.contracts["Tournament"] = _record(provider, tournament)
            log(f"Tournament: deployed at {tournament.address}")
            grants = {
                "ORACLE_ROLE": oracle or deployer.address,
                "MANAGER_ROLE": manager or deployer.address,
                "PAUSER_ROLE": deployer.address,
            }
            for role_name, who in grants.items():
                role = getattr(tournament, role_name)()
                tournament.grantRole(role, who, sender=deployer)
                deployment.roles.setdefault(role_name, []).append(to_checksum_address(who))
            deployment.roles["DEFAULT_ADMIN_ROLE"] = [deployer.address]

    if previous is not None and deployment.contracts == previous.contracts:
        log(f"nothing to deploy: {path} is up to date (use --force to deploy anew)")
        return previous, path
    write_atomic(path, deployment.to_json())
    log(f"deployment written to {path}")
    return deployment, path
