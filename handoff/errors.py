"""The bridge's exceptions: one small tree, each with a wire code and an HTTP status.

Inner modules raise these; only the edges (HTTP handlers, Socket.IO handlers) turn them
into JSON errors, ``error`` events or ack errors, so the rules live in one place.
"""
from __future__ import annotations


class HandoffError(Exception):
    """Base of every error the bridge reports to a client."""

    code = "internal"
    status = 500

    def __init__(self, message: str = ""):
        super().__init__(message or self.code)
        self.message = message or self.code

    def to_dict(self) -> dict[str, str]:
        """The wire form: {"code", "message"}."""
        return {"code": self.code, "message": self.message}


class BadRequest(HandoffError):
    code, status = "bad_request", 400


class Unauthorized(HandoffError):
    code, status = "unauthorized", 401


class Forbidden(HandoffError):
    code, status = "forbidden", 403


class NotFound(HandoffError):
    code, status = "not_found", 404


class TooLarge(HandoffError):
    code, status = "too_large", 413


class RateLimited(HandoffError):
    code, status = "rate_limited", 429


class Unavailable(HandoffError):
    code, status = "unavailable", 503
