// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IBoundedPause} from "./interfaces/IBoundedPause.sol";

/// @title A pause that ends by itself
/// @notice OpenZeppelin's `Pausable` with a bound: a pause lasts at most `maxPauseDuration`
///         seconds (`paused()` turns false by itself then), and a new pause may start only
///         `maxPauseDuration` after the previous one ended (by expiry or unpause), so at least half
///         of any period is unpaused and pauses can never stop the contract for good.
/// @dev Abstract, like `Pausable`: the contract that inherits it exposes `pause` and `unpause`
///      with its own access control and calls `_pause` and `_unpause`, which this contract bounds;
///      `whenNotPaused` and `whenPaused` see the bound through `paused()`. The end of the pause
///      is a uint48 stored right after `Pausable`'s flag, in the same slot.
abstract contract BoundedPause is IBoundedPause, Pausable {
    /// @inheritdoc IBoundedPause
    uint64 public constant MAX_PAUSE_LIMIT = 365 days;

    /// @inheritdoc IBoundedPause
    uint64 public immutable maxPauseDuration;

    /// @dev Packs with Pausable's `_paused` flag: the end of the current (or last) pause.
    uint48 private _pauseEnd;

    /// @notice Sets the bound of every pause.
    /// @param maxPauseDuration_ Longest pause, and the cool-down between pauses
    ///        (0 < maxPauseDuration_ <= MAX_PAUSE_LIMIT, else `InvalidConfig`).
    constructor(uint64 maxPauseDuration_) {
        if (maxPauseDuration_ == 0 || maxPauseDuration_ > MAX_PAUSE_LIMIT) revert InvalidConfig();
        maxPauseDuration = maxPauseDuration_;
    }

    /// @notice True while a pause is in effect (started and neither ended nor expired).
    /// @dev Overrides OpenZeppelin's Pausable: its flag stays set after expiry, this view does not.
    /// @return Whether the functions guarded by `whenNotPaused` are refused.
    function paused() public view virtual override returns (bool) {
        return super.paused() && block.timestamp < _pauseEnd;
    }

    /// @inheritdoc IBoundedPause
    function pausedUntil() external view returns (uint256) {
        return _pauseEnd;
    }

    /// @dev Starts a pause that ends `maxPauseDuration` from now. Reverts `EnforcedPause` while
    ///      paused, `PauseCooldown` within `maxPauseDuration` of the previous pause's end.
    ///      Emits `Paused`.
    function _pause() internal virtual override whenNotPaused {
        uint256 lastEnd = _pauseEnd;
        if (lastEnd != 0 && block.timestamp < lastEnd + maxPauseDuration) {
            revert PauseCooldown(lastEnd + maxPauseDuration);
        }
        super._pause();
        _pauseEnd = uint48(block.timestamp + maxPauseDuration);
    }

    /// @dev Ends the current pause now; the cool-down runs from now. Reverts `ExpectedPause` if
    ///      not paused. Emits `Unpaused`.
    function _unpause() internal virtual override {
        super._unpause();
        _pauseEnd = uint48(block.timestamp);
    }
}
