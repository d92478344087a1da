"""The Python stake rule (`strategies.chain.stake_amount`, used by the operator to decide what it
can send) is the contract's `AllocationStrategy.stakeAmount`, for every input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nmrstake.errors import InputError
from nmrstake.strategies.chain import Mode, stake_amount


@pytest.fixture(scope="module")
def implementation(project, owner, tournament):
    factory = owner.deploy(project.StrategyFactory, tournament)
    return project.AllocationStrategy.at(factory.implementation())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(per_round=st.integers(0, 2**96 - 1), mode=st.sampled_from(list(Mode)),
       net=st.integers(-(2**87), 2**87 - 1) | st.sampled_from([0, -1, 1]))
def test_stake_amount__python_rule_equals_the_contracts(implementation, per_round, mode, net):
    assert stake_amount(per_round, mode, net) == implementation.stakeAmount((per_round, int(mode), net, 0))


def test_stake_amount__compound_never_below_zero_and_fixed_ignores_net():
    assert stake_amount(10, Mode.COMPOUND, -25) == 0
    assert stake_amount(10, Mode.COMPOUND, 5) == 15
    assert stake_amount(10, Mode.FIXED, 5) == 10
    assert stake_amount(10, Mode.OFF, 5) == 0


def test_mode_parse__names_the_argument_on_a_bad_mode():
    assert Mode.parse(" Compound ") is Mode.COMPOUND
    with pytest.raises(InputError, match=r"--mode 'sometimes': choose fixed, compound or off"):
        Mode.parse("sometimes")
