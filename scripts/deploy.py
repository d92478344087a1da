"""Deploy nmrstake's contracts: `ape run deploy --network <ecosystem:network:provider>`.

Writes deployments/<ecosystem>-<network>-<chainid>.json. Running it again on the same chain
reuses the live deployment (use --force to deploy anew); a recorded contract that has vanished
(a restarted Anvil) is deployed again.

The token (ours, or an existing one with --nmr) is inspected before anything is sent, and what
will work is printed: whether stakes can use a permit, and how the tournament burns. A token
with `burn(uint256)` gets a `Tournament`, the mainnet NMR (`mint(uint256)`) a
`NumeraireTournament`; a token that cannot burn is refused in one line and nothing is sent. Then
come a StrategyFactory and a StrategyInvoker owned by --operator (default: the deployer).

`--committee ADDR,ADDR,... --threshold M` deploys the committee variant instead (CommitteeTournament
or NumeraireCommitteeTournament): results are posted by anyone with M members' signatures, and
ORACLE_ROLE goes only to an --oracle given (docs/committee.md). `--dispute-bond NMR` adds a
DisputeDesk holding the tournament's REJECTER_ROLE (`--dispute-reward NMR`, `--arbiter ADDR`):
anyone may dispute a posted result with the bond (docs/disputes.md).
"""

from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand, account_option, network_option

from nmrstake.amounts import parse_nmr
from nmrstake.chain.signers import deployer_account
from nmrstake.cli.options import duration_option
from nmrstake.deploy import (
    TournamentSettings,
    check_settings,
    committee_arguments,
    deploy,
    deployments_dir,
    dispute_arguments,
)
from nmrstake.errors import NmrstakeError
from nmrstake.localchain import ensure_tools_on_path

ensure_tools_on_path()  # ape-foundry looks for `anvil` on PATH before the script body runs


def with_help(option, text):
    """An ape.cli option decorator (they take no help text) with `text` as its --help line."""
    def apply(f):
        f = option(f)
        f.__click_params__[-1].help = text
        return f
    return apply


@click.command(cls=ConnectedProviderCommand, short_help="Deploy the NMR token, the tournament and the strategies")
@network_option()
@with_help(account_option(prompt=False), "ape account alias or TEST::N (default on local networks: test account 0)")
@click.option("--force", is_flag=True, help="Deploy anew even if a live deployment is recorded")
@click.option("--nmr", "nmr_address",
              help="Use an existing NMR token at this address (inspected first: permit? how does it burn?)")
@click.option("--oracle", help="Address granted the oracle role (default: the deployer)")
@click.option("--manager", help="Address granted the round-manager role (default: the deployer)")
@click.option("--operator", help="Owner of the StrategyInvoker, the operator's account (default: the deployer)")
@duration_option("--challenge-period", default="1d", help="Time a posted result can be rejected")
@duration_option("--grace-period", default="14d", help="Time after resolve before stakers may exit")
@duration_option("--admin-delay", default="2d", help="Delay of the two-step admin hand-over")
@duration_option("--max-pause", default="7d", help="Longest a pause lasts before it lapses")
@click.option("--committee", default=None, metavar="ADDR,ADDR,...",
              help="Oracle committee members: deploys the committee variant of the tournament (docs/committee.md)")
@click.option("--threshold", default=None, type=int, metavar="M",
              help="Signatures of distinct members a posting needs (1 to the committee's size; with --committee)")
@click.option("--dispute-bond", default=None, metavar="NMR",
              help="Deploy a DisputeDesk: anyone may dispute a posted result with this bond (docs/disputes.md)")
@click.option("--dispute-reward", default="0", metavar="NMR",
              help="What a right disputer earns besides the bond, from the desk's reserve (with --dispute-bond)")
@click.option("--arbiter", default=None, help="Address that rules on disputes (ARBITER_ROLE; with --dispute-bond)")
@click.option(
    "--deployments-dir",
    "deployments_dir_",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where deployments files live (default: ./deployments or $NMRSTAKE_DEPLOYMENTS)",
)
def cli(
    ecosystem, network, provider, account, force, nmr_address, oracle, manager, operator,
    challenge_period, grace_period, admin_delay, max_pause, committee, threshold, dispute_bond, dispute_reward,
    arbiter, deployments_dir_,
):
    from ape import project

    try:
        settings = TournamentSettings(challenge_period, grace_period, admin_delay, max_pause)
        check_settings(settings)  # deploy() checks again; here it fails before any output
        members = None if committee is None else committee.split(",")
        committee_arguments(members, threshold)  # likewise
        bond = None if dispute_bond is None else parse_nmr(dispute_bond, argument="--dispute-bond")
        reward = parse_nmr(dispute_reward, argument="--dispute-reward")
        dispute_arguments(bond, reward, arbiter)  # likewise
        deployer = account or deployer_account(provider, None)
        click.echo(f"deploying on {ecosystem.name}:{network.name} (chain {provider.chain_id}) as {deployer.address}")
        deploy(
            project, deployer, directory=deployments_dir_ or deployments_dir(project.path),
            force=force, nmr_address=nmr_address, oracle=oracle, manager=manager,
            operator=operator, settings=settings, committee=members, threshold=threshold,
            dispute_bond=bond, dispute_reward=reward, arbiter=arbiter, log=click.echo,
        )
    except NmrstakeError as exc:
        # One line, no traceback, the error's exit status (as the nmrstake CLI does).
        error = click.ClickException(str(exc))
        error.exit_code = exc.exit_code
        raise error from exc
