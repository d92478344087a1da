// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {BoundedPause} from "./BoundedPause.sol";
import {ModelIds} from "./ModelIds.sol";
import {PackedReentrancyGuard} from "./PackedReentrancyGuard.sol";
import {SupplyCheckedBurn} from "./SupplyCheckedBurn.sol";
import {IBoundedPause} from "./interfaces/IBoundedPause.sol";
import {ITournament} from "./interfaces/ITournament.sol";
import {ITournamentStakes} from "./interfaces/ITournamentStakes.sol";

/// @title The burn of OpenZeppelin's ERC20Burnable
/// @notice The one extension of ERC-20 the tournament needs beyond EIP-2612: burning its own tokens.
interface IERC20Burnable {
    /// @notice Destroys `value` tokens of the caller, lowering `totalSupply`.
    /// @param value Token wei to destroy.
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
/// @dev Types, events, errors and the documentation of every external function are in
///      `ITournament` (with `ITournamentStakes` and `IBoundedPause`). Rounds, stakes and claims
///      share this one contract's storage. Added by inheritance: the roles
///      (AccessControlDefaultAdminRules), the pause that ends by itself (`BoundedPause`), the
///      re-entrancy guard that shares the pause's slot (`PackedReentrancyGuard`) and the burn
///      checked against the supply (`SupplyCheckedBurn`).
///      Token assumptions: `nmr` is a standard ERC-20 (no fee on transfer, no rebasing, no
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
contract Tournament is
    ITournament,
    AccessControlDefaultAdminRules,
    BoundedPause,
    PackedReentrancyGuard,
    SupplyCheckedBurn
{
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    // ------------------------------------------------------------------ constants and immutables

    /// @notice Opens rounds and allocates pool funds to rounds.
    bytes32 public constant MANAGER_ROLE = keccak256("MANAGER_ROLE");
    /// @notice Posts round results.
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");
    /// @notice Pauses and unpauses.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Rejects a posted result in its challenge period, besides the guardian: a dispute
    ///         desk (`DisputeDesk`), which does so when anyone disputes the result with a bond.
    bytes32 public constant REJECTER_ROLE = keccak256("REJECTER_ROLE");
    /// @notice 100 % in basis points.
    uint256 public constant BPS = 10_000;

    /// @inheritdoc ITournamentStakes
    IERC20 public immutable nmr;
    /// @inheritdoc ITournament
    uint64 public immutable challengePeriod;
    /// @inheritdoc ITournament
    uint64 public immutable gracePeriod;

    // ------------------------------------------------------------------ storage
    // One slot: Pausable's flag, BoundedPause's end of the pause, PackedReentrancyGuard's lock
    // (hence the order of the base contracts) and `_pool`. Guarded calls read it once.

    /// @dev Unallocated shared reward pool (NMR wei).
    uint96 private _pool;
    /// @dev The highest round id opened so far.
    uint256 private _lastRoundId;

    mapping(uint256 roundId => Round) private _rounds;
    mapping(uint256 roundId => mapping(bytes32 modelId => mapping(address staker => Stake))) private _stakes;
    /// @dev Stakers whose stakes only they may claim (allocation strategies: their records).
    mapping(address staker => bool) private _claimsBySelfOnly;

    // ------------------------------------------------------------------ constructor

    /// @notice A tournament staking `nmr_`, guarded by `admin`, with these periods.
    /// @param nmr_ The staked token: an ERC-20 that burns as `_callBurn` expects (permit optional).
    /// @param admin The guardian: DEFAULT_ADMIN_ROLE (grants the other roles).
    /// @param adminDelay Delay of the two-step hand-over of DEFAULT_ADMIN_ROLE.
    /// @param challengePeriod_ Seconds in which a posted result may be rejected.
    /// @param gracePeriod_ Seconds after resolveTime until a round without final result expires.
    /// @param maxPauseDuration_ Longest pause, and the cool-down between pauses (BoundedPause);
    ///        at most gracePeriod_ - challengePeriod_.
    /// @dev Reverts `InvalidConfig` unless 0 < challengePeriod_ < gracePeriod_ and
    ///      0 < maxPauseDuration_ <= min(MAX_PAUSE_LIMIT, gracePeriod_ - challengePeriod_);
    ///      `ZeroAddress` for a zero token.
    constructor(
        address nmr_,
        address admin,
        uint48 adminDelay,
        uint64 challengePeriod_,
        uint64 gracePeriod_,
        uint64 maxPauseDuration_
    ) AccessControlDefaultAdminRules(adminDelay, admin) BoundedPause(maxPauseDuration_) {
        if (nmr_ == address(0)) revert ZeroAddress();
        if (
            challengePeriod_ == 0 || gracePeriod_ <= challengePeriod_
            // A pause may never cover a round's whole posting window (resolveTime to
            // resolveTime + grace - challenge): else the pauser could force every round to expire.
                || maxPauseDuration_ > gracePeriod_ - challengePeriod_
        ) {
            revert InvalidConfig();
        }
        nmr = IERC20(nmr_);
        challengePeriod = challengePeriod_;
        gracePeriod = gracePeriod_;
    }

    // ------------------------------------------------------------------ rounds

    /// @inheritdoc ITournament
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

    /// @inheritdoc ITournamentStakes
    function stake(uint256 roundId, bytes32 modelId, uint256 amount, bytes32 commitment)
        external
        nonReentrant
        whenNotPaused
    {
        _stake(roundId, modelId, amount, commitment);
    }

    /// @inheritdoc ITournament
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
        // does, grants no allowance): the allowance is what counts. Hence the empty blocks.
        // solhint-disable-next-line no-empty-blocks
        try IERC20Permit(address(nmr)).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        if (nmr.allowance(msg.sender, address(this)) < amount) revert PermitFailed();
        _stake(roundId, modelId, amount, commitment);
    }

    function _stake(uint256 roundId, bytes32 modelId, uint256 amount, bytes32 commitment) private {
        _recordStake(roundId, modelId, amount, commitment);
        if (amount != 0) nmr.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @dev Every check and effect of a stake of the caller's; the caller moves the NMR. The model
    ///      id is checked by `_checkModelId` before any effect. The stake is one slot (amount and
    ///      the commitment's first 20 bytes), read once and written at most once.
    function _recordStake(uint256 roundId, bytes32 modelId, uint256 amount, bytes32 commitment) private {
        bytes20 prefix = bytes20(commitment);
        if (prefix == bytes20(0)) revert ZeroCommitment();
        _checkModelId(modelId);
        Round storage rd = _rounds[roundId];
        // The fields of each round slot are read together, before any branch, so that each slot
        // is read once; slot 1 is written once.
        uint256 minStake = rd.minStake;
        {
            uint256 openTime = rd.openTime;
            uint256 closeTime = rd.closeTime;
            if (closeTime == 0) revert UnknownRound(roundId);
            if (block.timestamp < openTime || block.timestamp >= closeTime) revert RoundNotOpen(roundId);
        }

        Stake storage st = _stakes[roundId][modelId][msg.sender];
        uint256 current = st.amount;
        bytes20 oldPrefix = st.commitmentPrefix;
        uint256 newTotal = current;
        if (amount == 0) {
            if (current == 0) revert NoStake(roundId, modelId, msg.sender);
            if (prefix == oldPrefix) return; // the same commitment: nothing changes
        } else {
            newTotal = current + amount;
            if (newTotal < minStake) revert StakeBelowMinimum(newTotal, minStake);
            {
                uint256 cap = rd.stakeCap;
                uint256 totalStaked = rd.totalStaked;
                uint256 stakeCount = rd.stakeCount;
                if (newTotal > cap) revert StakeAboveCap(newTotal, cap);
                if (current == 0) ++stakeCount;
                (rd.totalStaked, rd.stakeCount) = ((totalStaked + amount).toUint96(), stakeCount.toUint32());
            }
        }
        // One SSTORE for both fields; newTotal <= stakeCap < 2**96, so the cast is exact.
        (st.amount, st.commitmentPrefix) = (uint96(newTotal), prefix);
        if (amount != 0) emit Staked(roundId, modelId, msg.sender, amount, newTotal, commitment);
        if (current != 0 && prefix != oldPrefix) {
            emit CommitmentChanged(roundId, modelId, msg.sender, oldPrefix, commitment);
        }
    }

    /// @dev Refuses a model id that is not a model name (`ModelIds.isName`): the zero id reverts
    ///      `ZeroModelId`, any other `InvalidModelId`. Virtual only so that a test double can stand
    ///      for a deployment made before ids were checked (contracts/test/AnyModelIdTournament.sol),
    ///      against which the off-chain parts prove they tolerate any id.
    function _checkModelId(bytes32 modelId) internal pure virtual {
        if (!ModelIds.isName(modelId)) {
            if (modelId == bytes32(0)) revert ZeroModelId();
            revert InvalidModelId(modelId);
        }
    }

    // ------------------------------------------------------------------ funding

    /// @inheritdoc ITournament
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

    /// @inheritdoc ITournament
    function fundPool(uint256 amount) external nonReentrant whenNotPaused {
        if (amount == 0) revert ZeroAmount();
        uint96 newPool = (uint256(_pool) + amount).toUint96();
        _pool = newPool;
        emit PoolFunded(msg.sender, amount, newPool);
        nmr.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc ITournament
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

    /// @inheritdoc ITournament
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

    /// @inheritdoc ITournament
    function postResult(
        uint256 roundId,
        bytes32 root,
        uint256 totalPayout,
        uint256 totalBurn,
        uint256 leafCount,
        bytes32 resultsHash
    ) external onlyRole(ORACLE_ROLE) {
        _postResult(roundId, root, totalPayout, totalBurn, leafCount, resultsHash);
    }

    /// @dev Every check and effect of a posting: `postResult` (ORACLE_ROLE) and any other way of
    ///      posting a contract built on this one adds (a committee's signatures) share it.
    function _postResult(
        uint256 roundId,
        bytes32 root,
        uint256 totalPayout,
        uint256 totalBurn,
        uint256 leafCount,
        bytes32 resultsHash
    ) internal whenNotPaused {
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

    /// @inheritdoc ITournament
    function rejectResult(uint256 roundId, string calldata reason) external {
        if (!hasRole(REJECTER_ROLE, msg.sender)) _checkRole(DEFAULT_ADMIN_ROLE);
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

    /// @inheritdoc ITournament
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

    /// @inheritdoc ITournamentStakes
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

    /// @inheritdoc ITournament
    function claimMany(Claim[] calldata claims) external nonReentrant whenNotPaused {
        uint256 n = claims.length;
        for (uint256 i; i < n; ++i) {
            Claim calldata c = claims[i];
            _claim(c.roundId, c.modelId, c.staker, c.payout, c.burn, c.proof);
        }
    }

    /// @inheritdoc ITournamentStakes
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
        // Round slot 4 (clipBps, claimed, claimable) read together, once.
        uint256 clipBps = rd.clipBps;
        uint256 claimed = rd.claimed;
        uint256 claimable = rd.claimable;
        // Effects first; a failed check below reverts them.
        uint256 amount = _takeStake(roundId, modelId, staker);
        if (burn > amount) revert BurnExceedsStake(burn, amount);
        {
            // No leaf may move more than the round's clip of its stake (an honest tree never does:
            // payouts round down, burns round up), so a malicious tree cannot pay one staker the round.
            uint256 clipped = amount * clipBps;
            if (payout > clipped / BPS || burn > (clipped + BPS - 1) / BPS) {
                revert LeafExceedsClip(payout, burn, amount);
            }
        }
        bytes32 leaf = leafHash(roundId, modelId, staker, amount, payout, burn);
        if (!MerkleProof.verifyCalldata(proof, rd.root, leaf)) revert InvalidProof();
        out = amount - burn + payout;
        rd.claimed = _newClaimed(roundId, claimed, out, claimable);
        emit Claimed(roundId, modelId, staker, payout, burn, out, msg.sender);
    }

    /// @dev The round with a Final result, settled (lazily) if it was not yet.
    function _finalRound(uint256 roundId) private returns (Round storage rd) {
        rd = _rounds[roundId];
        uint256 postedAt = rd.postedAt;
        bool settled = rd.settled;
        if (postedAt == 0 || block.timestamp < postedAt + challengePeriod) revert RoundNotFinal(roundId);
        if (!settled) _settleFinal(roundId, rd);
    }

    /// @dev Clears a stake's slot and returns its amount; reverts `NoStake` if it holds none (never
    ///      staked, or already taken). Clearing the whole slot, commitment included, earns the
    ///      refund of a cleared slot (4,800 gas) that keeping any of it would forgo; a taken stake
    ///      can never be staked again (its round is Final or Expired, never open).
    function _takeStake(uint256 roundId, bytes32 modelId, address staker) private returns (uint256 amount) {
        Stake storage st = _stakes[roundId][modelId][staker];
        amount = st.amount;
        if (amount == 0) revert NoStake(roundId, modelId, staker);
        (st.amount, st.commitmentPrefix) = (0, bytes20(0));
    }

    /// @dev Adds `out` to the round's claimed total, never beyond what the round can pay.
    function _addClaimed(uint256 roundId, Round storage rd, uint256 out) private {
        rd.claimed = _newClaimed(roundId, rd.claimed, out, rd.claimable);
    }

    /// @dev `claimed + out`; reverts `ClaimExceedsRound` beyond `claimable` (< 2**96, so the cast is exact).
    function _newClaimed(uint256 roundId, uint256 claimed, uint256 out, uint256 claimable)
        private
        pure
        returns (uint96)
    {
        uint256 newClaimed = claimed + out;
        if (newClaimed > claimable) revert ClaimExceedsRound(roundId, newClaimed, claimable);
        return uint96(newClaimed);
    }

    /// @inheritdoc ITournamentStakes
    function emergencyWithdraw(uint256 roundId, bytes32 modelId) external nonReentrant {
        Round storage rd = _rounds[roundId];
        if (_state(rd) != RoundState.Expired) revert RoundNotExpired(roundId);
        uint256 amount = _takeStake(roundId, modelId, msg.sender);
        rd.claimed += uint96(amount);
        emit EmergencyWithdrawal(roundId, modelId, msg.sender, amount);
        nmr.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc ITournamentStakes
    function setClaimsBySelfOnly(bool selfOnly) external {
        _claimsBySelfOnly[msg.sender] = selfOnly;
        emit ClaimsBySelfOnlySet(msg.sender, selfOnly);
    }

    /// @inheritdoc ITournament
    function claimsBySelfOnly(address staker) external view returns (bool) {
        return _claimsBySelfOnly[staker];
    }

    /// @inheritdoc ITournamentStakes
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

    /// @inheritdoc ITournament
    function exitBurn(uint256 stakeAmount, uint256 clipBps, uint256 totalBurn) public pure returns (uint256) {
        uint256 clipped = (stakeAmount * clipBps + BPS - 1) / BPS;
        return clipped < totalBurn ? clipped : totalBurn;
    }

    // ------------------------------------------------------------------ pause

    /// @inheritdoc IBoundedPause
    /// @dev Only PAUSER_ROLE. Pauses staking, funding, postings, settlement and claims; emergency
    ///      withdrawals and rejections work while paused. The bound and the cool-down are
    ///      BoundedPause's. Emits `Paused`.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc IBoundedPause
    /// @dev Only PAUSER_ROLE; reverts `ExpectedPause` if not paused. Emits `Unpaused`.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ITournament
    function getRound(uint256 roundId) external view returns (Round memory) {
        return _rounds[roundId];
    }

    /// @inheritdoc ITournament
    function roundState(uint256 roundId) external view returns (RoundState) {
        return _state(_rounds[roundId]);
    }

    /// @inheritdoc ITournamentStakes
    function getStake(uint256 roundId, bytes32 modelId, address staker)
        external
        view
        returns (uint256 amount, bytes20 commitmentPrefix)
    {
        Stake storage st = _stakes[roundId][modelId][staker];
        return (st.amount, st.commitmentPrefix);
    }

    /// @inheritdoc ITournament
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

    /// @inheritdoc ITournament
    function pool() external view returns (uint256) {
        return _pool;
    }

    /// @inheritdoc ITournament
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
