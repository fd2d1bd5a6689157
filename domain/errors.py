"""Domain errors. Each maps 1:1 to an RFC 9457 problem type in the API layer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path into the request, e.g. "recurrence.rrule" or "reminders.2.at"
    message: str


class DomainError(Exception):
    """Base class: `title` is the problem title; the message is the detail."""

    title = "Domain error"


class ValidationFailed(DomainError):
    """Input that breaks a domain rule. Carries every offending field at once."""

    title = "Validation failed"

    def __init__(self, errors: list[FieldError] | FieldError) -> None:
        self.errors = [errors] if isinstance(errors, FieldError) else list(errors)
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls(FieldError(field, message))


class NotFound(DomainError):
    """The resource does not exist for this caller (another user's ids look the same)."""

    title = "Not found"


class VersionMismatch(DomainError):
    """If-Match named a version other than the current one."""

    title = "Precondition failed"


class Conflict(DomainError):
    """The request is valid but contradicts the resource's current state."""

    title = "Conflict"


class CompletionFailed(DomainError):
    """Closing an occurrence could not finish (its saga compensated): it is open again."""

    title = "Completion failed"


class DependencyUnavailable(DomainError):
    """A runtime the use case needs (the Dapr sidecar) cannot be reached right now.
    Nothing was decided, so the same request may simply be sent again later."""

    title = "Dependency unavailable"
    retry_after_s = 5  # a restarting sidecar is back within seconds
