"""One exception tree. Each error carries a plain-English detail, a code and an HTTP status;
edges translate it once (JSON over HTTP, a *.failed event on the bus)."""

from __future__ import annotations


class AppError(Exception):
    status = 400
    code = "bad_request"
    headers: dict[str, str] | None = None
    """Response headers the error carries (e.g. `Retry-After` on a 503)."""

    def __init__(self, detail: str, code: str | None = None, status: int | None = None):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        if status:
            self.status = status


class BadInput(AppError):
    """The user's data or request cannot be used (400 unless told otherwise)."""


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class Unprocessable(AppError):
    status = 422
    code = "unprocessable"


class Unavailable(AppError):
    """A dependency (broker, predictor, database) cannot be reached right now."""

    status = 503
    code = "unavailable"


class TamperedFile(AppError):
    """A model file whose signature does not match: never loaded."""

    status = 409
    code = "model_untrusted"
