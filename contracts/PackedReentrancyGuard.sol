// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title A re-entrancy lock of one byte
/// @notice OpenZeppelin's `ReentrancyGuard` (the same `nonReentrant` modifier and the same
///         `ReentrancyGuardReentrantCall` error) with its lock in one byte instead of a slot of its
///         own, so that the lock packs with the state variables declared before it.
/// @dev `Tournament` inherits it right after `BoundedPause`: the lock then shares the slot of
///      Pausable's flag and the pause's end, and a call guarded by both `nonReentrant` and
///      `whenNotPaused` reads one cold slot (2,100 gas) instead of two. The lock is 1 when free and
///      2 while a guarded call runs, never 0 (set in the constructor), so taking it is an update
///      of a non-zero slot (2,900 gas) and releasing it refunds most of that, as with OpenZeppelin's.
abstract contract PackedReentrancyGuard {
    /// @notice A `nonReentrant` function was called while another one was running (OpenZeppelin's error).
    error ReentrancyGuardReentrantCall();

    uint8 private constant NOT_ENTERED = 1;
    uint8 private constant ENTERED = 2;

    /// @dev NOT_ENTERED or ENTERED; packs with the variables declared before it.
    uint8 private _lock;

    /// @notice Frees the lock.
    constructor() {
        _lock = NOT_ENTERED;
    }

    /// @dev Refuses a call while any `nonReentrant` function of this contract runs.
    modifier nonReentrant() {
        if (_lock == ENTERED) revert ReentrancyGuardReentrantCall();
        _lock = ENTERED;
        _;
        _lock = NOT_ENTERED;
    }
}
