// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Tournament} from "./Tournament.sol";

/// @title The burn of the mainnet NMR
/// @notice The mainnet NMR (NumeraireBackend with NumeraireDelegateV3): it has no
///         `burn(uint256)` and destroys the caller's own tokens with the repurposed `mint(uint256)`.
interface INumeraireBurn {
    /// @notice Burns `value` of the caller's NMR (NumeraireDelegateV3's repurposed `mint`).
    /// @param value NMR wei to burn.
    /// @return ok True if the burn succeeded (the backend returns false rather than reverting).
    function mint(uint256 value) external returns (bool ok);
}

/// @title NMR staking tournament for the mainnet NMR
/// @notice `Tournament` burning through NMR's repurposed `mint(uint256)`. Everything else is the
///         same; like every burn of `Tournament`, the total supply must fall by exactly the amount
///         or settlement reverts with `BurnNotEffective`.
contract NumeraireTournament is Tournament {
    /// @notice NMR's `mint(uint256)` returned false.
    error NumeraireBurnFailed(uint256 amount);

    /// @notice A `Tournament` on the mainnet NMR; same arguments and checks.
    /// @param nmr_ The mainnet NMR (or a token that burns the same way).
    /// @param admin The guardian: DEFAULT_ADMIN_ROLE (grants the other roles).
    /// @param adminDelay Delay of the two-step hand-over of DEFAULT_ADMIN_ROLE.
    /// @param challengePeriod_ Seconds in which a posted result may be rejected.
    /// @param gracePeriod_ Seconds after resolveTime until a round without final result expires.
    /// @param maxPauseDuration_ Longest pause, and the cool-down between pauses.
    constructor(
        address nmr_,
        address admin,
        uint48 adminDelay,
        uint64 challengePeriod_,
        uint64 gracePeriod_,
        uint64 maxPauseDuration_
    ) Tournament(nmr_, admin, adminDelay, challengePeriod_, gracePeriod_, maxPauseDuration_) {}

    /// @dev NMR's `mint(uint256)` burns the caller's tokens; `_burnExactly` checks the supply.
    function _callBurn(uint256 amount) internal override {
        if (!INumeraireBurn(address(nmr)).mint(amount)) revert NumeraireBurnFailed(amount);
    }
}
