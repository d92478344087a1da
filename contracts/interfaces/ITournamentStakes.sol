// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title The part of `Tournament` a staking contract uses
/// @notice Staking, claiming and the exits, as `Tournament` implements them; an allocation strategy
///         stakes through this interface with itself as the staker. `ITournament` extends it with
///         the rest of the tournament (rounds, funding, results, views), its types, events and
///         errors.
interface ITournamentStakes {
    /// @notice The staked token (NMR): ERC-20 + EIP-2612 permit + a burn of its own tokens.
    /// @return The token.
    function nmr() external view returns (IERC20);

    /// @notice Stakes `amount` more NMR on `modelId` in round `roundId`, tied to `commitment`
    ///         (pulled from the caller, who must have approved this contract).
    /// @dev Allowed while openTime <= now < closeTime and not paused. The key's total must stay
    ///      within [minStake, stakeCap]. `amount` 0 only replaces the commitment of an existing
    ///      stake; a non-zero amount with a different commitment adds and replaces at once.
    ///      The stake stores the commitment's first 20 bytes (`getStake`); its events carry it in
    ///      full. Commitments are compared by those 20 bytes: one that shares them with the
    ///      stake's current commitment changes nothing (with amount 0, nothing at all: no event).
    ///      Emits `Staked` (when amount > 0) and `CommitmentChanged` (when an existing stake's
    ///      commitment is replaced).
    /// @param roundId The round.
    /// @param modelId The model: its name, right-padded with zero bytes (docs/interfaces.md); any
    ///        other id reverts (`InvalidModelId`, `ZeroModelId` in ITournament).
    /// @param amount NMR wei to add (0 = only replace the commitment).
    /// @param commitment keccak-256 of the predictions file; its first 20 bytes never all zero
    ///        (`ZeroCommitment` in ITournament).
    function stake(uint256 roundId, bytes32 modelId, uint256 amount, bytes32 commitment) external;

    /// @notice Claims the stake of `staker` on `modelId` in round `roundId`: sends
    ///         `stake - burn + payout` to `staker` (whoever submits, unless the staker chose to
    ///         claim only by itself: `setClaimsBySelfOnly`).
    /// @dev Not while paused; the round's result must be Final (settles it first if needed).
    ///      The leaf is built from the recorded stake, so a proof for another stake fails.
    ///      Marks the stake claimed by clearing it (amount and stored commitment: `getStake` then
    ///      returns zeros, and claiming again reverts `NoStake`). Emits `Claimed`.
    /// @param roundId The round.
    /// @param modelId The model.
    /// @param staker The staker (receives the funds).
    /// @param payout The leaf's payout.
    /// @param burn The leaf's burn (<= stake).
    /// @param proof The Merkle proof of the leaf.
    function claim(
        uint256 roundId,
        bytes32 modelId,
        address staker,
        uint256 payout,
        uint256 burn,
        bytes32[] calldata proof
    ) external;

    /// @notice Claims the caller's stake on `modelId` in Final round `claimRoundId` and stakes
    ///         `amount` on the same model in open round `stakeRoundId`, tied to `commitment`, in one
    ///         call: only the difference moves (pulled from the caller if the new stake is larger
    ///         than what the claim pays, sent to the caller if smaller).
    /// @dev Same rules as `claim` (for the caller's own stake) and `stake` (amount > 0); not while
    ///      paused. Emits `Claimed` and `Staked` (and `CommitmentChanged` when it replaces one).
    /// @param claimRoundId The Final round claimed.
    /// @param modelId The model, in both rounds.
    /// @param payout The leaf's payout.
    /// @param burn The leaf's burn.
    /// @param proof The Merkle proof of the leaf.
    /// @param stakeRoundId The open round staked.
    /// @param amount NMR wei to stake (> 0).
    /// @param commitment keccak-256 of the predictions file of `stakeRoundId`.
    /// @return out What the claim paid (`stake - burn + payout`), netted against `amount`.
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

    /// @notice Chooses whether only the caller may claim its stakes (`selfOnly`), or anyone, the
    ///         default (the funds always go to the staker either way).
    /// @dev For a staker that keeps records of its results, as an allocation strategy does: a claim
    ///      made around it would leave its record without that result (anyone may still claim for
    ///      it through its own settle function). Emits `ClaimsBySelfOnlySet`.
    /// @param selfOnly True: only the caller claims its stakes.
    function setClaimsBySelfOnly(bool selfOnly) external;

    /// @notice Returns the caller's unclaimed stake on `modelId` in Final round `roundId` without a
    ///         proof, once the claim window (`gracePeriod` after the result became final) is over:
    ///         the exit for a stake that the posted tree leaves out or gets wrong.
    /// @dev Pays `stake - min(ceil(stake * clipBps / 10_000), totalBurn)`. An honest leaf never
    ///      burns more than the clip of its stake nor more than the round's total burn, so the exit
    ///      is never worth more than the stake's honest leaf; it counts against the round's
    ///      `claimable` like a claim, so it can never take another round's NMR. Within the round,
    ///      claims made in the claim window are never affected (exits open after it); a later claim
    ///      is affected only if the tree's entry standing for this stake (its wrong leaf, or the
    ///      leaf that replaced it) burns more than this exit keeps back, for then the round holds
    ///      less for this stake than the exit pays (security.md N2). Only the staker; not while
    ///      paused.
    ///      Clears the stake like a claim. Emits `StakeExited`.
    /// @param roundId The round (Final).
    /// @param modelId The model.
    function exitUnclaimed(uint256 roundId, bytes32 modelId) external;

    /// @notice Returns the caller's full stake on `modelId` in round `roundId` when the round is
    ///         Expired (no final result by resolveTime + gracePeriod).
    /// @dev Works even while paused. Clears the stake like a claim. Emits `EmergencyWithdrawal`.
    /// @param roundId The round.
    /// @param modelId The model.
    function emergencyWithdraw(uint256 roundId, bytes32 modelId) external;

    /// @notice The stake of `staker` on `modelId` in `roundId` as stored: its amount and the first
    ///         20 bytes of its commitment; both zero if never staked, and once claimed, exited or
    ///         withdrawn. The full commitment is in the key's last `Staked` or `CommitmentChanged`
    ///         event (ITournament).
    /// @param roundId The round.
    /// @param modelId The model.
    /// @param staker The staker.
    /// @return amount The stake in NMR wei.
    /// @return commitmentPrefix The first 20 bytes of the predictions commitment.
    function getStake(uint256 roundId, bytes32 modelId, address staker)
        external
        view
        returns (uint256 amount, bytes20 commitmentPrefix);
}
