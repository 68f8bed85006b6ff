"""The person-facing side of the authorization code flow: ``/oauth/authorize``, login, consent.

Flow: ``GET /oauth/authorize`` validates the request through the protocol seam
(:mod:`zorgleefplan.auth.authorization`) and keeps it in a fresh session, then ``/oauth/login``
(a form for built-in accounts, or a redirect to an external OpenID Connect provider and back to
``/oauth/login/oidc/callback``), then ``/oauth/consent``: the person sees this service, the app,
the requested data in plain Dutch and who they act as, chooses the client when they may act for
several, and approves or denies. Every decision is recorded; the browser goes back to the app
with a code or ``access_denied``, and the session is cleared (a second submit finds nothing).

Requests the seam refuses without a trusted redirect URI get a Dutch error page (400), never a
redirect. Every form carries the session's CSRF token; a missing or wrong one gets a 403 page
and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from anyio import to_thread
from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from zorgleefplan.access.audit import AuditRecord
from zorgleefplan.auth import audit_events
from zorgleefplan.auth.authorization import (
    AuthorizationRequest,
    AuthorizationRequestError,
    EndUserGrant,
    denial_url,
    issue_code,
    validate_authorization_request,
)
from zorgleefplan.auth.data_services import DataService, UnknownDataService, describe_scopes
from zorgleefplan.auth.login import FormLogin, RedirectLogin, login_method
from zorgleefplan.auth.registry import Account, ConsentDecision, utc_now
from zorgleefplan.auth.scopes import ScopeSet, parse_resource_scope
from zorgleefplan.auth.services import AuthServices, public_root
from zorgleefplan.auth.session import Session, SessionCodec, SessionTooLarge, load_or_create_secret
from zorgleefplan.config import Settings
from zorgleefplan.errors import StoreUnavailable
from zorgleefplan.fhir.repository import FhirServices
from zorgleefplan.store.model import AccessConstraint
from zorgleefplan.ui.pages import error_page, render, security_headers, stylesheet

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

LOGIN_FAILED = (
    "Inloggen is niet gelukt. Controleer uw gebruikersnaam en wachtwoord en probeer het "
    "opnieuw. Na meerdere mislukte pogingen wordt inloggen een tijd geblokkeerd."
)
EXTERNAL_LOGIN_FAILED = "Inloggen is niet gelukt. Probeer het opnieuw."
SESSION_EXPIRED = (
    "Uw sessie is verlopen of ontbreekt. Ga terug naar de app en begin opnieuw met inloggen."
)
FORM_REFUSED = (
    "Dit formulier is verlopen of niet geldig. Ga terug naar de app en begin opnieuw met inloggen."
)
CHOOSE_CLIENT = "Kies voor wie u toestemming geeft."
CALLBACK_PATH = "/oauth/login/oidc/callback"
# v3-RoleCode: (healthcare) power of attorney; DOMAIN.md maps the gevolmachtigde to these.
_VOLMACHT_CODES = frozenset({"HPOWATT", "POWATT"})


# --------------------------------------------------------------------------- per-app state


@dataclass(frozen=True)
class _Pages:
    codecs: dict[bool, SessionCodec]  # by "secure"
    method: FormLogin | RedirectLogin


async def _pages(request: Request) -> _Pages:
    """Built on first use and kept on ``app.state`` (the session secret is read or created in
    the data dir; creating it is safe when several workers start at once)."""
    pages: _Pages | None = getattr(request.app.state, "authorize_pages", None)
    if pages is None:
        auth = _auth(request)
        settings = auth.settings
        secret = await to_thread.run_sync(load_or_create_secret, settings.data_dir)
        lifetime = settings.login_session_lifetime
        pages = _Pages(
            codecs={
                secure: SessionCodec(secret, lifetime=lifetime, secure=secure)
                for secure in (False, True)
            },
            method=login_method(auth.registry, auth.login, settings),
        )
        request.app.state.authorize_pages = pages
    return pages


def _auth(request: Request) -> AuthServices:
    return request.app.state.auth  # type: ignore[no-any-return]


def _secure(request: Request, settings: Settings) -> bool:
    return settings.cookie_secure or public_root(request, settings).startswith("https://")


async def _codec(request: Request) -> SessionCodec:
    return (await _pages(request)).codecs[_secure(request, _auth(request).settings)]


def _redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _error(
    request: Request, heading: str, message: str, status: int, detail: str | None = None
) -> Response:
    return error_page(
        _auth(request).settings.service_name, heading, message, status=status, detail=detail
    )


def _expired(request: Request, status: int = 400) -> Response:
    return _error(request, "Sessie verlopen", SESSION_EXPIRED, status)


def _refused(request: Request) -> Response:
    return _error(request, "Formulier geweigerd", FORM_REFUSED, 403)


async def _audited(request: Request, record: AuditRecord) -> Response | None:
    """Record ``record``; when the audit log cannot take it, the page that would follow is
    refused (503): nothing is answered unaudited."""
    try:
        await audit_events.audit_log(request).record(record)
    except StoreUnavailable:
        return _error(
            request,
            "Niet beschikbaar",
            "Dit kan nu niet worden vastgelegd. Probeer het later opnieuw.",
            503,
        )
    return None


async def _form(request: Request) -> FormData:
    return await request.form(max_files=0, max_fields=20)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


# --------------------------------------------------------------------------- authorize


@router.get("/oauth/authorize")
async def authorize(request: Request) -> Response:
    auth = _auth(request)
    query = request.query_params
    repeated = {k for k in query if len(query.getlist(k)) > 1}
    if repeated:
        return _error(
            request,
            "Ongeldig verzoek",
            "De app heeft een ongeldig verzoek gestuurd.",
            400,
            f"invalid_request: repeated parameter {', '.join(sorted(repeated))}",
        )
    try:
        authz = await validate_authorization_request(
            auth, dict(request.query_params), issuer=auth.issuer(request)
        )
    except AuthorizationRequestError as exc:
        if exc.redirect_url is not None:
            return _redirect(exc.redirect_url)
        return _error(
            request,
            "Ongeldig verzoek",
            "De app heeft een verzoek gestuurd dat wij niet kunnen uitvoeren. Er is niets gedeeld.",
            400,
            f"{exc.error}: {exc.description}",
        )
    codec = await _codec(request)
    session = codec.new(req=authz.to_json())
    response = _redirect("/oauth/login")
    try:
        codec.write(response, session)
    except SessionTooLarge:
        return _error(request, "Ongeldig verzoek", "Het verzoek van de app is te groot.", 400)
    return response


def _pending(session: Session | None) -> AuthorizationRequest | None:
    if session is None or not isinstance(session.get("req"), str):
        return None
    try:
        return AuthorizationRequest.from_json(session.get("req"))
    except (ValueError, TypeError, KeyError):
        return None


# --------------------------------------------------------------------------- login


def _login_page(
    request: Request,
    pages: _Pages,
    session: Session,
    authz: AuthorizationRequest,
    *,
    error: str | None = None,
    username: str = "",
    status: int = 200,
) -> Response:
    return render(
        "login.html",
        {
            "service_name": _auth(request).settings.service_name,
            "client_name": authz.client_name,
            "organization_name": authz.organization_name,
            "csrf": session.csrf,
            "error": error,
            "username": username,
            "method_kind": pages.method.kind,
            "method_name": pages.method.name,
        },
        status=status,
    )


@router.get("/oauth/login")
async def login_page(request: Request) -> Response:
    pages = await _pages(request)
    codec = await _codec(request)
    session = codec.read(request)
    authz = _pending(session)
    if session is None or authz is None:
        return _expired(request)
    return _login_page(request, pages, session, authz)


@router.post("/oauth/login")
async def login_submit(request: Request) -> Response:
    pages = await _pages(request)
    codec = await _codec(request)
    session = codec.read(request)
    form = await _form(request)
    authz = _pending(session)
    if session is None or authz is None or not session.check_csrf(form.get("csrf")):
        return _refused(request)
    method = pages.method
    if method.kind != "form":
        return _error(
            request, "Niet beschikbaar", "Inloggen met een wachtwoord kan hier niet.", 404
        )
    username = _text(form, "username").strip()
    account = await method.authenticate(username, _text(form, "password"))  # type: ignore[union-attr]
    # A failed attempt goes into the log of the client the name belongs to (if any).
    known = account or (await _auth(request).registry.get_account(username) if username else None)
    refused = await _audited(
        request,
        audit_events.login(
            username=username[:256] or None,
            display=known.display_name if known else None,
            fhir_users=known.fhir_users if known else (),
            client_id=authz.client_id,
            succeeded=account is not None,
            method="password",
        ),
    )
    if refused is not None:
        return refused
    if account is None:
        return _login_page(request, pages, session, authz, error=LOGIN_FAILED, username=username)
    return _logged_in(codec, session, account)


def _logged_in(codec: SessionCodec, session: Session, account: Account) -> Response:
    """A new session (new id and CSRF token: no fixation) with the person in it."""
    user = {
        "u": account.username,
        "n": account.display_name,
        "l": list(account.fhir_users),
        "t": int(utc_now().timestamp()),
    }
    fresh = codec.new(req=session.get("req"), user=user)
    response = _redirect("/oauth/consent")
    codec.write(response, fresh)
    return response


def _callback_url(request: Request, settings: Settings) -> str:
    return settings.oidc_redirect_uri or public_root(request, settings) + CALLBACK_PATH


@router.get("/oauth/login/oidc")
async def external_login(request: Request) -> Response:
    pages = await _pages(request)
    codec = await _codec(request)
    session = codec.read(request)
    if session is None or _pending(session) is None:
        return _expired(request)
    method = pages.method
    if method.kind != "redirect":
        return _error(request, "Niet beschikbaar", "Deze manier van inloggen is er niet.", 404)
    try:
        url, pending = await method.begin(_callback_url(request, _auth(request).settings))  # type: ignore[union-attr]
    except Exception:
        log.exception("external login could not start")
        return _error(
            request,
            "Inloggen niet beschikbaar",
            "Inloggen is nu niet mogelijk. Probeer het later opnieuw.",
            503,
        )
    response = _redirect(url)
    codec.write(response, session.with_data(oidc=pending))
    return response


@router.get(CALLBACK_PATH)
async def external_login_callback(request: Request) -> Response:
    pages = await _pages(request)
    codec = await _codec(request)
    session = codec.read(request)
    authz = _pending(session)
    pending = session.get("oidc") if session is not None else None
    if session is None or authz is None or not isinstance(pending, dict):
        return _expired(request)
    method = pages.method
    if method.kind != "redirect":
        return _error(request, "Niet beschikbaar", "Deze manier van inloggen is er niet.", 404)
    account = await method.complete(  # type: ignore[union-attr]
        pending, dict(request.query_params), _callback_url(request, _auth(request).settings)
    )
    refused = await _audited(
        request,
        audit_events.login(
            username=account.username if account else None,
            display=account.display_name if account else None,
            fhir_users=account.fhir_users if account else (),
            client_id=authz.client_id,
            succeeded=account is not None,
            method="external (OpenID Connect)",
        ),
    )
    if refused is not None:
        return refused
    if account is None:
        retry = session.with_data(oidc=None)
        response = _login_page(request, pages, retry, authz, error=EXTERNAL_LOGIN_FAILED)
        codec.write(response, retry)
        return response
    return _logged_in(codec, session, account)


# --------------------------------------------------------------------------- consent


@dataclass(frozen=True)
class Choice:
    """One way the logged-in person may act: as ``fhir_user``, for the client ``patient``."""

    key: str  # the form value: the account's link acting
    fhir_user: str
    patient: str | None
    label: str  # next to a radio button
    sentence: str  # when it is the only choice


async def _resource(services: FhirServices, reference: str) -> dict[str, Any] | None:
    type_, _, id_ = reference.partition("/")
    if not type_ or not id_:
        return None
    stored = await services.store.read(type_, id_, AccessConstraint.unrestricted())
    if stored is None or stored.deleted or stored.body is None:
        return None
    body = orjson.loads(stored.body)
    return body if isinstance(body, dict) else None


def _human_name(resource: dict[str, Any]) -> str | None:
    names = [n for n in resource.get("name", []) if isinstance(n, dict)]
    names.sort(key=lambda n: n.get("use") != "official")
    for name in names:
        if name.get("text"):
            return str(name["text"])
        parts = [*name.get("given", []), name.get("family", "")]
        text = " ".join(str(p) for p in parts if p)
        if text:
            return text
    return None


def _relationship(related: dict[str, Any]) -> str:
    for concept in related.get("relationship", []):
        for coding in concept.get("coding", []):
            if coding.get("code") in _VOLMACHT_CODES:
                return "gevolmachtigde"
        for coding in concept.get("coding", []):
            if coding.get("display"):
                return str(coding["display"]).lower()
        if concept.get("text"):
            return str(concept["text"])
    return "vertegenwoordiger"


def _practitioner_mode(authz: AuthorizationRequest) -> bool:
    contexts = {r.context for r in map(parse_resource_scope, authz.scope) if r is not None}
    return "user" in contexts and "patient" not in contexts


async def _choices(
    services: FhirServices, authz: AuthorizationRequest, links: list[str]
) -> tuple[list[Choice], str]:
    """The ways to act, and the message when there is none."""
    choices: list[Choice] = []
    if _practitioner_mode(authz):
        if authz.launch_patient:
            return [], (
                "Een cliënt kiezen bij het inloggen als zorgverlener kan hier nog niet. "
                "Start de app vanuit het dossier van de cliënt."
            )
        for link in links:
            if link.startswith("PractitionerRole/"):
                choices.append(
                    Choice(link, link, None, "als zorgverlener", "U handelt als zorgverlener.")
                )
        return choices, "Uw account is niet gekoppeld aan een rol als zorgverlener."
    for link in links:
        if link.startswith("Patient/"):
            patient = await _resource(services, link)
            if patient is None:
                log.warning("account link %s does not resolve", link)
                continue
            name = _human_name(patient) or "uzelf"
            choices.append(
                Choice(
                    link,
                    link,
                    link,
                    f"{name} (uzelf)",
                    f"U geeft toestemming voor uw eigen gegevens ({name}).",
                )
            )
        elif link.startswith("RelatedPerson/"):
            related = await _resource(services, link)
            reference = (related or {}).get("patient", {}).get("reference")
            patient = await _resource(services, reference) if isinstance(reference, str) else None
            if related is None or patient is None or related.get("active") is False:
                log.warning("account link %s does not resolve to a client", link)
                continue
            name = _human_name(patient) or "cliënt zonder naam"
            role = _relationship(related)
            choices.append(
                Choice(
                    link,
                    link,
                    reference,
                    f"{name} (u bent {role})",
                    f"U geeft toestemming namens {name} (u bent {role}).",
                )
            )
    return choices, "Uw account is niet gekoppeld aan een cliënt voor wie u toestemming kunt geven."


def _consent_page(
    request: Request,
    session: Session,
    authz: AuthorizationRequest,
    choices: list[Choice],
    no_choice: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    auth = _auth(request)
    settings = auth.settings
    # Data services by their registered name and description, as the app asked for them;
    # every other scope in plain words.
    asked: list[DataService] = []
    rest: list[str] = []
    for item in authz.requested_scope.split():
        try:
            service = auth.data_services.lookup(item, settings.service_id)
        except UnknownDataService:  # refused by the seam already; never shown unexplained
            service = None
        if service is None:
            rest.append(item)
        elif service not in asked:
            asked.append(service)
    lines = [(s.name, s.description) for s in asked]
    lines += [(None, line) for line in describe_scopes(ScopeSet.parse(" ".join(rest)))]
    user = session.get("user")
    redirect = urlsplit(authz.redirect_uri)
    return render(
        "consent.html",
        {
            "service_name": settings.service_name,
            "client_name": authz.client_name,
            "organization_name": authz.organization_name,
            "person_name": user["n"],
            "role": None,
            "csrf": session.csrf,
            "choices": choices,
            "no_choice": no_choice,
            "lines": lines,
            "offline": "offline_access" in authz.scope,
            "error": error,
        },
        status=status,
        form_targets=[f"{redirect.scheme}://{redirect.netloc}"],
    )


def _consent_session(session: Session | None) -> tuple[AuthorizationRequest, dict[str, Any]] | None:
    authz = _pending(session)
    user = session.get("user") if session is not None else None
    if authz is None or not isinstance(user, dict):
        return None
    return authz, user


@router.get("/oauth/consent")
async def consent_page(request: Request) -> Response:
    codec = await _codec(request)
    session = codec.read(request)
    pending = _consent_session(session)
    if session is None or pending is None:
        return _expired(request)
    authz, user = pending
    choices, no_choice = await _choices(request.app.state.services, authz, list(user["l"]))
    return _consent_page(request, session, authz, choices, no_choice)


@router.post("/oauth/consent")
async def consent_submit(request: Request) -> Response:
    auth = _auth(request)
    codec = await _codec(request)
    session = codec.read(request)
    form = await _form(request)
    pending = _consent_session(session)
    if session is None or pending is None or not session.check_csrf(form.get("csrf")):
        return _refused(request)
    authz, user = pending
    decision = _text(form, "decision")
    if decision not in ("approve", "deny"):
        return _error(request, "Ongeldig verzoek", "Kies Toestaan of Weigeren.", 400)
    choices, no_choice = await _choices(request.app.state.services, authz, list(user["l"]))
    chosen_key = _text(form, "client")
    chosen = next((c for c in choices if c.key == chosen_key), None)
    if chosen is None and len(choices) == 1 and not chosen_key:
        chosen = choices[0]
    approve = decision == "approve"
    if approve and chosen is None:
        error = CHOOSE_CLIENT if choices else no_choice
        return _consent_page(request, session, authz, choices, no_choice, error=error, status=400)
    remember = approve and "offline_access" in authz.scope and _text(form, "remember") == "yes"
    scope = tuple(s for s in authz.scope if s != "offline_access" or remember)
    await auth.registry.record_consent_decision(
        ConsentDecision(
            username=user["u"],
            fhir_user=chosen.fhir_user if chosen else None,
            patient=chosen.patient if chosen else None,
            client_id=authz.client_id,
            scopes=scope if approve else authz.scope,
            approved=approve,
            remember=remember,
            decided_at=utc_now(),
        )
    )
    refused = await _audited(
        request,
        audit_events.consent_decision(
            username=user["u"],
            display=user.get("n"),
            acting_as=chosen.fhir_user if chosen else None,
            patient=chosen.patient if chosen else None,
            client_id=authz.client_id,
            scopes=scope if approve else authz.scope,
            approved=approve,
            remember=remember,
        ),
    )
    if refused is not None:
        return refused
    if approve:
        assert chosen is not None
        grant = EndUserGrant(
            username=user["u"],
            fhir_user=chosen.fhir_user,
            patient=chosen.patient,
            scope=scope,
            remember=remember,
            auth_time=datetime.fromtimestamp(int(user["t"]), UTC),
        )
        try:
            url = await issue_code(auth, authz, grant)
        except AuthorizationRequestError as exc:
            response = _error(
                request,
                "App niet beschikbaar",
                "Deze app heeft geen toegang meer. Er is niets gedeeld.",
                400,
                f"{exc.error}: {exc.description}",
            )
            codec.clear(response)
            return response
    else:
        url = denial_url(authz)
    response = _redirect(url)
    codec.clear(response)  # the request is answered: a second submit finds no session
    return response


# --------------------------------------------------------------------------- stylesheet


@router.get("/oauth/style.css")
async def style() -> Response:
    response = security_headers(Response(stylesheet(), media_type="text/css"))
    response.headers["Cache-Control"] = "public, max-age=3600"
    del response.headers["Pragma"]
    return response
