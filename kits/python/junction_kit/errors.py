"""Errors a connector reports: one constructor per variant of the contract's `error`, each with
the retry class the runtime applies. Raise them from any handler; the runtime decides from the
variant, never from the message."""

from typing import Optional

from componentize_py_types import Err
from wit_world.imports.junction_connector_types import (
    Error_Conflict,
    Error_IdempotencyMismatch,
    Error_InvalidWebhook,
    Error_NotFound,
    Error_RateLimited,
    Error_Rejected,
    Error_Transient,
    Error_Unauthorized,
    Error_Unsupported,
    Rejection,
    TransientError,
)


class ConnectorError(Err):
    """An error the host receives as the contract's typed `error` (its `value`)."""

    @property
    def retry_class(self) -> str:
        """retry, rate-limited, dead-letter, pause or never."""
        v = self.value
        if isinstance(v, (Error_Transient, Error_Conflict)):
            return "retry"
        if isinstance(v, Error_RateLimited):
            return "rate-limited"
        if isinstance(v, (Error_Rejected, Error_NotFound)):
            return "dead-letter"
        if isinstance(v, Error_Unauthorized):
            return "pause"
        return "never"

    def __str__(self) -> str:
        v = self.value
        inner = getattr(v, "value", None)
        return f"{type(v).__name__}: {getattr(inner, 'message', inner)}"


def _ms(n: Optional[float]) -> Optional[int]:
    return None if n is None or n < 0 else int(round(n))


def transient(message: str, retry_after_ms: Optional[float] = None) -> ConnectorError:
    """Network trouble, timeouts, 5xx: retried with back-off."""
    return ConnectorError(Error_Transient(TransientError(message, _ms(retry_after_ms))))


def rate_limited(retry_after_ms: Optional[float] = None) -> ConnectorError:
    """The vendor is throttling: retried after the wait."""
    return ConnectorError(Error_RateLimited(_ms(retry_after_ms)))


def rejected(message: str, field: Optional[str] = None) -> ConnectorError:
    """Refused on its merits: dead-lettered."""
    return ConnectorError(Error_Rejected(Rejection(message, field)))


def unauthorized(message: str) -> ConnectorError:
    """Credentials missing or wrong: the instance is paused."""
    return ConnectorError(Error_Unauthorized(message))


def not_found(message: str) -> ConnectorError:
    return ConnectorError(Error_NotFound(message))


def conflict(message: str) -> ConnectorError:
    """Another write holds the record: retried."""
    return ConnectorError(Error_Conflict(message))


def idempotency_mismatch(message: str) -> ConnectorError:
    return ConnectorError(Error_IdempotencyMismatch(message))


def unsupported(message: str) -> ConnectorError:
    return ConnectorError(Error_Unsupported(message))


def invalid_webhook(message: str) -> ConnectorError:
    return ConnectorError(Error_InvalidWebhook(message))
