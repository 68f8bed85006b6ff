"""MedMij-style data-service scopes, and requested scopes described in plain Dutch.

A patient app (PGO) may ask for ``<service_id>~<gegevensdienstId>`` instead of SMART scopes.
The registry in ``data_services.json`` (like MedMij's gegevensdienstnamenlijst) says which SMART
scopes each data service stands for and how the consent screen names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import orjson

from zorgleefplan.auth.scopes import LETTERS, ScopeSet, parse_resource_scope

SEPARATOR = "~"


class UnknownDataService(ValueError):
    """A data-service scope names another service or an id the registry does not have."""


@dataclass(frozen=True, slots=True)
class DataService:
    id: str  # gegevensdienstId
    name: str  # Dutch display name
    description: str  # one plain-language line for the consent screen
    scopes: tuple[str, ...]  # the SMART scopes it stands for


@dataclass(frozen=True, slots=True)
class DataServiceRegistry:
    services: Mapping[str, DataService]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DataServiceRegistry:
        services: dict[str, DataService] = {}
        for entry in data["services"]:
            service = DataService(
                id=entry["id"],
                name=entry["name"],
                description=entry["description"],
                scopes=tuple(entry["scopes"]),
            )
            if service.id in services or SEPARATOR in service.id:
                raise ValueError(f"data service id {service.id!r} is repeated or malformed")
            # A data service may only stand for plain resource scopes this server grants.
            if not service.scopes or any(parse_resource_scope(s) is None for s in service.scopes):
                raise ValueError(f"data service {service.id!r} lists an invalid SMART scope")
            services[service.id] = service
        return cls(MappingProxyType(services))

    def lookup(self, scope: str, service_id: str) -> DataService | None:
        """The data service ``scope`` names, or None when it is not a data-service scope."""
        service, separator, service_number = scope.partition(SEPARATOR)
        if not separator:
            return None
        if service != service_id:
            raise UnknownDataService(f"scope {scope!r} names another service than {service_id!r}")
        found = self.services.get(service_number)
        if found is None:
            raise UnknownDataService(f"scope {scope!r} names an unknown data service")
        return found

    def expand(self, scope: str, service_id: str) -> str:
        """Replace each data-service scope in a space-separated scope string by its SMART
        scopes; other scopes pass unchanged (order kept, duplicates dropped)."""
        expanded: dict[str, None] = {}
        for item in scope.split():
            service = self.lookup(item, service_id)
            for smart_scope in service.scopes if service else (item,):
                expanded[smart_scope] = None
        return " ".join(expanded)

    def describe(self, scope: str, service_id: str) -> list[str]:
        """Plain Dutch lines for the consent screen: a data service by its own description,
        other scopes as :func:`describe_scopes` puts them."""
        lines: list[str] = []
        rest: list[str] = []
        for item in scope.split():
            service = self.lookup(item, service_id)
            if service is None:
                rest.append(item)
            elif service.description not in lines:
                lines.append(service.description)
        return lines + describe_scopes(ScopeSet.parse(" ".join(rest)))


@cache
def data_services() -> DataServiceRegistry:
    """The registry shipped with the package (loaded once per process)."""
    raw = resources.files("zorgleefplan.auth").joinpath("data_services.json").read_bytes()
    return DataServiceRegistry.from_json(orjson.loads(raw))


def expand(scope: str, service_id: str) -> str:
    return data_services().expand(scope, service_id)


def describe(scope: str, service_id: str) -> list[str]:
    return data_services().describe(scope, service_id)


# Resource types in plain words, in the order the consent screen lists them.
_NOUNS = {
    "CarePlan": "zorgleefplan",
    "Goal": "doelen",
    "Task": "afspraken en taken",
    "CareTeam": "zorgteam",
    "Communication": "berichten",
    "Condition": "gezondheidsproblemen",
    "Consent": "toestemmingen",
    "RelatedPerson": "naasten en vertegenwoordigers",
    "Patient": "persoonsgegevens",
    "Practitioner": "zorgverleners",
    "PractitionerRole": "rollen van zorgverleners",
    "Organization": "zorgorganisaties",
    "AuditEvent": "inzagelog",
    "Provenance": "herkomst van wijzigingen",
    "PlanDefinition": "standaardplannen",
    "ActivityDefinition": "standaardactiviteiten",
}
_ORDER = {t: i for i, t in enumerate(("*", *_NOUNS))}
_VERBS = (("rs", "inzien"), ("c", "toevoegen"), ("u", "wijzigen"), ("d", "verwijderen"))
_OTHER_LINES = (
    ("openid", "Bevestigen wie u bent"),
    ("fhirUser", "Doorgeven wie u bent en in welke rol"),
    ("launch/patient", "Weten over welke cliënt het gaat"),
    ("launch", "Weten over welke cliënt het gaat"),
    ("offline_access", "Langdurige toegang (ook als u niet ingelogd bent)"),
)


def describe_scopes(scopes: ScopeSet) -> list[str]:
    """Plain Dutch lines for the granted scopes of a set (unknown ones are not shown: a
    request carrying them is refused before any consent screen)."""
    letters: dict[tuple[str, str], set[str]] = {}
    for s in scopes.resource:
        letters.setdefault((s.context, s.resource_type), set()).update(s.letters)
    lines: list[str] = []
    for (context, resource_type), granted in sorted(
        letters.items(), key=lambda item: (_ORDER.get(item[0][1], len(_ORDER)), item[0])
    ):
        line = _resource_line(context, resource_type, "".join(c for c in LETTERS if c in granted))
        if line not in lines:
            lines.append(line)
    for scope, line in _OTHER_LINES:
        if scope in scopes.other and line not in lines:
            lines.append(line)
    return lines


def _resource_line(context: str, resource_type: str, letters: str) -> str:
    verbs = [verb for covering, verb in _VERBS if any(c in letters for c in covering)]
    action = verbs[0] if len(verbs) == 1 else ", ".join(verbs[:-1]) + " en " + verbs[-1]
    noun = _NOUNS.get(resource_type, f"{resource_type}-gegevens")
    if context == "patient":
        subject = "Al uw gegevens" if resource_type == "*" else f"Uw {noun}"
        return f"{subject} {action}"
    subject = "Alle gegevens" if resource_type == "*" else noun[0].upper() + noun[1:]
    if context == "user":
        return f"{subject} {action} van de cliënten voor wie u werkt"
    return f"{subject} {action} namens uw organisatie"
