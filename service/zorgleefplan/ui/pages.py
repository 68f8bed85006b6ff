"""Rendering of the server-side pages: Jinja2 templates shipped with the package.

Every page goes out with the same protective headers: a Content-Security-Policy that allows
nothing but this service's stylesheet and forms (no script at all), no framing (against
clickjacking), no caching (the pages carry CSRF tokens and personal data), no referrer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, Response


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("zorgleefplan.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def stylesheet() -> bytes:
    return resources.files("zorgleefplan.ui").joinpath("static/style.css").read_bytes()


def content_security_policy(form_targets: Iterable[str] = ()) -> str:
    """The page's CSP. ``form_targets`` are origins a form may end up at: browsers apply
    ``form-action`` to the redirect that follows a form post too (the consent form ends at
    the app's redirect URI, the external login form at the provider)."""
    targets = " ".join(["'self'", *dict.fromkeys(form_targets)])
    return (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        f"form-action {targets}; frame-ancestors 'none'; base-uri 'none'"
    )


R = TypeVar("R", bound=Response)


def security_headers(response: R, form_targets: Iterable[str] = ()) -> R:
    response.headers["Content-Security-Policy"] = content_security_policy(form_targets)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def render(
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    form_targets: Iterable[str] = (),
) -> HTMLResponse:
    html = environment().get_template(template).render(**context)
    return security_headers(HTMLResponse(html, status_code=status), form_targets)


def error_page(
    service_name: str, heading: str, message: str, *, status: int, detail: str | None = None
) -> HTMLResponse:
    return render(
        "error.html",
        {"service_name": service_name, "heading": heading, "message": message, "detail": detail},
        status=status,
    )
