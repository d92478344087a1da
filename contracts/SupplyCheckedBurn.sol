// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title Burning that is proved by the token's total supply
/// @notice A burn call that returns without reverting proves nothing: a token whose fallback
///         accepts unknown calls (the mainnet NMR does) "burns" silently and keeps the tokens.
///         `_burnExactly` calls the token's burn and then requires `totalSupply` to have fallen by
///         exactly the amount, so a token that does not burn makes the caller revert.
/// @dev Abstract: a contract chooses how the token burns by implementing `_callBurn`
///      (`Tournament`: ERC20Burnable `burn(uint256)`; `NumeraireTournament`: NMR's `mint(uint256)`).
abstract contract SupplyCheckedBurn {
    /// @notice The token's total supply fell by `actualDrop` where `expectedDrop` was burned.
    error BurnNotEffective(uint256 expectedDrop, uint256 actualDrop);

    /// @dev Burns `amount` of this contract's own `token` and checks the supply fell by exactly it.
    function _burnExactly(IERC20 token, uint256 amount) internal {
        uint256 before = token.totalSupply();
        _callBurn(amount);
        uint256 afterwards = token.totalSupply();
        if (afterwards > before || before - afterwards != amount) {
            revert BurnNotEffective(amount, afterwards > before ? 0 : before - afterwards);
        }
    }

    /// @dev Asks the token to destroy `amount` of this contract's own tokens.
    function _callBurn(uint256 amount) internal virtual;
}
