"""The project's profiles and the Dutch identifier rules: every rule and invariant, with
resources that pass and resources that fail for each reason."""

from __future__ import annotations

import copy

import pytest
from fhirpathpy.engine.nodes import ResourceNode

from tests.profile_examples import (
    CONTACT_ROLE,
    LIVING_WILL,
    ROLE_CODE,
    SCOPE,
    VALID,
    Json,
    client,
    concept,
    kind,
    naaste,
    opvolgtaak,
    ref,
    toegangstoestemming,
    volmacht_extension,
    volmachtverlening,
    zorgleefplan,
    zorgnetwerk,
)
from zorgleefplan.errors import InvalidResource
from zorgleefplan.fhir.conformance import ConformanceChecker, ConformanceIssue
from zorgleefplan.fhir.profiles import default_profiles
from zorgleefplan.fhir.validation import ResourceValidator
from zorgleefplan.plan import codes
from zorgleefplan.plan.identifiers import AGB, BSN, URA, passes_elfproef


@pytest.fixture(scope="module")
def checker() -> ConformanceChecker:
    return ConformanceChecker()


def issues(
    checker: ConformanceChecker, resource: Json, severity: str = "error"
) -> list[ConformanceIssue]:
    return [i for i in checker.issues(resource) if i.severity == severity]


def fails(
    checker: ConformanceChecker, resource: Json, expression: str, *fragments: str
) -> ConformanceIssue:
    """The resource has exactly one error, at ``expression``, mentioning every fragment."""
    ResourceValidator().validate(resource)  # still plain valid FHIR: only the profile objects
    found = issues(checker, resource)
    assert len(found) == 1, found
    (problem,) = found
    assert problem.expression == expression, problem
    for fragment in fragments:
        assert fragment in problem.message, problem
    assert problem.message.startswith(f"{expression}: ")
    return problem


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_resources_pass(checker: ConformanceChecker, name: str) -> None:
    resource = VALID[name]()
    ResourceValidator().validate(resource)
    assert checker.issues(resource) == []
    checker.check(resource)


def test_every_resource_profile_has_a_valid_example() -> None:
    names = {
        p.url.rsplit("/", 1)[1]
        for p in default_profiles().profiles.values()
        if p.kind == "resource"
    }
    assert names == set(VALID)


# --------------------------------------------------------------------------- client


def test_client_needs_a_bsn(checker: ConformanceChecker) -> None:
    resource = client()
    resource["identifier"] = [{"system": "https://example.org/mrn", "value": "12"}]
    fails(checker, resource, "Patient.identifier", "'bsn'", BSN, "found 0", "profile Client")
    del resource["identifier"]
    found = issues(checker, resource)
    assert [i.expression for i in found] == ["Patient.identifier", "Patient.identifier"]
    assert "a value is required" in found[0].message


def test_client_has_one_bsn(checker: ConformanceChecker) -> None:
    resource = client()
    resource["identifier"].append({"system": BSN, "value": "999911132"})
    fails(checker, resource, "Patient.identifier", "at most 1", "'bsn'", "found 2")


def test_client_bsn_needs_a_value(checker: ConformanceChecker) -> None:
    resource = client()
    resource["identifier"] = [{"system": BSN, "use": "official"}]
    fails(checker, resource, "Patient.identifier[0].value", "a value is required")


def test_client_bsn_fails_the_elfproef_once(checker: ConformanceChecker) -> None:
    """The identifier rule and the profile's invariant find the same mistake: one issue."""
    resource = client()
    resource["identifier"][0]["value"] = "999911121"
    fails(checker, resource, "Patient.identifier[0].value", "elfproef")


def test_client_needs_a_name(checker: ConformanceChecker) -> None:
    resource = client()
    del resource["name"]
    fails(checker, resource, "Patient.name", "required")


@pytest.mark.parametrize(
    "value",
    [
        "999911120",
        "999911132",
        "999990019",
        "123456782",
        "999911121",
        "999999999",
        "12345678",
        "1234567890",
        "00000000x",
        "000000000",
    ],
)
def test_client_elfproef_invariant_agrees_with_the_identifier_rule(value: str) -> None:
    """The profile states the elfproef in FHIRPath (for other validators); it must say what
    plan/identifiers.py says."""
    bsn_slice = default_profiles().get(codes.PROFILE_CLIENT).root.children["identifier"].slices[0]
    (invariant,) = bsn_slice.invariants
    result = invariant.evaluate(
        ResourceNode.create_node({"system": BSN, "value": value}, "Identifier"), {}
    )
    expected = len(value) == 9 and value.isdigit() and passes_elfproef(value)
    assert result == [expected]


# --------------------------------------------------------------------------- zorgleefplan


def test_plan_states_whether_a_volmacht_exists(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    del resource["extension"]
    fails(checker, resource, "CarePlan.extension", "'volmacht'", codes.EXT_VOLMACHT, "found 0")
    resource["extension"] = [volmacht_extension(False)]
    assert issues(checker, resource) == []


def test_plan_intent_is_plan(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    resource["intent"] = "order"
    fails(checker, resource, "CarePlan.intent", "must be 'plan'")


def test_plan_names_a_domain(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    resource["category"] = [concept(codes.LIFE_AREA_SYSTEM, codes.PARTICIPATIE)]
    fails(checker, resource, "CarePlan.category", "'domein'", codes.DOMAIN_SYSTEM, "found 0")


def test_plan_domain_and_life_area_codes_are_bound(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    resource["category"][0] = concept(codes.DOMAIN_SYSTEM, "wet-op-de-zorg")
    fails(
        checker,
        resource,
        "CarePlan.category[0]",
        "wet-op-de-zorg",
        "zorgleefplan-domein",
        "jeugdwet",
    )
    resource = zorgleefplan()
    resource["category"][2] = concept(codes.LIFE_AREA_SYSTEM, "financien")
    fails(checker, resource, "CarePlan.category[2]", "financien", "levensgebied")


def test_plan_allows_other_categories(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    resource["category"].append(concept("http://snomed.info/sct", "734163000"))
    assert issues(checker, resource) == []


def test_plan_subject_is_the_client(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    resource["subject"] = ref("Group/huishouden")
    fails(checker, resource, "CarePlan.subject", "must refer to a Patient, not a Group")


def test_plan_has_one_care_network(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    resource["careTeam"].append(ref("CareTeam/tweede"))
    fails(checker, resource, "CarePlan.careTeam", "at most 1", "found 2")


def test_every_activity_has_a_kind(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    del resource["activity"][0]["extension"]
    fails(checker, resource, "CarePlan.activity[0].extension", "'soort'", "found 0")


def test_activity_kind_is_bound(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    resource["activity"][0]["extension"] = [
        {
            "url": codes.EXT_PLAN_ITEM_KIND,
            "valueCodeableConcept": concept(codes.PLAN_ITEM_SYSTEM, "wens"),
        }
    ]
    fails(
        checker,
        resource,
        "CarePlan.activity[0].extension[0].valueCodeableConcept",
        "wens",
        "plan-item-soort",
        "extension PlanItemSoort",
    )


def test_activity_is_described_or_referenced(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    resource["activity"][2] = {"extension": [kind(codes.AFSPRAAK)], "progress": [{"text": "x"}]}
    fails(checker, resource, "CarePlan.activity[2]", "zlp-plan-2")


def test_agreement_names_its_performer(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    del resource["activity"][0]["detail"]["performer"]
    fails(checker, resource, "CarePlan.activity[0].detail.performer", "a value is required")


def test_evaluation_moment_says_when(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    del resource["activity"][1]["detail"]["scheduledString"]
    fails(checker, resource, "CarePlan.activity[1]", "zlp-plan-3")
    resource["activity"][1]["detail"]["scheduledPeriod"] = {"start": "2024-09-01"}
    assert issues(checker, resource) == []


def test_activity_reference_is_a_task(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    resource["activity"][2]["reference"] = ref("ServiceRequest/thuiszorg")
    fails(checker, resource, "CarePlan.activity[2].reference", "must refer to a Task")


def test_active_plan_without_goals_is_a_warning(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    del resource["goal"]
    assert issues(checker, resource) == []
    (warning,) = issues(checker, resource, "warning")
    assert warning.expression == "CarePlan" and "zlp-plan-1" in warning.message
    checker.check(resource)  # a warning does not refuse a write
    resource["status"] = "draft"
    assert checker.issues(resource) == []


# --------------------------------------------------------------------------- the volmacht extension


@pytest.mark.parametrize(("exists", "consents"), [(True, ()), (False, ("Consent/volmacht",))])
def test_volmacht_extension_says_it_consistently(
    checker: ConformanceChecker, exists: bool, consents: tuple[str, ...]
) -> None:
    resource = zorgleefplan()
    resource["extension"] = [volmacht_extension(exists, *consents)]
    fails(checker, resource, "CarePlan.extension[0]", "zlp-volmacht-1", "extension Volmacht")


def test_volmacht_extension_may_link_several_volmachten(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    resource["extension"] = [volmacht_extension(True, "Consent/a", "Consent/b")]
    assert issues(checker, resource) == []


def test_volmacht_extension_needs_exists(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    resource["extension"][0]["extension"] = [{"url": "consent", "valueReference": ref("Consent/v")}]
    fails(checker, resource, "CarePlan.extension[0].extension", "'aanwezig'", "found 0")


def test_volmacht_extension_is_closed(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    resource["extension"][0]["extension"].append({"url": "holder", "valueString": "Els"})
    fails(checker, resource, "CarePlan.extension[0].extension[2]", "none of the slices")


def test_volmacht_extension_value_types(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    resource["extension"][0]["extension"][0] = {"url": "aanwezig", "valueString": "ja"}
    found = issues(checker, resource)
    assert [i.expression for i in found] == [
        "CarePlan.extension[0]",  # zlp-volmacht-1: 'ja' is not true
        "CarePlan.extension[0].extension[0].valueString",
    ]
    assert "must be a boolean here, not a string" in found[1].message
    resource = zorgleefplan()
    resource["extension"][0]["extension"][1]["valueReference"] = ref("Patient/p1")
    fails(
        checker,
        resource,
        "CarePlan.extension[0].extension[1].valueReference",
        "must refer to a Consent",
    )


def test_volmacht_extension_has_no_value_of_its_own(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    resource["extension"][0]["valueBoolean"] = True
    found = issues(checker, resource)
    assert any(
        i.expression == "CarePlan.extension[0].value" and "allows none" in i.message for i in found
    )


def test_extensions_are_checked_where_they_are_used(checker: ConformanceChecker) -> None:
    """Also on a resource that claims no profile, and in their context only."""
    team = zorgnetwerk()
    del team["meta"]
    team["extension"] = [volmacht_extension(True)]
    found = issues(checker, team)
    assert [i.expression for i in found] == ["CareTeam.extension[0]", "CareTeam.extension[0]"]
    assert "may be used on CarePlan, not on CareTeam" in found[0].message
    assert "zlp-volmacht-1" in found[1].message


def test_extension_on_a_primitive_has_the_primitive_as_context(
    checker: ConformanceChecker,
) -> None:
    resource = zorgleefplan()
    resource["_status"] = {"extension": [volmacht_extension(False)]}
    fails(checker, resource, "CarePlan._status.extension[0]", "not on CarePlan.status")


def test_unknown_extensions_of_ours_are_refused(checker: ConformanceChecker) -> None:
    resource = naaste()
    resource["extension"] = [{"url": codes.structure_definition("schoenmaat"), "valueInteger": 43}]
    fails(
        checker,
        resource,
        "RelatedPerson.extension[0].url",
        "not an extension defined by this server",
    )
    resource["extension"] = [{"url": "https://example.org/fhir/schoenmaat", "valueInteger": 43}]
    assert issues(checker, resource) == []


# --------------------------------------------------------------------------- zorgnetwerk


def test_network_belongs_to_the_client(checker: ConformanceChecker) -> None:
    resource = zorgnetwerk()
    del resource["subject"]
    fails(checker, resource, "CareTeam.subject", "required", "profile Zorgnetwerk")


def test_network_has_members(checker: ConformanceChecker) -> None:
    resource = zorgnetwerk()
    del resource["participant"]
    fails(checker, resource, "CareTeam.participant", "required")
    resource = zorgnetwerk()
    del resource["participant"][3]["member"]
    fails(checker, resource, "CareTeam.participant[3].member", "required")


def test_network_roles_are_bound(checker: ConformanceChecker) -> None:
    resource = zorgnetwerk()
    resource["participant"][3]["role"][0] = concept(codes.ROLE_SYSTEM, "buurman")
    fails(checker, resource, "CareTeam.participant[3].role[0]", "buurman", "zorgleefplan-rol")


def test_indicerend_and_coordinerend_are_different_members(checker: ConformanceChecker) -> None:
    resource = zorgnetwerk()
    resource["participant"][2]["member"] = ref("PractitionerRole/psychiater")
    fails(checker, resource, "CareTeam", "zlp-netwerk-1", "rolcombinatie-uitzondering")
    reason = {
        "url": codes.ROLE_EXCEPTION_REDEN,
        "valueCodeableConcept": concept(codes.ROLE_EXCEPTION_REASON_SYSTEM, codes.VERZOEK_CLIENT),
    }
    learning = {"url": codes.ROLE_EXCEPTION_LEREND_NETWERK, "valueBoolean": True}
    resource["extension"] = [{"url": codes.EXT_ROLE_EXCEPTION, "extension": [reason, learning]}]
    assert issues(checker, resource) == []
    reason["valueCodeableConcept"] = concept(codes.ROLE_EXCEPTION_REASON_SYSTEM, "gemak")
    fails(
        checker,
        resource,
        "CareTeam.extension[0].extension[0].valueCodeableConcept",
        "gemak",
        "rolcombinatie-reden",
    )
    resource["extension"][0]["extension"] = [learning]  # the reason is required
    fails(checker, resource, "CareTeam.extension[0].extension", "reden")


def test_regiebehandelaar_is_a_practitioner_role_with_a_period(checker: ConformanceChecker) -> None:
    resource = zorgnetwerk()
    resource["participant"][0]["member"] = ref("Practitioner/jansen")
    fails(checker, resource, "CareTeam.participant[0]", "zlp-netwerk-2", "PractitionerRole")
    resource = zorgnetwerk()
    del resource["participant"][0]["period"]
    fails(checker, resource, "CareTeam.participant[0]", "zlp-netwerk-2")
    resource["participant"][0]["member"] = ref("http://test/fhir/PractitionerRole/wv")
    resource["participant"][0]["period"] = {"start": "2024-01-01"}
    assert issues(checker, resource) == []


# --------------------------------------------------------------------------- volmachtverlening


def test_volmacht_is_an_advance_directive(checker: ConformanceChecker) -> None:
    resource = volmachtverlening()
    resource["scope"] = concept(SCOPE, "patient-privacy")
    fails(checker, resource, "Consent.scope", f"{SCOPE}|adr")
    resource = volmachtverlening()
    resource["category"] = [concept("http://loinc.org", "59284-0")]
    fails(checker, resource, "Consent.category[0]", "acd")


def test_volmacht_has_code_vol(checker: ConformanceChecker) -> None:
    resource = volmachtverlening()
    resource["provision"]["code"] = [concept(LIVING_WILL, "NR")]
    fails(checker, resource, "Consent.provision.code[0]", f"{LIVING_WILL}|VOL")
    del resource["provision"]["code"]
    fails(checker, resource, "Consent.provision.code", "required")


def test_volmacht_permits(checker: ConformanceChecker) -> None:
    resource = volmachtverlening()
    resource["provision"]["type"] = "deny"
    fails(checker, resource, "Consent.provision.type", "must be 'permit'")


def test_volmacht_names_one_holder(checker: ConformanceChecker) -> None:
    resource = volmachtverlening()
    actor = resource["provision"]["actor"][0]
    resource["provision"]["actor"] = [{**actor, "role": concept(ROLE_CODE, "HPOWATT")}]
    fails(checker, resource, "Consent.provision.actor", "'gevolmachtigde'", "RESPRSN", "found 0")
    resource["provision"]["actor"] = [actor, copy.deepcopy(actor)]
    fails(checker, resource, "Consent.provision.actor", "at most 1", "found 2")


def test_volmacht_holder_is_a_related_person(checker: ConformanceChecker) -> None:
    resource = volmachtverlening()
    resource["provision"]["actor"][0]["reference"] = ref("Practitioner/notaris")
    fails(
        checker, resource, "Consent.provision.actor[0].reference", "must refer to a RelatedPerson"
    )


def test_volmacht_is_given_by_the_client(checker: ConformanceChecker) -> None:
    resource = volmachtverlening()
    del resource["patient"]
    fails(checker, resource, "Consent.patient", "required")


# --------------------------------------------------------------------------- toegangstoestemming


def test_access_consent_scope(checker: ConformanceChecker) -> None:
    resource = toegangstoestemming()
    resource["scope"] = concept(SCOPE, "adr")
    fails(checker, resource, "Consent.scope", "patient-privacy")


def test_access_consent_has_a_typed_provision(checker: ConformanceChecker) -> None:
    resource = toegangstoestemming()
    del resource["provision"]["type"]
    fails(checker, resource, "Consent.provision.type", "required")
    del resource["provision"]
    fails(checker, resource, "Consent.provision", "required")


@pytest.mark.parametrize("nested", [False, True])
def test_access_consent_permits_name_actors(checker: ConformanceChecker, nested: bool) -> None:
    resource = toegangstoestemming()
    if nested:
        del resource["provision"]["provision"][0]["actor"]
    else:
        resource["provision"] = {
            "type": "permit",
            "action": resource["provision"]["provision"][0]["action"],
        }
    fails(checker, resource, "Consent", "zlp-toegang-1", "permit for anyone")


def test_access_consent_nests_four_levels_at_most(checker: ConformanceChecker) -> None:
    resource = toegangstoestemming()
    leaf = resource["provision"]["provision"][0]
    level = {"type": "deny", "provision": [{"type": "deny", "provision": [copy.deepcopy(leaf)]}]}
    resource["provision"]["provision"] = [level]  # now four levels deep: fine
    assert issues(checker, resource) == []
    leaf_holder = level["provision"][0]
    leaf_holder["provision"][0]["provision"] = [copy.deepcopy(leaf)]  # five
    fails(checker, resource, "Consent", "zlp-toegang-2")


# --------------------------------------------------------------------------- naaste


def test_naaste_states_the_relationship(checker: ConformanceChecker) -> None:
    resource = naaste()
    del resource["relationship"]
    fails(checker, resource, "RelatedPerson.relationship", "required")


def test_naaste_contact_role_is_bound(checker: ConformanceChecker) -> None:
    resource = naaste()
    resource["relationship"][1] = concept(CONTACT_ROLE, "99")
    fails(
        checker,
        resource,
        "RelatedPerson.relationship[1]",
        f"{CONTACT_ROLE}|99",
        "contactpersoon-rol",
    )


def test_naaste_has_a_name(checker: ConformanceChecker) -> None:
    resource = naaste()
    del resource["name"]
    fails(checker, resource, "RelatedPerson.name", "required")


# --------------------------------------------------------------------------- opvolgtaak


@pytest.mark.parametrize("element", ["basedOn", "code", "for", "owner"])
def test_task_required_elements(checker: ConformanceChecker, element: str) -> None:
    resource = opvolgtaak()
    del resource[element]
    fails(checker, resource, f"Task.{element}", "required", "profile Opvolgtaak")


def test_task_codes_cover_plan_items_and_workflow_tasks(checker: ConformanceChecker) -> None:
    resource = opvolgtaak()
    resource["code"] = concept(codes.TASK_SYSTEM, codes.KLACHT)
    assert issues(checker, resource) == []
    resource["code"] = concept("http://snomed.info/sct", "225358003")
    fails(checker, resource, "Task.code", "opvolgtaak-code")


def test_task_follows_up_a_plan(checker: ConformanceChecker) -> None:
    resource = opvolgtaak()
    resource["basedOn"] = [ref("ServiceRequest/1")]
    fails(checker, resource, "Task.basedOn[0]", "must refer to a CarePlan")
    resource = opvolgtaak()
    resource["for"] = ref("Group/1")
    fails(checker, resource, "Task.for", "must refer to a Patient")


def test_completed_task_says_when(checker: ConformanceChecker) -> None:
    resource = opvolgtaak()
    resource["status"] = "completed"
    fails(checker, resource, "Task", "zlp-taak-1")
    resource["executionPeriod"] = {"start": "2024-03-01", "end": "2024-03-02"}
    assert issues(checker, resource) == []


# --------------------------------------------------------------------------- claims


def test_unknown_profile_of_ours_is_refused(checker: ConformanceChecker) -> None:
    resource = naaste()
    resource["meta"]["profile"] = [codes.structure_definition("buurman")]
    fails(
        checker, resource, "RelatedPerson.meta.profile[0]", "not a profile defined by this server"
    )


def test_extension_is_no_resource_profile(checker: ConformanceChecker) -> None:
    resource = zorgleefplan()
    resource["meta"]["profile"] = [codes.EXT_VOLMACHT]
    fails(checker, resource, "CarePlan.meta.profile[0]", "not a profile defined by this server")


def test_profile_of_another_type_is_refused(checker: ConformanceChecker) -> None:
    resource = naaste()
    resource["meta"]["profile"] = [codes.PROFILE_CLIENT]
    fails(
        checker,
        resource,
        "RelatedPerson.meta.profile[0]",
        "a profile of Patient, not of RelatedPerson",
    )


def test_foreign_profiles_are_accepted_unvalidated(checker: ConformanceChecker) -> None:
    resource = naaste()
    del resource["name"]
    resource["meta"]["profile"] = [
        "http://nictiz.nl/fhir/StructureDefinition/nl-core-ContactPerson"
    ]
    assert issues(checker, resource) == []
    (note,) = checker.issues(resource)
    assert note.severity == "information" and "not validated against it" in note.message


def test_versioned_claims_and_extra_profiles(checker: ConformanceChecker) -> None:
    resource = naaste()
    del resource["name"]
    resource["meta"]["profile"] = [codes.PROFILE_NAASTE + "|0.1.0"]
    fails(checker, resource, "RelatedPerson.name", "required")
    del resource["meta"]
    assert issues(checker, resource) == []
    (problem,) = [i for i in checker.issues(resource, [codes.PROFILE_NAASTE])]
    assert problem.expression == "RelatedPerson.name"


def test_contained_resources_are_checked_against_their_claims(checker: ConformanceChecker) -> None:
    task = opvolgtaak()
    helper = naaste()
    del helper["name"]
    helper["id"] = "buur"
    task["contained"] = [helper]
    task["owner"] = ref("#buur")
    fails(checker, task, "Task.contained[0].name", "required", "profile Naaste")


def test_contained_reference_targets_are_resolved(checker: ConformanceChecker) -> None:
    task = opvolgtaak()
    task["contained"] = [{"resourceType": "Group", "id": "g", "type": "person", "actual": True}]
    task["for"] = ref("#g")
    fails(checker, task, "Task.for", "must refer to a Patient, not a Group")


# --------------------------------------------------------------------------- identifiers anywhere


def test_identifiers_are_checked_in_every_resource(checker: ConformanceChecker) -> None:
    practitioner = {"resourceType": "Practitioner", "identifier": [{"system": AGB, "value": "123"}]}
    fails(checker, practitioner, "Practitioner.identifier[0].value", "AGB code has 8 digits")
    organization = {
        "resourceType": "Organization",
        "identifier": [{"system": URA, "value": "1234567890"}],
    }
    fails(checker, organization, "Organization.identifier[0].value", "URA number has 8 digits")
    goal = {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": "x"},
        "subject": {"identifier": {"system": BSN, "value": "999911121"}, "type": "Patient"},
    }
    fails(checker, goal, "Goal.subject.identifier.value", "elfproef")


def test_check_raises_every_error(checker: ConformanceChecker) -> None:
    resource = client()
    resource["identifier"][0]["value"] = "999911121"
    del resource["name"]
    with pytest.raises(InvalidResource) as raised:
        checker.check(resource)
    error = raised.value
    assert error.status_hint == 422
    assert error.expression == ["Patient.identifier[0].value"] and error.issue_code == "value"
    assert [e.expression for e in error.issues] == [["Patient.name"]]
