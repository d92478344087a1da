// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

// The mainnet NMR's own interface, copied on purpose: lower-case constant getters (`name`,
// `symbol`, `decimals`) and revert strings, not custom errors.
// solhint-disable const-name-snakecase, gas-custom-errors

/// @title LegacyNMR (TEST ONLY)
/// @notice A token that behaves like the mainnet NMR (NumeraireBackend with NumeraireDelegateV3)
///         in every respect the tournament meets:
///         - no EIP-2612 `permit` and no `burn(uint256)`;
///         - `mint(uint256)` burns the caller's own tokens and, like the backend's delegatecall,
///           returns false instead of reverting when it fails;
///         - `numeraiTransfer(address,uint256)` burns an approved account's tokens;
///         - `approve` only changes an allowance from or to zero; `changeApproval` does the rest;
///         - `transferFrom` always spends the allowance (no infinite approval);
///         - a payable fallback that accepts any call to a function it does not have, so a call
///           to `burn`, `permit` or `nonces` "succeeds" and does nothing.
///         `issue` creates tokens for tests (the mainnet token mints no more).
contract LegacyNMR {
    /// @notice The token's name.
    string public constant name = "Numeraire";
    /// @notice The token's symbol.
    string public constant symbol = "NMR";
    /// @notice Decimals of the token (18).
    uint256 public constant decimals = 18;

    /// @notice Tokens in existence.
    uint256 public totalSupply;
    /// @notice Tokens held by each account.
    mapping(address => uint256) public balanceOf;
    /// @notice Allowances, by owner then spender.
    mapping(address => mapping(address => uint256)) public allowance;

    /// @notice `value` tokens moved from `from` to `to` (0 for mints and burns).
    /// @param from The sender (0 = created).
    /// @param to The receiver (0 = destroyed).
    /// @param value Token wei.
    event Transfer(address indexed from, address indexed to, uint256 value);
    /// @notice `owner` allowed `spender` to move `value` of its tokens.
    /// @param owner The owner.
    /// @param spender The spender.
    /// @param value The allowance.
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// @notice Any unknown call succeeds and does nothing (as NumeraireBackend's fallback).
    fallback() external payable {}

    /// @notice Ether sent without data is accepted too.
    receive() external payable {}

    /// @notice Test faucet: creates `value` tokens for `to`.
    /// @param to The receiver.
    /// @param value Token wei.
    function issue(address to, uint256 value) external {
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    /// @notice Moves `value` of the caller's tokens to `to`; reverts when the balance is short.
    /// @param to The receiver (not zero).
    /// @param value Token wei.
    /// @return True.
    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    /// @notice Moves `value` of `from`'s tokens to `to`, always spending the caller's allowance.
    /// @param from The owner.
    /// @param to The receiver (not zero).
    /// @param value Token wei.
    /// @return True.
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value, "allowance");
        allowance[from][msg.sender] = allowed - value;
        _move(from, to, value);
        return true;
    }

    /// @notice Sets an allowance, but only from zero or to zero (the mainnet NMR's rule).
    /// @param spender The spender.
    /// @param value The new allowance.
    /// @return True.
    function approve(address spender, uint256 value) external returns (bool) {
        require(value == 0 || allowance[msg.sender][spender] == 0, "approve from or to zero");
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    /// @notice Changes an allowance that is exactly `oldValue` to `newValue`.
    /// @param spender The spender.
    /// @param oldValue The allowance it must be now.
    /// @param newValue The new allowance.
    /// @return True.
    function changeApproval(address spender, uint256 oldValue, uint256 newValue) external returns (bool) {
        require(allowance[msg.sender][spender] == oldValue, "old value");
        allowance[msg.sender][spender] = newValue;
        emit Approval(msg.sender, spender, newValue);
        return true;
    }

    /// @notice Burns `value` of the caller's tokens; false (no revert) when the balance is short.
    /// @param value Token wei.
    /// @return Whether it burned.
    function mint(uint256 value) external returns (bool) {
        if (balanceOf[msg.sender] < value) return false;
        balanceOf[msg.sender] -= value;
        totalSupply -= value;
        emit Transfer(msg.sender, address(0), value);
        return true;
    }

    /// @notice Burns `value` of `from`'s tokens, spending the caller's allowance.
    /// @param from The owner.
    /// @param value Token wei.
    /// @return Whether it burned.
    function numeraiTransfer(address from, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed < value || balanceOf[from] < value) return false;
        allowance[from][msg.sender] = allowed - value;
        balanceOf[from] -= value;
        totalSupply -= value;
        emit Transfer(from, address(0), value);
        emit Approval(from, msg.sender, allowed - value);
        return true;
    }

    function _move(address from, address to, uint256 value) private {
        require(to != address(0), "to zero");
        require(balanceOf[from] >= value, "balance");
        balanceOf[from] -= value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
