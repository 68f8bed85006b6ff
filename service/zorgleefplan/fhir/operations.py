"""The FHIR operations this server offers (``$name``), in one table.

The dispatcher routes ``[type]/$name`` and ``[type]/[id]/$name`` through this table, and the
CapabilityStatement lists exactly its entries, so an operation is served if and only if it is
listed. To add one: write its handler in its own module and add an ``Operation`` below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zorgleefplan.fhir import everything, plan_checklist, plan_summary

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


def _everything(req: FhirRequest, ctx: Context, id_: str | None) -> Awaitable[FhirResponse]:
    assert id_ is not None  # an instance-level operation
    return everything.patient_everything(req, ctx, id_)


def _summary(req: FhirRequest, ctx: Context, id_: str | None) -> Awaitable[FhirResponse]:
    assert id_ is not None
    return plan_summary.careplan_summary(req, ctx, id_)


def _checklist(req: FhirRequest, ctx: Context, id_: str | None) -> Awaitable[FhirResponse]:
    assert id_ is not None
    return plan_checklist.careplan_checklist(req, ctx, id_)


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        name="everything",
        resource_type="Patient",
        instance=True,
        methods=frozenset({"GET"}),
        scope_letter="s",
        scope_type=None,
        handler=_everything,
        definition=everything.DEFINITION,
        documentation="The client's plan as far as the requester may see it "
        "(GET; _type, _since, _count).",
    ),
    Operation(
        name=plan_summary.NAME,
        resource_type="CarePlan",
        instance=True,
        methods=frozenset({"GET", "POST"}),
        scope_letter="r",
        scope_type="CarePlan",
        handler=_summary,
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
        handler=_checklist,
        definition=plan_checklist.DEFINITION,
        documentation="The plan judged against the checklists of the source documents "
        "(pass, fail or cannot-tell per item, with reason and evidence; item: only these).",
    ),
)

_BY_KEY = {(op.resource_type, op.instance, op.name): op for op in OPERATIONS}


def find(resource_type: str, instance: bool, name: str) -> Operation | None:
    """The operation ``name`` (without "$") at this level of this type, if served."""
    return _BY_KEY.get((resource_type, instance, name))


def for_type(resource_type: str) -> list[Operation]:
    return [op for op in OPERATIONS if op.resource_type == resource_type]
