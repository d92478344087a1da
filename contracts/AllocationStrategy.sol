// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ModelIds} from "./ModelIds.sol";
import {IAllocationStrategy} from "./interfaces/IAllocationStrategy.sol";
import {ITournamentStakes} from "./interfaces/ITournamentStakes.sol";

/// @title Allocation strategy: a staker's own contract that stakes every round for it
/// @notice Holds its owner's idle NMR. The owner deposits, withdraws (to itself only), sets per
///         model a per-round stake and a mode, and chooses or revokes an operator. The owner or the
///         operator stakes enabled models into the tournament (at most once per model and round,
///         always with the configured amount) and settles resolved stakes back into the strategy;
///         anyone may settle, since a claim always pays the staker (this contract). The strategy
///         is the staker on the tournament; its uploads are signed by its owner.
/// @dev Deployed once as the implementation and used through `StrategyFactory`'s clones; the
///      tournament and token are immutables of the implementation, shared by every clone. Only the
///      tournament and the token are ever called, and NMR leaves only to the tournament (as a
///      stake) or to the owner (`withdraw`). The operator cannot name an amount, a receiver or a
///      token. Rounds must fit uint64.
contract AllocationStrategy is IAllocationStrategy, Initializable {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using SafeCast for int256;

    /// @notice The tournament this strategy stakes in.
    ITournamentStakes public immutable tournament;
    /// @notice The staked token.
    IERC20 public immutable nmr;

    /// @inheritdoc IAllocationStrategy
    address public owner;
    /// @inheritdoc IAllocationStrategy
    address public operator;

    mapping(bytes32 modelId => ModelConfig) private _models;

    /// @notice Deploys the implementation the factory clones (its own initializer is disabled).
    /// @param tournament_ The tournament every clone stakes in.
    constructor(ITournamentStakes tournament_) {
        if (address(tournament_) == address(0)) revert StrategyZeroAddress();
        tournament = tournament_;
        nmr = tournament_.nmr();
        _disableInitializers();
    }

    /// @notice Sets up a clone: its owner and first operator; approves the tournament once and
    ///         makes itself the only one who may claim its stakes there.
    /// @dev Called by the factory in the transaction that creates the clone. Emits `OperatorSet`.
    /// @param owner_ The owner (not zero).
    /// @param operator_ The operator (zero = none yet).
    function initialize(address owner_, address operator_) external initializer {
        if (owner_ == address(0)) revert StrategyZeroAddress();
        owner = owner_;
        operator = operator_;
        emit OperatorSet(address(0), operator_);
        nmr.forceApprove(address(tournament), type(uint256).max);
        // Only this contract claims its stakes, so every result reaches its model's record (anyone
        // may still claim for it, through `settle`).
        tournament.setClaimsBySelfOnly(true);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    modifier onlyOwnerOrOperator() {
        if (msg.sender != operator && msg.sender != owner) revert NotOwnerOrOperator(msg.sender);
        _;
    }

    // ------------------------------------------------------------------ owner

    /// @notice Moves `amount` of the owner's NMR into the strategy (the owner approves first).
    /// @dev Only the owner. NMR sent to the strategy by a plain transfer is idle NMR too. Emits `Deposited`.
    /// @param amount NMR wei.
    function deposit(uint256 amount) external onlyOwner {
        emit Deposited(msg.sender, amount);
        nmr.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Sends `amount` of idle NMR to the owner, and only to the owner.
    /// @dev Only the owner. Staked NMR is not idle. Emits `Withdrawn`.
    /// @param amount NMR wei, at most the idle balance.
    function withdraw(uint256 amount) external onlyOwner {
        uint256 idle = nmr.balanceOf(address(this));
        if (amount > idle) revert InsufficientIdle(amount, idle);
        emit Withdrawn(msg.sender, amount);
        nmr.safeTransfer(msg.sender, amount);
    }

    /// @notice Sets how `modelId` is staked each round: `perRound` NMR wei in `mode`.
    /// @dev Only the owner. Changing the mode resets the model's net result, so Compound adds
    ///      only results earned since the model entered Compound. An id that is not a model name
    ///      (the tournament would refuse its every stake) reverts `InvalidModelId`. Emits `ModelSet`.
    /// @param modelId The model (bytes32 name).
    /// @param perRound The per-round stake (> 0 unless Off).
    /// @param mode Off, Fixed or Compound.
    function setModel(bytes32 modelId, uint256 perRound, Mode mode) external onlyOwner {
        if (!ModelIds.isName(modelId)) revert InvalidModelId(modelId);
        if (mode != Mode.Off && perRound == 0) revert ZeroPerRound(modelId);
        if (perRound > type(uint96).max) revert AmountTooLarge(perRound);
        ModelConfig storage m = _models[modelId];
        if (m.mode != mode) {
            m.mode = mode;
            m.net = 0;
        }
        m.perRound = uint96(perRound);
        emit ModelSet(modelId, perRound, mode);
    }

    /// @notice Replaces the operator; zero revokes it.
    /// @dev Only the owner; takes effect at once. Emits `OperatorSet`.
    /// @param newOperator The new operator.
    function setOperator(address newOperator) external onlyOwner {
        emit OperatorSet(operator, newOperator);
        operator = newOperator;
    }

    /// @notice Leaves a Final round without a proof after its claim window (the tournament's
    ///         `exitUnclaimed`): for a stake the posted tree left out.
    /// @dev Only the owner: an exit never returns more than the honest claim. Records the result in
    ///      the model's net. Emits `StrategyExited`.
    /// @param roundId The round.
    /// @param modelId The model.
    function exitUnclaimed(uint256 roundId, bytes32 modelId) external onlyOwner {
        (uint256 amount,) = tournament.getStake(roundId, modelId, address(this));
        if (amount == 0) revert NothingToSettle(roundId, modelId);
        uint256 before = nmr.balanceOf(address(this));
        tournament.exitUnclaimed(roundId, modelId);
        uint256 out = nmr.balanceOf(address(this)) - before;
        ModelConfig storage m = _models[modelId];
        int256 net = int256(m.net) + int256(out) - int256(amount);
        m.net = net.toInt88();
        emit StrategyExited(roundId, modelId, amount, out, net);
    }

    // ------------------------------------------------------------------ owner or operator

    /// @inheritdoc IAllocationStrategy
    /// @dev Owner or operator. The amount is the model's `perRound`, plus its net result in
    ///      Compound mode; once per model and round, rounds increasing. Emits `StrategyStaked`.
    function stake(uint256 roundId, bytes32 modelId, bytes32 commitment)
        external
        onlyOwnerOrOperator
        returns (uint256 amount)
    {
        amount = _stake(roundId, modelId, commitment);
    }

    /// @inheritdoc IAllocationStrategy
    /// @dev Owner or operator; only for a model staked in `roundId` while the round is open (the
    ///      tournament checks). No NMR moves: the stake's amount stays. Emits `StrategyRecommitted`.
    function recommit(uint256 roundId, bytes32 modelId, bytes32 commitment) external onlyOwnerOrOperator {
        if (_models[modelId].lastRound != roundId) revert NotStakedInRound(roundId, modelId);
        emit StrategyRecommitted(roundId, modelId, commitment);
        tournament.stake(roundId, modelId, 0, commitment);
    }

    /// @inheritdoc IAllocationStrategy
    /// @dev Owner or operator. One call of the tournament's `restake`: the claim (its proof checked
    ///      there) adds `payout - burn` to the model's net, then the model stakes its amount (with
    ///      that result already in, for Compound) in `stakeRoundId`; only the difference moves.
    ///      Emits `StrategyRestaked`.
    function settleAndStake(
        uint256 settleRoundId,
        bytes32 modelId,
        uint256 payout,
        uint256 burn,
        bytes32[] calldata proof,
        uint256 stakeRoundId,
        bytes32 commitment
    ) external onlyOwnerOrOperator returns (uint256 amount) {
        ModelConfig storage m = _models[modelId];
        ModelConfig memory cfg = m;
        if (cfg.mode == Mode.Off) revert ModelNotEnabled(modelId);
        if (stakeRoundId <= cfg.lastRound) revert RoundNotAfterLast(stakeRoundId, cfg.lastRound);
        int256 net = int256(cfg.net) + int256(payout) - int256(burn);
        cfg.net = net.toInt88();
        amount = stakeAmount(cfg);
        if (amount == 0) revert NothingToStake(modelId);
        m.net = cfg.net;
        m.lastRound = stakeRoundId.toUint64();
        emit StrategyRestaked(settleRoundId, stakeRoundId, modelId, payout, burn, net, amount);
        tournament.restake(settleRoundId, modelId, payout, burn, proof, stakeRoundId, amount, commitment);
    }

    // ------------------------------------------------------------------ anyone

    /// @inheritdoc IAllocationStrategy
    /// @dev Anyone: the tournament pays a claim only to the staker, this contract. The proof is
    ///      checked by the tournament (a stake already claimed reverts there: `NoStake`).
    ///      Adds `payout - burn` to the model's net. Emits `StrategySettled`.
    function settle(uint256 roundId, bytes32 modelId, uint256 payout, uint256 burn, bytes32[] calldata proof)
        external
    {
        _settle(roundId, modelId, payout, burn, proof);
    }

    /// @notice Takes back the full stake of an Expired round (no final result in time).
    /// @dev Anyone: the NMR comes back to this contract. The model's net is unchanged. Emits
    ///      `StrategyExpiredWithdrawn`.
    /// @param roundId The round.
    /// @param modelId The model.
    function withdrawExpired(uint256 roundId, bytes32 modelId) external {
        (uint256 amount,) = tournament.getStake(roundId, modelId, address(this));
        if (amount == 0) revert NothingToSettle(roundId, modelId);
        emit StrategyExpiredWithdrawn(roundId, modelId, amount);
        tournament.emergencyWithdraw(roundId, modelId);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IAllocationStrategy
    function model(bytes32 modelId) external view returns (ModelConfig memory) {
        return _models[modelId];
    }

    /// @inheritdoc IAllocationStrategy
    function nextStake(bytes32 modelId) external view returns (uint256) {
        return stakeAmount(_models[modelId]);
    }

    /// @notice The amount a model with settings `m` stakes: 0 if Off, `perRound` if Fixed,
    ///         `perRound + net` (never below 0) if Compound.
    /// @param m The model's settings.
    /// @return The stake in NMR wei.
    function stakeAmount(ModelConfig memory m) public pure returns (uint256) {
        if (m.mode == Mode.Off) return 0;
        if (m.mode == Mode.Fixed) return m.perRound;
        int256 amount = int256(uint256(m.perRound)) + int256(m.net);
        return amount > 0 ? uint256(amount) : 0;
    }

    // ------------------------------------------------------------------ internal

    function _stake(uint256 roundId, bytes32 modelId, bytes32 commitment) private returns (uint256 amount) {
        ModelConfig storage m = _models[modelId];
        ModelConfig memory cfg = m;
        if (cfg.mode == Mode.Off) revert ModelNotEnabled(modelId);
        if (roundId <= cfg.lastRound) revert RoundNotAfterLast(roundId, cfg.lastRound);
        amount = stakeAmount(cfg);
        if (amount == 0) revert NothingToStake(modelId);
        uint256 idle = nmr.balanceOf(address(this));
        if (amount > idle) revert InsufficientIdle(amount, idle);
        m.lastRound = roundId.toUint64();
        emit StrategyStaked(roundId, modelId, amount, commitment);
        tournament.stake(roundId, modelId, amount, commitment);
    }

    function _settle(uint256 roundId, bytes32 modelId, uint256 payout, uint256 burn, bytes32[] calldata proof)
        private
    {
        ModelConfig storage m = _models[modelId];
        int256 net = int256(m.net) + int256(payout) - int256(burn);
        m.net = net.toInt88();
        emit StrategySettled(roundId, modelId, payout, burn, net);
        tournament.claim(roundId, modelId, address(this), payout, burn, proof);
    }
}
