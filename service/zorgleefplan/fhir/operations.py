"""The FHIR operations this server offers (``$name``), in one table.

The dispatcher routes ``[type]/$name`` and ``[type]/[id]/$name`` through this table, and the
CapabilityStatement lists exactly its entries, so an operation is served if and only if it is
listed. To add one: write its handler in its own module and add an ``Operation`` below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zorgleefplan.fhir import (
    erasure,
    everything,
    plan_checklist,
    plan_summary,
    plandefinition_apply,
    validate,
)
from zorgleefplan.fhir.resource_types import SERVER_WRITTEN, SUPPORTED_TYPES

if TYPE_CHECKING:
    from zorgleefplan.fhir.interactions import Context
    from zorgleefplan.fhir.request import FhirRequest, FhirResponse

# (request, context, instance id or None at type level) -> response
Handler = Callable[["FhirRequest", "Context", str | None], Awaitable["FhirResponse"]]


@dataclass(frozen=True)
class Operation:
    name: str  # without the "$"
    resource_type: str
    instance: bool  # [type]/[id]/$name, else [type]/$name
    methods: frozenset[str]
    # SMART permission letter the caller's scopes need, on resource_type (or on any type when
    # scope_type is None: the operation returns several types, each still filtered by access)
    scope_letter: str
    scope_type: str | None
    handler: Handler
    definition: str  # canonical URL of the OperationDefinition
    documentation: str


# An instance-level operation's implementation: (request, context, the instance's id)
InstanceHandler = Callable[["FhirRequest", "Context", str], Awaitable["FhirResponse"]]


def _on_instance(fn: InstanceHandler) -> Handler:
    """The table's handler for an operation the dispatcher only routes with an id."""

    def handler(req: FhirRequest, ctx: Context, id_: str | None) -> Awaitable[FhirResponse]:
        assert id_ is not None  # listed with instance=True
        return fn(req, ctx, id_)

    return handler


def _validate_on(type_: str) -> Handler:
    def handler(req: FhirRequest, ctx: Context, id_: str | None) -> Awaitable[FhirResponse]:
        return validate.resource_validate(req, ctx, type_, id_)

    return handler


def _validate(type_: str, instance: bool) -> Operation:
    """$validate on every type clients write: a would-be create needs 'c' on the type, the
    validation of a stored resource 'r' (and mode update 'u', mode delete 'd')."""
    return Operation(
        name="validate",
        resource_type=type_,
        instance=instance,
        methods=frozenset({"GET", "POST"}) if instance else frozenset({"POST"}),
        scope_letter="r" if instance else "c",
        scope_type=type_,
        handler=_validate_on(type_),
        definition=validate.DEFINITION,
        documentation="Check a resource against FHIR R4, the Dutch identifier rules and the "
        "profiles it claims or the profile parameter, without storing it (POST [type]/$validate; "
        "GET or POST [type]/[id]/$validate; mode create, update, delete or profile).",
    )


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        name="everything",
        resource_type="Patient",
        instance=True,
        methods=frozenset({"GET"}),
        scope_letter="s",
        scope_type=None,
        handler=_on_instance(everything.patient_everything),
        definition=everything.DEFINITION,
        documentation="The client's plan as far as the requester may see it "
        "(GET; _type, _since, _count).",
    ),
    Operation(
        name="erase",
        resource_type="Patient",
        instance=True,
        methods=frozenset({"POST"}),
        scope_letter="d",
        scope_type="Patient",
        handler=_on_instance(erasure.patient_erase),
        definition=erasure.DEFINITION,
        documentation="Erase the client's whole plan for good, at their own request "
        "(vernietiging): every resource and version gone, the ids never reused, the access "
        "log kept. Only the client or their legal representative; the body confirms it "
        "(Parameters: confirm = 'Patient/[id]').",
    ),
    Operation(
        name="apply",
        resource_type="PlanDefinition",
        instance=True,
        methods=frozenset({"POST"}),
        scope_letter="c",
        scope_type="Task",
        handler=_on_instance(plandefinition_apply.plan_definition_apply),
        definition=plandefinition_apply.DEFINITION,
        documentation="Creates the client's Tasks of the plan (e.g. wlz-plaatsing: the Wlz "
        "placement steps), owned by the organisations filling the roles; returns a CarePlan "
        "(not stored) referencing them (POST Parameters: subject, dossierhouder, zorgkantoor, "
        "onafhankelijke-clientondersteuner, zorgbeeindiging).",
    ),
    Operation(
        name=plan_summary.NAME,
        resource_type="CarePlan",
        instance=True,
        methods=frozenset({"GET", "POST"}),
        scope_letter="r",
        scope_type="CarePlan",
        handler=_on_instance(plan_summary.careplan_summary),
        definition=plan_summary.DEFINITION,
        documentation="Who is who in the plan (Parameters, the resources used, a Dutch "
        "narrative), as far as the requester may see it.",
    ),
    Operation(
        name=plan_checklist.NAME,
        resource_type="CarePlan",
        instance=True,
        methods=frozenset({"GET", "POST"}),
        scope_letter="r",
        scope_type="CarePlan",
        handler=_on_instance(plan_checklist.careplan_checklist),
        definition=plan_checklist.DEFINITION,
        documentation="The plan judged against the checklists of the source documents "
        "(pass, fail or cannot-tell per item, with reason and evidence; item: only these).",
    ),
    *(
        _validate(type_, instance)
        for type_ in SUPPORTED_TYPES
        if type_ not in SERVER_WRITTEN
        for instance in (False, True)
    ),
)

_BY_KEY = {(op.resource_type, op.instance, op.name): op for op in OPERATIONS}


def find(resource_type: str, instance: bool, name: str) -> Operation | None:
    """The operation ``name`` (without "$") at this level of this type, if served."""
    return _BY_KEY.get((resource_type, instance, name))


def for_type(resource_type: str) -> list[Operation]:
    return [op for op in OPERATIONS if op.resource_type == resource_type]
