// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IOracleCommittee} from "./interfaces/IOracleCommittee.sol";

/// @title An M-of-N oracle committee that posts results by EIP-712 signatures
/// @notice Adds to a tournament (by inheritance) a committee of oracles, any M of which may post a
///         round's result by signing it: anyone submits the signatures. The committee is changed
///         only by a proposal of the default admin applied after `defaultAdminDelay()`.
/// @dev Types, events, errors and the documentation of every external function are in
///      `IOracleCommittee`. The concrete contract implements `_postAttestedResult` (the posting
///      with all its checks). Membership is one storage word per member, `epoch << 8 | (index + 1)`,
///      valid only while its epoch is the current one: changing the committee writes the new
///      members' words and never clears the old ones, and checking a signer costs one SLOAD.
abstract contract OracleCommittee is IOracleCommittee, AccessControlDefaultAdminRules, EIP712 {
    /// @inheritdoc IOracleCommittee
    bytes32 public constant ATTESTATION_TYPEHASH = keccak256( // solhint-disable-line gas-small-strings
        "Attestation(uint256 roundId,bytes32 root,uint256 totalPayout,uint256 totalBurn,uint256 leafCount,"
        "bytes32 resultsHash,uint256 committeeEpoch)"
    );
    /// @inheritdoc IOracleCommittee
    uint256 public constant MAX_COMMITTEE_SIZE = 31;
    /// @notice The EIP-712 domain's name (version "1"; chain id and this contract complete it).
    string public constant ATTESTATION_DOMAIN_NAME = "nmrstake oracle committee";

    /// @dev Bytes of one packed signature: r (32) ‖ s (32) ‖ v (1).
    uint256 private constant _SIGNATURE_LENGTH = 65;

    // One slot: what a posting reads (epoch, threshold) and the pending proposal's scalars.
    uint64 private _epoch;
    uint8 private _threshold;
    uint8 private _pendingThreshold;
    uint48 private _pendingAt;
    address[] private _members;
    address[] private _pendingMembers;
    /// @dev `epoch << 8 | (index + 1)` of each address that was ever a member; current only if
    ///      the epoch is `_epoch`.
    mapping(address account => uint256) private _membership;

    /// @notice The committee at deployment (epoch 1).
    /// @param members The members, strictly ascending, none zero, 1 to MAX_COMMITTEE_SIZE of them.
    /// @param threshold Signatures needed to post, 1 <= threshold <= members.length.
    constructor(address[] memory members, uint256 threshold) EIP712(ATTESTATION_DOMAIN_NAME, "1") {
        _checkCommittee(members, threshold);
        _setCommittee(members, threshold);
    }

    // ------------------------------------------------------------------ posting

    /// @inheritdoc IOracleCommittee
    function postResultSigned(
        uint256 roundId,
        bytes32 root,
        uint256 totalPayout,
        uint256 totalBurn,
        uint256 leafCount,
        bytes32 resultsHash,
        bytes calldata signatures
    ) external {
        uint256 epoch = _epoch;
        bytes32 digest = _attestationDigest(roundId, root, totalPayout, totalBurn, leafCount, resultsHash, epoch);
        uint256 signers = _verifySigners(digest, epoch, signatures);
        _postAttestedResult(roundId, root, totalPayout, totalBurn, leafCount, resultsHash);
        emit ResultAttested(roundId, digest, epoch, signers);
    }

    /// @dev The bitmap of the members who signed `digest`; reverts unless at least `_threshold`
    ///      signatures, each valid, by distinct current members in strictly ascending order.
    function _verifySigners(bytes32 digest, uint256 epoch, bytes calldata signatures)
        private
        view
        returns (uint256 bitmap)
    {
        uint256 length = signatures.length;
        if (length % _SIGNATURE_LENGTH != 0) revert SignaturesLengthInvalid(length);
        uint256 count = length / _SIGNATURE_LENGTH;
        uint256 threshold = _threshold;
        if (count < threshold) revert TooFewSignatures(count, threshold);
        address previous = address(0);
        for (uint256 i; i < count; ++i) {
            uint256 at = i * _SIGNATURE_LENGTH;
            (address signer, ECDSA.RecoverError err, bytes32 errArg) = ECDSA.tryRecover(
                digest,
                uint8(signatures[at + 64]),
                bytes32(signatures[at:at + 32]),
                bytes32(signatures[at + 32:at + 64])
            );
            if (err != ECDSA.RecoverError.NoError) {
                if (err == ECDSA.RecoverError.InvalidSignatureS) revert SignatureMalleable(i, errArg);
                revert SignatureInvalid(i);
            }
            uint256 membership = _membership[signer];
            uint256 position = membership & 0xff; // index + 1; 0 for an address never a member
            if (membership >> 8 != epoch || position == 0) revert NotCommitteeMember(signer);
            if (signer <= previous) {
                if (signer == previous) revert DuplicateSigner(signer);
                revert SignersNotAscending(previous, signer);
            }
            bitmap |= 1 << (position - 1);
            previous = signer;
        }
    }

    /// @dev Posts the result with every check of the tournament's own posting.
    function _postAttestedResult(
        uint256 roundId,
        bytes32 root,
        uint256 totalPayout,
        uint256 totalBurn,
        uint256 leafCount,
        bytes32 resultsHash
    ) internal virtual;

    // ------------------------------------------------------------------ committee changes

    /// @inheritdoc IOracleCommittee
    function proposeCommittee(address[] calldata members, uint256 threshold)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _checkCommittee(members, threshold);
        uint256 applicableAt = block.timestamp + defaultAdminDelay();
        _pendingMembers = members;
        // Both fit: threshold <= MAX_COMMITTEE_SIZE, and a uint48 timestamp plus a uint48 delay
        // stays below 2**48 for millions of years.
        _pendingThreshold = uint8(threshold);
        _pendingAt = uint48(applicableAt);
        emit CommitteeProposed(members, threshold, applicableAt);
    }

    /// @inheritdoc IOracleCommittee
    function applyCommittee() external {
        uint256 threshold = _pendingThreshold; // >= 1 exactly while a proposal is pending
        if (threshold == 0) revert NoCommitteeProposal();
        uint256 applicableAt = _pendingAt;
        if (block.timestamp < applicableAt) revert CommitteeProposalNotReady(applicableAt);
        address[] memory members = _pendingMembers;
        _clearProposal();
        _setCommittee(members, threshold);
    }

    /// @inheritdoc IOracleCommittee
    function cancelCommitteeProposal() external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_pendingThreshold == 0) revert NoCommitteeProposal();
        uint256 applicableAt = _pendingAt;
        _clearProposal();
        emit CommitteeProposalCancelled(applicableAt);
    }

    function _clearProposal() private {
        delete _pendingMembers;
        _pendingThreshold = 0;
        _pendingAt = 0;
    }

    /// @dev Reverts unless `members` is a valid committee for `threshold`.
    function _checkCommittee(address[] memory members, uint256 threshold) private pure {
        uint256 size = members.length;
        if (size == 0 || size > MAX_COMMITTEE_SIZE) revert InvalidCommitteeSize(size, MAX_COMMITTEE_SIZE);
        if (threshold == 0 || threshold > size) revert InvalidCommitteeThreshold(threshold, size);
        address previous = address(0);
        for (uint256 i; i < size; ++i) {
            address member = members[i];
            if (member == address(0)) revert ZeroCommitteeMember();
            if (member <= previous) {
                if (member == previous) revert DuplicateCommitteeMember(member);
                revert CommitteeMembersNotAscending(previous, member);
            }
            previous = member;
        }
    }

    /// @dev Makes a checked committee the current one, in a new epoch.
    function _setCommittee(address[] memory members, uint256 threshold) private {
        uint256 epoch = uint256(_epoch) + 1;
        uint256 size = members.length;
        // Exact: epoch grows by one per change, threshold <= MAX_COMMITTEE_SIZE.
        _epoch = uint64(epoch);
        _threshold = uint8(threshold);
        _members = members;
        for (uint256 i; i < size; ++i) {
            _membership[members[i]] = (epoch << 8) | (i + 1);
        }
        emit CommitteeChanged(epoch, members, threshold);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IOracleCommittee
    function committee() external view returns (address[] memory members, uint256 threshold) {
        return (_members, _threshold);
    }

    /// @inheritdoc IOracleCommittee
    function pendingCommittee()
        external
        view
        returns (address[] memory members, uint256 threshold, uint256 applicableAt)
    {
        return (_pendingMembers, _pendingThreshold, _pendingAt);
    }

    /// @inheritdoc IOracleCommittee
    function isCommitteeMember(address account) external view returns (bool) {
        uint256 membership = _membership[account];
        return membership >> 8 == _epoch && membership & 0xff != 0;
    }

    /// @inheritdoc IOracleCommittee
    function committeeEpoch() external view returns (uint256) {
        return _epoch;
    }

    /// @inheritdoc IOracleCommittee
    function attestationDigest(
        uint256 roundId,
        bytes32 root,
        uint256 totalPayout,
        uint256 totalBurn,
        uint256 leafCount,
        bytes32 resultsHash,
        uint256 epoch
    ) external view returns (bytes32) {
        return _attestationDigest(roundId, root, totalPayout, totalBurn, leafCount, resultsHash, epoch);
    }

    function _attestationDigest(
        uint256 roundId,
        bytes32 root,
        uint256 totalPayout,
        uint256 totalBurn,
        uint256 leafCount,
        bytes32 resultsHash,
        uint256 epoch
    ) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(ATTESTATION_TYPEHASH, roundId, root, totalPayout, totalBurn, leafCount, resultsHash, epoch)
            )
        );
    }
}
