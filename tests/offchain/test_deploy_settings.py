"""Deploy settings are checked before anything is sent (embedded EVM).

`TournamentSettings.problems()` / `check_settings()` mirror the Tournament constructor's rules
one for one (`InvalidConfig`): challengePeriod > 0, gracePeriod > challengePeriod,
maxPauseDuration > 0, maxPauseDuration <= MAX_PAUSE_LIMIT, maxPauseDuration <= gracePeriod -
challengePeriod; plus the parameter types' ranges (uint48 adminDelay, uint64 periods). A setting
that breaks one is a one-line InputError naming the `ape run deploy` flag, and deploy() sends
nothing: the deployer's nonce and the head block stay as they were, no file is written.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nmrstake.deploy import MAX_PAUSE_LIMIT, TournamentSettings, check_settings, deploy
from nmrstake.errors import InputError

DAY = 86_400

BROKEN = [
    pytest.param(
        TournamentSettings(challenge_period=0),
        "--challenge-period: must be more than 0s",
        id="challenge-period-zero",
    ),
    pytest.param(
        TournamentSettings(challenge_period=DAY, grace_period=DAY),
        "--grace-period: 1d must be longer than --challenge-period (1d)",
        id="grace-period-not-longer-than-challenge-period",
    ),
    pytest.param(
        TournamentSettings(challenge_period=2 * DAY, grace_period=DAY, max_pause=3600),
        "--grace-period: 1d must be longer than --challenge-period (2d)",
        id="grace-period-shorter-than-challenge-period",
    ),
    pytest.param(
        TournamentSettings(max_pause=0),
        "--max-pause: must be more than 0s",
        id="max-pause-zero",
    ),
    pytest.param(
        TournamentSettings(challenge_period=DAY, grace_period=400 * DAY, max_pause=366 * DAY),
        "--max-pause: 366d must be at most the contract's limit of 365d",
        id="max-pause-over-contract-limit",
    ),
    pytest.param(
        TournamentSettings(challenge_period=DAY, grace_period=2 * DAY, max_pause=7 * DAY),
        "--max-pause: 7d must be at most the posting window, "
        "--grace-period - --challenge-period = 2d - 1d = 1d",
        id="max-pause-longer-than-posting-window",
    ),
    pytest.param(
        TournamentSettings(admin_delay=2**48),
        "--admin-delay: 281474976710656 is not a duration the contract takes (0 to 281474976710655 seconds, uint48)",
        id="admin-delay-over-uint48",
    ),
    pytest.param(
        TournamentSettings(grace_period=2**64),
        "--grace-period: 18446744073709551616 is not a duration the contract takes "
        "(0 to 18446744073709551615 seconds, uint64)",
        id="grace-period-over-uint64",
    ),
    pytest.param(
        TournamentSettings(challenge_period=-1),
        "--challenge-period: -1 is not a duration the contract takes (0 to 18446744073709551615 seconds, uint64)",
        id="challenge-period-negative",
    ),
]


def _chain_state(chain, owner) -> tuple[int, int]:
    return owner.nonce, chain.blocks.head.number


@pytest.mark.parametrize(("bad", "message"), BROKEN)
def test_broken_setting_is_one_line_naming_the_flag_and_deploy_sends_nothing(
    chain, project, owner, tmp_path, bad, message
):
    before = _chain_state(chain, owner)
    logged: list[str] = []
    with pytest.raises(InputError) as caught:
        deploy(project, owner, directory=tmp_path, settings=bad, log=logged.append)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)
    assert _chain_state(chain, owner) == before  # no NMR, no Tournament, no block
    assert logged == []
    assert list(tmp_path.iterdir()) == []


def test_every_broken_rule_is_named_in_the_one_line():
    bad = TournamentSettings(challenge_period=0, grace_period=0, max_pause=400 * DAY)
    with pytest.raises(InputError) as caught:
        check_settings(bad)
    assert str(caught.value) == (
        "--challenge-period: must be more than 0s; "
        "--grace-period: 0s must be longer than --challenge-period (0s); "
        "--max-pause: 400d must be at most the contract's limit of 365d"
    )


def test_settings_on_every_boundary_are_accepted(chain, project, owner, tmp_path):
    for good in (
        TournamentSettings(),  # the defaults of `ape run deploy`
        TournamentSettings(challenge_period=1, grace_period=2, admin_delay=0, max_pause=1),
        TournamentSettings(challenge_period=DAY, grace_period=8 * DAY, max_pause=7 * DAY),  # pause == window
        TournamentSettings(challenge_period=1, grace_period=MAX_PAUSE_LIMIT + 1, max_pause=MAX_PAUSE_LIMIT),
        TournamentSettings(admin_delay=2**48 - 1),
    ):
        assert good.problems() == []
        check_settings(good)
    dep, _ = deploy(
        project, owner, directory=tmp_path, log=lambda m: None,
        settings=TournamentSettings(challenge_period=DAY, grace_period=8 * DAY, max_pause=7 * DAY),
    )
    t = project.Tournament.at(dep.address("Tournament"))
    assert (t.challengePeriod(), t.gracePeriod(), t.maxPauseDuration()) == (DAY, 8 * DAY, 7 * DAY)


def test_max_pause_limit_is_the_contracts(project, owner, token):
    t = owner.deploy(project.Tournament, token, owner, 0, 1, 2, 1)
    assert t.MAX_PAUSE_LIMIT() == MAX_PAUSE_LIMIT


def _constructor_accepts(project, owner, token, admin_delay, challenge, grace, max_pause) -> bool:
    from ape.exceptions import ContractLogicError

    try:
        t = owner.deploy(project.Tournament, token, owner, admin_delay, challenge, grace, max_pause)
    except ContractLogicError as exc:
        assert type(exc).__name__ == "InvalidConfig", exc
        return False
    assert (t.challengePeriod(), t.gracePeriod(), t.maxPauseDuration()) == (challenge, grace, max_pause)
    return True


small = st.integers(min_value=0, max_value=8)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(admin_delay=small, challenge=small, grace=small, max_pause=small)
@example(admin_delay=0, challenge=0, grace=5, max_pause=1)  # challenge 0
@example(admin_delay=0, challenge=3, grace=3, max_pause=1)  # grace == challenge
@example(admin_delay=0, challenge=1, grace=3, max_pause=0)  # max pause 0
@example(admin_delay=0, challenge=1, grace=3, max_pause=2)  # max pause == window
@example(admin_delay=0, challenge=1, grace=3, max_pause=3)  # max pause == window + 1
@example(admin_delay=0, challenge=1, grace=MAX_PAUSE_LIMIT + 2, max_pause=MAX_PAUSE_LIMIT)
@example(admin_delay=0, challenge=1, grace=MAX_PAUSE_LIMIT + 2, max_pause=MAX_PAUSE_LIMIT + 1)
def test_check_accepts_exactly_what_the_constructor_accepts(
    chain, project, owner, token, admin_delay, challenge, grace, max_pause
):
    candidate = TournamentSettings(challenge, grace, admin_delay, max_pause)
    try:
        check_settings(candidate)
        checked = True
    except InputError:
        checked = False
    assert _constructor_accepts(project, owner, token, admin_delay, challenge, grace, max_pause) == checked, (
        candidate, candidate.problems()
    )
