// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IAllocationStrategy} from "./interfaces/IAllocationStrategy.sol";

/// @title Batch invoker of allocation strategies
/// @notice The operator contract: strategy owners make it their operator, and its owner (the
///         operator's daemon) stakes, settles, or settles and restakes many strategies in one
///         transaction. One strategy that refuses (revoked operator, too little idle NMR, a stake
///         already made) does not stop the others: its failure is reported as an event.
/// @dev Holds no NMR and can do nothing a strategy's operator cannot. Owner hand-over is two-step.
contract StrategyInvoker is Ownable2Step {
    /// @notice One stake: `strategy.stake(roundId, modelId, commitment)`.
    struct StakeCall {
        address strategy;
        uint256 roundId;
        bytes32 modelId;
        bytes32 commitment;
    }

    /// @notice One settlement: `strategy.settle(roundId, modelId, payout, burn, proof)`.
    struct SettleCall {
        address strategy;
        uint256 roundId;
        bytes32 modelId;
        uint256 payout;
        uint256 burn;
        bytes32[] proof;
    }

    /// @notice One settlement and restake: `strategy.settleAndStake(...)`.
    struct SettleAndStakeCall {
        address strategy;
        uint256 settleRoundId;
        bytes32 modelId;
        uint256 payout;
        uint256 burn;
        bytes32[] proof;
        uint256 stakeRoundId;
        bytes32 commitment;
    }

    /// @notice Call `index` of a batch, to `strategy`, reverted with `reason`.
    /// @param index The entry's position in the batch.
    /// @param strategy The strategy called.
    /// @param reason The revert data.
    event InvocationFailed(uint256 indexed index, address indexed strategy, bytes reason);

    /// @notice Call `index` of a batch would start with less than `ENTRY_GAS` or ran out of gas:
    ///         the whole batch reverts, so that a low gas estimate or limit can never turn into
    ///         entries silently skipped (try/catch also catches out-of-gas).
    error BatchOutOfGas(uint256 index);

    /// @notice The gas every entry starts with at least: well above what one entry costs (about
    ///         100,000 to 150,000), so an entry never runs out of gas and a gas estimate of the batch
    ///         (the lowest limit at which it does not revert) covers every entry.
    uint256 public constant ENTRY_GAS = 300_000;

    /// @notice An invoker owned by the operator's account.
    /// @param owner_ The operator's account.
    constructor(address owner_) Ownable(owner_) {}

    /// @notice Stakes through many strategies.
    /// @dev Only the owner. Emits `InvocationFailed` for each call that reverted.
    /// @param calls The stakes.
    /// @return succeeded How many calls succeeded.
    function stakeMany(StakeCall[] calldata calls) external onlyOwner returns (uint256 succeeded) {
        uint256 n = calls.length;
        for (uint256 i; i < n; ++i) {
            StakeCall calldata c = calls[i];
            uint256 gasBefore = _gasForEntry(i);
            try IAllocationStrategy(c.strategy).stake(c.roundId, c.modelId, c.commitment) {
                ++succeeded;
            } catch (bytes memory reason) {
                _failed(i, c.strategy, reason, gasBefore);
            }
        }
    }

    /// @notice Moves many strategies' open stakes to newer commitments (`strategy.recommit`).
    /// @dev Only the owner. Emits `InvocationFailed` for each call that reverted.
    /// @param calls The new commitments (`StakeCall` fields: strategy, roundId, modelId, commitment).
    /// @return succeeded How many calls succeeded.
    function recommitMany(StakeCall[] calldata calls) external onlyOwner returns (uint256 succeeded) {
        uint256 n = calls.length;
        for (uint256 i; i < n; ++i) {
            StakeCall calldata c = calls[i];
            uint256 gasBefore = _gasForEntry(i);
            try IAllocationStrategy(c.strategy).recommit(c.roundId, c.modelId, c.commitment) {
                ++succeeded;
            } catch (bytes memory reason) {
                _failed(i, c.strategy, reason, gasBefore);
            }
        }
    }

    /// @notice Settles many strategies' resolved stakes.
    /// @dev Only the owner. Emits `InvocationFailed` for each call that reverted.
    /// @param calls The settlements.
    /// @return succeeded How many calls succeeded.
    function settleMany(SettleCall[] calldata calls) external onlyOwner returns (uint256 succeeded) {
        uint256 n = calls.length;
        for (uint256 i; i < n; ++i) {
            SettleCall calldata c = calls[i];
            uint256 gasBefore = _gasForEntry(i);
            try IAllocationStrategy(c.strategy).settle(c.roundId, c.modelId, c.payout, c.burn, c.proof) {
                ++succeeded;
            } catch (bytes memory reason) {
                _failed(i, c.strategy, reason, gasBefore);
            }
        }
    }

    /// @notice Settles and restakes many strategies.
    /// @dev Only the owner. Emits `InvocationFailed` for each call that reverted.
    /// @param calls The settlements with their restakes.
    /// @return succeeded How many calls succeeded.
    function settleAndStakeMany(SettleAndStakeCall[] calldata calls) external onlyOwner returns (uint256 succeeded) {
        uint256 n = calls.length;
        for (uint256 i; i < n; ++i) {
            SettleAndStakeCall calldata c = calls[i];
            uint256 gasBefore = _gasForEntry(i);
            try IAllocationStrategy(c.strategy).settleAndStake(
                c.settleRoundId, c.modelId, c.payout, c.burn, c.proof, c.stakeRoundId, c.commitment
            ) {
                ++succeeded;
            } catch (bytes memory reason) {
                _failed(i, c.strategy, reason, gasBefore);
            }
        }
    }

    /// @dev The gas left before entry `index`; reverts if that is less than `ENTRY_GAS`.
    function _gasForEntry(uint256 index) private view returns (uint256 left) {
        left = gasleft();
        if (left < ENTRY_GAS) revert BatchOutOfGas(index);
    }

    /// @dev Reports a failed entry, unless it failed for lack of gas: a call runs out of gas
    ///      with at most 1/64 of `gasBefore` left here (EIP-150), and then the batch reverts.
    function _failed(uint256 index, address strategy, bytes memory reason, uint256 gasBefore) private {
        if (gasleft() <= gasBefore / 63) revert BatchOutOfGas(index);
        emit InvocationFailed(index, strategy, reason);
    }
}
