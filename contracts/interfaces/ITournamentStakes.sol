// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title The part of `Tournament` a staking contract uses
/// @notice Staking, claiming and the exits, as `Tournament` implements them; an allocation strategy
///         stakes through this interface with itself as the staker.
interface ITournamentStakes {
    /// @notice The staked token.
    function nmr() external view returns (IERC20);

    /// @notice Stakes `amount` more NMR of the caller on `modelId` in `roundId`, tied to `commitment`.
    function stake(uint256 roundId, bytes32 modelId, uint256 amount, bytes32 commitment) external;

    /// @notice Claims `staker`'s stake of a Final round with a Merkle proof; pays the staker.
    function claim(
        uint256 roundId,
        bytes32 modelId,
        address staker,
        uint256 payout,
        uint256 burn,
        bytes32[] calldata proof
    ) external;

    /// @notice Claims the caller's stake of a Final round and stakes `amount` on the same model in
    ///         an open round; only the difference moves. Returns what the claim paid.
    function restake(
        uint256 claimRoundId,
        bytes32 modelId,
        uint256 payout,
        uint256 burn,
        bytes32[] calldata proof,
        uint256 stakeRoundId,
        uint256 amount,
        bytes32 commitment
    ) external returns (uint256 out);

    /// @notice Chooses whether only the caller may claim its stakes.
    function setClaimsBySelfOnly(bool selfOnly) external;

    /// @notice Returns the caller's unclaimed stake of a Final round after its claim window.
    function exitUnclaimed(uint256 roundId, bytes32 modelId) external;

    /// @notice Returns the caller's full stake of an Expired round.
    function emergencyWithdraw(uint256 roundId, bytes32 modelId) external;

    /// @notice A stake's amount (0 once claimed or withdrawn) and commitment (0 if never staked).
    function getStake(uint256 roundId, bytes32 modelId, address staker)
        external
        view
        returns (uint256 amount, bytes32 commitment);
}
