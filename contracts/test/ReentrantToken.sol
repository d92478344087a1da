// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title ReentrantToken (TEST ONLY)
/// @notice An ERC-20 + permit + burn token whose every balance update (transfer, transferFrom,
///         mint, burn) first calls `hookTarget` with `hookData`: a malicious token trying to
///         re-enter the tournament. The outcome of the last callback is recorded instead of
///         bubbling up, so tests can check that the re-entry failed (and why) while the outer
///         call went on.
contract ReentrantToken is ERC20, ERC20Burnable, ERC20Permit {
    /// @notice Contract the hook calls (0 = no hook).
    address public hookTarget;
    /// @notice Calldata of the hook call.
    bytes public hookData;
    /// @notice Number of hook calls made.
    uint256 public hookCalls;
    /// @notice Whether the last hook call succeeded.
    bool public lastHookOk;
    /// @notice Return (or revert) data of the last hook call.
    bytes public lastHookResult;

    bool private _inHook;

    /// @notice A token named "Reentrant" (RNT) with permit, no supply and no hook.
    constructor() ERC20("Reentrant", "RNT") ERC20Permit("Reentrant") {}

    /// @notice Anyone may mint (test token).
    /// @param to The receiver.
    /// @param amount Token wei.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Sets the hook (target 0 disables it).
    /// @param target The contract to call on every balance update.
    /// @param data The calldata of that call.
    function setHook(address target, bytes calldata data) external {
        hookTarget = target;
        hookData = data;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (hookTarget != address(0) && !_inHook) {
            _inHook = true;
            // The malicious token's callback: arbitrary calldata to an arbitrary target.
            // solhint-disable-next-line avoid-low-level-calls
            (bool ok, bytes memory ret) = hookTarget.call(hookData);
            _inHook = false;
            ++hookCalls;
            lastHookOk = ok;
            lastHookResult = ret;
        }
        super._update(from, to, value);
    }
}
