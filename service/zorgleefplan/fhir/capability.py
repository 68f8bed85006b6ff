"""The CapabilityStatement, built from what the server actually supports.

Types come from the served set, search parameters from the same registry the parser uses, and
interactions from the dispatcher's table, so the statement cannot drift from behaviour.
"""

from __future__ import annotations

from typing import Any

from zorgleefplan import __version__
from zorgleefplan.fhir import audit_api, operations
from zorgleefplan.fhir.profiles import default_profiles
from zorgleefplan.fhir.resource_types import SERVER_WRITTEN, SUPPORTED_TYPES
from zorgleefplan.fhir.search.parameters import SearchParameterRegistry

TYPE_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SYSTEM_INTERACTIONS = ("transaction", "batch", "search-system", "history-system")

_COMMON_SEARCH = (
    ("_id", "token", "http://hl7.org/fhir/SearchParameter/Resource-id", "Logical id"),
    (
        "_lastUpdated",
        "date",
        "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
        "When the resource version last changed",
    ),
)


DOCUMENTATION = {
    "Subscription": "R4 Subscriptions, channel rest-hook only. criteria: a search of one type "
    "(criteria parameters only). Without channel.payload a notification is a POST with no "
    "body to the endpoint; with payload application/fhir+json the endpoint is a service base: "
    "PUT [endpoint]/[type]/[id] with the resource, DELETE [endpoint]/[type]/[id] for a "
    "deletion. A client writes status requested or off; the server sets active once the "
    "endpoint checks out (https; no private, link-local or metadata addresses), and error, "
    "with the reason, when it does not or after repeated failed deliveries. Every notification "
    "is decided by the subscriber's access at that moment. A Subscription is visible to its "
    "subscriber only (the client's own also in their plan).",
}

AUDIT_INTERACTIONS = ("read", "search-type")


def _audit_event(registry: SearchParameterRegistry) -> dict[str, Any]:
    params = [
        {"name": code, "definition": sp.url, "type": sp.type, "documentation": sp.description}
        for code, sp in sorted(registry.for_type("AuditEvent").items())
        if code in audit_api.SEARCH_PARAMETERS
    ]
    return {
        "type": "AuditEvent",
        "profile": "http://hl7.org/fhir/StructureDefinition/AuditEvent",
        "documentation": "The access log of one client (NEN 7513), written by the server. "
        "Search needs patient=<client id>; results are newest first, paged with _count. "
        "Readable by the client and their volmacht holder; professionals never.",
        "interaction": [{"code": c} for c in AUDIT_INTERACTIONS],
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "conditionalCreate": False,
        "conditionalRead": "not-supported",
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "searchInclude": [],
        "searchRevInclude": [],
        "searchParam": params,
    }


def _search_params(registry: SearchParameterRegistry, type_: str) -> list[dict[str, Any]]:
    params = [
        {"name": name, "definition": url, "type": kind, "documentation": doc}
        for name, kind, url, doc in _COMMON_SEARCH
    ]
    for code, sp in sorted(registry.for_type(type_).items()):
        params.append(
            {"name": code, "definition": sp.url, "type": sp.type, "documentation": sp.description}
        )
    return params


def _operations(type_: str) -> dict[str, Any]:
    listed: dict[str, dict[str, Any]] = {}  # once per name: type and instance level share one
    for op in operations.for_type(type_):
        listed.setdefault(
            op.name,
            {"name": op.name, "definition": op.definition, "documentation": op.documentation},
        )
    return {"operation": list(listed.values())} if listed else {}


def _supported_profiles(type_: str) -> dict[str, Any]:
    urls = [p.url for p in default_profiles().for_type(type_)]
    return {"supportedProfile": urls} if urls else {}


PROFILES_DOCUMENTATION = (
    "A resource that claims a profile of this server (https://zorgleefplan.nl/fhir/"
    "StructureDefinition/...) in meta.profile is validated against it on every write, and "
    "refused (422) when it does not conform or the profile is unknown; profiles of others are "
    "accepted without validation. Dutch identifiers (BSN elfproef, AGB, URA, UZI, BIG) are "
    "checked on every write. $validate reports the same without storing."
)


def security(oauth_root: str) -> dict[str, Any]:
    """SMART on FHIR security: the service coding and the oauth-uris extension (SMART App
    Launch 2.x; /.well-known/smart-configuration says the same and more)."""
    return {
        "extension": [
            {
                "url": OAUTH_URIS,
                "extension": [
                    {"url": "authorize", "valueUri": oauth_root + "/oauth/authorize"},
                    {"url": "token", "valueUri": oauth_root + "/oauth/token"},
                    {"url": "revoke", "valueUri": oauth_root + "/oauth/revoke"},
                    {"url": "introspect", "valueUri": oauth_root + "/oauth/introspect"},
                ],
            }
        ],
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                        "display": "SMART-on-FHIR",
                    }
                ],
                "text": "OAuth 2.0 / SMART App Launch (bearer tokens)",
            }
        ],
        "description": "Every request except GET /metadata needs a bearer token; see "
        + oauth_root
        + "/.well-known/smart-configuration",
    }


def capability_statement(
    registry: SearchParameterRegistry,
    base: str,
    software_date: str,
    *,
    oauth_root: str | None = None,
) -> dict[str, Any]:
    """``oauth_root`` is where the authorization server lives; by default the FHIR base
    without its ``/fhir`` suffix (both are served by this app)."""
    if oauth_root is None:
        oauth_root = base.removesuffix("/").removesuffix("/fhir")
    resources = []
    for type_ in SUPPORTED_TYPES:
        if type_ in SERVER_WRITTEN:
            resources.append(_audit_event(registry))
            continue
        refs = sorted(
            f"{type_}:{code}"
            for code, sp in registry.for_type(type_).items()
            if sp.type == "reference"
        )
        revs = sorted(
            f"{other}:{code}"
            for other in SUPPORTED_TYPES
            if other not in SERVER_WRITTEN
            for code, sp in registry.for_type(other).items()
            if sp.type == "reference" and (not sp.targets or type_ in sp.targets)
        )
        resources.append(
            {
                "type": type_,
                "profile": f"http://hl7.org/fhir/StructureDefinition/{type_}",
                "interaction": [{"code": c} for c in TYPE_INTERACTIONS],
                "versioning": "versioned-update",
                "readHistory": True,
                "updateCreate": True,
                "conditionalCreate": True,
                "conditionalRead": "full-support",
                "conditionalUpdate": True,
                "conditionalDelete": "single",
                "referencePolicy": ["literal", "enforced", "local"],
                "searchInclude": [f"{type_}:*", *refs] if refs else [],
                "searchRevInclude": revs,
                "searchParam": _search_params(registry, type_),
                **_supported_profiles(type_),
                **_operations(type_),
                **({"documentation": DOCUMENTATION[type_]} if type_ in DOCUMENTATION else {}),
            }
        )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": software_date,
        "publisher": "Zorgleefplan",
        "kind": "instance",
        "software": {"name": "Zorgleefplan", "version": __version__},
        "implementation": {
            "description": "Zorgleefplan: the client-owned persoonlijk zorgleefplan",
            "url": base,
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": PROFILES_DOCUMENTATION,
                "security": security(oauth_root),
                "resource": resources,
                "interaction": [{"code": c} for c in SYSTEM_INTERACTIONS],
                "searchParam": [
                    {"name": name, "definition": url, "type": kind, "documentation": doc}
                    for name, kind, url, doc in _COMMON_SEARCH
                ],
            }
        ],
    }
