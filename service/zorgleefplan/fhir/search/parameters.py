"""The search parameters the server supports, loaded once from the generated definitions.

``definitions/search_parameters.json`` is written by ``scripts/gen_search_definitions.py`` from the
official R4 SearchParameter bundle: per served resource type, the parameters whose type we
index and whose expression we can evaluate, with the expression narrowed to that type.
``definitions/compartment.json`` lists, per type, the parameters that place a resource in a
client's Patient compartment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

import orjson

ParamType = Literal["token", "string", "reference", "date", "quantity", "number", "uri"]

# Parameters on the resource row itself rather than in an index table.
COLUMN_PARAMETERS = ("_id", "_lastUpdated")


@dataclass(frozen=True, slots=True)
class SearchParameter:
    resource_type: str
    code: str
    type: ParamType
    expression: str  # FHIRPath, narrowed to resource_type
    url: str
    description: str
    targets: tuple[str, ...] = ()  # allowed target types, for reference parameters


class SearchParameterRegistry:
    """Lookup of supported search parameters by (resource type, code)."""

    def __init__(
        self,
        parameters: Mapping[str, Mapping[str, SearchParameter]],
        compartment: Mapping[str, tuple[str, ...]],
    ) -> None:
        self._by_type = parameters
        self._compartment = compartment

    @classmethod
    def from_definitions(cls, search: dict, compartment: dict) -> SearchParameterRegistry:
        by_type: dict[str, dict[str, SearchParameter]] = {}
        for rtype, entries in search.items():
            by_type[rtype] = {
                e["code"]: SearchParameter(
                    resource_type=rtype,
                    code=e["code"],
                    type=e["type"],
                    expression=e["expression"],
                    url=e["url"],
                    description=e.get("description", ""),
                    targets=tuple(e.get("targets", ())),
                )
                for e in entries
            }
        return cls(by_type, {k: tuple(v) for k, v in compartment.items()})

    def get(self, resource_type: str, code: str) -> SearchParameter | None:
        return self._by_type.get(resource_type, {}).get(code)

    def for_type(self, resource_type: str) -> Mapping[str, SearchParameter]:
        return self._by_type.get(resource_type, {})

    def compartment_params(self, resource_type: str) -> tuple[str, ...]:
        """Codes of the parameters that link a resource of this type to a Patient."""
        return self._compartment.get(resource_type, ())


def _load_json(name: str) -> dict:
    return orjson.loads(resources.files("zorgleefplan.definitions").joinpath(name).read_bytes())


@cache
def default_registry() -> SearchParameterRegistry:
    """The registry built from the committed definitions (loaded once per process)."""
    return SearchParameterRegistry.from_definitions(
        _load_json("search_parameters.json"), _load_json("compartment.json")
    )
