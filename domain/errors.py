"""The domain's error family: each names the field at fault and the reason."""

from __future__ import annotations


class DomainError(Exception):
    """A command was refused; nothing was recorded."""

    status = 422

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidValueError(DomainError):
    """A value breaks a rule of the contract between us and our users (RULES.md)."""

    status = 422


class ConflictError(DomainError):
    """The same id was used before with a different body."""

    status = 409


class StateError(DomainError):
    """The current state forbids this transition (e.g. resolving a retracted incident)."""

    status = 409


class NotFoundError(DomainError):
    """No aggregate has this id."""

    status = 404
