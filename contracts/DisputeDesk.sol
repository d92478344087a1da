// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IDisputeDesk} from "./interfaces/IDisputeDesk.sol";
import {ITournament} from "./interfaces/ITournament.sol";

/// @title DisputeDesk: bonded disputes of a tournament's results, open to anyone
/// @notice See `IDisputeDesk`. A contract of its own beside the tournament (which would exceed
///         the 24 KB code limit with it), holding the tournament's REJECTER_ROLE: disputing a
///         result rejects it at once, which is what keeps a disputed result from becoming final.
/// @dev NMR held = reserve + the bonds of open disputes, always (`bonded` counts the latter).
contract DisputeDesk is IDisputeDesk, AccessControlDefaultAdminRules, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Rules on disputes (`rule`).
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");

    /// @notice The tournament whose results are disputed.
    ITournament public immutable tournament;
    /// @notice The tournament's staked token, in which bonds and rewards are paid.
    IERC20 public immutable nmr;
    /// @inheritdoc IDisputeDesk
    uint256 public immutable bond;
    /// @inheritdoc IDisputeDesk
    uint256 public immutable reward;

    /// @inheritdoc IDisputeDesk
    uint256 public reserve;
    /// @inheritdoc IDisputeDesk
    uint256 public bonded;
    mapping(uint256 roundId => Dispute) private _disputes;

    /// @notice A desk for `tournament_`, guarded by `admin`, with `arbiter` ruling (zero: no
    ///         arbiter yet; the admin may grant ARBITER_ROLE later), a bond and a reward.
    /// @param tournament_ The tournament (which must grant this desk REJECTER_ROLE).
    /// @param admin DEFAULT_ADMIN_ROLE: grants ARBITER_ROLE, withdraws the reserve.
    /// @param adminDelay Delay of the two-step hand-over of DEFAULT_ADMIN_ROLE.
    /// @param arbiter ARBITER_ROLE (may be zero).
    /// @param bond_ NMR wei a dispute deposits (more than 0, fits 96 bits).
    /// @param reward_ NMR wei an upheld dispute earns besides its bond (from the reserve).
    constructor(ITournament tournament_, address admin, uint48 adminDelay, address arbiter, uint256 bond_, uint256 reward_)
        AccessControlDefaultAdminRules(adminDelay, admin)
    {
        if (address(tournament_) == address(0)) revert DeskZeroAddress();
        if (bond_ == 0 || bond_ > type(uint96).max) revert InvalidBond(bond_);
        tournament = tournament_;
        nmr = tournament_.nmr();
        bond = bond_;
        reward = reward_;
        if (arbiter != address(0)) _grantRole(ARBITER_ROLE, arbiter);
    }

    /// @inheritdoc IDisputeDesk
    function dispute(uint256 roundId, bytes32 postedRoot, bytes calldata evidence) external nonReentrant {
        Dispute storage open = _disputes[roundId];
        if (open.disputer != address(0)) revert AlreadyDisputed(roundId, open.disputer);
        bytes32 root = tournament.getRound(roundId).root;
        if (root == bytes32(0) || root != postedRoot) revert NotThePostedRoot(roundId, root, postedRoot);
        if (tournament.roundState(roundId) != ITournament.RoundState.Posted) revert NotDisputable(roundId);
        uint256 amount = bond;
        _disputes[roundId] = Dispute(msg.sender, uint96(amount), uint40(block.timestamp), postedRoot);
        bonded += amount;
        emit Disputed(roundId, msg.sender, postedRoot, amount, evidence);
        nmr.safeTransferFrom(msg.sender, address(this), amount);
        tournament.rejectResult(roundId, "disputed (DisputeDesk)");
    }

    /// @inheritdoc IDisputeDesk
    function settle(uint256 roundId) external nonReentrant {
        Dispute memory open = _open(roundId);
        ITournament.RoundState state = tournament.roundState(roundId);
        bytes32 root = tournament.getRound(roundId).root;
        if (root != bytes32(0) && root != open.disputedRoot) {
            _close(roundId, open, Outcome.Upheld);
        } else if (root == open.disputedRoot && state == ITournament.RoundState.Final) {
            _close(roundId, open, Outcome.Dismissed);
        } else if (state == ITournament.RoundState.Expired) {
            _close(roundId, open, Outcome.Expired);
        } else {
            revert NotSettledYet(roundId);
        }
    }

    /// @inheritdoc IDisputeDesk
    function rule(uint256 roundId, bool disputerRight, string calldata reason)
        external
        onlyRole(ARBITER_ROLE)
        nonReentrant
    {
        Dispute memory open = _open(roundId);
        emit Ruled(roundId, msg.sender, disputerRight, reason);
        _close(roundId, open, disputerRight ? Outcome.Upheld : Outcome.Dismissed);
        if (
            disputerRight && tournament.getRound(roundId).root == open.disputedRoot
                && tournament.roundState(roundId) == ITournament.RoundState.Posted
        ) {
            tournament.rejectResult(roundId, "upheld by the arbiter");
        }
    }

    /// @inheritdoc IDisputeDesk
    function fundReserve(uint256 amount) external nonReentrant {
        uint256 newReserve = reserve + amount;
        reserve = newReserve;
        emit ReserveFunded(msg.sender, amount, newReserve);
        nmr.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IDisputeDesk
    function withdrawReserve(address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        if (to == address(0)) revert DeskZeroAddress();
        uint256 held = reserve;
        if (amount > held) revert ReserveTooSmall(held, amount);
        reserve = held - amount;
        emit ReserveWithdrawn(to, amount, held - amount);
        nmr.safeTransfer(to, amount);
    }

    /// @inheritdoc IDisputeDesk
    function disputeOf(uint256 roundId) external view returns (Dispute memory) {
        return _disputes[roundId];
    }

    function _open(uint256 roundId) private view returns (Dispute memory open) {
        open = _disputes[roundId];
        if (open.disputer == address(0)) revert NoOpenDispute(roundId);
    }

    /// @dev Ends `roundId`'s open dispute: effects first (the record, the reserve), then the payment.
    function _close(uint256 roundId, Dispute memory open, Outcome outcome) private {
        delete _disputes[roundId];
        bonded -= open.bond;
        uint256 paid = 0;
        uint256 forfeited = 0;
        if (outcome == Outcome.Upheld) {
            uint256 held = reserve;
            uint256 earned = reward < held ? reward : held;
            reserve = held - earned;
            paid = open.bond + earned;
        } else if (outcome == Outcome.Dismissed) {
            forfeited = open.bond;
            reserve += forfeited;
        } else {
            paid = open.bond;
        }
        emit DisputeSettled(roundId, open.disputer, outcome, paid, forfeited);
        if (paid != 0) nmr.safeTransfer(open.disputer, paid);
    }
}
