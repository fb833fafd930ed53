"""Refusals of the ledger use-cases, each naming the message that explains it."""

from __future__ import annotations

from bot.errors import DomainError


class NotAMember(DomainError):
    """The person holds no role in any unit."""

    key = "ledger.not_member"


class NotYourUnit(DomainError):
    """The person holds no role in the unit they act for."""

    key = "ledger.not_your_unit"


class ItemNotOpen(DomainError):
    """The item is not owed now (accepted, awaiting review, exempted or retired)."""

    key = "ledger.item_not_open"


class NothingReceived(DomainError):
    """This item is complete, said before any file or text arrived for it."""

    key = "ledger.nothing_received"


class NothingOwed(DomainError):
    """The person's units owe nothing that a file could belong to."""

    key = "ledger.nothing_owed"


class AnswerTooLong(DomainError):
    key = "ledger.text_too_long"


class EmptyAnswer(DomainError):
    """A text of spaces only (full-width ones too): nothing to record."""

    key = "ledger.text_empty"


class BadReason(DomainError):
    key = "ledger.reason_invalid"


class BadReturnReason(BadReason):
    """A send-back's reason too short or too long (the unit's is 理由, the reviewer's 原因)."""

    key = "review.reason_invalid"


class NoHeldFiles(DomainError):
    """A choice of item for files outside /submit, when none are held any more."""

    key = "common.stale_button"


class HeldFilesChanged(DomainError):
    """A choice under an older question, when more files have come since."""

    key = "ledger.stray_changed"


class SubmissionGone(DomainError):
    key = "review.gone"


class AlreadyReviewed(DomainError):
    key = "review.already_reviewed"


class SubmissionWithdrawn(SubmissionGone):
    """The unit was excused from the item while this awaited review (bot.checklist.exempt)."""

    key = "review.withdrawn"
