// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Tournament} from "../Tournament.sol";

/// @title AnyModelIdTournament (TEST ONLY)
/// @notice A Tournament that takes any non-zero model id, as one deployed before ids were checked
///         on chain does: the hostile-participant tests stake HTML, upper case, non-ASCII and
///         all-0xff ids on it and check that the oracle, the service and the pages tolerate them.
contract AnyModelIdTournament is Tournament {
    /// @notice As Tournament's constructor.
    /// @param nmr_ The staked token.
    /// @param admin The admin (guardian).
    /// @param adminDelay The admin role's transfer delay.
    /// @param challengePeriod_ The challenge period.
    /// @param gracePeriod_ The grace period.
    /// @param maxPauseDuration_ The longest pause.
    constructor(
        address nmr_,
        address admin,
        uint48 adminDelay,
        uint64 challengePeriod_,
        uint64 gracePeriod_,
        uint64 maxPauseDuration_
    ) Tournament(nmr_, admin, adminDelay, challengePeriod_, gracePeriod_, maxPauseDuration_) {}

    /// @dev Only the zero id is refused, as before the check.
    function _checkModelId(bytes32 modelId) internal pure override {
        if (modelId == bytes32(0)) revert ZeroModelId();
    }
}
