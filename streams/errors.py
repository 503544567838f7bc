"""One exception tree for the whole product.

    OrdersyncError
    ├── ConfigurationError          bad settings; raised at start-up
    ├── InvalidInputError           bad record or file; never retried
    │   ├── DecodeError             bytes that are not a decodable Confluent-framed record
    │   ├── ValidationError         decoded, but breaks a field or business rule
    │   ├── KeyMismatchError        the record's key is not its event's order key
    │   └── HeaderError             a control header ordersync cannot honour (headers.py)
    └── DeliveryError               a platform call did not succeed
        ├── RetryableDeliveryError  timeouts, connection errors, 408/425/429/5xx
        └── PermanentDeliveryError  other 4xx, refused addresses, missing credentials
            └── DocumentError       the document the event brings (an NF-e XML) is not
                                    one to send: INVALID, never uploaded

Errors from libraries are translated at the boundary with ``raise ... from``.
"""

from __future__ import annotations

from dataclasses import dataclass


class OrdersyncError(Exception):
    """Root of every error ordersync raises on purpose."""

    reason_code = "INTERNAL_ERROR"


class ConfigurationError(OrdersyncError):
    reason_code = "CONFIGURATION_ERROR"


@dataclass(frozen=True)
class FieldError:
    """One problem in one field: ``invoice.access_key: expected 44 digits, got 43``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidInputError(OrdersyncError):
    reason_code = "INVALID_RECORD"


class DecodeError(InvalidInputError):
    def __init__(self, message: str, reason_code: str = "UNDECODABLE") -> None:
        super().__init__(message)
        self.reason_code = reason_code


class ValidationError(InvalidInputError):
    reason_code = "INVALID_EVENT"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


class KeyMismatchError(InvalidInputError):
    reason_code = "KEY_MISMATCH"


class DeliveryError(OrdersyncError):
    retryable = False
    invalid_input = False  # the event, not the platform, is at fault: INVALID

    def __init__(
        self,
        message: str,
        *,
        reason_code: str,
        http_status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.http_status = http_status
        self.retry_after_s = retry_after_s


class RetryableDeliveryError(DeliveryError):
    retryable = True


class PermanentDeliveryError(DeliveryError):
    retryable = False


class DocumentError(PermanentDeliveryError):
    """The event's document is unfit to send (not an NF-e, another key, not authorized,
    too large): the event itself is wrong, so its outcome is INVALID."""

    invalid_input = True
