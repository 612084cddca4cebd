"""What can go wrong with a backend, as types the job service can act on.

`retryable` tells the caller whether trying the *same* job again later could work;
no error here means "submit again": an ambiguous submit is exactly the case where a
second submit could bill twice.
"""

from __future__ import annotations


class ProviderError(Exception):
    retryable = False

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider

    def __str__(self) -> str:
        return f"{self.provider}: {self.message}" if self.provider else self.message


class AuthenticationError(ProviderError):
    """The API key was refused (401/403)."""


class OutOfCreditError(ProviderError):
    """The operator's account cannot pay for the job (402)."""


class RateLimitedError(ProviderError):
    """Still 429 after our retries; `retry_after` is the provider's hint in seconds."""

    retryable = True

    def __init__(self, message: str, *, provider: str = "", retry_after: float | None = None):
        super().__init__(message, provider=provider)
        self.retry_after = retry_after


class InvalidInputError(ProviderError):
    """The request cannot be served as asked: refused by our mapping before any network
    call, or by the provider (400/422)."""


class ContentPolicyError(ProviderError):
    """The provider's safety checker blocked the input or the output."""


class JobFailedError(ProviderError):
    """The provider ran the job and it failed."""


class InvalidResultError(JobFailedError):
    """The result is not a usable MP4: truncated, not MP4, or over the size cap."""


class ResultExpiredError(ProviderError):
    """The result URL no longer serves the video (403/404/410)."""


class DeadlineExceededError(ProviderError):
    """The job did not finish within the configured deadline."""


class TransientError(ProviderError):
    """A passing fault (5xx, timeouts, malformed replies) that outlasted our retries."""

    retryable = True


class AmbiguousSubmitError(ProviderError):
    """The submit may or may not have been accepted (a timeout or a 5xx after the request
    was sent, or an unreadable answer) and the provider gave no request id to poll.
    Never resubmitted automatically: the operator may already be paying for one job."""
