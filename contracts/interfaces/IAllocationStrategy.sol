// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Types, events and errors of allocation strategies
/// @notice An allocation strategy is a staker-owned contract (a clone made by `StrategyFactory`)
///         that holds its owner's idle NMR and stakes it, per model and per round, as its owner set:
///         Fixed (the set amount), Compound (the set amount plus the model's net results since it
///         entered Compound mode) or Off. An operator chosen by the owner may stake enabled models
///         into open rounds and settle resolved stakes back into the strategy, and nothing else.
interface IAllocationStrategy {
    /// @notice How a model is staked each round.
    enum Mode {
        Off,
        Fixed,
        Compound
    }

    /// @notice A model's settings and running record (one storage slot).
    /// @param perRound The per-round stake set by the owner (NMR wei).
    /// @param mode Off, Fixed or Compound.
    /// @param net Net result (payouts - burns) of the model's settled stakes since its mode was set.
    /// @param lastRound The last round the strategy staked the model in (0 = none).
    // One slot (12 + 1 + 11 + 8 bytes): solhint's estimate does not size the enum and int88.
    // solhint-disable-next-line gas-struct-packing
    struct ModelConfig {
        uint96 perRound;
        Mode mode;
        int88 net;
        uint64 lastRound;
    }

    /// @notice The owner moved `amount` of its NMR into the strategy.
    /// @param owner The owner.
    /// @param amount NMR wei.
    event Deposited(address indexed owner, uint256 amount);
    /// @notice `amount` of idle NMR went back to the owner.
    /// @param owner The owner.
    /// @param amount NMR wei.
    event Withdrawn(address indexed owner, uint256 amount);
    /// @notice The owner set `modelId` to stake `perRound` per round in `mode` (net reset when the mode changed).
    /// @param modelId The model.
    /// @param perRound NMR wei per round.
    /// @param mode Off, Fixed or Compound.
    event ModelSet(bytes32 indexed modelId, uint256 perRound, Mode mode);
    /// @notice The owner replaced the operator (zero = none).
    /// @param previousOperator The operator before.
    /// @param newOperator The operator now.
    event OperatorSet(address indexed previousOperator, address indexed newOperator);
    /// @notice The strategy staked `amount` on `modelId` in `roundId`, tied to `commitment`.
    /// @param roundId The round.
    /// @param modelId The model.
    /// @param amount NMR wei.
    /// @param commitment keccak-256 of the predictions file.
    event StrategyStaked(uint256 indexed roundId, bytes32 indexed modelId, uint256 amount, bytes32 commitment);
    /// @notice The stake on `modelId` in `roundId` now commits to `commitment` (a newer upload).
    /// @param roundId The round.
    /// @param modelId The model.
    /// @param commitment The new commitment.
    event StrategyRecommitted(uint256 indexed roundId, bytes32 indexed modelId, bytes32 commitment);
    /// @notice A resolved stake came back (`stake - burn + payout`, the tournament's `Claimed`
    ///         has the stake); the model's net is now `net`.
    /// @param roundId The round.
    /// @param modelId The model.
    /// @param payout The leaf's payout.
    /// @param burn The leaf's burn.
    /// @param net The model's net result afterwards.
    event StrategySettled(uint256 indexed roundId, bytes32 indexed modelId, uint256 payout, uint256 burn, int256 net);
    /// @notice `settleAndStake`: the stake of `settleRoundId` came back (payout, burn; the model's net
    ///         is now `net`) and `amount` is staked in `stakeRoundId` (the tournament's `Staked` has
    ///         the commitment).
    /// @param settleRoundId The round settled.
    /// @param stakeRoundId The round staked.
    /// @param modelId The model.
    /// @param payout The leaf's payout.
    /// @param burn The leaf's burn.
    /// @param net The model's net result afterwards.
    /// @param amount NMR wei staked in `stakeRoundId`.
    event StrategyRestaked(
        uint256 indexed settleRoundId,
        uint256 indexed stakeRoundId,
        bytes32 indexed modelId,
        uint256 payout,
        uint256 burn,
        int256 net,
        uint256 amount
    );
    /// @notice A stake left a Final round by the tournament's exit: `amountOut` of `stake` came back.
    /// @param roundId The round.
    /// @param modelId The model.
    /// @param stake The stake, NMR wei.
    /// @param amountOut NMR wei returned.
    /// @param net The model's net result afterwards.
    event StrategyExited(uint256 indexed roundId, bytes32 indexed modelId, uint256 stake, uint256 amountOut, int256 net);
    /// @notice A stake of an Expired round came back in full.
    /// @param roundId The round.
    /// @param modelId The model.
    /// @param amount NMR wei returned.
    event StrategyExpiredWithdrawn(uint256 indexed roundId, bytes32 indexed modelId, uint256 amount);

    /// @notice An address argument was the zero address.
    error StrategyZeroAddress();
    /// @notice Only the owner may do this.
    error NotOwner(address caller);
    /// @notice Only the owner or the operator may do this.
    error NotOwnerOrOperator(address caller);
    /// @notice The model is Off.
    error ModelNotEnabled(bytes32 modelId);
    /// @notice A model that is Fixed or Compound needs a per-round stake above zero.
    error ZeroPerRound(bytes32 modelId);
    /// @notice The model was already staked in `lastRound`, which is not before `roundId`.
    error RoundNotAfterLast(uint256 roundId, uint256 lastRound);
    /// @notice Compound losses brought the model's stake to zero.
    error NothingToStake(bytes32 modelId);
    /// @notice The stake needs `needed` NMR but only `idle` is idle.
    error InsufficientIdle(uint256 needed, uint256 idle);
    /// @notice The strategy holds no open stake on `modelId` in `roundId`.
    error NothingToSettle(uint256 roundId, bytes32 modelId);
    /// @notice The strategy's last stake on `modelId` is not in `roundId`.
    error NotStakedInRound(uint256 roundId, bytes32 modelId);
    /// @notice `amount` does not fit the stored fields.
    error AmountTooLarge(uint256 amount);
    /// @notice The model id is not a model name (zero-padded `^[a-z0-9_]{1,32}$`, as the tournament
    ///         requires of every stake; the same error as the tournament's).
    /// @param modelId The refused id.
    error InvalidModelId(bytes32 modelId);

    /// @notice The strategy's owner (fixed at creation).
    function owner() external view returns (address);

    /// @notice The operator (zero = none).
    function operator() external view returns (address);

    /// @notice A model's settings and record.
    /// @param modelId The model.
    /// @return The model's settings and running record.
    function model(bytes32 modelId) external view returns (ModelConfig memory);

    /// @notice The amount a stake of `modelId` would use now (0 if Off).
    /// @param modelId The model.
    /// @return NMR wei.
    function nextStake(bytes32 modelId) external view returns (uint256);

    /// @notice Stakes `modelId` in `roundId` with its configured amount, tied to `commitment`.
    /// @param roundId The open round.
    /// @param modelId The model.
    /// @param commitment keccak-256 of the predictions file.
    /// @return amount NMR wei staked.
    function stake(uint256 roundId, bytes32 modelId, bytes32 commitment) external returns (uint256 amount);

    /// @notice Moves the strategy's stake on `modelId` in open round `roundId` to `commitment`
    ///         (the owner uploaded a newer file); the amount stays.
    /// @param roundId The open round.
    /// @param modelId The model.
    /// @param commitment The new commitment.
    function recommit(uint256 roundId, bytes32 modelId, bytes32 commitment) external;

    /// @notice Claims the strategy's stake of a Final round back into the strategy.
    /// @param roundId The Final round.
    /// @param modelId The model.
    /// @param payout The leaf's payout.
    /// @param burn The leaf's burn.
    /// @param proof The Merkle proof of the leaf.
    function settle(uint256 roundId, bytes32 modelId, uint256 payout, uint256 burn, bytes32[] calldata proof)
        external;

    /// @notice `settle` of one round, then `stake` of the same model in another, in one call.
    /// @param settleRoundId The Final round settled.
    /// @param modelId The model, in both rounds.
    /// @param payout The leaf's payout.
    /// @param burn The leaf's burn.
    /// @param proof The Merkle proof of the leaf.
    /// @param stakeRoundId The open round staked.
    /// @param commitment keccak-256 of the predictions file of `stakeRoundId`.
    /// @return amount NMR wei staked.
    function settleAndStake(
        uint256 settleRoundId,
        bytes32 modelId,
        uint256 payout,
        uint256 burn,
        bytes32[] calldata proof,
        uint256 stakeRoundId,
        bytes32 commitment
    ) external returns (uint256 amount);
}
