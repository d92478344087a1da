// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title Numeraire (NMR)
/// @notice An ERC-20 modelled on Numeraire after its 2019 upgrade: 18 decimals, a hard cap of
///         11,000,000 NMR, burning that lowers `totalSupply`, EIP-2612 `permit`, and minting only
///         by holders of `MINTER_ROLE`, never above the cap.
/// @dev Built from OpenZeppelin Contracts 5.4. Minting above the cap reverts with
///      `ERC20ExceededCap`; a mint by an account without the role reverts with
///      `AccessControlUnauthorizedAccount`. The staking contracts take any ERC-20 + EIP-2612 token
///      address, so a deployment can point at an existing NMR instead of this one.
contract NMR is ERC20, ERC20Burnable, ERC20Capped, ERC20Permit, AccessControl {
    /// @notice The role allowed to mint new NMR (up to the cap).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice The hard supply cap: 11,000,000 NMR.
    uint256 public constant MAX_SUPPLY = 11_000_000 ether;

    /// @notice The admin address was the zero address.
    error NMRZeroAdmin();

    /// @notice Deploys NMR with no supply; `admin` manages the minters and mints.
    /// @param admin Receives `DEFAULT_ADMIN_ROLE` (manages minters) and `MINTER_ROLE`.
    constructor(address admin) ERC20("Numeraire", "NMR") ERC20Capped(MAX_SUPPLY) ERC20Permit("Numeraire") {
        if (admin == address(0)) revert NMRZeroAdmin();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
    }

    /// @notice Mints `amount` NMR (in wei) to `to`.
    /// @dev Only `MINTER_ROLE`; reverts with `ERC20ExceededCap` if the supply would pass the cap.
    ///      Emits `Transfer(address(0), to, amount)`.
    /// @param to The receiver.
    /// @param amount The amount in wei (10**18 wei = 1 NMR).
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Capped) {
        super._update(from, to, value);
    }
}
