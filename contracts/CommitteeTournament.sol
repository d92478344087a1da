// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {OracleCommittee} from "./OracleCommittee.sol";
import {Tournament} from "./Tournament.sol";

/// @title NMR staking tournament whose results an oracle committee may post
/// @notice `Tournament` with an M-of-N `OracleCommittee`: besides ORACLE_ROLE's `postResult`,
///         anyone may post a result signed by at least M committee members (`postResultSigned`).
///         Both ways run the same checks and record the same result.
contract CommitteeTournament is Tournament, OracleCommittee {
    /// @notice A `Tournament` (same arguments and checks) with its first committee.
    /// @param nmr_ The staked token.
    /// @param admin The guardian: DEFAULT_ADMIN_ROLE (grants the other roles, proposes committees).
    /// @param adminDelay Delay of the hand-over of DEFAULT_ADMIN_ROLE and of committee changes.
    /// @param challengePeriod_ Seconds in which a posted result may be rejected.
    /// @param gracePeriod_ Seconds after resolveTime until a round without final result expires.
    /// @param maxPauseDuration_ Longest pause, and the cool-down between pauses.
    /// @param members The committee's members, strictly ascending.
    /// @param threshold Signatures needed to post.
    constructor(
        address nmr_,
        address admin,
        uint48 adminDelay,
        uint64 challengePeriod_,
        uint64 gracePeriod_,
        uint64 maxPauseDuration_,
        address[] memory members,
        uint256 threshold
    )
        Tournament(nmr_, admin, adminDelay, challengePeriod_, gracePeriod_, maxPauseDuration_)
        OracleCommittee(members, threshold)
    {}

    /// @dev The tournament's own posting, with all its checks.
    function _postAttestedResult(
        uint256 roundId,
        bytes32 root,
        uint256 totalPayout,
        uint256 totalBurn,
        uint256 leafCount,
        bytes32 resultsHash
    ) internal override {
        _postResult(roundId, root, totalPayout, totalBurn, leafCount, resultsHash);
    }
}
