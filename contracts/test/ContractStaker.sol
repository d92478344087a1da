// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ITournamentStakes} from "../interfaces/ITournamentStakes.sol";

/// @title ContractStaker (TEST ONLY)
/// @notice A staker that is a contract account: it stakes its own NMR, and having no key it can
///         sign no upload, so its stakes are never delivered (the hostile-participant tests).
contract ContractStaker {
    using SafeERC20 for IERC20;

    /// @notice Stake `amount` of this contract's NMR on `modelId` in `roundId` of `tournament`.
    /// @param nmr The staked token.
    /// @param tournament The tournament.
    /// @param roundId The round.
    /// @param modelId The model id (any bytes32: the tournament decides what it takes).
    /// @param amount NMR wei.
    /// @param commitment The commitment recorded with the stake.
    function stake(
        IERC20 nmr,
        ITournamentStakes tournament,
        uint256 roundId,
        bytes32 modelId,
        uint256 amount,
        bytes32 commitment
    ) external {
        nmr.forceApprove(address(tournament), amount);
        tournament.stake(roundId, modelId, amount, commitment);
    }
}
