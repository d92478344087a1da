// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Bonded disputes of a tournament's posted results, open to anyone
/// @notice The interface of `DisputeDesk`. During a posted result's challenge period anyone may
///         dispute it by depositing `bond` NMR; the desk, which holds the tournament's
///         REJECTER_ROLE, rejects the result at once, so a disputed result never becomes final.
///         The dispute is then settled by what happens next, whichever comes first:
///         - the committee (or oracle) posts a different result for the round: the disputer was
///           right and gets the bond back with a reward (`settle`, by anyone);
///         - the disputed result is posted again and outlives its new challenge period: the
///           disputer was wrong and the bond is forfeited to the reward reserve (`settle`);
///         - the arbiter rules (`rule`, ARBITER_ROLE): right (bond and reward back; a re-posted
///           disputed result in its challenge period is rejected again) or wrong (bond forfeited);
///         - nobody posts before the round's posting window ends, so the round expires and every
///           stake can be withdrawn in full from the tournament: the bond comes back, no reward
///           (`settle`). Every dispute therefore ends within the round's grace period.
/// @dev Types, events and errors of `DisputeDesk`. A round has at most one open dispute; a result
///      posted after a settled dispute may be disputed again (with a new bond).
interface IDisputeDesk {
    // ------------------------------------------------------------------ types

    /// @notice How a dispute ended (None while open or never filed).
    enum Outcome {
        None,
        Upheld,
        Dismissed,
        Expired
    }

    /// @notice A round's open dispute (zero `disputer` when none).
    /// @param disputer Who filed it and deposited the bond.
    /// @param bond The bond deposited (NMR wei).
    /// @param filedAt When it was filed.
    /// @param disputedRoot The result's Merkle root that was disputed.
    struct Dispute {
        address disputer;
        uint96 bond;
        uint40 filedAt;
        bytes32 disputedRoot;
    }

    // ------------------------------------------------------------------ events

    /// @notice `disputer` disputed the result `disputedRoot` of `roundId`, depositing `bond`; the
    ///         result was rejected. `evidence` is for the record (the first differing leaf, as
    ///         `nmrstake verify --dispute` encodes it); the desk does not interpret it.
    /// @param roundId The round.
    /// @param disputer Who disputed.
    /// @param disputedRoot The disputed Merkle root.
    /// @param bond The bond deposited (NMR wei).
    /// @param evidence Free-form evidence.
    event Disputed(
        uint256 indexed roundId, address indexed disputer, bytes32 disputedRoot, uint256 bond, bytes evidence
    );

    /// @notice The open dispute of `roundId` ended with `outcome`; `paid` NMR went to the disputer
    ///         (bond and reward, the bond alone, or 0) and `forfeited` to the reward reserve.
    /// @param roundId The round.
    /// @param disputer Who disputed.
    /// @param outcome How it ended.
    /// @param paid NMR wei paid to the disputer.
    /// @param forfeited NMR wei added to the reward reserve.
    event DisputeSettled(
        uint256 indexed roundId, address indexed disputer, Outcome outcome, uint256 paid, uint256 forfeited
    );

    /// @notice The arbiter ruled on the open dispute of `roundId`.
    /// @param roundId The round.
    /// @param arbiter The ruling arbiter.
    /// @param disputerRight Whether the disputer was right.
    /// @param reason Why (for the record).
    event Ruled(uint256 indexed roundId, address indexed arbiter, bool disputerRight, string reason);

    /// @notice `funder` added `amount` to the reward reserve.
    /// @param funder Who paid.
    /// @param amount NMR wei.
    /// @param newReserve The reserve after it.
    event ReserveFunded(address indexed funder, uint256 amount, uint256 newReserve);

    /// @notice The admin withdrew `amount` of the reward reserve to `to`.
    /// @param to The receiver.
    /// @param amount NMR wei.
    /// @param newReserve The reserve after it.
    event ReserveWithdrawn(address indexed to, uint256 amount, uint256 newReserve);

    // ------------------------------------------------------------------ errors

    /// @notice A zero address where one is required.
    error DeskZeroAddress();
    /// @notice The bond must be more than zero and fit in 96 bits.
    /// @param bond The bond given.
    error InvalidBond(uint256 bond);
    /// @notice `roundId` has an open dispute already.
    /// @param roundId The round.
    /// @param disputer Who filed it.
    error AlreadyDisputed(uint256 roundId, address disputer);
    /// @notice `roundId` has no open dispute.
    /// @param roundId The round.
    error NoOpenDispute(uint256 roundId);
    /// @notice The round's posted root is not the one the disputer named (nothing posted, or another
    ///         result than the disputer saw).
    /// @param roundId The round.
    /// @param posted The root posted now (0 if none).
    /// @param named The root the disputer named.
    error NotThePostedRoot(uint256 roundId, bytes32 posted, bytes32 named);
    /// @notice The round's result is past its challenge period (final): it can no longer be disputed.
    /// @param roundId The round.
    error NotDisputable(uint256 roundId);
    /// @notice Nothing has settled the dispute yet: no other result posted, the disputed one not
    ///         final again, the round not expired.
    /// @param roundId The round.
    error NotSettledYet(uint256 roundId);
    /// @notice The reserve holds less than asked.
    /// @param reserve The reserve.
    /// @param amount The amount asked.
    error ReserveTooSmall(uint256 reserve, uint256 amount);

    // ------------------------------------------------------------------ functions

    /// @notice Disputes the result posted for `roundId`, whose root must be `postedRoot`, during its
    ///         challenge period: takes `bond()` NMR from the caller (approve it first) and rejects
    ///         the result in the tournament.
    /// @dev Reverts `AlreadyDisputed`, `NotThePostedRoot`, `NotDisputable`. Emits `Disputed`.
    /// @param roundId The round.
    /// @param postedRoot The root the caller disputes (guards against a result changed meanwhile).
    /// @param evidence Free-form evidence, emitted.
    function dispute(uint256 roundId, bytes32 postedRoot, bytes calldata evidence) external;

    /// @notice Settles the open dispute of `roundId` by what the chain shows (see the contract's
    ///         notice): another result posted (upheld), the disputed one final again (dismissed), or
    ///         the round expired (bond back). Anyone may call it.
    /// @dev Reverts `NoOpenDispute`, `NotSettledYet`. Emits `DisputeSettled`.
    /// @param roundId The round.
    function settle(uint256 roundId) external;

    /// @notice The arbiter's ruling on the open dispute of `roundId`. Right: the bond and the reward
    ///         go back to the disputer, and a re-posted disputed result still in its challenge
    ///         period is rejected again. Wrong: the bond is forfeited to the reserve.
    /// @dev Only ARBITER_ROLE. Reverts `NoOpenDispute`. Emits `Ruled`, `DisputeSettled`.
    /// @param roundId The round.
    /// @param disputerRight Whether the disputer was right.
    /// @param reason Why (for the record).
    function rule(uint256 roundId, bool disputerRight, string calldata reason) external;

    /// @notice Adds `amount` NMR of the caller's to the reward reserve (approve it first).
    /// @dev Emits `ReserveFunded`.
    /// @param amount NMR wei.
    function fundReserve(uint256 amount) external;

    /// @notice Withdraws `amount` of the reward reserve to `to`.
    /// @dev Only DEFAULT_ADMIN_ROLE. Reverts `ReserveTooSmall`, `DeskZeroAddress`. Emits
    ///      `ReserveWithdrawn`. Bonds of open disputes are never part of the reserve.
    /// @param to The receiver.
    /// @param amount NMR wei.
    function withdrawReserve(address to, uint256 amount) external;

    /// @notice The open dispute of `roundId` (zero `disputer` when none).
    /// @param roundId The round.
    /// @return The dispute.
    function disputeOf(uint256 roundId) external view returns (Dispute memory);

    /// @notice NMR wei a dispute deposits.
    /// @return The bond.
    function bond() external view returns (uint256);

    /// @notice NMR wei an upheld dispute earns besides its bond (at most what the reserve holds).
    /// @return The reward.
    function reward() external view returns (uint256);

    /// @notice The reward reserve: forfeited bonds and funding, less rewards paid and withdrawals.
    /// @return NMR wei.
    function reserve() external view returns (uint256);

    /// @notice The bonds of open disputes. The desk holds exactly `reserve() + bonded()` NMR (more
    ///         only if someone sent NMR to it directly).
    /// @return NMR wei.
    function bonded() external view returns (uint256);
}
