"""Typed core errors.

Adapters (CLI, API, web) never decide policy: they translate these errors into an exit code or a
status. Each error carries a stable ``code`` (used as the RFC 9457 problem ``type`` suffix) and an
``exit_code`` following DESIGN.md: 1 when a rule refused the operation, 2 for bad input or usage.

Messages must never contain personal values: they name purposes, kinds, fields and record ids only.
"""

from __future__ import annotations


class ConfidaError(Exception):
    """Base of every error the core raises on purpose."""

    code = "error"
    exit_code = 1
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- bad input (exit 2) -------------------------------------------------------------------------


class BadInput(ConfidaError):
    code = "bad-input"
    exit_code = 2
    http_status = 400


class InvalidRegister(BadInput):
    code = "invalid-register"


class UnknownKind(BadInput):
    code = "unknown-kind"
    http_status = 422


class UnknownPurpose(BadInput):
    code = "unknown-purpose"
    http_status = 422


class InvalidRecord(BadInput):
    code = "invalid-record"
    http_status = 422


class PayloadTooLarge(BadInput):
    code = "payload-too-large"
    http_status = 413


class NotFound(BadInput):
    code = "not-found"
    http_status = 404


class NotInitialised(BadInput):
    code = "not-initialised"


# --- refused by a rule (exit 1) ---------------------------------------------------------------


class Refused(ConfidaError):
    code = "refused"
    exit_code = 1
    http_status = 403


class ConsentRequired(Refused):
    code = "consent-required"


class PurposeNotAllowed(Refused):
    code = "purpose-not-allowed"


class SubjectRestricted(Refused):
    code = "subject-restricted"
    http_status = 409


class SubjectErased(Refused):
    code = "subject-erased"
    http_status = 410


class AccessDenied(Refused):
    code = "access-denied"


# --- environment (exit 1): the operation could not run safely --------------------------------


class KeyUnavailable(ConfidaError):
    """A key is missing, unreadable, too widely readable, or does not match what it wrapped."""

    code = "key-unavailable"
    exit_code = 1
    http_status = 503


class StoreUnavailable(ConfidaError):
    """The database cannot be reached, is locked, or is not at the expected schema version."""

    code = "store-unavailable"
    exit_code = 1
    http_status = 503


# --- API access -----------------------------------------------------------------------------------


class PurposeRequired(BadInput):
    """A read of personal data that does not say why (no ``Confida-Purpose``)."""

    code = "purpose-required"
    http_status = 400


class Unauthenticated(Refused):
    """No credential, or one that is malformed, unknown, expired, revoked or badly signed.

    The message never says which of these it was beyond a coarse reason, so that a caller cannot
    probe which key prefixes exist.
    """

    code = "unauthenticated"
    http_status = 401


class RateLimited(Refused):
    code = "rate-limited"
    http_status = 429

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- data subject rights ---------------------------------------------------------------------


class ObjectionRecorded(Refused):
    """The subject objected (Art. 21) to processing for this purpose."""

    code = "objection-recorded"


class RequestConflict(BadInput):
    """A request id was reused for a different request, or a closed request was changed."""

    code = "request-conflict"
    http_status = 409


# --- training data and analytics ----------------------------------------------------------------


class PrivacyBudgetExceeded(Refused):
    """A differentially private query would spend more epsilon than the analyst has left."""

    code = "privacy-budget-exceeded"
    http_status = 429
