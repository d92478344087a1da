// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Model ids that are model names
/// @notice A model id is its model's name: `^[a-z0-9_]{1,32}$` in UTF-8 (ASCII), right-padded with
///         zero bytes to 32 bytes (docs/interfaces.md; the Python rule is `nmrstake.models.model_name`).
/// @dev Decided on the whole word at once (SWAR: SIMD within a register), without a loop or a
///      branch: about 25 arithmetic and bitwise opcodes.
library ModelIds {
    /// @dev 0x01 in every byte.
    uint256 private constant ONES = 0x0101010101010101010101010101010101010101010101010101010101010101;
    /// @dev 0x80 (a byte's high bit) in every byte.
    uint256 private constant HIGHS = ONES * 0x80;
    /// @dev 0x7f in every byte.
    uint256 private constant LOWS = ONES * 0x7f;
    /// @dev Added to every byte b < 0x80: the byte's high bit is then set iff b >= '0' (0x30).
    uint256 private constant GE_DIGIT = ONES * (0x80 - 0x30);
    /// @dev Added to every byte b < 0x80: the byte's high bit is then set iff b > '9' (0x39).
    uint256 private constant GT_DIGIT = ONES * (0x7f - 0x39);
    /// @dev Added to every byte b < 0x80: the byte's high bit is then set iff b >= 'a' (0x61).
    uint256 private constant GE_LOWER = ONES * (0x80 - 0x61);
    /// @dev Added to every byte b < 0x80: the byte's high bit is then set iff b > 'z' (0x7a).
    uint256 private constant GT_LOWER = ONES * (0x7f - 0x7a);
    /// @dev '_' (0x5f) in every byte.
    uint256 private constant UNDERSCORES = ONES * 0x5f;

    /// @notice Whether `modelId` is a model name: 1 to 32 bytes among a-z, 0-9 and `_`, followed by
    ///         zero bytes only.
    /// @dev With x = uint256(modelId), the first byte being the most significant:
    ///      1. x & HIGHS == 0: every byte b is < 0x80. Then b + k <= 0xff for every k <= 0x80, so
    ///         none of the per-byte sums below carries into the next byte and each is exact. When
    ///         this fails, the id is refused whatever the masks below hold.
    ///      2. A range [lo, hi]: the high bit of b + (0x80 - lo) is set iff b >= lo, that of
    ///         b + (0x7f - hi) iff b > hi; b is in range iff the first is set and the second is not:
    ///         digits [0x30, 0x39], lower-case letters [0x61, 0x7a]. `_`: the high bit of
    ///         (b ^ 0x5f) + 0x7f is set iff b != 0x5f, so its complement marks the `_` bytes.
    ///         `allowed` is their union, at each byte's high bit; an allowed byte is never zero.
    ///      3. `others` = the bytes not allowed, spread to whole bytes (0xff each):
    ///         ~((allowed >> 7) * 0xff). They are a suffix iff others is 2**(8k) - 1 for some k,
    ///         which is exactly others & (others + 1) == 0 (others + 1 wraps to 0 when no byte is
    ///         allowed; 4 refuses that case).
    ///      4. x & others == 0: the bytes after the name are zero.
    ///      5. others >> 255 == 0: the first byte is allowed, so the name is not empty.
    ///      Then x is a name of 32 - k bytes followed by k zero bytes, and every name passes 1-5.
    ///      Branch-free: the same gas for every id.
    /// @param modelId The id to check.
    /// @return True iff `modelId` is the zero-padded bytes of a model name.
    function isName(bytes32 modelId) internal pure returns (bool) {
        unchecked {
            uint256 x = uint256(modelId);
            uint256 digits = (x + GE_DIGIT) & ~(x + GT_DIGIT);
            uint256 letters = (x + GE_LOWER) & ~(x + GT_LOWER);
            uint256 underscores = ~((x ^ UNDERSCORES) + LOWS);
            uint256 allowed = (digits | letters | underscores) & HIGHS;
            uint256 others = ~((allowed >> 7) * 0xff);
            uint256 objections = (x & (HIGHS | others)) | (others & (others + 1)) | (others >> 255);
            return objections == 0;
        }
    }
}
