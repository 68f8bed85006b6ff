"""``GET [base]/Patient/[id]/$everything``: the client's plan in one paged searchset.

Everything in the client's compartment that the requester may see — the request's access
constraint narrowed to that one compartment, applied inside the store query like any search
(so a professional gets exactly the classes the client's Consent permits, and a client whose
Patient they may not see looks absent). Parameters: ``_type`` (comma-separated), ``_since``,
``_count`` and the ``_cursor`` of the next link.
"""

from __future__ import annotations

from dataclasses import replace

from zorgleefplan.errors import InvalidRequest, ResourceNotFound, UnknownResourceType
from zorgleefplan.fhir.interactions import Context
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.fhir.request import FhirRequest, FhirResponse
from zorgleefplan.fhir.resource_types import SUPPORTED
from zorgleefplan.fhir.search.normalize import date_range
from zorgleefplan.fhir.search.parameters import SearchParameterRegistry
from zorgleefplan.fhir.searchset import (
    Shaper,
    bundle_bytes,
    decode_cursor,
    encode_cursor,
    link_url,
    search_entries,
)
from zorgleefplan.store.model import (
    AccessConstraint,
    LastUpdatedCriterion,
    Page,
    RangeMatch,
    SearchQuery,
)

OPERATION = "$everything"
DEFINITION = "http://hl7.org/fhir/OperationDefinition/Patient-everything"
_PARAMETERS = frozenset({"_type", "_since", "_count", "_cursor", "_format"})


def in_compartment(access: AccessConstraint, patient: str) -> AccessConstraint:
    """``access`` narrowed to one client's compartment (each grant intersected with it)."""
    narrowed = []
    for grant in access.grants:
        if grant.compartments is not None and patient not in grant.compartments:
            continue
        narrowed.append(replace(grant, compartments=frozenset({patient}), include_shared=False))
    return AccessConstraint(grants=tuple(narrowed))


def compartment_types(registry: SearchParameterRegistry) -> tuple[str, ...]:
    """The served types a client's compartment can hold."""
    return tuple(t for t in sorted(SUPPORTED) if t == "Patient" or registry.compartment_params(t))


async def patient_everything(req: FhirRequest, ctx: Context, patient: str) -> FhirResponse:
    settings = ctx.repo.services.settings
    count = settings.default_page_size
    types = compartment_types(ctx.repo.services.registry)
    criteria: list[LastUpdatedCriterion] = []
    after = None
    for key, value in req.params:
        try:
            if key == "_count":
                count = min(int(value), settings.max_page_size)
                if count < 1:
                    raise ValueError("not positive")
            elif key == "_since":
                since = date_range(value)[0]
                criteria.append(LastUpdatedCriterion((RangeMatch("ge", since, since),)))
            elif key == "_type":
                asked = tuple(t.strip() for t in value.split(",") if t.strip())
                unknown = [t for t in asked if t not in SUPPORTED]
                if unknown:
                    raise UnknownResourceType(f"_type names types not served here: {unknown}")
                types = tuple(t for t in asked if t in types)
            elif key == "_cursor":
                after = decode_cursor(value, 1)
            elif key not in _PARAMETERS and not req.lenient:
                raise InvalidRequest(f"$everything does not take the parameter {key!r}")
        except (ValueError, TypeError) as exc:
            raise InvalidRequest(f"{key}: {exc}", expression=[key]) from None
    repo = ctx.repo
    scoped = Repository(
        repo.services,
        repo.principal,
        in_compartment(repo.access, patient),
        decision=repo.decision,
    )
    # Whoever may see anything of this plan knows the client exists; anyone else gets the
    # answer a missing client gets.
    unrestricted = AccessConstraint.unrestricted()
    client = await repo.services.store.read("Patient", patient, unrestricted)
    if not scoped.access.grants or client is None or client.deleted:
        raise ResourceNotFound(f"Patient/{patient} is not known")
    page = await scoped.search(
        SearchQuery(types, tuple(criteria)),
        Page(count=count, after=tuple(after) if after else None),
    )
    path = f"Patient/{patient}/{OPERATION}"
    params = [(k, v) for k, v in req.params if k != "_cursor"]
    links = [("self", link_url(ctx.base, path, req.params))]
    if page.next_after is not None:
        next_params = [*params, ("_cursor", encode_cursor(page.next_after))]
        links.append(("next", link_url(ctx.base, path, next_params)))
    entries = search_entries(ctx.base, page.rows, (), Shaper(None, None))
    return FhirResponse(
        200,
        body=bundle_bytes("searchset", entries, total=None, links=links),
        touched=page.rows,
    )
