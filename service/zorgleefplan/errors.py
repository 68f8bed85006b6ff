"""The one exception tree of the service.

Every layer raises these; only ``fhir/outcome.py`` turns them into an HTTP response
(an OperationOutcome). Each error carries a status *hint* and a FHIR issue code, so layers
below HTTP never build responses themselves (the h11 ``error_status_hint`` habit).
"""

from __future__ import annotations


class ZlpError(Exception):
    """Base of every expected failure: a client mistake or a refused interaction."""

    status_hint: int = 400
    issue_code: str = "invalid"
    severity: str = "error"

    def __init__(
        self,
        diagnostics: str,
        *,
        expression: list[str] | None = None,
        status_hint: int | None = None,
        issue_code: str | None = None,
        issues: list[ZlpError] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.expression = expression or []
        if status_hint is not None:
            self.status_hint = status_hint
        if issue_code is not None:
            self.issue_code = issue_code
        # Further problems found in the same pass (validation reports them all at once).
        self.issues = issues or []


class InvalidRequest(ZlpError):
    """The request itself is malformed (syntax, parameters, headers)."""


class InvalidResource(ZlpError):
    """The resource in the body fails validation."""

    status_hint = 422
    issue_code = "invariant"


class NotSupported(ZlpError):
    issue_code = "not-supported"


class UnknownResourceType(ZlpError):
    status_hint = 404
    issue_code = "not-supported"


class ResourceNotFound(ZlpError):
    status_hint = 404
    issue_code = "not-found"


class ResourceGone(ZlpError):
    status_hint = 410
    issue_code = "deleted"


class VersionConflict(ZlpError):
    """A version-aware write lost against another writer (If-Match mismatch)."""

    status_hint = 412
    issue_code = "conflict"


class Conflict(ZlpError):
    status_hint = 409
    issue_code = "conflict"


class PreconditionFailed(ZlpError):
    """Conditional interaction matched more than one resource, or a precondition failed."""

    status_hint = 412
    issue_code = "multiple-matches"


class TooLarge(ZlpError):
    status_hint = 413
    issue_code = "too-costly"


class UnsupportedMediaType(ZlpError):
    status_hint = 415
    issue_code = "not-supported"


class NotAcceptable(ZlpError):
    status_hint = 406
    issue_code = "not-supported"


class MethodNotAllowed(ZlpError):
    status_hint = 405
    issue_code = "not-supported"


class Forbidden(ZlpError):
    status_hint = 403
    issue_code = "forbidden"


class Unauthorized(ZlpError):
    """No usable bearer token: 401 with an RFC 6750 ``WWW-Authenticate`` challenge.

    ``error=None`` is for a request without credentials: RFC 6750 section 3.1 says such a
    challenge names no error code.
    """

    status_hint = 401
    issue_code = "login"

    def __init__(
        self, diagnostics: str, *, error: str | None = "invalid_token", realm: str = "zorgleefplan"
    ) -> None:
        super().__init__(diagnostics)
        self.error = error
        params = [f'realm="{realm}"']
        if error is not None:
            params += [f'error="{error}"', f'error_description="{_quotable(diagnostics)}"']
        self.www_authenticate = "Bearer " + ", ".join(params)


class InsufficientScope(Forbidden):
    """The token is valid but its scopes do not cover the interaction (RFC 6750 section 3.1)."""

    def __init__(self, diagnostics: str, *, scope: str, realm: str = "zorgleefplan") -> None:
        super().__init__(diagnostics)
        self.scope = scope
        self.www_authenticate = (
            f'Bearer realm="{realm}", error="insufficient_scope", scope="{_quotable(scope)}"'
        )


def _quotable(text: str) -> str:
    # RFC 6750 section 3: error_description and scope exclude the quote, backslash and controls.
    return "".join(c for c in text if " " <= c <= "~" and c not in '"\\')


class StoreUnavailable(ZlpError):
    """The store could not serve the request (locked too long, disk full)."""

    status_hint = 503
    issue_code = "transient"


class MissingReferences(ZlpError):
    """A transaction's required references do not resolve when it commits (raised by stores;
    the repository turns it into an InvalidResource naming the element paths)."""

    status_hint = 422
    issue_code = "not-found"

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__(", ".join(f"{t}/{i}" for t, i in keys) + " do not resolve")
        self.keys = keys
