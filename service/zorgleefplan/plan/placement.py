"""Applying a PlanDefinition of the Wlz placement kind: from its actions to Tasks (no I/O).

The PlanDefinition (``wlz-plaatsing``, built from seed 004 by scripts/gen_wlz_placement.py) has
one top-level action per step and in each step one action per task. A task action names every
party in ``participant``: the role (``zorgleefplan-rol``) and, in the extension
``betrokken-partij``, its part (``verantwoordelijkheid``: eindverantwoordelijk, bijdrage,
per-bijeenkomst, organisator-bijeenkomst) and its text (``toelichting``). Applicability
conditions are FHIRPath over the operation's parameters, as R4 ``$apply`` defines: ``%subject``,
one variable per party role (``%dossierhouder``, ``%zorgkantoor``,
``%`onafhankelijke-clientondersteuner```: the Organization reference, or empty when not
involved) and ``%zorgbeeindiging``.

Applying makes, for every applicable task, one Task for the client:

* ``owner``: the Organization filling the eindverantwoordelijke role. Where the seed leaves the
  choice to the parties (per bijeenkomst / the party that organised the meeting) there is no
  owner yet; ``performerType`` lists the roles among which they choose.
* ``extension`` ``betrokken-partij``: every involved party with role, Organization, part and
  text; parties whose role nobody fills (no cliëntondersteuner) are left out.
* the order: ``extension`` ``plan-stap`` (the step, 1-based), ``instantiatesUri`` (the
  PlanDefinition's action) and one ``groupIdentifier`` for all Tasks of one application.
* ``status``: ``requested`` for the tasks of the first step that applies, ``draft`` for later
  steps (the seed: later steps are needed only when the earlier ones found no place).

The result is what R4 ``$apply`` returns: a CarePlan whose one activity is a contained
RequestGroup with an action per step and, nested, an action per Task (``resource``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
from fhirpathpy import evaluate

from zorgleefplan.errors import InvalidRequest, InvalidResource
from zorgleefplan.plan import codes

PLAN_DEFINITION_ID = "wlz-plaatsing"
PLAN_DEFINITION_URL = f"{codes.CANONICAL_BASE}/PlanDefinition/{PLAN_DEFINITION_ID}"
_PACKAGED = "PlanDefinition-wlz-plaatsing.json"

# The $apply parameters beside subject: the Organization filling each role, and one flag.
PARTY_ROLES = (codes.DOSSIERHOUDER, codes.ZORGKANTOOR, codes.ONAFHANKELIJKE_CLIENTONDERSTEUNER)
REQUIRED_PARTIES = (codes.ZORGKANTOOR,)  # has tasks in every step (zorgplicht)
ZORGBEEINDIGING = "zorgbeeindiging"  # the provider wants to end the care unilaterally
FLAGS = (ZORGBEEINDIGING,)

# Sub-extensions of codes.EXT_PARTY
PART = "verantwoordelijkheid"
TEXT = "toelichting"
ROLE = "rol"
PARTY = "partij"

_SHARED_PARTS = frozenset({codes.PER_BIJEENKOMST, codes.ORGANISATOR_BIJEENKOMST})
_FHIRPATH = "text/fhirpath"
_GROUP_SYSTEM = "urn:ietf:rfc:3986"
_REQUEST_GROUP = "plaatsing"  # id of the contained RequestGroup


def packaged_plan_definition() -> dict[str, Any]:
    """The PlanDefinition shipped with the service (installed into the store on start)."""
    data = resources.files("zorgleefplan.plan").joinpath("data", _PACKAGED).read_bytes()
    parsed: dict[str, Any] = orjson.loads(data)
    return parsed


@dataclass(frozen=True)
class Application:
    """What $apply was asked: for whom, who fills which role, and the flags."""

    subject: str  # "Patient/<id>"
    parties: Mapping[str, str]  # role code -> "Organization/<id>" (involved roles only)
    flags: Mapping[str, bool]
    requester: str | None  # who asks, as a reference ("PractitionerRole/1"), if any
    authored: str  # FHIR dateTime of the application
    group: str  # urn:uuid shared by the Tasks of this application


@dataclass(frozen=True)
class Applied:
    tasks: tuple[dict[str, Any], ...]  # in step order, each with its (new) id
    care_plan: dict[str, Any]  # not stored: the answer of $apply


@dataclass(frozen=True)
class _Party:
    role: str
    part: str
    text: str | None
    role_concept: dict[str, Any]


def apply_plan(
    definition: Mapping[str, Any], application: Application, new_id: Callable[[], str]
) -> Applied:
    """The Tasks and the CarePlan for ``application``. InvalidResource when the definition does
    not follow the conventions above (naming the element), InvalidRequest when a task that
    applies needs a party the request did not name."""
    name = f"PlanDefinition/{definition.get('id')}"
    variables = _variables(application)
    tasks: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    first_step: int | None = None
    for s, step in enumerate(_list(definition, "action", name, "PlanDefinition")):
        path = f"PlanDefinition.action[{s}]"
        step_applies = _applies(step, variables, path, name)
        step_tasks: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for t, action in enumerate(_list(step, "action", name, path)):
            here = f"{path}.action[{t}]"
            parties = _parties(action, here, name)  # checked in every action, applicable or not
            if not step_applies or not _applies(action, variables, here, name):
                continue
            _require_parties(action, parties, application, here)
            if first_step is None:
                first_step = s
            status = "requested" if s == first_step else "draft"
            task = _task(definition, action, s + 1, parties, application, status, new_id())
            step_tasks.append((action, task))
        if step_tasks:
            tasks += [task for _, task in step_tasks]
            steps.append(_group_action(step, step_tasks))
    return Applied(tuple(tasks), _care_plan(definition, application, steps))


def _variables(application: Application) -> dict[str, Any]:
    found: dict[str, Any] = {"subject": [{"reference": application.subject}]}
    for role in PARTY_ROLES:
        party = application.parties.get(role)
        found[role] = [{"reference": party}] if party else []
    for flag in FLAGS:
        found[flag] = [application.flags.get(flag, False)]
    return found


def _list(node: Mapping[str, Any], key: str, name: str, path: str) -> list[dict[str, Any]]:
    value = node.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _unusable(name, f"{path}.{key} is not a list of elements", f"{path}.{key}")
    return value


def _unusable(name: str, why: str, path: str) -> InvalidResource:
    return InvalidResource(f"{name} cannot be applied: {why}", expression=[path])


def _applies(action: Mapping[str, Any], variables: dict[str, Any], path: str, name: str) -> bool:
    for c, condition in enumerate(_list(action, "condition", name, path)):
        if condition.get("kind") != "applicability":
            continue
        here = f"{path}.condition[{c}].expression"
        expression = condition.get("expression") or {}
        if expression.get("language") != _FHIRPATH or not isinstance(
            expression.get("expression"), str
        ):
            raise _unusable(name, "only text/fhirpath applicability conditions are evaluated", here)
        try:
            result = evaluate({}, expression["expression"], variables)
        except Exception as exc:  # fhirpathpy raises plain Exceptions for bad expressions
            raise _unusable(name, f"the condition does not evaluate: {exc}", here) from None
        if result not in ([True], [False], []):
            raise _unusable(name, f"the condition gives {result!r}, not a boolean", here)
        if result != [True]:
            return False
    return True


def _parties(action: Mapping[str, Any], path: str, name: str) -> list[_Party]:
    parties = []
    for p, participant in enumerate(_list(action, "participant", name, path)):
        here = f"{path}.participant[{p}]"
        concept = participant.get("role") or {}
        roles = [
            c.get("code")
            for c in concept.get("coding", [])
            if c.get("system") == codes.ROLE_SYSTEM and c.get("code") in PARTY_ROLES
        ]
        if len(roles) != 1:
            raise _unusable(name, "a participant needs one role of this operation", f"{here}.role")
        party = _extension(participant, codes.EXT_PARTY)
        part = _sub(party, PART, "valueCoding") or {}
        if part.get("system") != codes.RESPONSIBILITY_SYSTEM or not part.get("code"):
            raise _unusable(name, "a participant needs its part (verantwoordelijkheid)", here)
        parties.append(_Party(roles[0], part["code"], _sub(party, TEXT, "valueString"), concept))
    responsible = [p for p in parties if p.part == codes.EINDVERANTWOORDELIJK]
    shared = bool(parties) and all(p.part in _SHARED_PARTS for p in parties)
    if len(responsible) != 1 and not shared:
        raise _unusable(name, "a task needs one eindverantwoordelijke party", path)
    return parties


def _extension(node: Mapping[str, Any], url: str) -> list[dict[str, Any]]:
    for extension in node.get("extension", []):
        if isinstance(extension, dict) and extension.get("url") == url:
            inner = extension.get("extension", [])
            return [e for e in inner if isinstance(e, dict)]
    return []


def _sub(extension: list[dict[str, Any]], url: str, key: str) -> Any:
    return next((e.get(key) for e in extension if e.get("url") == url), None)


def _task(
    definition: Mapping[str, Any],
    action: Mapping[str, Any],
    step: int,
    parties: list[_Party],
    application: Application,
    status: str,
    id_: str,
) -> dict[str, Any]:
    involved = [p for p in parties if p.role in application.parties]
    extensions: list[dict[str, Any]] = [{"url": codes.EXT_PLAN_STEP, "valuePositiveInt": step}]
    for party in involved:
        inner: list[dict[str, Any]] = [
            {"url": ROLE, "valueCoding": _role_coding(party)},
            {"url": PARTY, "valueReference": {"reference": application.parties[party.role]}},
            {
                "url": PART,
                "valueCoding": {"system": codes.RESPONSIBILITY_SYSTEM, "code": party.part},
            },
        ]
        if party.text:
            inner.append({"url": TEXT, "valueString": party.text})
        extensions.append({"url": codes.EXT_PARTY, "extension": inner})
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": id_,
        "extension": extensions,
        "instantiatesUri": f"{definition.get('url')}#{action.get('id')}",
        "groupIdentifier": {"system": _GROUP_SYSTEM, "value": application.group},
        "status": status,
        "intent": "plan",
    }
    if action.get("code"):
        task["code"] = action["code"][0]
    task["description"] = action.get("title") or action.get("description") or ""
    task["for"] = {"reference": application.subject}
    task["authoredOn"] = application.authored
    if application.requester:
        task["requester"] = {"reference": application.requester}
    responsible = [p for p in involved if p.part == codes.EINDVERANTWOORDELIJK]
    if responsible:
        task["owner"] = {"reference": application.parties[responsible[0].role]}
        candidates = responsible
    else:
        candidates = [p for p in involved if p.part in _SHARED_PARTS]
    task["performerType"] = [{"coding": [_role_coding(p)]} for p in candidates]
    return task


def _role_coding(party: _Party) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": codes.ROLE_SYSTEM, "code": party.role}
    if party.role_concept.get("text"):
        coding["display"] = party.role_concept["text"]
    return coding


def _require_parties(
    action: Mapping[str, Any], parties: list[_Party], application: Application, path: str
) -> None:
    """A task that applies needs its eindverantwoordelijke party, or (where the parties choose
    per meeting) at least one of the candidates."""
    responsible = [p.role for p in parties if p.part == codes.EINDVERANTWOORDELIJK]
    if responsible:
        needed = [r for r in responsible if r not in application.parties]
    else:
        candidates = [p.role for p in parties]
        needed = [] if any(r in application.parties for r in candidates) else candidates
    if needed:
        raise InvalidRequest(
            f"task {action.get('title')!r} ({path}) needs the organisation in the role "
            + " or ".join(needed),
            expression=[f"Parameters.parameter.where(name = '{needed[0]}')"],
        )


def _group_action(
    step: Mapping[str, Any], tasks: list[tuple[dict[str, Any], dict[str, Any]]]
) -> dict[str, Any]:
    """The RequestGroup action of one step: its tasks' actions in order, each naming its Task."""
    group = _described(step)
    group["groupingBehavior"] = "logical-group"
    group["selectionBehavior"] = "all"
    group["action"] = [
        {**_described(action), "resource": {"reference": f"Task/{task['id']}"}}
        for action, task in tasks
    ]
    return group


def _described(action: Mapping[str, Any]) -> dict[str, Any]:
    return {key: action[key] for key in ("prefix", "title", "description") if action.get(key)}


def _care_plan(
    definition: Mapping[str, Any], application: Application, steps: list[dict[str, Any]]
) -> dict[str, Any]:
    canonical = str(definition.get("url"))
    if definition.get("version"):
        canonical += f"|{definition['version']}"
    group: dict[str, Any] = {
        "resourceType": "RequestGroup",
        "id": _REQUEST_GROUP,
        "instantiatesCanonical": [canonical],
        "groupIdentifier": {"system": _GROUP_SYSTEM, "value": application.group},
        "status": "active",
        "intent": "plan",
        "subject": {"reference": application.subject},
        "authoredOn": application.authored,
    }
    if steps:
        group["action"] = steps
    plan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "contained": [group],
        "instantiatesCanonical": [canonical],
        "status": "active",
        "intent": "plan",
        "category": [{"coding": [{"system": codes.DOMAIN_SYSTEM, "code": codes.WLZ}]}],
        "title": definition.get("title") or definition.get("name") or "",
        "subject": {"reference": application.subject},
        "created": application.authored,
        "activity": [{"reference": {"reference": f"#{_REQUEST_GROUP}"}}],
    }
    if application.requester:
        plan["author"] = {"reference": application.requester}
    return plan
