"""The consent policy engine: a generated authorization matrix (principal, consent state,
resource type, action) checked against an independent table of the rules, plus the finer
rules (volmacht renouncement, ownership of writes, nested provisions, purposes, break-the-glass,
fail-closed parsing)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from zorgleefplan.access import codes
from zorgleefplan.access.engine import (
    ReadDecision,
    careplan_change_within_own_activities,
    decide_erasure,
    decide_read,
    decide_write,
)
from zorgleefplan.access.facts import ClientFacts, client_facts
from zorgleefplan.access.principal import Principal
from zorgleefplan.plan import codes as plan_codes
from zorgleefplan.store.model import AccessConstraint

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CLIENT = "p1"


# --------------------------------------------------------------------------- fixtures (FHIR)


def _cc(system: str | None, code: str) -> dict[str, Any]:
    coding = {"code": code} if system is None else {"system": system, "code": code}
    return {"coding": [coding]}


def _ref(ref: str) -> dict[str, str]:
    return {"reference": ref}


def volmacht(id_: str, holder: str, *, status: str = "active", end: str = "2029-12-31") -> dict:
    return {
        "resourceType": "Consent",
        "id": id_,
        "status": status,
        "scope": _cc(codes.CONSENT_SCOPE_SYSTEM, "adr"),
        "category": [_cc(codes.CONSENT_CATEGORY_SYSTEM, "acd")],
        "patient": _ref(f"Patient/{CLIENT}"),
        "dateTime": "2024-01-10",
        "provision": {
            "type": "permit",
            "period": {"start": "2024-01-10", "end": end},
            "code": [_cc(codes.LIVING_WILL_SYSTEM, "VOL")],
            "actor": [{"role": _cc(codes.ROLE_CODE_SYSTEM, "RESPRSN"), "reference": _ref(holder)}],
        },
    }


def related_person(id_: str, role: str | None = None, *, active: bool | None = True) -> dict:
    rp: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "id": id_,
        "patient": _ref(f"Patient/{CLIENT}"),
        "relationship": [_cc("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "DAU")],
    }
    if role is not None:
        rp["relationship"].append(_cc(codes.CONTACT_ROLE_SYSTEM, role))
    if active is not None:
        rp["active"] = active
    return rp


def participant(
    member: str,
    role: tuple[str, str] | None = None,
    end: str | None = None,
    org: str = "Organization/o1",
) -> dict:
    p: dict[str, Any] = {"member": _ref(member), "onBehalfOf": _ref(org)}
    if role is not None:
        p["role"] = [_cc(*role)]
    p["period"] = {"start": "2024-01-01", **({"end": end} if end else {})}
    return p


REGIE_ROLE = (codes.ZLP_ROLE_SYSTEM, codes.REGIEBEHANDELAAR)
CARE_TEAM = {
    "resourceType": "CareTeam",
    "id": "ct1",
    "status": "active",
    "subject": _ref(f"Patient/{CLIENT}"),
    "participant": [
        participant("PractitionerRole/regie", REGIE_ROLE),
        participant("PractitionerRole/ended", REGIE_ROLE, end="2025-01-31", org="Organization/o3"),
        participant("PractitionerRole/member", ("http://snomed.info/sct", "224535009")),
    ],
}

PERMITTED_TYPES = ("Patient", "CarePlan", "Goal", "Task", "Condition", "Communication")


def access_consent(
    id_: str,
    *,
    status: str = "active",
    end: str | None = None,
    nested_deny: tuple[str, ...] = (),
    actors: tuple[str, ...] = ("CareTeam/ct1", "Organization/o1"),
    type_: str = "permit",
    classes: tuple[str, ...] | None = PERMITTED_TYPES,
    actions: tuple[str, ...] = ("access", "correct"),
    purposes: tuple[str, ...] = (),
    data: tuple[tuple[str, str], ...] = (),
) -> dict:
    provision: dict[str, Any] = {
        "type": type_,
        "period": {"start": "2024-01-01", **({"end": end} if end else {})},
        "actor": [
            {"role": _cc(codes.ROLE_CODE_SYSTEM, "PROV"), "reference": _ref(a)} for a in actors
        ],
    }
    if actions:
        provision["action"] = [_cc(codes.CONSENT_ACTION_SYSTEM, a) for a in actions]
    if classes is not None:
        provision["class"] = [{"system": codes.RESOURCE_TYPES_SYSTEM, "code": c} for c in classes]
    if purposes:
        provision["purpose"] = [{"system": codes.ACT_REASON_SYSTEM, "code": p} for p in purposes]
    if data:
        provision["data"] = [{"meaning": m, "reference": _ref(r)} for m, r in data]
    if nested_deny:
        provision["provision"] = [
            {
                "type": "deny",
                "class": [{"system": codes.RESOURCE_TYPES_SYSTEM, "code": c} for c in nested_deny],
            }
        ]
    return {
        "resourceType": "Consent",
        "id": id_,
        "status": status,
        "scope": _cc(codes.CONSENT_SCOPE_SYSTEM, "patient-privacy"),
        "category": [_cc("http://loinc.org", "59284-0")],
        "patient": _ref(f"Patient/{CLIENT}"),
        "dateTime": "2024-01-01",
        "provision": provision,
    }


NAMED = ("CareTeam/ct1", "Organization/o1", "PractitionerRole/er")
CONSENT_STATES: dict[str, list[dict]] = {
    "none": [],
    "permit": [access_consent("ac")],
    "nested-deny": [access_consent("ac", nested_deny=("Condition",))],
    "expired": [access_consent("ac", end="2025-01-01")],
    "revoked": [access_consent("ac", status="inactive")],
    "deny-named": [
        access_consent("ac"),
        access_consent("deny", type_="deny", actors=NAMED, classes=None, actions=()),
    ],
}


def workflow_task(id_: str, code: str, owner: str, client: str = CLIENT) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "id": id_,
        "status": "requested",
        "intent": "order",
        "code": _cc(plan_codes.TASK_SYSTEM, code),
        "for": _ref(f"Patient/{client}"),
        "owner": _ref(owner),
    }


# A handover addressed to a professional outside the care team, a complaint forwarded to a
# provider organisation, and Tasks that give their owner nothing (another code, another client).
TASKS = [
    workflow_task("task-1", plan_codes.REGIEBEHANDELAAR_OVERDRACHT, "PractitionerRole/ontvanger"),
    workflow_task("klacht-deel", plan_codes.KLACHT, "Organization/o6"),
    workflow_task("plaatsing", plan_codes.WLZ_PLAATSING, "Organization/o6"),
    workflow_task("elders", plan_codes.KLACHT, "Organization/o6", client="p2"),
]


def facts_for(state: str, extra: list[dict] | None = None) -> ClientFacts:
    return client_facts(
        CLIENT,
        consents=[
            volmacht("vol", "RelatedPerson/rp-vol"),
            volmacht("vol-expired", "RelatedPerson/rp-exp", end="2025-05-31"),
            volmacht("vol-revoked", "RelatedPerson/rp-rev", status="inactive"),
            volmacht("vol-inactive-rp", "RelatedPerson/rp-inactive"),
            *CONSENT_STATES[state],
            *(extra or []),
        ],
        care_teams=[CARE_TEAM],
        related_persons=[
            related_person("rp-vol", active=None),
            related_person("rp-exp"),
            related_person("rp-rev"),
            related_person("rp-inactive", active=False),
            related_person("rp-mentor", codes.MENTOR),
            related_person("rp-curator", codes.CURATOR),
            related_person("rp-wv", codes.WETTELIJK_VERTEGENWOORDIGER),
            related_person("rp-bewind", codes.BEWINDVOERDER),
            related_person("rp-mentor-inactive", codes.MENTOR, active=False),
        ],
        tasks=TASKS,
    )


def _rp(id_: str, patient: str | None = CLIENT) -> Principal:
    return Principal("related-person", id_, fhir_user=f"RelatedPerson/{id_}", patient=patient)


def _pr(role: str, org: str = "Organization/o1") -> Principal:
    return Principal("practitioner", role, fhir_user=f"PractitionerRole/{role}", organization=org)


PRINCIPALS: dict[str, Principal] = {
    "client": Principal("patient", "acc-1", fhir_user=f"Patient/{CLIENT}", patient=CLIENT),
    "other-client": Principal("patient", "acc-2", fhir_user="Patient/p2", patient="p2"),
    "volmacht": _rp("rp-vol"),
    "volmacht-expired": _rp("rp-exp"),
    "volmacht-revoked": _rp("rp-rev"),
    "volmacht-inactive-person": _rp("rp-inactive"),
    "volmacht-other-client-context": _rp("rp-vol", patient="p2"),
    "mentor": _rp("rp-mentor"),
    "curator": _rp("rp-curator"),
    "wettelijk-vertegenwoordiger": _rp("rp-wv"),
    "bewindvoerder": _rp("rp-bewind"),
    "mentor-inactive": _rp("rp-mentor-inactive"),
    "regiebehandelaar": _pr("regie"),
    "regiebehandelaar-ended": _pr("ended", org="Organization/o3"),
    "team-member": _pr("member"),
    "team-member-other-org": _pr("member", org="Organization/o7"),
    "outsider": _pr("out", org="Organization/o9"),
    "backend": Principal("system", "ehr-1", client_id="ehr-1", organization="Organization/o1"),
    "backend-other-org": Principal("system", "ehr-9", organization="Organization/o9"),
    "break-the-glass": _pr("er", org="Organization/o5"),
    "backend-break-the-glass": Principal("system", "ehr-5", organization="Organization/o5"),
    "handover-receiver": _pr("ontvanger", org="Organization/o8"),
}
EMERGENCY = {"break-the-glass", "backend-break-the-glass"}
PROXIES = {"volmacht", "mentor", "curator", "wettelijk-vertegenwoordiger"}
TYPES = (
    "Patient",
    "CarePlan",
    "Goal",
    "Task",
    "Condition",
    "Communication",
    "CareTeam",
    "RelatedPerson",
    "Consent",
    "AuditEvent",
    "Provenance",
)
ACTIONS = ("read", "create", "update", "delete")
IDS = {"Patient": CLIENT, "Consent": "vol", "RelatedPerson": "rp-naaste"}


def expected(who: str, state: str, type_: str, action: str) -> bool:
    """The rules of issue 4 written out as a table, independently of the engine."""
    if type_ in ("AuditEvent", "Provenance") and action != "read":
        return False
    if who == "client":
        return True
    if who in PROXIES:
        return not (type_ == "Patient" and action == "delete")
    if who == "handover-receiver":  # the Task addressed to them (task-1), read and update only
        return type_ == "Task" and action in ("read", "update")
    if who not in ("regiebehandelaar", "team-member", "backend", "break-the-glass"):
        return False
    named = state == "deny-named"
    consent_types = {
        "permit": set(PERMITTED_TYPES),
        "nested-deny": set(PERMITTED_TYPES) - {"Condition"},
    }.get(state, set())
    by_consent = who != "break-the-glass" and not named and type_ in consent_types
    if action == "read":
        regie_types = {"CarePlan", "CareTeam", "Goal", "Task", "Condition", "Communication"}
        regie_types |= {"RelatedPerson", "Patient", "Consent"}  # Consent: the volmacht only
        glass_types = {"Patient", "Condition", "CarePlan", "CareTeam", "Goal", "RelatedPerson"}
        glass_types |= {"Consent"}
        # the nested deny inherits the care team as actor: it names the regiebehandelaar too
        regie_types -= {"Condition"} if state == "nested-deny" else set()
        by_regie = who == "regiebehandelaar" and not named and type_ in regie_types
        by_glass = who == "break-the-glass" and not named and type_ in glass_types
        return by_consent or by_regie or by_glass
    if action == "delete" or type_ in ("Patient", "CareTeam", "RelatedPerson", "Consent"):
        return False
    by_regie = who == "regiebehandelaar" and not named and type_ in ("CarePlan", "Task")
    return by_consent or by_regie


def own_resource(type_: str, principal: Principal) -> dict[str, Any]:
    """A resource of ``type_`` in the client's compartment made by ``principal``."""
    me = _ref(principal.fhir_user or principal.organization or "")
    body: dict[str, Any] = {"resourceType": type_, "id": IDS.get(type_, f"{type_.lower()}-1")}
    subject = _ref(f"Patient/{CLIENT}")
    if type_ == "CarePlan":
        body |= {"status": "active", "intent": "plan", "subject": subject, "author": me}
    elif type_ == "Task":
        body |= {"status": "requested", "intent": "order", "for": subject, "owner": me}
    elif type_ == "Condition":
        body |= {"subject": subject, "recorder": me}
    elif type_ == "Goal":
        body |= {"subject": subject, "expressedBy": me}
    elif type_ == "Communication":
        body |= {"status": "completed", "subject": subject, "sender": me}
    elif type_ == "Consent":
        body = access_consent("new-consent")
    elif type_ == "RelatedPerson":
        body = related_person("rp-naaste")
    elif type_ == "CareTeam":
        body |= {"subject": subject}
    return body


@pytest.mark.parametrize("state", list(CONSENT_STATES))
@pytest.mark.parametrize("who", list(PRINCIPALS))
def test_authorization_matrix(who: str, state: str) -> None:
    principal = PRINCIPALS[who]
    facts = facts_for(state)
    read = decide_read(principal, facts, NOW, emergency_purpose=who in EMERGENCY)
    constraint = AccessConstraint(read.grants)
    wrong: list[str] = []
    for type_ in TYPES:
        for action in ACTIONS:
            want = expected(who, state, type_, action)
            if action == "read":
                id_ = IDS.get(type_, f"{type_.lower()}-1")
                got = read.allows(type_, id_)
                if constraint.allows(type_, id_, CLIENT) != got:
                    wrong.append(f"{type_} read: query twin disagrees")
                if constraint.allows(type_, id_, "p2") or constraint.allows(type_, id_, None):
                    wrong.append(f"{type_} read: leaks outside the compartment")
            else:
                resource = own_resource(type_, principal)
                got = decide_write(
                    principal,
                    facts,
                    NOW,
                    action=action,  # type: ignore[arg-type]
                    resource=resource,
                    current=None if action == "create" else resource,
                ).allowed
            if got != want:
                wrong.append(f"{type_} {action}: engine {got}, rules {want}")
    assert wrong == []


def test_the_matrix_is_not_trivial() -> None:
    cells = [
        expected(w, s, t, a)
        for w in PRINCIPALS
        for s in CONSENT_STATES
        for t in TYPES
        for a in ACTIONS
    ]
    assert 0.1 < sum(cells) / len(cells) < 0.6


# --------------------------------------------------------------------------- proxies


def test_proxies_act_on_behalf_of_the_client_and_the_client_for_themselves() -> None:
    facts = facts_for("none")
    assert decide_read(PRINCIPALS["client"], facts, NOW).on_behalf_of is None
    for who in PROXIES:
        read = decide_read(PRINCIPALS[who], facts, NOW)
        assert read.on_behalf_of == f"Patient/{CLIENT}", who
        write = decide_write(
            PRINCIPALS[who], facts, NOW, action="create", resource=own_resource("Goal", _pr("x"))
        )
        assert write.allowed and write.on_behalf_of == f"Patient/{CLIENT}", who
    kinds = {b.kind for b in decide_read(PRINCIPALS["volmacht"], facts, NOW).basis}
    assert kinds == {"volmacht"}
    assert decide_read(PRINCIPALS["mentor"], facts, NOW).basis[0].kind == "representative"


def test_volmacht_ends_on_the_day_after_its_end_date() -> None:
    facts = facts_for("none")
    holder = PRINCIPALS["volmacht"]
    assert decide_read(holder, facts, datetime(2029, 12, 31, 23, 0, tzinfo=UTC)).allowed
    assert not decide_read(holder, facts, datetime(2030, 1, 1, 0, 0, tzinfo=UTC)).allowed
    assert not decide_read(holder, facts, datetime(2024, 1, 9, tzinfo=UTC)).allowed


def test_a_volmacht_for_another_holder_does_not_count() -> None:
    facts = client_facts(
        CLIENT,
        consents=[volmacht("vol", "RelatedPerson/rp-other")],
        related_persons=[related_person("rp-vol", active=None), related_person("rp-other")],
    )
    assert not decide_read(PRINCIPALS["volmacht"], facts, NOW).allowed


def test_holder_cannot_change_the_volmacht_but_can_renounce_it() -> None:
    facts = facts_for("none")
    holder = PRINCIPALS["volmacht"]
    current = volmacht("vol", "RelatedPerson/rp-vol")

    def write(action: str, new: dict, cur: dict | None = current) -> bool:
        return decide_write(
            holder,
            facts,
            NOW,
            action=action,
            resource=new,
            current=cur,  # type: ignore[arg-type]
        ).allowed

    extended = volmacht("vol", "RelatedPerson/rp-vol", end="2040-01-01")
    assert not write("update", extended)
    assert not write("delete", current)
    assert not write("create", volmacht("vol2", "RelatedPerson/rp-vol"), None)
    renounced = {**current, "status": "inactive", "meta": {"versionId": "2"}}
    assert write("update", renounced)
    assert not write("update", {**current, "status": "rejected"})
    assert not write("update", {**extended, "status": "inactive"})
    other = volmacht("vol-x", "RelatedPerson/rp-other")
    assert not write("update", {**other, "status": "inactive"}, other)
    # access consents of the client: the proxy manages them
    assert write("create", access_consent("ac-new"), None)
    assert write("update", access_consent("ac"), access_consent("ac"))
    # ... but cannot turn an advance directive into one
    assert not write("update", access_consent("vol"), current)
    # the client can do all of it
    assert decide_write(
        PRINCIPALS["client"], facts, NOW, action="update", resource=extended, current=current
    ).allowed


def test_representative_cannot_change_their_own_or_a_legal_registration() -> None:
    facts = facts_for("none")
    mentor = PRINCIPALS["mentor"]
    own = related_person("rp-mentor", codes.MENTOR)
    plain = related_person("rp-naaste")

    def write(action: str, new: dict, cur: dict | None) -> bool:
        return decide_write(
            mentor,
            facts,
            NOW,
            action=action,
            resource=new,
            current=cur,  # type: ignore[arg-type]
        ).allowed

    assert not write("update", {**own, "period": {"end": "2099"}}, own)
    assert not write("create", related_person("rp-new", codes.CURATOR), None)
    assert not write("update", {**plain, "relationship": own["relationship"]}, plain)
    assert not write("delete", related_person("rp-wv", codes.WETTELIJK_VERTEGENWOORDIGER), None)
    assert write("update", {**plain, "name": [{"text": "Piet"}]}, plain)
    assert not write("create", volmacht("vol2", "RelatedPerson/rp-mentor"), None)


def test_a_volmacht_holder_with_the_wrong_client_in_context_gets_nothing() -> None:
    assert not decide_read(
        PRINCIPALS["volmacht-other-client-context"], facts_for("none"), NOW
    ).allowed


# --------------------------------------------------------------------------- professionals


def test_regiebehandelaar_sees_the_volmacht_but_not_the_access_consents() -> None:
    read = decide_read(PRINCIPALS["regiebehandelaar"], facts_for("none"), NOW)
    assert read.allows("Consent", "vol")
    assert not read.allows("Consent", "vol-expired")
    assert not read.allows("Consent", "vol-revoked")
    assert not read.allows("Consent", "ac")
    assert not read.allows("AuditEvent", "a1")
    assert [b.kind for b in read.basis] == ["regiebehandelaar"]
    assert read.basis[0].reference == "CareTeam/ct1"


def test_regiebehandelaar_designation_ends_with_its_period() -> None:
    ended = PRINCIPALS["regiebehandelaar-ended"]
    before = decide_read(ended, facts_for("none"), datetime(2025, 1, 31, 23, tzinfo=UTC))
    assert before.allows("CarePlan", "c") and before.basis[0].kind == "regiebehandelaar"
    assert not decide_read(ended, facts_for("none"), datetime(2025, 2, 1, tzinfo=UTC)).allowed


def test_regiebehandelaar_designation_ends_with_the_care_team() -> None:
    team = {**CARE_TEAM, "status": "inactive"}
    facts = client_facts(CLIENT, care_teams=[team])
    assert not decide_read(PRINCIPALS["regiebehandelaar"], facts, NOW).allowed
    other_subject = {**CARE_TEAM, "subject": _ref("Patient/p2")}
    facts = client_facts(CLIENT, care_teams=[other_subject])
    assert not decide_read(PRINCIPALS["regiebehandelaar"], facts, NOW).allowed


def test_a_general_opt_out_binds_consent_permits_but_not_the_regiebehandelaar() -> None:
    opt_out = access_consent("optout", type_="deny", actors=(), classes=None, actions=())
    facts = facts_for("permit", [opt_out])
    assert not decide_read(PRINCIPALS["team-member"], facts, NOW).allowed
    assert decide_read(PRINCIPALS["regiebehandelaar"], facts, NOW).allows("CarePlan", "c1")
    glass = decide_read(PRINCIPALS["break-the-glass"], facts, NOW, emergency_purpose=True)
    assert glass.emergency and glass.allows("Condition", "x")


def test_nested_permit_inside_a_deny() -> None:
    consent = access_consent("ac", type_="deny", actors=(), classes=None, actions=())
    consent["provision"]["provision"] = [
        {
            "type": "permit",
            "actor": [{"role": _cc(None, "PROV"), "reference": _ref("PractitionerRole/member")}],
            "class": [{"system": codes.RESOURCE_TYPES_SYSTEM, "code": "Goal"}],
            "action": [_cc(codes.CONSENT_ACTION_SYSTEM, "access")],
        }
    ]
    facts = facts_for("none", [consent])
    member = decide_read(PRINCIPALS["team-member"], facts, NOW)
    assert member.allows("Goal", "g") and not member.allows("CarePlan", "c")
    assert not decide_read(PRINCIPALS["backend"], facts, NOW).allowed
    # access only: no writes
    goal = own_resource("Goal", PRINCIPALS["team-member"])
    assert not decide_write(
        PRINCIPALS["team-member"], facts, NOW, action="create", resource=goal
    ).allowed


def test_data_provisions_grant_single_resources_and_deny_single_resources() -> None:
    only = access_consent("ac", data=(("instance", "CarePlan/plan-a"),), classes=None)
    read = decide_read(PRINCIPALS["backend"], facts_for("none", [only]), NOW)
    assert read.allows("CarePlan", "plan-a") and not read.allows("CarePlan", "plan-b")
    assert read.grants[0].resources == frozenset({("CarePlan", "plan-a")})

    hide = access_consent("ac2", type_="deny", data=(("instance", "Condition/secret"),))
    read = decide_read(PRINCIPALS["backend"], facts_for("permit", [hide]), NOW)
    assert read.allows("Condition", "other") and not read.allows("Condition", "secret")
    assert ("Condition", "secret") in read.grants[0].exclude


def test_a_deny_we_cannot_express_is_widened() -> None:
    dependents = access_consent("ac2", type_="deny", data=(("dependents", "CarePlan/plan-a"),))
    dependents["provision"].pop("class")
    read = decide_read(PRINCIPALS["backend"], facts_for("permit", [dependents]), NOW)
    assert not read.allowed
    by_identifier = access_consent("ac3", type_="deny", actors=(), classes=("Condition",))
    by_identifier["provision"]["actor"] = [
        {"role": _cc(None, "PROV"), "reference": {"identifier": {"value": "123456789"}}}
    ]
    read = decide_read(PRINCIPALS["backend"], facts_for("permit", [by_identifier]), NOW)
    assert read.allows("Goal", "g") and not read.allows("Condition", "c")


def test_purpose_restricted_permit_needs_the_declared_purpose() -> None:
    facts = facts_for("none", [access_consent("ac", purposes=("TREAT",))])
    assert not decide_read(PRINCIPALS["backend"], facts, NOW).allowed
    assert decide_read(PRINCIPALS["backend"], facts, NOW, purpose_of_use=["TREAT"]).allowed
    marketing_deny = access_consent("d", type_="deny", classes=None, purposes=("HMARKT",))
    facts = facts_for("permit", [marketing_deny])
    assert decide_read(PRINCIPALS["backend"], facts, NOW, purpose_of_use=["TREAT"]).allowed
    assert not decide_read(PRINCIPALS["backend"], facts, NOW).allowed  # undeclared: deny holds


def test_break_the_glass_can_be_forbidden_for_named_actors_only_by_purpose() -> None:
    no_glass = access_consent(
        "d", type_="deny", actors=("PractitionerRole/er",), classes=None, purposes=("ETREAT",)
    )
    facts = facts_for("none", [no_glass])
    read = decide_read(PRINCIPALS["break-the-glass"], facts, NOW, emergency_purpose=True)
    assert not read.allowed and not read.emergency
    other = decide_read(_pr("er2", "Organization/o5"), facts, NOW, emergency_purpose=True)
    assert other.emergency and [b.kind for b in other.basis] == ["break-the-glass"]
    assert other.allows("Consent", "vol") and not other.allows("Task", "t")
    assert not decide_read(PRINCIPALS["break-the-glass"], facts, NOW).allowed  # no emergency


def test_ownership_of_professional_writes() -> None:
    facts = facts_for("permit")
    member = PRINCIPALS["team-member"]
    mine = own_resource("Condition", member)
    theirs = {**mine, "recorder": _ref("PractitionerRole/someone-else")}
    ok = decide_write(member, facts, NOW, action="update", resource=mine, current=mine)
    assert ok.allowed and ok.basis
    assert not decide_write(
        member, facts, NOW, action="update", resource=mine, current=theirs
    ).allowed
    assert not decide_write(
        member, facts, NOW, action="update", resource=theirs, current=mine
    ).allowed
    assert not decide_write(member, facts, NOW, action="create", resource=theirs).allowed
    # the organisation keeps the record: a backend of o1 may change it
    org = {**mine, "recorder": _ref("Organization/o1")}
    assert decide_write(
        PRINCIPALS["backend"], facts, NOW, action="update", resource=org, current=org
    ).allowed
    task = own_resource("Task", member)
    other_task = {**task, "owner": _ref("PractitionerRole/x"), "requester": _ref("Organization/o2")}
    assert not decide_write(
        member, facts, NOW, action="update", resource=other_task, current=other_task
    ).allowed
    regie = PRINCIPALS["regiebehandelaar"]
    assert decide_write(regie, facts, NOW, action="create", resource=other_task).allowed
    assert decide_write(
        regie, facts, NOW, action="update", resource=other_task, current=task
    ).allowed


def _plan(*activities: tuple[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": "plan",
        "status": "active",
        "intent": "plan",
        "subject": _ref(f"Patient/{CLIENT}"),
        "author": _ref("PractitionerRole/regie"),
        "activity": [
            {"detail": {"status": status, "performer": [_ref(performer)]}}
            for performer, status in activities
        ],
    }


def test_careplan_change_only_in_own_activities() -> None:
    me = {"PractitionerRole/member", "Organization/o1"}
    old = _plan(("PractitionerRole/member", "scheduled"), ("Organization/o2", "scheduled"))
    mine_done = _plan(("PractitionerRole/member", "completed"), ("Organization/o2", "scheduled"))
    theirs_done = _plan(("PractitionerRole/member", "scheduled"), ("Organization/o2", "completed"))
    added = _plan(
        *[(a["detail"]["performer"][0]["reference"], "scheduled") for a in old["activity"]]
    )
    added["activity"].append(
        {"detail": {"status": "not-started", "performer": [_ref("Organization/o1")]}}
    )
    handed_over = _plan(("Organization/o2", "scheduled"), ("Organization/o2", "scheduled"))
    retitled = {**old, "title": "Mijn plan"}
    assert careplan_change_within_own_activities(old, mine_done, me)
    assert careplan_change_within_own_activities(old, added, me)
    assert not careplan_change_within_own_activities(old, theirs_done, me)
    assert not careplan_change_within_own_activities(old, handed_over, me)
    assert not careplan_change_within_own_activities(old, retitled, me)
    assert not careplan_change_within_own_activities(old, {**old, "activity": "x"}, me)

    facts = facts_for("permit")
    member = PRINCIPALS["team-member"]
    assert decide_write(
        member, facts, NOW, action="update", resource=mine_done, current=old
    ).allowed
    assert not decide_write(
        member, facts, NOW, action="update", resource=theirs_done, current=old
    ).allowed
    assert decide_write(
        PRINCIPALS["regiebehandelaar"], facts, NOW, action="update", resource=retitled, current=old
    ).allowed


def test_an_unreadable_active_deny_withholds_consent_permits() -> None:
    broken = access_consent("broken", type_="deny", actors=("PractitionerRole/x",))
    broken["provision"]["period"] = {"start": "binnenkort"}
    facts = facts_for("permit", [broken])
    assert not decide_read(PRINCIPALS["backend"], facts, NOW).allowed
    assert not decide_read(PRINCIPALS["regiebehandelaar"], facts, NOW).allowed
    assert decide_read(PRINCIPALS["break-the-glass"], facts, NOW, emergency_purpose=True).emergency
    # an unreadable permit only grants nothing
    broken_permit = access_consent("bp", actors=("Organization/o9",))
    broken_permit["provision"]["class"] = "everything"
    facts = facts_for("permit", [broken_permit])
    assert decide_read(PRINCIPALS["backend"], facts, NOW).allows("Goal", "g")
    assert not decide_read(PRINCIPALS["backend-other-org"], facts, NOW).allowed


def test_read_decision_of_nothing_is_empty() -> None:
    read = decide_read(PRINCIPALS["outsider"], facts_for("permit"), NOW)
    assert read == ReadDecision(grants=())
    assert not AccessConstraint(read.grants).allows("Patient", CLIENT, CLIENT)


def test_naive_now_is_utc_and_development_gets_nothing_here() -> None:
    naive = datetime(2030, 1, 1, 0, 30)
    assert not decide_read(PRINCIPALS["volmacht"], facts_for("none"), naive).allowed
    dev = Principal("development", "development")
    assert not decide_read(dev, facts_for("permit"), NOW).allowed


def test_audit_log_is_never_shown_to_professionals_even_when_named() -> None:
    logs = access_consent("logs", classes=("AuditEvent", "Provenance"))
    read = decide_read(PRINCIPALS["backend"], facts_for("none", [logs]), NOW)
    assert read.allows("Provenance", "pv") and not read.allows("AuditEvent", "ae")
    classless = access_consent("all", classes=None)
    read = decide_read(PRINCIPALS["backend"], facts_for("none", [classless]), NOW)
    assert read.allows("Consent", "vol") and read.allows("Task", "t")
    assert not read.allows("Provenance", "pv") and not read.allows("AuditEvent", "ae")
    assert decide_read(PRINCIPALS["client"], facts_for("none"), NOW).allows("AuditEvent", "ae")


# --------------------------------------------------------------------------- erasure

ERASERS = {"client", "mentor", "curator", "wettelijk-vertegenwoordiger"}


@pytest.mark.parametrize("who", list(PRINCIPALS))
def test_only_the_client_or_a_legal_representative_erases_the_plan(who: str) -> None:
    decision = decide_erasure(PRINCIPALS[who], facts_for("deny-named"), NOW)
    assert decision.allowed == (who in ERASERS), decision.reason
    if who == "client":
        assert [b.kind for b in decision.basis] == ["own-plan"]
        assert decision.on_behalf_of is None
    elif decision.allowed:
        assert [b.kind for b in decision.basis] == ["representative"]
        assert decision.on_behalf_of == f"Patient/{CLIENT}"
    else:
        assert "client" in decision.reason and CLIENT not in decision.reason


def test_a_representative_who_also_holds_the_volmacht_erases_as_representative() -> None:
    facts = facts_for("none", [volmacht("vol-mentor", "RelatedPerson/rp-mentor")])
    decision = decide_erasure(PRINCIPALS["mentor"], facts, NOW)
    assert decision.allowed and [b.kind for b in decision.basis] == ["representative"]
    # With another client in context the registration here counts for nothing.
    assert not decide_erasure(_rp("rp-mentor", patient="p2"), facts, NOW).allowed


# --------------------------------------------------------------------------- addressed Tasks


def test_the_owner_of_a_forwarded_complaint_reads_and_updates_that_task_only() -> None:
    facts = facts_for("none")
    provider = _pr("zorg", org="Organization/o6")
    backend = Principal("system", "ehr-6", organization="Organization/o6")
    for who in (provider, backend):
        read = decide_read(who, facts, NOW)
        assert read.allows("Task", "klacht-deel")
        assert not read.allows("Task", "plaatsing")  # another code gives nothing
        assert not read.allows("Task", "task-1") and not read.allows("CarePlan", "plan-1")
        assert [b.kind for b in read.basis] == ["addressed-task"]
        assert not AccessConstraint(read.grants).allows("Task", "elders", "p2")
        task = workflow_task("klacht-deel", plan_codes.KLACHT, "Organization/o6")

        def write(
            action: str, new: dict, who: Principal = who, task: dict[str, Any] = task
        ) -> bool:
            return decide_write(
                who,
                facts,
                NOW,
                action=action,  # type: ignore[arg-type]
                resource=new,
                current=task,
            ).allowed

        assert write("update", {**task, "status": "in-progress"})
        assert not write("update", {**task, "owner": _ref("Organization/o9")})  # not handed on
        assert not write("delete", task)
        assert not decide_write(
            who, facts, NOW, action="create", resource={**task, "id": "nieuw"}
        ).allowed
        other = workflow_task("plaatsing", plan_codes.WLZ_PLAATSING, "Organization/o6")
        assert not decide_write(
            who, facts, NOW, action="update", resource=other, current=other
        ).allowed


def test_a_deny_naming_the_addressee_or_an_unreadable_deny_withholds_the_task() -> None:
    receiver = PRINCIPALS["handover-receiver"]
    assert decide_read(receiver, facts_for("none"), NOW).allows("Task", "task-1")
    named = access_consent(
        "nee", type_="deny", actors=("PractitionerRole/ontvanger",), classes=None, actions=()
    )
    assert not decide_read(receiver, facts_for("none", [named]), NOW).allowed
    task = workflow_task(
        "task-1", plan_codes.REGIEBEHANDELAAR_OVERDRACHT, "PractitionerRole/ontvanger"
    )
    assert not decide_write(
        receiver, facts_for("none", [named]), NOW, action="update", resource=task, current=task
    ).allowed
    broken = access_consent("broken", type_="deny", actors=("PractitionerRole/x",))
    broken["provision"]["period"] = {"start": "binnenkort"}
    assert not decide_read(receiver, facts_for("none", [broken]), NOW).allowed
    # A general opt-out that does not name them leaves the Task addressed to them readable.
    opt_out = access_consent("opt-out", type_="deny", actors=(), classes=None, actions=())
    assert decide_read(receiver, facts_for("none", [opt_out]), NOW).allows("Task", "task-1")
