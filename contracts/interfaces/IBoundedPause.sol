// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title A pause that ends by itself
/// @notice The interface of `BoundedPause`: a pause lasts at most `maxPauseDuration` seconds, and
///         a new one may start only `maxPauseDuration` after the previous one ended, so pauses can
///         never stop a contract for good. `paused()` (true while a pause is in effect: started
///         and neither ended nor expired), the `Paused` and `Unpaused` events and the
///         `EnforcedPause` and `ExpectedPause` errors are OpenZeppelin `Pausable`'s, which
///         `BoundedPause` extends (declaring `paused()` here too would make every contract built on
///         both override it again).
interface IBoundedPause {
    /// @notice A constructor argument is out of range. For the pause: need
    ///         0 < maxPauseDuration <= MAX_PAUSE_LIMIT; a contract built on the pause (`ITournament`)
    ///         reverts with it for its own inconsistent arguments too.
    error InvalidConfig();

    /// @notice A new pause may start only `maxPauseDuration` after the previous one ended.
    /// @param availableAt The first second at which a pause may start.
    error PauseCooldown(uint256 availableAt);

    /// @notice Pauses for at most `maxPauseDuration` seconds (the pause then ends by itself).
    /// @dev A new pause may start only `maxPauseDuration` after the previous one ended (by expiry or
    ///      `unpause`): reverts `PauseCooldown` before, `EnforcedPause` while paused. Emits `Paused`.
    function pause() external;

    /// @notice Ends the current pause early.
    /// @dev Reverts `ExpectedPause` if not paused (an expired pause is over). Emits `Unpaused`.
    function unpause() external;

    /// @notice When the current or last pause ends or ended (0 if never paused).
    /// @return Unix time in seconds.
    function pausedUntil() external view returns (uint256);

    /// @notice Longest duration of one pause; also the cool-down before a new pause may start.
    /// @return Seconds.
    function maxPauseDuration() external view returns (uint64);

    /// @notice Upper bound of `maxPauseDuration` (a pause longer than a year is no pause).
    /// @return Seconds (365 days).
    function MAX_PAUSE_LIMIT() external view returns (uint64);
}
