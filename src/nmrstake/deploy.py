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

from nmrstake import __version__
from nmrstake.chain.transactions import deploy_contract, send
from nmrstake.errors import ConfigError, InputError
from nmrstake.fsutil import write_atomic
from nmrstake.hashing import checksum_address as to_checksum_address
from nmrstake.hashing import keccak_bytes

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
    settings: dict[str, Any] = field(default_factory=dict)
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
    return "0x" + keccak_bytes(code).hex() if code else None


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


def _address_argument(flag: str, value: str | None) -> str | None:
    """`value` as a checksummed address (None stays None); a one-line InputError naming `flag`."""
    if value is None or value == "":
        return None
    try:
        return to_checksum_address(str(value))
    except InputError:
        raise InputError(f"{flag}: {value!r} is not an address (0x and 40 hex digits)") from None


#: OracleCommittee.MAX_COMMITTEE_SIZE: the most members a committee has.
MAX_COMMITTEE_SIZE = 31

#: The committee variant of each plain tournament (docs/committee.md).
COMMITTEE_VARIANTS = {"Tournament": "CommitteeTournament", "NumeraireTournament": "NumeraireCommitteeTournament"}


def dispute_arguments(bond: int | None, reward: int, arbiter: str | None) -> tuple[int, int, str | None] | None:
    """(bond, reward, arbiter) of the dispute desk, checked before anything is sent; None without
    a bond (no desk). One-line InputErrors name `--dispute-bond`, `--dispute-reward`, `--arbiter`."""
    if bond is None:
        if reward or arbiter:
            raise InputError("--dispute-reward and --arbiter: only with --dispute-bond (no bond, no dispute desk)")
        return None
    if not 0 < bond < 2**96:
        raise InputError(f"--dispute-bond: {bond} wei is out of range (more than 0, less than 2**96)")
    if reward < 0:
        raise InputError(f"--dispute-reward: {reward} wei is negative")
    return bond, reward, _address_argument("--arbiter", arbiter)


def committee_arguments(committee: list[str] | None, threshold: int | None) -> tuple[list[str], int] | None:
    """The committee as the constructor takes it (checksummed, strictly ascending) and its
    threshold; None without a committee. A one-line InputError naming `--committee` or
    `--threshold` for what the constructor would refuse: not an address, the zero address, a
    duplicate, more than MAX_COMMITTEE_SIZE members, a threshold outside 1..N, or a threshold
    without a committee."""
    if not committee:
        if threshold is not None:
            raise InputError("--threshold: only with --committee (a deployment without a committee has no threshold)")
        return None
    members: list[str] = []
    for value in committee:
        address = _address_argument("--committee", value.strip() if isinstance(value, str) else value)
        if address is None:
            raise InputError("--committee: an empty entry (give ADDR,ADDR,... with no empty item)")
        if int(address, 16) == 0:
            raise InputError("--committee: the zero address cannot be a member")
        if address in members:
            raise InputError(f"--committee: {address} is listed twice")
        members.append(address)
    if len(members) > MAX_COMMITTEE_SIZE:
        raise InputError(f"--committee: {len(members)} members, the contract takes at most {MAX_COMMITTEE_SIZE}")
    if threshold is None:
        raise InputError(f"--threshold: required with --committee (1 to {len(members)})")
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold <= len(members):
        raise InputError(f"--threshold: {threshold!r} is out of range (1 to the committee's {len(members)} members)")
    return sorted(members, key=lambda a: int(a, 16)), threshold


def _previous_kind(previous: Deployment | None) -> str | None:
    """The tournament contract a deployments file records (files from before the choice existed
    hold a `Tournament`)."""
    if previous is None or "Tournament" not in previous.contracts:
        return None
    return str(previous.settings.get("tournament_contract", "Tournament"))


def deploy(
    project: Any,
    deployer: Any,
    *,
    directory: Path,
    force: bool = False,
    nmr_address: str | None = None,
    oracle: str | None = None,
    manager: str | None = None,
    operator: str | None = None,
    settings: TournamentSettings | None = None,
    committee: list[str] | None = None,
    threshold: int | None = None,
    dispute_bond: int | None = None,
    dispute_reward: int = 0,
    arbiter: str | None = None,
    log: Log = print,
) -> tuple[Deployment, Path]:
    """Deploy (or reuse) the token, the tournament, the strategy factory and the invoker on the
    connected chain.

    `nmr_address` points the tournament at an existing NMR instead of deploying one. The token
    is inspected before anything is sent (:func:`nmrstake.token.inspect_token`): a token that
    burns with `burn(uint256)` gets a `Tournament`, the mainnet NMR (`mint(uint256)`) a
    `NumeraireTournament`, and a token that cannot burn is refused with a ConfigError naming
    `--nmr`. The contract is recorded under "Tournament" either way (same ABI plus one error);
    which one it is goes to ``settings["tournament_contract"]``. After the tournament come a
    `StrategyFactory` (of that tournament) and a `StrategyInvoker` owned by `operator` (default:
    the deployer); a new tournament means new ones. The oracle and manager roles go to
    `oracle` / `manager` (default: the deployer). Returns the deployment and the path of its
    file, which is written only after every transaction succeeded. Settings the Tournament
    constructor would refuse raise InputError before anything is sent.

    With a `committee` (addresses, any order) and its `threshold` M, the tournament is the
    committee variant of the one the token needs (`CommitteeTournament` or
    `NumeraireCommitteeTournament`, docs/committee.md), and ``settings`` records ``committee``
    (ascending, as the contract holds it) and ``threshold``. A reused tournament keeps the
    committee it was deployed with (a change goes through `proposeCommittee` and the admin delay).

    With a `dispute_bond` (NMR wei), a `DisputeDesk` (docs/disputes.md) of the tournament takes
    bonded disputes from anyone: it is granted the tournament's REJECTER_ROLE, pays
    `dispute_reward` (from its reserve) to a disputer who was right, and `arbiter` (default:
    none; the admin may grant ARBITER_ROLE later) rules on disputes. ``settings`` records the
    bond and the reward.
    """
    from ape import chain

    from nmrstake.token import burn_method, inspect_token, pushed_selectors, tournament_contract_for

    settings = settings or TournamentSettings()
    check_settings(settings)  # before any transaction: bad settings leave nothing on chain
    members = committee_arguments(committee, threshold)
    desk_terms = dispute_arguments(dispute_bond, dispute_reward, arbiter)
    wanted_settings: dict[str, Any] = asdict(settings)
    if desk_terms is not None:
        wanted_settings.update(dispute_bond=str(desk_terms[0]), dispute_reward=str(desk_terms[1]))
    if members is not None:
        wanted_settings.update(committee=members[0], threshold=members[1])
    # Addresses too: a bad --oracle found at grantRole would leave a half-made deployment.
    nmr_address, oracle, manager, operator = (
        _address_argument(flag, value)
        for flag, value in (("--nmr", nmr_address), ("--oracle", oracle), ("--manager", manager),
                            ("--operator", operator))
    )
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
        settings=dict(wanted_settings),
    )
    has_tournament = "Tournament" in contract_types
    operator_address = to_checksum_address(operator) if operator else deployer.address

    def live(name: str) -> bool:
        """The previous deployment recorded `name` and it is still there (else says why not)."""
        if previous is None or name not in previous.contracts:
            return False
        problem = check_recorded(provider, name, previous.contracts[name])
        if problem:
            log(problem)
            return False
        return True

    def reuse(name: str) -> bool:
        assert previous is not None
        log(f"{name}: reusing {previous.contracts[name].address} (block {previous.contracts[name].block})")
        deployment.contracts[name] = previous.contracts[name]
        return True

    def reusable(name: str) -> bool:
        return live(name) and reuse(name)

    def report(caps: Any) -> None:
        log(f"NMR: {caps.headline()}")
        log(f"NMR: {caps.describe()}")

    # The token, inspected BEFORE anything is sent: an existing one, the recorded one, or ours.
    kind = "Tournament"
    token_redeployed = False
    if nmr_address:
        address = to_checksum_address(nmr_address)
        found = codehash(provider, address)
        if found is None:
            raise ConfigError(f"--nmr {address}: no contract at that address on chain {provider.chain_id}")
        log(f"NMR: using existing token at {address} (inspecting it before anything is sent)")
        caps = inspect_token(provider, address)
        report(caps)
        if has_tournament:
            kind = tournament_contract_for(caps, argument=f"--nmr {address}")
        deployment.contracts["NMR"] = ContractRecord(address, 0, "", found)
    elif reusable("NMR"):
        caps = inspect_token(provider, deployment.address("NMR"))
        report(caps)
        if has_tournament:
            kind = tournament_contract_for(caps, argument=f"the recorded NMR {caps.address}")
    else:
        # Our own NMR: its compiled code must burn before we send anything.
        runtime = bytes.fromhex(
            (project.NMR.contract_type.runtime_bytecode.bytecode or "").removeprefix("0x")
        )
        if has_tournament and burn_method(pushed_selectors(runtime)) is None:
            raise ConfigError("the compiled NMR has no burn(uint256): the tournament could not burn; nothing was sent")
        token = deploy_contract(project.NMR, deployer, sender=deployer, what="deploying NMR")
        deployment.contracts["NMR"] = _record(provider, token)
        token_redeployed = True
        log(f"NMR: deployed at {token.address}")
        caps = inspect_token(provider, token.address)
        report(caps)
        if has_tournament:
            kind = tournament_contract_for(caps, argument=f"the new NMR {token.address}")

    if has_tournament and members is not None:
        kind = COMMITTEE_VARIANTS[kind]
    if has_tournament:
        log(f"Tournament: {kind} ("
            + ("burns with NMR's mint(uint256)" if kind.startswith("Numeraire") else "burns with burn(uint256)")
            + ", every burn checked against totalSupply"
            + (f"; committee of {len(members[0])}, {members[1]} to post" if members is not None else "") + ")")
        # A tournament is bound to its token and to its burn: another token, or a token that
        # burns otherwise, means a new tournament.
        same_token = (
            previous is not None
            and "NMR" in previous.contracts
            and previous.contracts["NMR"].address.lower() == deployment.address("NMR").lower()
        )
        previous_kind = _previous_kind(previous)
        if previous_kind is not None and previous_kind != kind and same_token:
            log(f"Tournament: the recorded one is a {previous_kind}, this deployment needs a {kind}: deploying it anew")
        tournament_reused = (
            not token_redeployed and same_token and previous_kind == kind and reusable("Tournament")
        )
        if tournament_reused:
            assert previous is not None
            # The reused tournament keeps the settings and roles it was deployed with.
            deployment.settings = {**previous.settings, "tournament_contract": kind}
            deployment.roles = {k: list(v) for k, v in previous.roles.items()}
            if {k: v for k, v in previous.settings.items() if k != "tournament_contract"} != wanted_settings:
                log("Tournament: keeps the settings it was deployed with; use --force to deploy one with the new ones")
            tournament = getattr(project, kind).at(deployment.address("Tournament"))
        else:
            tournament = deploy_contract(
                getattr(project, kind),
                deployment.address("NMR"),
                deployer,
                settings.admin_delay,
                settings.challenge_period,
                settings.grace_period,
                settings.max_pause,
                *(members if members is not None else ()),
                sender=deployer,
                what=f"deploying the {kind}",
            )
            deployment.contracts["Tournament"] = _record(provider, tournament)
            deployment.settings["tournament_contract"] = kind
            log(f"Tournament: deployed at {tournament.address} ({kind})")
            grants = {
                # With a committee, ORACLE_ROLE's direct posting goes only to an --oracle named for it.
                "ORACLE_ROLE": oracle or (deployer.address if members is None else None),
                "MANAGER_ROLE": manager or deployer.address,
                "PAUSER_ROLE": deployer.address,
            }
            for role_name, who in grants.items():
                if who is None:
                    log(f"Tournament: {role_name} granted to nobody (results are posted with the committee's signatures)")
                    continue
                role = getattr(tournament, role_name)()
                send(tournament.grantRole, role, who, sender=deployer, what=f"granting {role_name} to {who}")
                deployment.roles.setdefault(role_name, []).append(to_checksum_address(who))
            deployment.roles["DEFAULT_ADMIN_ROLE"] = [deployer.address]

        # Allocation strategies: a factory of this tournament, and the operator's batch invoker.
        if "StrategyFactory" in contract_types:
            if not (tournament_reused and reusable("StrategyFactory")):
                factory = deploy_contract(project.StrategyFactory, tournament.address, sender=deployer,
                                          what="deploying the StrategyFactory")
                deployment.contracts["StrategyFactory"] = _record(provider, factory)
                log(f"StrategyFactory: deployed at {factory.address}")
        if "StrategyInvoker" in contract_types:
            reuse_invoker = tournament_reused and live("StrategyInvoker")
            if reuse_invoker:
                assert previous is not None
                recorded = previous.contracts["StrategyInvoker"].address
                owner = to_checksum_address(str(project.StrategyInvoker.at(recorded).owner()))
                if operator and owner != operator_address:
                    log(f"StrategyInvoker: the recorded one is owned by {owner}, not --operator {operator_address}: "
                        "deploying a new one")
                    reuse_invoker = False
            if reuse_invoker:
                reuse("StrategyInvoker")
                deployment.roles["INVOKER_OWNER"] = [owner]
            else:
                invoker = deploy_contract(project.StrategyInvoker, operator_address, sender=deployer,
                                          what="deploying the StrategyInvoker")
                deployment.contracts["StrategyInvoker"] = _record(provider, invoker)
                deployment.roles["INVOKER_OWNER"] = [operator_address]
                log(f"StrategyInvoker: deployed at {invoker.address}, owned by the operator {operator_address}")

        # Disputes: a desk of this tournament, holding its REJECTER_ROLE.
        if desk_terms is not None and not (tournament_reused and reusable("DisputeDesk")):
            bond, reward, arbiter_address = desk_terms
            desk = deploy_contract(project.DisputeDesk, tournament.address, deployer, settings.admin_delay,
                                   arbiter_address or "0x" + "00" * 20, bond, reward, sender=deployer,
                                   what="deploying the DisputeDesk")
            deployment.contracts["DisputeDesk"] = _record(provider, desk)
            send(tournament.grantRole, tournament.REJECTER_ROLE(), desk.address, sender=deployer,
                 what="granting REJECTER_ROLE to the DisputeDesk")
            deployment.roles["REJECTER_ROLE"] = [to_checksum_address(str(desk.address))]
            deployment.roles["ARBITER_ROLE"] = [arbiter_address] if arbiter_address else []
            log(f"DisputeDesk: deployed at {desk.address} (bond {bond} wei, reward {reward} wei, arbiter "
                f"{arbiter_address or 'none yet'}), holding the tournament's REJECTER_ROLE")

    if previous is not None and deployment.contracts == previous.contracts:
        log(f"nothing to deploy: {path} is up to date (use --force to deploy anew)")
        return previous, path
    write_atomic(path, deployment.to_json())
    log(f"deployment written to {path}")
    return deployment, path
