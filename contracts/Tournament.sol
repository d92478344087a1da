// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {SupplyCheckedBurn} from "./SupplyCheckedBurn.sol";

/// @notice The one extension of ERC-20 the tournament needs beyond EIP-2612: burning its own tokens.
interface IERC20Burnable {
    /// @notice Destroys `value` tokens of the caller, lowering `totalSupply`.
    function burn(uint256 value) external;
}

/// @title NMR staking tournament
/// @notice Rounds of a Numerai-style tournament: participants stake NMR on a model's predictions
///         (tied to a commitment = keccak-256 of the predictions file) while a round is open; after
///         it resolves, an oracle posts ONE Merkle root of every stake's payout and burn; after a
///         challenge period in which the guardian (default admin) may reject it, the result is final,
///         the burns are executed (`finalise`, or lazily by the first claim) and each staker claims
///         `stake - burn + payout` with a Merkle proof. A round without a final result expires and
///         its stakers withdraw their full stake (`emergencyWithdraw`, even while paused).
/// @dev Token assumptions: `nmr` is a standard ERC-20 (no fee on transfer, no rebasing, no
///      callbacks required) and burns its own tokens with `burn(uint256)` of OpenZeppelin's
///      ERC20Burnable; every burn is checked against `totalSupply` (`SupplyCheckedBurn`), so a
///      token that does not burn makes settlement revert. `stakeWithPermit` needs EIP-2612; `stake`
///      works with a plain approval. For the mainnet NMR deploy `NumeraireTournament`. Amounts are
///      stored in uint96 (NMR's cap, 1.1e25 wei, fits with room to spare); larger inputs revert
///      with SafeCast's error. Tokens sent to the contract other than through `stake`, `fund`
///      or `fundPool` are not accounted for and stay locked.
///      Leaves follow docs/interfaces.md: OpenZeppelin StandardMerkleTree over
///      `(uint256 roundId, bytes32 modelId, address staker, uint256 stake, uint256 payout, uint256 burn)`,
///      double keccak, sorted pairs. Nothing loops over all stakes: posting and settling are O(1).
contract Tournament is AccessControlDefaultAdminRules, ReentrancyGuard, Pausable, SupplyCheckedBurn {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

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

    /// @notice One stake: the amount (zeroed when claimed or withdrawn) and the commitment (kept).
    struct Stake {
        uint96 amount;
        bytes32 commitment;
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

    // ------------------------------------------------------------------ constants and immutables

    /// @notice Opens rounds and allocates pool funds to rounds.
    bytes32 public constant MANAGER_ROLE = keccak256("MANAGER_ROLE");
    /// @notice Posts round results.
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");
    /// @notice Pauses and unpauses.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice 100 % in basis points.
    uint256 public constant BPS = 10_000;
    /// @notice Upper bound of `maxPauseDuration` (a pause longer than a year is no pause).
    uint64 public constant MAX_PAUSE_LIMIT = 365 days;

    /// @notice The staked token (NMR): ERC-20 + EIP-2612 permit + ERC20Burnable `burn`.
    IERC20 public immutable nmr;
    /// @notice Seconds between a posting and its finality, during which the admin may reject it.
    uint64 public immutable challengePeriod;
    /// @notice Seconds after resolveTime after which a round without a final result is Expired.
    uint64 public immutable gracePeriod;
    /// @notice Longest duration of one pause; also the cool-down before a new pause may start.
    uint64 public immutable maxPauseDuration;

    // ------------------------------------------------------------------ storage

    /// @dev Packs with Pausable's `_paused` flag: the end of the current (or last) pause.
    uint48 private _pauseEnd;
    /// @dev Unallocated shared reward pool (NMR wei).
    uint96 private _pool;
    /// @dev The highest round id opened so far.
    uint256 private _lastRoundId;

    mapping(uint256 roundId => Round) private _rounds;
    mapping(uint256 roundId => mapping(bytes32 modelId => mapping(address staker => Stake))) private _stakes;
    /// @dev Stakers whose stakes only they may claim (allocation strategies: their records).
    mapping(address staker => bool) private _claimsBySelfOnly;

    // ------------------------------------------------------------------ events

    /// @notice A round was opened with these parameters.
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
    event Staked(
        uint256 indexed roundId,
        bytes32 indexed modelId,
        address indexed staker,
        uint256 amount,
        uint256 newTotal,
        bytes32 commitment
    );
    /// @notice The commitment of an existing stake was replaced.
    event CommitmentChanged(
        uint256 indexed roundId,
        bytes32 indexed modelId,
        address indexed staker,
        bytes32 oldCommitment,
        bytes32 newCommitment
    );
    /// @notice `funder` added `amount` to the rewards of a round.
    event Funded(uint256 indexed roundId, address indexed funder, uint256 amount, uint256 newFunded);
    /// @notice `funder` added `amount` to the shared pool.
    event PoolFunded(address indexed funder, uint256 amount, uint256 newPool);
    /// @notice The manager moved `amount` from the shared pool to a round.
    event Allocated(uint256 indexed roundId, uint256 amount, uint256 newFunded, uint256 newPool);
    /// @notice The admin withdrew `amount` of the unallocated pool to `to`.
    event PoolWithdrawn(address indexed to, uint256 amount, uint256 newPool);
    /// @notice The oracle posted a result; it is final at `finalAt` unless rejected before.
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
    event ResultRejected(uint256 indexed roundId, bytes32 root, string reason);
    /// @notice A round was settled: `burned` NMR destroyed, `returnedToPool` of its funding returned
    ///         to the shared pool; `expired` when the round had no final result.
    event Settled(uint256 indexed roundId, uint256 burned, uint256 returnedToPool, bool expired);
    /// @notice A stake was claimed: `amountSent` = stake - burn + payout went to `staker`.
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
    event ClaimsBySelfOnlySet(address indexed staker, bool selfOnly);
    /// @notice A stake left a Final round by `exitUnclaimed`: `stake` in, `amountOut` returned.
    event StakeExited(
        uint256 indexed roundId, bytes32 indexed modelId, address indexed staker, uint256 stake, uint256 amountOut
    );
    /// @notice A stake of an Expired round was returned in full.
    event EmergencyWithdrawal(
        uint256 indexed roundId, bytes32 indexed modelId, address indexed staker, uint256 amount
    );

    // ------------------------------------------------------------------ errors

    /// @notice An address argument was the zero address.
    error ZeroAddress();
    /// @notice Constructor periods are inconsistent: need 0 < challengePeriod < gracePeriod and
    ///         0 < maxPauseDuration <= MAX_PAUSE_LIMIT.
    error InvalidConfig();
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
    /// @notice Commitments are never zero.
    error ZeroCommitment();
    /// @notice Model ids are never zero.
    error ZeroModelId();
    /// @notice The amount must be positive.
    error ZeroAmount();
    /// @notice This (roundId, modelId, staker) key never staked.
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
    /// @notice The stake was already claimed (or withdrawn).
    error AlreadyClaimed(uint256 roundId, bytes32 modelId, address staker);
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
    /// @notice A new pause may start only `maxPauseDuration` after the previous one ended.
    error PauseCooldown(uint256 availableAt);
    /// @notice `staker` claims its stakes itself (`setClaimsBySelfOnly`): nobody may claim them for it.
    error ClaimOnlyByStaker(address staker);
    /// @notice `exitUnclaimed` before the claim window of the round ended (at `opensAt`).
    error ExitNotOpen(uint256 roundId, uint256 opensAt);

    // ------------------------------------------------------------------ constructor

    /// @param nmr_ The staked token: an ERC-20 that burns as `_callBurn` expects (permit optional).
    /// @param admin The guardian: DEFAULT_ADMIN_ROLE (grants the other roles).
    /// @param adminDelay Delay of the two-step hand-over of DEFAULT_ADMIN_ROLE.
    /// @param challengePeriod_ Seconds in which a posted result may be rejected.
    /// @param gracePeriod_ Seconds after resolveTime until a round without final result expires.
    /// @param maxPauseDuration_ Longest pause, and the cool-down between pauses.
    constructor(
        address nmr_,
        address admin,
        uint48 adminDelay,
        uint64 challengePeriod_,
        uint64 gracePeriod_,
        uint64 maxPauseDuration_
    ) AccessControlDefaultAdminRules(adminDelay, admin) {
        if (nmr_ == address(0)) revert ZeroAddress();
        if (
            challengePeriod_ == 0 || gracePeriod_ <= challengePeriod_ || maxPauseDuration_ == 0
                || maxPauseDuration_ > MAX_PAUSE_LIMIT
            // A pause may never cover a round's whole posting window (resolveTime to
            // resolveTime + grace - challenge): else the pauser could force every round to expire.
                || maxPauseDuration_ > gracePeriod_ - challengePeriod_
        ) {
            revert InvalidConfig();
        }
        nmr = IERC20(nmr_);
        challengePeriod = challengePeriod_;
        gracePeriod = gracePeriod_;
        maxPauseDuration = maxPauseDuration_;
    }

    // ------------------------------------------------------------------ rounds

    /// @notice Opens round `roundId` with parameters `p`. Rounds may overlap.
    /// @dev Only MANAGER_ROLE. `roundId` must exceed every id opened before; needs
    ///      openTime < closeTime <= resolveTime, closeTime > now, 0 < clipBps <= 10_000 and
    ///      0 < minStake <= stakeCap. Emits `RoundOpened`.
    /// @param roundId The new round's id.
    /// @param p The round's parameters.
    function openRound(uint256 roundId, RoundParams calldata p) external onlyRole(MANAGER_ROLE) {
        uint256 last = _lastRoundId;
        if (roundId <= last) revert RoundIdNotIncreasing(roundId, last);
        if (!(p.openTime < p.closeTime && p.closeTime <= p.resolveTime && p.closeTime > block.timestamp)) {
            revert InvalidRoundTimes();
        }
        if (p.clipBps == 0 || p.clipBps > BPS) revert InvalidClip(p.clipBps);
        if (p.minStake == 0 || p.stakeCap < p.minStake) revert InvalidStakeLimits();

        _lastRoundId = roundId;
        Round storage r = _rounds[roundId];
        r.openTime = p.openTime;
        r.closeTime = p.closeTime;
        r.minStake = p.minStake;
        r.clipBps = p.clipBps;
        r.stakeCap = p.stakeCap;
        r.resolveTime = p.resolveTime;
        r.corrMultiplierBps = p.corrMultiplierBps;
        r.mmcMultiplierBps = p.mmcMultiplierBps;
        r.stakeThreshold = p.stakeThreshold;
        emit RoundOpened(
            roundId,
            p.openTime,
            p.closeTime,
            p.resolveTime,
            p.corrMultiplierBps,
            p.mmcMultiplierBps,
            p.clipBps,
            p.stakeThreshold,
            p.stakeCap,
            p.minStake
        );
    }

    // ------------------------------------------------------------------ staking

    /// @notice Stakes `amount` more NMR on `modelId` in round `roundId`, tied to `commitment`
    ///         (pulled from the caller, who must have approved this contract).
    /// @dev Allowed while openTime <= now < closeTime and not paused. The key's total must stay
    ///      within [minStake, stakeCap]. `amount` 0 only replaces the commitment of an existing
    ///      stake; a non-zero amount with a different commitment adds and replaces at once.
    ///      Emits `Staked` (when amount > 0) and `CommitmentChanged` (when an existing commitment
    ///      is replaced).
    /// @param roundId The round.
    /// @param modelId The model (bytes32 name, docs/interfaces.md); never zero.
    /// @param amount NMR wei to add (0 = only replace the commitment).
    /// @param commitment keccak-256 of the predictions file; never zero.
    function stake(uint256 roundId, bytes32 modelId, uint256 amount, bytes32 commitment)
        external
        nonReentrant
        whenNotPaused
    {
        _stake(roundId, modelId, amount, commitment);
    }

    /// @notice Like `stake`, with an EIP-2612 permit for `amount` signed by the caller, in one
    ///         transaction.
    /// @dev The permit is tried and its outcome ignored; then the allowance must cover `amount`
    ///      (a front-runner may have submitted the permit first; a token without permit may accept
    ///      the call and grant nothing), else reverts `PermitFailed`.
    /// @param roundId The round.
    /// @param modelId The model; never zero.
    /// @param amount NMR wei to add; also the permit's value.
    /// @param commitment keccak-256 of the predictions file; never zero.
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
    ) external nonReentrant whenNotPaused {
        // A failed permit is ignored (a front-runner may have submitted it first), and a permit that
        // "succeeds" proves nothing (a token whose fallback accepts any call, as the mainnet NMR's
        // does, grants no allowance): the allowance is what counts.
        try IERC20Permit(address(nmr)).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        if (nmr.allowance(msg.sender, address(this)) < amount) revert PermitFailed();
        _stake(roundId, modelId, amount, commitment);
    }

    function _stake(uint256 roundId, bytes32 modelId, uint256 amount, bytes32 commitment) private {
        _recordStake(roundId, modelId, amount, commitment);
        if (amount != 0) nmr.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @dev Every check and effect of a stake of the caller's; the caller moves the NMR.
    function _recordStake(uint256 roundId, bytes32 modelId, uint256 amount, bytes32 commitment) private {
        if (commitment == bytes32(0)) revert ZeroCommitment();
        if (modelId == bytes32(0)) revert ZeroModelId();
        Round storage rd = _rounds[roundId];
        uint256 closeTime = rd.closeTime;
        if (closeTime == 0) revert UnknownRound(roundId);
        if (block.timestamp < rd.openTime || block.timestamp >= closeTime) revert RoundNotOpen(roundId);

        Stake storage st = _stakes[roundId][modelId][msg.sender];
        uint256 current = st.amount;
        bytes32 oldCommitment = st.commitment;
        if (amount == 0) {
            if (current == 0) revert NoStake(roundId, modelId, msg.sender);
        } else {
            uint256 newTotal = current + amount;
            uint256 minStake = rd.minStake;
            if (newTotal < minStake) revert StakeBelowMinimum(newTotal, minStake);
            uint256 cap = rd.stakeCap;
            if (newTotal > cap) revert StakeAboveCap(newTotal, cap);
            // newTotal <= stakeCap < 2**96, so both casts are exact.
            st.amount = uint96(newTotal);
            if (current == 0) {
                rd.stakeCount += 1;
            }
            rd.totalStaked += uint96(amount);
            emit Staked(roundId, modelId, msg.sender, amount, newTotal, commitment);
        }
        if (commitment != oldCommitment) {
            st.commitment = commitment;
            if (oldCommitment != bytes32(0)) {
                emit CommitmentChanged(roundId, modelId, msg.sender, oldCommitment, commitment);
            }
        }
    }

    // ------------------------------------------------------------------ funding

    /// @notice Adds `amount` NMR (pulled from the caller) to the rewards of round `roundId`.
    /// @dev Anyone; allowed until the round is Final or Expired; not while paused. Funding that
    ///      the result does not pay out returns to the shared pool at settlement. Emits `Funded`.
    /// @param roundId The round.
    /// @param amount NMR wei, > 0.
    function fund(uint256 roundId, uint256 amount) external nonReentrant whenNotPaused {
        if (amount == 0) revert ZeroAmount();
        Round storage rd = _rounds[roundId];
        RoundState st = _state(rd);
        if (st == RoundState.None) revert UnknownRound(roundId);
        if (st == RoundState.Final || st == RoundState.Expired) revert FundingClosed(roundId);
        uint96 newFunded = (uint256(rd.funded) + amount).toUint96();
        rd.funded = newFunded;
        emit Funded(roundId, msg.sender, amount, newFunded);
        nmr.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Adds `amount` NMR (pulled from the caller) to the shared reward pool.
    /// @dev Anyone; not while paused. Emits `PoolFunded`.
    /// @param amount NMR wei, > 0.
    function fundPool(uint256 amount) external nonReentrant whenNotPaused {
        if (amount == 0) revert ZeroAmount();
        uint96 newPool = (uint256(_pool) + amount).toUint96();
        _pool = newPool;
        emit PoolFunded(msg.sender, amount, newPool);
        nmr.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Moves `amount` from the shared pool to the rewards of round `roundId`.
    /// @dev Only MANAGER_ROLE; only while the round is Scheduled, Open or Closed (before a result
    ///      is posted). Emits `Allocated`.
    /// @param roundId The round.
    /// @param amount NMR wei, > 0, at most the pool.
    function allocate(uint256 roundId, uint256 amount) external onlyRole(MANAGER_ROLE) {
        if (amount == 0) revert ZeroAmount();
        Round storage rd = _rounds[roundId];
        RoundState st = _state(rd);
        if (st == RoundState.None) revert UnknownRound(roundId);
        if (st != RoundState.Scheduled && st != RoundState.Open && st != RoundState.Closed) {
            revert AllocationClosed(roundId);
        }
        uint256 available = _pool;
        if (amount > available) revert InsufficientPool(amount, available);
        uint96 newFunded = (uint256(rd.funded) + amount).toUint96();
        uint256 newPool = available - amount;
        _pool = uint96(newPool);
        rd.funded = newFunded;
        emit Allocated(roundId, amount, newFunded, newPool);
    }

    /// @notice Withdraws `amount` of the unallocated shared pool to `to`.
    /// @dev Only DEFAULT_ADMIN_ROLE. Never touches stakes or round funding. Emits `PoolWithdrawn`.
    /// @param to The receiver (not zero).
    /// @param amount NMR wei, > 0, at most the pool.
    function withdrawPool(address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        uint256 available = _pool;
        if (amount > available) revert InsufficientPool(amount, available);
        uint256 newPool = available - amount;
        _pool = uint96(newPool);
        emit PoolWithdrawn(to, amount, newPool);
        nmr.safeTransfer(to, amount);
    }

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
    ) external onlyRole(ORACLE_ROLE) whenNotPaused {
        Round storage rd = _rounds[roundId];
        uint256 resolveTime = rd.resolveTime; // > 0 for every opened round
        if (resolveTime == 0) revert UnknownRound(roundId);
        if (block.timestamp < resolveTime) revert PostingTooEarly(roundId, resolveTime);
        uint256 lastPostTime = resolveTime + gracePeriod - challengePeriod;
        if (block.timestamp > lastPostTime) revert PostingTooLate(roundId, lastPostTime);
        if (rd.postedAt != 0) revert ResultAlreadyPosted(roundId);
        if (root == bytes32(0)) revert ZeroRoot();
        uint256 count = rd.stakeCount;
        if (leafCount != count) revert LeafCountMismatch(leafCount, count);
        uint256 funded = rd.funded;
        if (totalPayout > funded) revert PayoutExceedsFunding(totalPayout, funded);
        uint256 totalStaked = rd.totalStaked;
        if (totalBurn > totalStaked) revert BurnExceedsTotalStake(totalBurn, totalStaked);
        uint256 clipped = totalStaked * rd.clipBps / BPS;
        if (totalBurn > clipped + count) revert BurnExceedsClip(totalBurn, clipped + count);
        if (totalPayout > clipped) revert PayoutExceedsClip(totalPayout, clipped);

        // All below fit in uint96: totalPayout <= funded, totalBurn <= totalStaked.
        rd.totalBurn = uint96(totalBurn);
        rd.totalPayout = uint96(totalPayout);
        rd.claimable = (totalStaked - totalBurn + totalPayout).toUint96();
        rd.postedAt = uint40(block.timestamp);
        rd.root = root;
        rd.resultsHash = resultsHash;
        emit ResultPosted(
            roundId, root, totalPayout, totalBurn, leafCount, resultsHash, block.timestamp + challengePeriod
        );
    }

    /// @notice Rejects the result posted for `roundId` during its challenge period, so that the
    ///         oracle can post a corrected one (within the posting window).
    /// @dev Only DEFAULT_ADMIN_ROLE; allowed even while paused. Emits `ResultRejected`.
    /// @param roundId The round.
    /// @param reason Why (for the record).
    function rejectResult(uint256 roundId, string calldata reason) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Round storage rd = _rounds[roundId];
        uint256 postedAt = rd.postedAt;
        if (postedAt == 0 || block.timestamp >= postedAt + challengePeriod) revert NotInChallengePeriod(roundId);
        bytes32 root = rd.root;
        rd.totalBurn = 0;
        rd.totalPayout = 0;
        rd.claimable = 0;
        rd.postedAt = 0;
        rd.root = bytes32(0);
        rd.resultsHash = bytes32(0);
        emit ResultRejected(roundId, root, reason);
    }

    /// @notice Settles round `roundId`: if its result is Final, burns exactly `totalBurn` and
    ///         returns `funded - totalPayout` to the shared pool; if it is Expired, returns all its
    ///         funding to the pool. Anyone may call; claims settle lazily too.
    /// @dev Not while paused. Reverts `AlreadySettled` or `RoundNotFinal`. Emits `Settled`.
    /// @param roundId The round.
    function finalise(uint256 roundId) external nonReentrant whenNotPaused {
        Round storage rd = _rounds[roundId];
        if (rd.settled) revert AlreadySettled(roundId);
        RoundState st = _state(rd);
        if (st == RoundState.Final) {
            _settleFinal(roundId, rd);
        } else if (st == RoundState.Expired) {
            uint256 funded = rd.funded;
            rd.settled = true;
            _pool = (uint256(_pool) + funded).toUint96();
            emit Settled(roundId, 0, funded, true);
        } else {
            revert RoundNotFinal(roundId);
        }
    }

    function _settleFinal(uint256 roundId, Round storage rd) private {
        uint256 burned = rd.totalBurn;
        uint256 returned = uint256(rd.funded) - rd.totalPayout;
        rd.settled = true;
        if (returned != 0) _pool = (uint256(_pool) + returned).toUint96();
        emit Settled(roundId, burned, returned, false);
        if (burned != 0) _burnExactly(nmr, burned);
    }

    /// @dev ERC20Burnable's `burn(uint256)`; `_burnExactly` checks the supply afterwards.
    function _callBurn(uint256 amount) internal virtual override {
        IERC20Burnable(address(nmr)).burn(amount);
    }

    // ------------------------------------------------------------------ claims and exits

    /// @notice Claims the stake of `staker` on `modelId` in round `roundId`: sends
    ///         `stake - burn + payout` to `staker` (whoever submits, unless the staker chose to
    ///         claim only by itself: `setClaimsBySelfOnly`).
    /// @dev Not while paused; the round's result must be Final (settles it first if needed).
    ///      The leaf is built from the recorded stake, so a proof for another stake fails.
    ///      Marks the stake claimed by zeroing its amount (the commitment stays). Emits `Claimed`.
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
    ) external nonReentrant whenNotPaused {
        _claim(roundId, modelId, staker, payout, burn, proof);
    }

    /// @notice Several claims in one transaction (any rounds, stakers, models); all or nothing.
    /// @dev Same rules as `claim` for each entry. Loops only over `claims`.
    /// @param claims The claims.
    function claimMany(Claim[] calldata claims) external nonReentrant whenNotPaused {
        uint256 n = claims.length;
        for (uint256 i; i < n; ++i) {
            Claim calldata c = claims[i];
            _claim(c.roundId, c.modelId, c.staker, c.payout, c.burn, c.proof);
        }
    }

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
    ) external nonReentrant whenNotPaused returns (uint256 out) {
        if (amount == 0) revert ZeroAmount();
        out = _recordClaim(claimRoundId, modelId, msg.sender, payout, burn, proof);
        _recordStake(stakeRoundId, modelId, amount, commitment);
        if (amount > out) nmr.safeTransferFrom(msg.sender, address(this), amount - out);
        else if (out > amount) nmr.safeTransfer(msg.sender, out - amount);
    }

    function _claim(
        uint256 roundId,
        bytes32 modelId,
        address staker,
        uint256 payout,
        uint256 burn,
        bytes32[] calldata proof
    ) private {
        uint256 out = _recordClaim(roundId, modelId, staker, payout, burn, proof);
        if (out != 0) nmr.safeTransfer(staker, out);
    }

    /// @dev Every check and effect of a claim; returns what the staker is owed (the caller pays it).
    function _recordClaim(
        uint256 roundId,
        bytes32 modelId,
        address staker,
        uint256 payout,
        uint256 burn,
        bytes32[] calldata proof
    ) private returns (uint256 out) {
        if (msg.sender != staker && _claimsBySelfOnly[staker]) revert ClaimOnlyByStaker(staker);
        Round storage rd = _finalRound(roundId);
        // Effects first; a failed check below reverts them.
        uint256 amount = _takeStake(roundId, modelId, staker);
        if (burn > amount) revert BurnExceedsStake(burn, amount);
        // No leaf may move more than the round's clip of its stake (an honest tree never does:
        // payouts round down, burns round up), so a malicious tree cannot pay one staker the round.
        uint256 clipped = amount * rd.clipBps;
        if (payout > clipped / BPS || burn > (clipped + BPS - 1) / BPS) {
            revert LeafExceedsClip(payout, burn, amount);
        }
        bytes32 leaf = leafHash(roundId, modelId, staker, amount, payout, burn);
        if (!MerkleProof.verifyCalldata(proof, rd.root, leaf)) revert InvalidProof();
        out = amount - burn + payout;
        _addClaimed(roundId, rd, out);
        emit Claimed(roundId, modelId, staker, payout, burn, out, msg.sender);
    }

    /// @dev The round with a Final result, settled (lazily) if it was not yet.
    function _finalRound(uint256 roundId) private returns (Round storage rd) {
        rd = _rounds[roundId];
        uint256 postedAt = rd.postedAt;
        if (postedAt == 0 || block.timestamp < postedAt + challengePeriod) revert RoundNotFinal(roundId);
        if (!rd.settled) _settleFinal(roundId, rd);
    }

    /// @dev Zeroes a stake's amount and returns it; reverts if never staked or already taken.
    function _takeStake(uint256 roundId, bytes32 modelId, address staker) private returns (uint256 amount) {
        Stake storage st = _stakes[roundId][modelId][staker];
        amount = st.amount;
        if (amount == 0) {
            if (st.commitment == bytes32(0)) revert NoStake(roundId, modelId, staker);
            revert AlreadyClaimed(roundId, modelId, staker);
        }
        st.amount = 0;
    }

    /// @dev Adds `out` to the round's claimed total, never beyond what the round can pay.
    function _addClaimed(uint256 roundId, Round storage rd, uint256 out) private {
        uint256 newClaimed = uint256(rd.claimed) + out;
        uint256 claimable = rd.claimable;
        if (newClaimed > claimable) revert ClaimExceedsRound(roundId, newClaimed, claimable);
        rd.claimed = uint96(newClaimed);
    }

    /// @notice Returns the caller's full stake on `modelId` in round `roundId` when the round is
    ///         Expired (no final result by resolveTime + gracePeriod).
    /// @dev Works even while paused. Marks the stake withdrawn like a claim. Emits `EmergencyWithdrawal`.
    /// @param roundId The round.
    /// @param modelId The model.
    function emergencyWithdraw(uint256 roundId, bytes32 modelId) external nonReentrant {
        Round storage rd = _rounds[roundId];
        if (_state(rd) != RoundState.Expired) revert RoundNotExpired(roundId);
        uint256 amount = _takeStake(roundId, modelId, msg.sender);
        rd.claimed += uint96(amount);
        emit EmergencyWithdrawal(roundId, modelId, msg.sender, amount);
        nmr.safeTransfer(msg.sender, amount);
    }

    /// @notice Chooses whether only the caller may claim its stakes (`selfOnly`), or anyone, the
    ///         default (the funds always go to the staker either way).
    /// @dev For a staker that keeps records of its results, as an allocation strategy does: a claim
    ///      made around it would leave its record without that result (anyone may still claim for
    ///      it through its own settle function). Emits `ClaimsBySelfOnlySet`.
    /// @param selfOnly True: only the caller claims its stakes.
    function setClaimsBySelfOnly(bool selfOnly) external {
        _claimsBySelfOnly[msg.sender] = selfOnly;
        emit ClaimsBySelfOnlySet(msg.sender, selfOnly);
    }

    /// @notice Whether only `staker` may claim its stakes.
    /// @param staker The staker.
    /// @return True if claims for it by others revert `ClaimOnlyByStaker`.
    function claimsBySelfOnly(address staker) external view returns (bool) {
        return _claimsBySelfOnly[staker];
    }

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
    ///      Marks the stake taken like a claim. Emits `StakeExited`.
    /// @param roundId The round (Final).
    /// @param modelId The model.
    function exitUnclaimed(uint256 roundId, bytes32 modelId) external nonReentrant whenNotPaused {
        Round storage rd = _finalRound(roundId);
        uint256 opensAt = uint256(rd.postedAt) + challengePeriod + gracePeriod;
        if (block.timestamp < opensAt) revert ExitNotOpen(roundId, opensAt);
        uint256 amount = _takeStake(roundId, modelId, msg.sender);
        uint256 out = amount - exitBurn(amount, rd.clipBps, rd.totalBurn);
        _addClaimed(roundId, rd, out);
        emit StakeExited(roundId, modelId, msg.sender, amount, out);
        if (out != 0) nmr.safeTransfer(msg.sender, out);
    }

    /// @notice What `exitUnclaimed` keeps back from a stake of `stakeAmount`:
    ///         `min(ceil(stakeAmount * clipBps / 10_000), totalBurn)`.
    /// @param stakeAmount The stake in NMR wei.
    /// @param clipBps The round's clip.
    /// @param totalBurn The round's posted total burn.
    /// @return The amount not returned, in NMR wei.
    function exitBurn(uint256 stakeAmount, uint256 clipBps, uint256 totalBurn) public pure returns (uint256) {
        uint256 clipped = (stakeAmount * clipBps + BPS - 1) / BPS;
        return clipped < totalBurn ? clipped : totalBurn;
    }

    // ------------------------------------------------------------------ pause

    /// @notice Pauses staking, funding, postings, settlement and claims for at most
    ///         `maxPauseDuration` seconds (the pause then ends by itself).
    /// @dev Only PAUSER_ROLE. A new pause may start only `maxPauseDuration` after the previous one
    ///      ended (by expiry or `unpause`), so pauses can never block claims forever. Emergency
    ///      withdrawals and rejections work while paused. Emits `Paused`.
    function pause() external onlyRole(PAUSER_ROLE) whenNotPaused {
        uint256 lastEnd = _pauseEnd;
        if (lastEnd != 0 && block.timestamp < lastEnd + maxPauseDuration) {
            revert PauseCooldown(lastEnd + maxPauseDuration);
        }
        _pause();
        _pauseEnd = uint48(block.timestamp + maxPauseDuration);
    }

    /// @notice Ends the current pause early.
    /// @dev Only PAUSER_ROLE; reverts `ExpectedPause` if not paused. Emits `Unpaused`.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
        _pauseEnd = uint48(block.timestamp);
    }

    /// @notice True while a pause is in effect (started and neither ended nor expired).
    /// @dev Overrides OpenZeppelin's Pausable: its flag stays set after expiry, this view does not.
    /// @return Whether state changes other than exits, rejections and admin housekeeping are paused.
    function paused() public view override returns (bool) {
        return super.paused() && block.timestamp < _pauseEnd;
    }

    /// @notice When the current or last pause ends or ended (0 if never paused).
    /// @return Unix time in seconds.
    function pausedUntil() external view returns (uint256) {
        return _pauseEnd;
    }

    // ------------------------------------------------------------------ views

    /// @notice The stored round `roundId` (all zero if never opened).
    /// @param roundId The round.
    /// @return The round's parameters, totals, result and settlement flag (see `Round`).
    function getRound(uint256 roundId) external view returns (Round memory) {
        return _rounds[roundId];
    }

    /// @notice The state of round `roundId` now.
    /// @param roundId The round.
    /// @return The state derived from `block.timestamp` and storage (see `RoundState`).
    function roundState(uint256 roundId) external view returns (RoundState) {
        return _state(_rounds[roundId]);
    }

    /// @notice The stake of `staker` on `modelId` in `roundId`: amount (0 once claimed or
    ///         withdrawn) and commitment (0 if never staked).
    /// @param roundId The round.
    /// @param modelId The model.
    /// @param staker The staker.
    /// @return amount The stake in NMR wei.
    /// @return commitment The predictions commitment.
    function getStake(uint256 roundId, bytes32 modelId, address staker)
        external
        view
        returns (uint256 amount, bytes32 commitment)
    {
        Stake storage st = _stakes[roundId][modelId][staker];
        return (st.amount, st.commitment);
    }

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
    ) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(roundId, modelId, staker, stakeAmount, payout, burn))));
    }

    /// @notice The unallocated shared reward pool (NMR wei).
    /// @return The pool.
    function pool() external view returns (uint256) {
        return _pool;
    }

    /// @notice The highest round id opened so far (0 if none).
    /// @return The round id.
    function lastRoundId() external view returns (uint256) {
        return _lastRoundId;
    }

    function _state(Round storage rd) private view returns (RoundState) {
        uint256 closeTime = rd.closeTime;
        if (closeTime == 0) return RoundState.None;
        if (block.timestamp < rd.openTime) return RoundState.Scheduled;
        if (block.timestamp < closeTime) return RoundState.Open;
        uint256 postedAt = rd.postedAt;
        if (postedAt != 0) {
            return block.timestamp >= postedAt + challengePeriod ? RoundState.Final : RoundState.Posted;
        }
        if (block.timestamp >= uint256(rd.resolveTime) + gracePeriod) return RoundState.Expired;
        return RoundState.Closed;
    }
}
