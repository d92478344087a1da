// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title An M-of-N oracle committee that posts results by EIP-712 signatures
/// @notice The interface of `OracleCommittee`: a committee of N members (a strictly ascending set
///         of addresses, N <= MAX_COMMITTEE_SIZE) and a threshold M (1 <= M <= N). Anyone may post a
///         round's result with the signatures of at least M distinct members over an EIP-712
///         `Attestation` of exactly what is posted. The committee is set at deployment and changed
///         only by a proposal of the default admin that anyone may apply `defaultAdminDelay()`
///         seconds later; each change increments `committeeEpoch`, which every attestation carries,
///         so a signature of a replaced committee never verifies again.
/// @dev The digest is EIP-712 `hashTypedDataV4(hashStruct(Attestation))` in the domain
///      (name `ATTESTATION_DOMAIN_NAME`, version "1", chain id, this contract), with
///      `Attestation(uint256 roundId,bytes32 root,uint256 totalPayout,uint256 totalBurn,uint256 leafCount,bytes32 resultsHash,uint256 committeeEpoch)`.
///      Signatures are packed: 65 bytes each, `r ‖ s ‖ v`, ordered by signer address, strictly
///      ascending. The signers of a posting are recorded as a bitmap over the indices of the
///      members in `committee()` (bit i = members[i]).
interface IOracleCommittee {
    // ------------------------------------------------------------------ events

    /// @notice The committee changed (also emitted once at deployment).
    /// @param epoch The new `committeeEpoch`, which attestations must carry from now on.
    /// @param members The members, strictly ascending.
    /// @param threshold Signatures needed to post (M).
    event CommitteeChanged(uint256 indexed epoch, address[] members, uint256 threshold);

    /// @notice The default admin proposed a new committee (replacing any pending proposal).
    /// @param members The proposed members, strictly ascending.
    /// @param threshold The proposed threshold.
    /// @param applicableAt First second at which anyone may apply it (`applyCommittee`).
    event CommitteeProposed(address[] members, uint256 threshold, uint256 applicableAt);

    /// @notice The default admin cancelled the pending proposal.
    /// @param applicableAt The cancelled proposal's `applicableAt`.
    event CommitteeProposalCancelled(uint256 applicableAt);

    /// @notice A result was posted with committee signatures (after the tournament's `ResultPosted`).
    /// @param roundId The round.
    /// @param digest The EIP-712 digest the members signed (`attestationDigest`).
    /// @param epoch The committee epoch of the attestation.
    /// @param signers Bitmap of the signers: bit i set when `committee()` member i signed.
    event ResultAttested(uint256 indexed roundId, bytes32 digest, uint256 indexed epoch, uint256 signers);

    // ------------------------------------------------------------------ errors

    /// @notice A committee must have 1 to `maxSize` members.
    /// @param size The number of members given.
    /// @param maxSize `MAX_COMMITTEE_SIZE`.
    error InvalidCommitteeSize(uint256 size, uint256 maxSize);

    /// @notice The threshold must satisfy 1 <= threshold <= size.
    /// @param threshold The threshold given.
    /// @param size The number of members given.
    error InvalidCommitteeThreshold(uint256 threshold, uint256 size);

    /// @notice The zero address cannot be a member.
    error ZeroCommitteeMember();

    /// @notice A member appears twice.
    /// @param member The repeated address.
    error DuplicateCommitteeMember(address member);

    /// @notice Members must be given in strictly ascending order.
    /// @param previous The member before.
    /// @param next The member that is not above it.
    error CommitteeMembersNotAscending(address previous, address next);

    /// @notice There is no pending committee proposal.
    error NoCommitteeProposal();

    /// @notice The pending proposal's delay has not passed.
    /// @param applicableAt First second at which it may be applied.
    error CommitteeProposalNotReady(uint256 applicableAt);

    /// @notice The signatures are not a whole number of 65-byte `r ‖ s ‖ v` signatures.
    /// @param length The byte length given.
    error SignaturesLengthInvalid(uint256 length);

    /// @notice Fewer signatures than the threshold.
    /// @param got Signatures given.
    /// @param threshold Signatures needed.
    error TooFewSignatures(uint256 got, uint256 threshold);

    /// @notice A signature recovers no address (ECDSA: invalid `v`, `r` or `s`).
    /// @param index Position of the signature (0-based).
    error SignatureInvalid(uint256 index);

    /// @notice A signature's `s` is in the upper half of the curve order (malleable form).
    /// @param index Position of the signature (0-based).
    /// @param s Its `s`.
    error SignatureMalleable(uint256 index, bytes32 s);

    /// @notice A signature recovers to an address that is not a current member: signed by someone
    ///         else, or by a member over other content (another round, totals, epoch, chain or
    ///         contract), which recovers some unrelated address.
    /// @param signer The recovered address.
    error NotCommitteeMember(address signer);

    /// @notice The same member signed twice.
    /// @param signer The member.
    error DuplicateSigner(address signer);

    /// @notice Signers must be ordered by address, strictly ascending.
    /// @param previous The signer before.
    /// @param next The signer that is below it.
    error SignersNotAscending(address previous, address next);

    // ------------------------------------------------------------------ functions

    /// @notice Posts a round's result attested by at least `threshold` committee members; anyone
    ///         may call it.
    /// @dev Verifies `signatures` (65 bytes each, `r ‖ s ‖ v`, signers strictly ascending) over
    ///      `attestationDigest(..., committeeEpoch())`, then posts exactly as the oracle role's
    ///      `postResult`, with all its checks (timing, already posted, totals, pause). Reverts
    ///      `SignaturesLengthInvalid`, `TooFewSignatures`, `SignatureInvalid`, `SignatureMalleable`,
    ///      `NotCommitteeMember`, `DuplicateSigner` or `SignersNotAscending`, or with the posting's
    ///      own errors. Emits the posting's `ResultPosted`, then `ResultAttested`.
    /// @param roundId The round.
    /// @param root Merkle root of the round's leaves.
    /// @param totalPayout Sum of the leaves' payouts (NMR wei).
    /// @param totalBurn Sum of the leaves' burns (NMR wei).
    /// @param leafCount Number of leaves (must equal the round's stake count).
    /// @param resultsHash Hash of the published results.
    /// @param signatures The members' signatures, packed.
    function postResultSigned(
        uint256 roundId,
        bytes32 root,
        uint256 totalPayout,
        uint256 totalBurn,
        uint256 leafCount,
        bytes32 resultsHash,
        bytes calldata signatures
    ) external;

    /// @notice Proposes a new committee; it takes effect when applied, `defaultAdminDelay()`
    ///         seconds from now at the earliest. Replaces any pending proposal.
    /// @dev Only DEFAULT_ADMIN_ROLE. Reverts `InvalidCommitteeSize`, `InvalidCommitteeThreshold`,
    ///      `ZeroCommitteeMember`, `DuplicateCommitteeMember` or `CommitteeMembersNotAscending`.
    ///      Emits `CommitteeProposed`.
    /// @param members The new members, strictly ascending.
    /// @param threshold The new threshold, 1 <= threshold <= members.length.
    function proposeCommittee(address[] calldata members, uint256 threshold) external;

    /// @notice Applies the pending proposal once its delay has passed; anyone may call it.
    /// @dev Reverts `NoCommitteeProposal` or `CommitteeProposalNotReady`. Increments
    ///      `committeeEpoch`; emits `CommitteeChanged`.
    function applyCommittee() external;

    /// @notice Cancels the pending proposal.
    /// @dev Only DEFAULT_ADMIN_ROLE. Reverts `NoCommitteeProposal`. Emits `CommitteeProposalCancelled`.
    function cancelCommitteeProposal() external;

    /// @notice The current committee.
    /// @return members The members, strictly ascending.
    /// @return threshold Signatures needed to post.
    function committee() external view returns (address[] memory members, uint256 threshold);

    /// @notice The pending proposal, if any.
    /// @return members The proposed members (empty when none).
    /// @return threshold The proposed threshold (0 when none).
    /// @return applicableAt First second at which it may be applied (0 when none).
    function pendingCommittee()
        external
        view
        returns (address[] memory members, uint256 threshold, uint256 applicableAt);

    /// @notice Whether `account` is a member of the current committee.
    /// @param account The address.
    /// @return True for a current member.
    function isCommitteeMember(address account) external view returns (bool);

    /// @notice The committee's epoch: 1 at deployment, incremented by every change.
    /// @return The epoch that attestations must carry.
    function committeeEpoch() external view returns (uint256);

    /// @notice The EIP-712 digest the members sign for a posting.
    /// @param roundId The round.
    /// @param root Merkle root of the round's leaves.
    /// @param totalPayout Sum of the payouts.
    /// @param totalBurn Sum of the burns.
    /// @param leafCount Number of leaves.
    /// @param resultsHash Hash of the published results.
    /// @param epoch The committee epoch (`committeeEpoch()` for a posting now).
    /// @return The digest (`\x19\x01 ‖ domainSeparator ‖ hashStruct(Attestation)`, keccak-256).
    function attestationDigest(
        uint256 roundId,
        bytes32 root,
        uint256 totalPayout,
        uint256 totalBurn,
        uint256 leafCount,
        bytes32 resultsHash,
        uint256 epoch
    ) external view returns (bytes32);

    /// @notice The EIP-712 type hash of `Attestation`.
    /// @return keccak-256 of the type string.
    function ATTESTATION_TYPEHASH() external view returns (bytes32);

    /// @notice The largest committee (31, as Chainlink OCR2's largest oracle set).
    /// @return Members.
    function MAX_COMMITTEE_SIZE() external view returns (uint256);
}
