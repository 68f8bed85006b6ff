"""The FHIR operations this server offers (``$name``), in one table.

The dispatcher routes ``[type]/$name`` and ``[type]/[id]/$name`` through this table, and the
CapabilityStatement lists exactly its entries, so an operation is served if and only if it is
listed. To add one: write its handler in its own module and add an ``Operation`` below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zorgleefplan.fhir import everything, validate
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


def _everything(req: FhirRequest, ctx: Context, id_: str | None) -> Awaitable[FhirResponse]:
    assert id_ is not None  # an instance-level operation
    return everything.patient_everything(req, ctx, id_)


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
        handler=_everything,
        definition=everything.DEFINITION,
        documentation="The client's plan as far as the requester may see it "
        "(GET; _type, _since, _count).",
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
