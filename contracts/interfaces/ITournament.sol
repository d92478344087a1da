// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IBoundedPause} from "./IBoundedPause.sol";
import {ITournamentStakes} from "./ITournamentStakes.sol";

/// @title The NMR staking tournament: types, events, errors and functions
/// @notice The interface of `Tournament`, as OpenZeppelin's `IGovernor` is `Governor`'s: the
///         structs and the round state, every event and custom error, and the external functions
///         with their documentation. Staking, claims and exits come from `ITournamentStakes` (the
///         part an allocation strategy uses), the bounded pause from `IBoundedPause`; roles are
///         OpenZeppelin's `AccessControlDefaultAdminRules`.
/// @dev Leaves follow docs/interfaces.md: OpenZeppelin StandardMerkleTree over
///      `(uint256 roundId, bytes32 modelId, address staker, uint256 stake, uint256 payout, uint256 burn)`,
///      double keccak, sorted pairs.
interface ITournament is ITournamentStakes, IBoundedPause {
    // ------------------------------------------------------------------ types

    /// @notice Parameters of a round, fixed when it is opened.
    /// @param openTime First second at which staking is allowed.
    /// @param closeTime First second at which staking is no longer allowed.
    /// @param resolveTime First second at which the oracle may post the result.
    /// @param corrMultiplierBps CORR multiplier in basis points (0.5 = 5_000); informational for the oracle.
    /// @param mmcMultiplierBps MMC multiplier in basis points (2.0 = 20_000); informational for the oracle.
    /// @param clipBps Payout clip in basis points (5 % = 500); also bounds the posted totals.
    /// @param stakeThreshold Stake threshold of the payout factor (NMR wei); informational for the oracle.
    /// @param stakeCap Largest total stake of one (roundId, modelId, staker) key.
    /// @param minStake Smallest total stake of one key.
    struct RoundParams {
        uint64 openTime;
        uint64 closeTime;
        uint64 resolveTime;
        uint32 corrMultiplierBps;
        uint32 mmcMultiplierBps;
        uint16 clipBps;
        uint96 stakeThreshold;
        uint96 stakeCap;
        uint96 minStake;
    }

    /// @notice A round as stored (field order = storage packing, hot fields together).
    /// @dev slot 0 (read by stake): openTime, closeTime, minStake, corrMultiplierBps.
    ///      slot 1 (written by stake): totalStaked, stakeCount, stakeCap, mmcMultiplierBps.
    ///      slot 2: resolveTime, totalBurn, stakeThreshold.
    ///      slot 3: funded, totalPayout.
    ///      slot 4 (read and written by claims): claimed, claimable, postedAt, settled, clipBps.
    ///      slots 5-6: root, resultsHash.
    ///      Every slot a posting writes already holds a parameter (non-zero) so no posting write
    ///      is a fresh-slot write except root and resultsHash.
    ///      `claimable` = totalStaked - totalBurn + totalPayout, set when the result is posted: the
    ///      most that claims of this round can ever pay. `claimed` counts claims and emergency
    ///      withdrawals. `postedAt` (uint40 seconds: good for 34,000 years) is 0 when no result is
    ///      posted (or it was rejected). `settled`: burns executed and unused funding returned to
    ///      the pool (Final), or all funding returned to the pool (Expired).
    struct Round {
        uint64 openTime;
        uint64 closeTime;
        uint96 minStake;
        uint32 corrMultiplierBps;
        uint96 totalStaked;
        uint32 stakeCount;
        uint96 stakeCap;
        uint32 mmcMultiplierBps;
        uint64 resolveTime;
        uint96 totalBurn;
        uint96 stakeThreshold;
        uint96 funded;
        uint96 totalPayout;
        uint96 claimed;
        uint96 claimable;
        uint40 postedAt;
        bool settled;
        uint16 clipBps;
        bytes32 root;
        bytes32 resultsHash;
    }

    /// @notice One stake, in one storage slot: the amount and the first 20 bytes of its
    ///         commitment (never zero while staked). The full 32-byte commitment is in the stake's
    ///         events (the key's last `Staked` or `CommitmentChanged`), which the oracle reads.
    /// @dev One slot so that a first stake writes one fresh slot, not two (22,100 gas less). A
    ///      claim, exit or withdrawal clears the whole slot (its refund keeps claims as cheap as
    ///      before), so a stake taken reads as one never made: `NoStake` for both.
    struct Stake {
        uint96 amount;
        bytes20 commitmentPrefix;
    }

    /// @notice One claim of `claimMany`; same meaning as the arguments of `claim`.
    struct Claim {
        uint256 roundId;
        bytes32 modelId;
        address staker;
        uint256 payout;
        uint256 burn;
        bytes32[] proof;
    }

    /// @notice The state of a round, derived from time and storage.
    /// @dev None: never opened. Scheduled: before openTime. Open: staking. Closed: after closeTime,
    ///      no result posted (yet, or the posted one was rejected). Posted: a result is in its
    ///      challenge period. Final: the result can no longer change. Expired: no final result by
    ///      resolveTime + gracePeriod; stakers withdraw in full. Settlement is the separate
    ///      `settled` flag of `getRound`.
    enum RoundState {
        None,
        Scheduled,
        Open,
        Closed,
        Posted,
        Final,
        Expired
    }

    // ------------------------------------------------------------------ events

    /// @notice A round was opened with these parameters.
    /// @param roundId The round.
    /// @param openTime First second of staking.
    /// @param closeTime First second after staking.
    /// @param resolveTime First second of posting.
    /// @param corrMultiplierBps CORR multiplier (basis points).
    /// @param mmcMultiplierBps MMC multiplier (basis points).
    /// @param clipBps Payout clip (basis points).
    /// @param stakeThreshold Stake threshold of the payout factor (NMR wei).
    /// @param stakeCap Largest total stake of one key.
    /// @param minStake Smallest total stake of one key.
    event RoundOpened(
        uint256 indexed roundId,
        uint64 openTime,
        uint64 closeTime,
        uint64 resolveTime,
        uint32 corrMultiplierBps,
        uint32 mmcMultiplierBps,
        uint16 clipBps,
        uint96 stakeThreshold,
        uint96 stakeCap,
        uint96 minStake
    );

    /// @notice `amount` was added to a stake, now `newTotal`, tied to `commitment`.
    /// @param roundId The round.
    /// @param modelId The model.
    /// @param staker The staker.
    /// @param amount NMR wei added.
    /// @param newTotal The stake's total afterwards.
    /// @param commitment The stake's commitment afterwards.
    event Staked(
        uint256 indexed roundId,
        bytes32 indexed modelId,
        address indexed staker,
        uint256 amount,
        uint256 newTotal,
        bytes32 commitment
    );

    /// @notice The commitment of an existing stake was replaced (its first 20 bytes changed).
    /// @param roundId The round.
    /// @param modelId The model.
    /// @param staker The staker.
    /// @param oldCommitmentPrefix The first 20 bytes of the replaced commitment (what the stake
    ///        stored; the full one is in the key's previous `Staked` or `CommitmentChanged`).
    /// @param newCommitment The new commitment, in full.
    event CommitmentChanged(
        uint256 indexed roundId,
        bytes32 indexed modelId,
        address indexed staker,
        bytes20 oldCommitmentPrefix,
        bytes32 newCommitment
    );

    /// @notice `funder` added `amount` to the rewards of a round.
    /// @param roundId The round.
    /// @param funder Who paid.
    /// @param amount NMR wei added.
    /// @param newFunded The round's funding afterwards.
    event Funded(uint256 indexed roundId, address indexed funder, uint256 amount, uint256 newFunded);

    /// @notice `funder` added `amount` to the shared pool.
    /// @param funder Who paid.
    /// @param amount NMR wei added.
    /// @param newPool The pool afterwards.
    event PoolFunded(address indexed funder, uint256 amount, uint256 newPool);

    /// @notice The manager moved `amount` from the shared pool to a round.
    /// @param roundId The round.
    /// @param amount NMR wei moved.
    /// @param newFunded The round's funding afterwards.
    /// @param newPool The pool afterwards.
    event Allocated(uint256 indexed roundId, uint256 amount, uint256 newFunded, uint256 newPool);

    /// @notice The admin withdrew `amount` of the unallocated pool to `to`.
    /// @param to The receiver.
    /// @param amount NMR wei withdrawn.
    /// @param newPool The pool afterwards.
    event PoolWithdrawn(address indexed to, uint256 amount, uint256 newPool);

    /// @notice The oracle posted a result; it is final at `finalAt` unless rejected before.
    /// @param roundId The round.
    /// @param root The Merkle root of the leaves.
    /// @param totalPayout Sum of the leaves' payouts.
    /// @param totalBurn Sum of the leaves' burns.
    /// @param leafCount Number of leaves.
    /// @param resultsHash keccak-256 of the published manifest.json.
    /// @param finalAt When the result becomes final (end of the challenge period).
    event ResultPosted(
        uint256 indexed roundId,
        bytes32 root,
        uint256 totalPayout,
        uint256 totalBurn,
        uint256 leafCount,
        bytes32 resultsHash,
        uint256 finalAt
    );

    /// @notice The admin rejected the posted result `root` during its challenge period.
    /// @param roundId The round.
    /// @param root The rejected root.
    /// @param reason Why (for the record).
    event ResultRejected(uint256 indexed roundId, bytes32 root, string reason);

    /// @notice A round was settled: `burned` NMR destroyed, `returnedToPool` of its funding returned
    ///         to the shared pool; `expired` when the round had no final result.
    /// @param roundId The round.
    /// @param burned NMR wei burned.
    /// @param returnedToPool NMR wei of the round's funding returned to the pool.
    /// @param expired True when the round had no final result.
    event Settled(uint256 indexed roundId, uint256 burned, uint256 returnedToPool, bool expired);

    /// @notice A stake was claimed: `amountSent` = stake - burn + payout went to `staker`.
    /// @param roundId The round.
    /// @param modelId The model.
    /// @param staker The staker (paid).
    /// @param payout The leaf's payout.
    /// @param burn The leaf's burn.
    /// @param amountSent NMR wei sent to the staker.
    /// @param caller Who submitted the claim.
    event Claimed(
        uint256 indexed roundId,
        bytes32 indexed modelId,
        address indexed staker,
        uint256 payout,
        uint256 burn,
        uint256 amountSent,
        address caller
    );

    /// @notice `staker` chose whether only it may claim its stakes.
    /// @param staker The staker.
    /// @param selfOnly True: only the staker claims its stakes.
    event ClaimsBySelfOnlySet(address indexed staker, bool selfOnly);

    /// @notice A stake left a Final round by `exitUnclaimed`: `stake` in, `amountOut` returned.
    /// @param roundId The round.
    /// @param modelId The model.
    /// @param staker The staker.
    /// @param stake The stake, NMR wei.
    /// @param amountOut NMR wei returned.
    event StakeExited(
        uint256 indexed roundId, bytes32 indexed modelId, address indexed staker, uint256 stake, uint256 amountOut
    );

    /// @notice A stake of an Expired round was returned in full.
    /// @param roundId The round.
    /// @param modelId The model.
    /// @param staker The staker.
    /// @param amount NMR wei returned.
    event EmergencyWithdrawal(
        uint256 indexed roundId, bytes32 indexed modelId, address indexed staker, uint256 amount
    );

    // ------------------------------------------------------------------ errors
    // (`InvalidConfig` and `PauseCooldown` come from IBoundedPause; `BurnNotEffective` from
    // SupplyCheckedBurn.)

    /// @notice An address argument was the zero address.
    error ZeroAddress();
    /// @notice Round ids must strictly increase.
    error RoundIdNotIncreasing(uint256 roundId, uint256 lastRoundId);
    /// @notice Need openTime < closeTime <= resolveTime and closeTime > now.
    error InvalidRoundTimes();
    /// @notice Need 0 < clipBps <= 10_000.
    error InvalidClip(uint256 clipBps);
    /// @notice Need 0 < minStake <= stakeCap.
    error InvalidStakeLimits();
    /// @notice The round was never opened.
    error UnknownRound(uint256 roundId);
    /// @notice Staking happens only while openTime <= now < closeTime.
    error RoundNotOpen(uint256 roundId);
    /// @notice A commitment's first 20 bytes, which the stake stores, are never all zero (a
    ///         keccak-256 has them with probability 2**-160).
    error ZeroCommitment();
    /// @notice Model ids are never zero.
    error ZeroModelId();
    /// @notice A model id must be a model name: 1 to 32 bytes among a-z, 0-9 and `_`, right-padded
    ///         with zero bytes (docs/interfaces.md); the zero id reverts `ZeroModelId` instead.
    /// @param modelId The refused id.
    error InvalidModelId(bytes32 modelId);
    /// @notice The amount must be positive.
    error ZeroAmount();
    /// @notice This (roundId, modelId, staker) key holds no stake: it never staked, or its stake
    ///         was already claimed, exited or withdrawn (the key's `Claimed`, `StakeExited` or
    ///         `EmergencyWithdrawal` event tells which).
    error NoStake(uint256 roundId, bytes32 modelId, address staker);
    /// @notice A stake's total would be below the round's minimum.
    error StakeBelowMinimum(uint256 total, uint256 minStake);
    /// @notice A stake's total would be above the round's cap.
    error StakeAboveCap(uint256 total, uint256 stakeCap);
    /// @notice The permit failed and the allowance does not cover the amount.
    error PermitFailed();
    /// @notice Funding is allowed only before the round is Final or Expired.
    error FundingClosed(uint256 roundId);
    /// @notice Allocation is allowed only before a result is posted (and before expiry).
    error AllocationClosed(uint256 roundId);
    /// @notice The shared pool holds less than requested.
    error InsufficientPool(uint256 requested, uint256 available);
    /// @notice Posting is allowed from resolveTime on.
    error PostingTooEarly(uint256 roundId, uint256 resolveTime);
    /// @notice Posting is allowed only while now + challengePeriod <= resolveTime + gracePeriod.
    error PostingTooLate(uint256 roundId, uint256 lastPostTime);
    /// @notice A result is already posted (pending or final).
    error ResultAlreadyPosted(uint256 roundId);
    /// @notice The Merkle root is zero.
    error ZeroRoot();
    /// @notice The tree must have exactly one leaf per stake.
    error LeafCountMismatch(uint256 leafCount, uint256 stakeCount);
    /// @notice The payouts exceed what was funded for the round.
    error PayoutExceedsFunding(uint256 totalPayout, uint256 funded);
    /// @notice The burns exceed the round's total stake.
    error BurnExceedsTotalStake(uint256 totalBurn, uint256 totalStaked);
    /// @notice The burns exceed totalStaked * clipBps / 10_000 + stakeCount.
    error BurnExceedsClip(uint256 totalBurn, uint256 maxBurn);
    /// @notice The payouts exceed totalStaked * clipBps / 10_000.
    error PayoutExceedsClip(uint256 totalPayout, uint256 maxPayout);
    /// @notice No result is in its challenge period.
    error NotInChallengePeriod(uint256 roundId);
    /// @notice The round's result is not final (or the round is not Expired, for `finalise`).
    error RoundNotFinal(uint256 roundId);
    /// @notice The round is already settled.
    error AlreadySettled(uint256 roundId);
    /// @notice A leaf's burn exceeds its stake.
    error BurnExceedsStake(uint256 burn, uint256 stake);
    /// @notice A leaf's payout or burn exceeds the round's clip of its stake.
    error LeafExceedsClip(uint256 payout, uint256 burn, uint256 stake);
    /// @notice The Merkle proof does not prove this leaf.
    error InvalidProof();
    /// @notice The claim would pay out more than the round can ever pay.
    error ClaimExceedsRound(uint256 roundId, uint256 claimed, uint256 claimable);
    /// @notice Emergency withdrawal needs an Expired round.
    error RoundNotExpired(uint256 roundId);
    /// @notice `staker` claims its stakes itself (`setClaimsBySelfOnly`): nobody may claim them for it.
    error ClaimOnlyByStaker(address staker);
    /// @notice `exitUnclaimed` before the claim window of the round ended (at `opensAt`).
    error ExitNotOpen(uint256 roundId, uint256 opensAt);

    // ------------------------------------------------------------------ configuration

    /// @notice Seconds between a posting and its finality, during which the admin may reject it.
    /// @return Seconds.
    function challengePeriod() external view returns (uint64);

    /// @notice Seconds after resolveTime after which a round without a final result is Expired.
    /// @return Seconds.
    function gracePeriod() external view returns (uint64);

    // ------------------------------------------------------------------ rounds

    /// @notice Opens round `roundId` with parameters `p`. Rounds may overlap.
    /// @dev Only MANAGER_ROLE. `roundId` must exceed every id opened before; needs
    ///      openTime < closeTime <= resolveTime, closeTime > now, 0 < clipBps <= 10_000 and
    ///      0 < minStake <= stakeCap. Emits `RoundOpened`.
    /// @param roundId The new round's id.
    /// @param p The round's parameters.
    function openRound(uint256 roundId, RoundParams calldata p) external;

    // ------------------------------------------------------------------ staking

    /// @notice Like `stake`, with an EIP-2612 permit for `amount` signed by the caller, in one
    ///         transaction.
    /// @dev The permit is tried and its outcome ignored; then the allowance must cover `amount`
    ///      (a front-runner may have submitted the permit first; a token without permit may accept
    ///      the call and grant nothing), else reverts `PermitFailed`.
    /// @param roundId The round.
    /// @param modelId The model: a zero-padded model name (`InvalidModelId`, `ZeroModelId` otherwise).
    /// @param amount NMR wei to add; also the permit's value.
    /// @param commitment keccak-256 of the predictions file; its first 20 bytes never all zero.
    /// @param deadline The permit's deadline.
    /// @param v The permit signature's v.
    /// @param r The permit signature's r.
    /// @param s The permit signature's s.
    function stakeWithPermit(
        uint256 roundId,
        bytes32 modelId,
        uint256 amount,
        bytes32 commitment,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    // ------------------------------------------------------------------ funding

    /// @notice Adds `amount` NMR (pulled from the caller) to the rewards of round `roundId`.
    /// @dev Anyone; allowed until the round is Final or Expired; not while paused. Funding that
    ///      the result does not pay out returns to the shared pool at settlement. Emits `Funded`.
    /// @param roundId The round.
    /// @param amount NMR wei, > 0.
    function fund(uint256 roundId, uint256 amount) external;

    /// @notice Adds `amount` NMR (pulled from the caller) to the shared reward pool.
    /// @dev Anyone; not while paused. Emits `PoolFunded`.
    /// @param amount NMR wei, > 0.
    function fundPool(uint256 amount) external;

    /// @notice Moves `amount` from the shared pool to the rewards of round `roundId`.
    /// @dev Only MANAGER_ROLE; only while the round is Scheduled, Open or Closed (before a result
    ///      is posted). Emits `Allocated`.
    /// @param roundId The round.
    /// @param amount NMR wei, > 0, at most the pool.
    function allocate(uint256 roundId, uint256 amount) external;

    /// @notice Withdraws `amount` of the unallocated shared pool to `to`.
    /// @dev Only DEFAULT_ADMIN_ROLE. Never touches stakes or round funding. Emits `PoolWithdrawn`.
    /// @param to The receiver (not zero).
    /// @param amount NMR wei, > 0, at most the pool.
    function withdrawPool(address to, uint256 amount) external;

    // ------------------------------------------------------------------ results

    /// @notice Posts the result of round `roundId`: the Merkle root of one leaf per stake
    ///         `(roundId, modelId, staker, stake, payout, burn)` and its totals.
    /// @dev Only ORACLE_ROLE; not while paused; one transaction whatever the number of stakes.
    ///      Allowed iff now >= resolveTime and now + challengePeriod <= resolveTime + gracePeriod,
    ///      and no unrejected result is posted. Requires root != 0, leafCount == stakeCount,
    ///      totalPayout <= funded, totalBurn <= totalStaked, and the clip bounds
    ///      totalPayout <= totalStaked * clipBps / 10_000 and
    ///      totalBurn <= totalStaked * clipBps / 10_000 + stakeCount. Final at
    ///      now + challengePeriod unless rejected. Emits `ResultPosted`.
    /// @param roundId The round.
    /// @param root The Merkle root (OpenZeppelin StandardMerkleTree, double-hashed leaves).
    /// @param totalPayout Sum of the leaves' payouts.
    /// @param totalBurn Sum of the leaves' burns.
    /// @param leafCount Number of leaves (= stakes of the round).
    /// @param resultsHash keccak-256 of the published manifest.json.
    function postResult(
        uint256 roundId,
        bytes32 root,
        uint256 totalPayout,
        uint256 totalBurn,
        uint256 leafCount,
        bytes32 resultsHash
    ) external;

    /// @notice Rejects the result posted for `roundId` during its challenge period, so that the
    ///         oracle can post a corrected one (within the posting window).
    /// @dev Only DEFAULT_ADMIN_ROLE (the guardian) or REJECTER_ROLE (a dispute desk); allowed even
    ///      while paused. Emits `ResultRejected`.
    /// @param roundId The round.
    /// @param reason Why (for the record).
    function rejectResult(uint256 roundId, string calldata reason) external;

    /// @notice Settles round `roundId`: if its result is Final, burns exactly `totalBurn` and
    ///         returns `funded - totalPayout` to the shared pool; if it is Expired, returns all its
    ///         funding to the pool. Anyone may call; claims settle lazily too.
    /// @dev Not while paused. Reverts `AlreadySettled` or `RoundNotFinal`. Emits `Settled`.
    /// @param roundId The round.
    function finalise(uint256 roundId) external;

    // ------------------------------------------------------------------ claims and exits

    /// @notice Several claims in one transaction (any rounds, stakers, models); all or nothing.
    /// @dev Same rules as `claim` for each entry. Loops only over `claims`.
    /// @param claims The claims.
    function claimMany(Claim[] calldata claims) external;

    /// @notice Whether only `staker` may claim its stakes.
    /// @param staker The staker.
    /// @return True if claims for it by others revert `ClaimOnlyByStaker`.
    function claimsBySelfOnly(address staker) external view returns (bool);

    /// @notice What `exitUnclaimed` keeps back from a stake of `stakeAmount`:
    ///         `min(ceil(stakeAmount * clipBps / 10_000), totalBurn)`.
    /// @param stakeAmount The stake in NMR wei.
    /// @param clipBps The round's clip.
    /// @param totalBurn The round's posted total burn.
    /// @return The amount not returned, in NMR wei.
    function exitBurn(uint256 stakeAmount, uint256 clipBps, uint256 totalBurn) external pure returns (uint256);

    // ------------------------------------------------------------------ views

    /// @notice The stored round `roundId` (all zero if never opened).
    /// @param roundId The round.
    /// @return The round's parameters, totals, result and settlement flag (see `Round`).
    function getRound(uint256 roundId) external view returns (Round memory);

    /// @notice The state of round `roundId` now.
    /// @param roundId The round.
    /// @return The state derived from `block.timestamp` and storage (see `RoundState`).
    function roundState(uint256 roundId) external view returns (RoundState);

    /// @notice The Merkle leaf of a stake's result (OpenZeppelin StandardMerkleTree, double keccak):
    ///         `keccak256(bytes.concat(keccak256(abi.encode(roundId, modelId, staker, stake, payout, burn))))`.
    /// @param roundId The round.
    /// @param modelId The model.
    /// @param staker The staker.
    /// @param stakeAmount The stake recorded on-chain.
    /// @param payout The payout in NMR wei.
    /// @param burn The burn in NMR wei.
    /// @return The leaf hash.
    function leafHash(
        uint256 roundId,
        bytes32 modelId,
        address staker,
        uint256 stakeAmount,
        uint256 payout,
        uint256 burn
    ) external pure returns (bytes32);

    /// @notice The unallocated shared reward pool (NMR wei).
    /// @return The pool.
    function pool() external view returns (uint256);

    /// @notice The highest round id opened so far (0 if none).
    /// @return The round id.
    function lastRoundId() external view returns (uint256);
}
