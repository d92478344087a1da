// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ModelIds} from "../ModelIds.sol";

/// @title ModelIdsHarness (TEST ONLY)
/// @notice Exposes the internal `ModelIds.isName` so that tests can compare it with the Python rule.
contract ModelIdsHarness {
    /// @notice `ModelIds.isName(modelId)`.
    /// @param modelId The id to check.
    /// @return True iff `modelId` is the zero-padded bytes of a model name.
    function isName(bytes32 modelId) external pure returns (bool) {
        return ModelIds.isName(modelId);
    }

    /// @notice `ModelIds.isName` of each id, in one call.
    /// @param modelIds The ids to check.
    /// @return names `names[i]` is `ModelIds.isName(modelIds[i])`.
    function areNames(bytes32[] calldata modelIds) external pure returns (bool[] memory names) {
        uint256 n = modelIds.length;
        names = new bool[](n);
        for (uint256 i; i < n; ++i) {
            names[i] = ModelIds.isName(modelIds[i]);
        }
    }

    /// @notice The gas `ModelIds.isName(modelId)` takes, measured around the call inside this
    ///         contract (the call is inlined; what the measurement itself costs is included).
    /// @param modelId The id to check.
    /// @return used Gas between the two `gasleft()` readings.
    /// @return result What `isName` returned.
    function gasOfIsName(bytes32 modelId) external view returns (uint256 used, bool result) {
        uint256 start = gasleft();
        result = ModelIds.isName(modelId);
        used = start - gasleft();
    }
}
