// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {AllocationStrategy} from "./AllocationStrategy.sol";
import {ITournamentStakes} from "./interfaces/ITournamentStakes.sol";

/// @title Factory of allocation strategies
/// @notice Creates one allocation strategy per owner as a cheap clone (EIP-1167) of one
///         implementation, at an address that depends only on the owner, and tells anyone (the
///         service, the operator) whether an address is one of its strategies.
contract StrategyFactory {
    /// @notice The implementation every strategy clones.
    AllocationStrategy public immutable implementation;

    /// @notice The strategy of each owner (zero if none).
    mapping(address owner => address strategy) public strategyOf;
    /// @notice Whether an address is a strategy made by this factory.
    mapping(address strategy => bool) public isStrategy;

    /// @notice `owner` created `strategy`, first operated by `operator`.
    /// @param owner The strategy's owner.
    /// @param strategy The new strategy (a clone).
    /// @param operator Its first operator (zero = none).
    event StrategyCreated(address indexed owner, address indexed strategy, address indexed operator);

    /// @notice `owner` already has `strategy`.
    error StrategyExists(address owner, address strategy);

    /// @notice Deploys the strategy implementation that every strategy of this factory clones.
    /// @param tournament The tournament every strategy stakes in.
    constructor(ITournamentStakes tournament) {
        implementation = new AllocationStrategy(tournament);
    }

    /// @notice Creates the caller's strategy with `operator` (zero = none yet).
    /// @dev One per owner, at `predict(owner)`. Emits `StrategyCreated` (and the clone's `OperatorSet`).
    /// @param operator The first operator.
    /// @return strategy The new strategy.
    function create(address operator) external returns (address strategy) {
        address existing = strategyOf[msg.sender];
        if (existing != address(0)) revert StrategyExists(msg.sender, existing);
        strategy = Clones.cloneDeterministic(address(implementation), _salt(msg.sender));
        strategyOf[msg.sender] = strategy;
        isStrategy[strategy] = true;
        emit StrategyCreated(msg.sender, strategy, operator);
        AllocationStrategy(strategy).initialize(msg.sender, operator);
    }

    /// @notice The address `owner`'s strategy has or will have.
    /// @param owner The owner.
    /// @return The strategy's address.
    function predict(address owner) external view returns (address) {
        return Clones.predictDeterministicAddress(address(implementation), _salt(owner));
    }

    function _salt(address owner) private pure returns (bytes32) {
        return bytes32(uint256(uint160(owner)));
    }
}
