"""What a resource must be beyond plain FHIR R4: the project's profiles and Dutch identifiers.

Checked on every write (``Repository._prepare``) and by ``$validate``, after the structural
validation of ``fhir/validation.py``:

- Dutch identifiers (BSN elfproef, AGB, URA, UZI, BIG) wherever an Identifier carries one of
  their systems, whatever the resource claims (``plan/identifiers.py``);
- the project's extensions wherever they are used: a URL under the canonical base must be a
  known extension, used in its context, conforming to its definition;
- every profile the resource claims in ``meta.profile`` (and contained resources theirs): one
  under the canonical base must be known and for this type, and the resource must conform to
  it (cardinality, fixed and pattern values, required bindings, choice types, reference
  targets, slices, invariants). Profiles of others are accepted without validation.

Errors refuse a write; warnings (a profile invariant of severity warning) and information (a
foreign profile not checked) are only reported by ``$validate``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fhirpathpy.engine.nodes import ResourceNode

from zorgleefplan.errors import InvalidResource
from zorgleefplan.fhir.profiles import (
    STRUCTURE_BASE,
    ElementRule,
    Invariant,
    Profile,
    ProfileSet,
    default_profiles,
    is_ours,
)
from zorgleefplan.fhir.search.fhirpath import reference_type
from zorgleefplan.fhir.structure import ElementInfo, Kind, TypeTable, type_table
from zorgleefplan.plan.identifiers import SYSTEMS, identifier_problem

Json = dict[str, Any]
_EXTENSION_KEYS = ("extension", "modifierExtension")


@dataclass(frozen=True, slots=True)
class ConformanceIssue:
    severity: str  # error | warning | information
    code: str  # OperationOutcome issue type
    expression: str  # where, e.g. "CarePlan.category[0]"
    message: str


class ConformanceChecker:
    """Checks resources against the project's profiles and the Dutch identifier rules."""

    def __init__(self, profiles: ProfileSet | None = None) -> None:
        self.profiles = profiles if profiles is not None else default_profiles()

    def issues(self, resource: Json, profiles: Sequence[str] = ()) -> list[ConformanceIssue]:
        """Every issue of a (structurally valid) resource: against what it claims, and also
        against ``profiles`` (e.g. asked for by ``$validate``)."""
        check = _Check(resource, self.profiles)
        check.scan(resource, resource["resourceType"], resource["resourceType"])
        check.claimed(resource, resource["resourceType"], profiles)
        for i, contained in enumerate(resource.get("contained", ())):
            if isinstance(contained, dict):
                check.claimed(contained, f"{resource['resourceType']}.contained[{i}]", ())
        return check.result()

    def check(self, resource: Json) -> None:
        """Raise InvalidResource (422) naming every error; warnings do not refuse a write."""
        errors = [i for i in self.issues(resource) if i.severity == "error"]
        if not errors:
            return
        first, *rest = [
            InvalidResource(i.message, expression=[i.expression], issue_code=i.code) for i in errors
        ]
        raise InvalidResource(
            first.diagnostics, expression=first.expression, issue_code=first.issue_code, issues=rest
        )


class _Check:
    """One pass over one resource."""

    def __init__(self, root: Json, profiles: ProfileSet) -> None:
        self.root = root
        self.profiles = profiles
        self.found: list[ConformanceIssue] = []
        self.identifier_paths: set[str] = set()
        self.source = ""  # the profile or extension being checked, for messages
        self.resource = root  # %resource of the invariants: the (contained) resource checked

    def issue(self, path: str, message: str, code: str, severity: str = "error") -> None:
        origin = f" ({self.source})" if self.source else ""
        self.found.append(ConformanceIssue(severity, code, path, f"{path}: {message}{origin}"))

    def result(self) -> list[ConformanceIssue]:
        # The client profile repeats the elfproef as an invariant on the identifier (so other
        # validators check it too): report each bad identifier once, by the identifier rule.
        return [
            i
            for i in self.found
            if not (i.code == "invariant" and f"{i.expression}.value" in self.identifier_paths)
        ]

    # -- identifiers and extensions, wherever they are ----------------------------------------

    def scan(self, node: Any, path: str, element: str) -> None:
        """Walk the JSON: ``path`` with array indexes (for messages), ``element`` without them
        (an extension's context)."""
        if isinstance(node, list):
            for i, item in enumerate(node):
                self.scan(item, f"{path}[{i}]", element)
            return
        if not isinstance(node, dict):
            return
        system, value = node.get("system"), node.get("value")
        if isinstance(system, str) and system in SYSTEMS and isinstance(value, str):
            problem = identifier_problem(system, value)
            if problem is not None:
                self.identifier_paths.add(f"{path}.value")
                self.issue(f"{path}.value", problem, "value")
        for key, value in node.items():
            if key in _EXTENSION_KEYS and isinstance(value, list):
                for i, item in enumerate(value):
                    self.extension(item, f"{path}.{key}[{i}]", element)
            if key == "contained":
                for i, item in enumerate(value if isinstance(value, list) else ()):
                    contained_type = item.get("resourceType", "") if isinstance(item, dict) else ""
                    self.scan(item, f"{path}.contained[{i}]", contained_type)
            elif key != "resourceType":
                # ``_status`` holds the extensions of ``status``: its context is the element
                self.scan(value, f"{path}.{key}", f"{element}.{key.removeprefix('_')}")

    def extension(self, item: Any, path: str, element: str) -> None:
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(url, str) or not url.startswith(STRUCTURE_BASE):
            return
        profile = self.profiles.get(url)
        if profile is None or profile.kind != "extension":
            self.issue(f"{path}.url", f"{url} is not an extension defined by this server", "value")
            return
        if element not in profile.context:
            self.issue(
                path,
                f"the extension {profile.name} may be used on {', '.join(profile.context)}, "
                f"not on {element}",
                "structure",
            )
        self.conform(item, profile, path, self.root)

    # -- profiles --------------------------------------------------------------------------

    def claimed(self, resource: Json, path: str, extra: Sequence[str]) -> None:
        meta = resource.get("meta")
        claims = meta.get("profile", []) if isinstance(meta, dict) else []
        seen: set[str] = set()
        for i, url in enumerate(claims):
            self.profile(resource, path, url.split("|", 1)[0], f"{path}.meta.profile[{i}]", seen)
        for url in extra:
            self.profile(resource, path, url.split("|", 1)[0], path, seen)

    def profile(self, resource: Json, path: str, url: str, where: str, seen: set[str]) -> None:
        if url in seen:
            return
        seen.add(url)
        if not is_ours(url):
            self.issue(
                where,
                f"{url} is not a profile of this server; not validated against it",
                "informational",
                "information",
            )
            return
        profile = self.profiles.get(url)
        if profile is None or profile.kind != "resource":
            self.issue(where, f"{url} is not a profile defined by this server", "not-supported")
        elif profile.type != resource["resourceType"]:
            self.issue(
                where,
                f"{url} is a profile of {profile.type}, not of {resource['resourceType']}",
                "value",
            )
        else:
            self.conform(resource, profile, path, resource)

    def conform(self, value: Any, profile: Profile, path: str, resource: Json) -> None:
        kind = "profile" if profile.kind == "resource" else "extension"
        outer = self.source, self.resource
        self.source, self.resource = f"{kind} {profile.name}", resource
        try:
            self.element(value, profile.root, path, type_table(profile.type))
        finally:
            self.source, self.resource = outer

    # -- one element ------------------------------------------------------------------------

    def element(self, value: Any, rule: ElementRule, path: str, table: TypeTable | None) -> None:
        if rule.fixed is not None and value != rule.fixed:
            self.issue(path, f"must be {_show(rule.fixed)}", "value")
        if rule.pattern is not None and not _conforms(value, rule.pattern):
            self.issue(path, f"must have {_show(rule.pattern)}", "value")
        if rule.binding is not None:
            self.binding(value, rule, path, table.name if table else None)
        if rule.targets and isinstance(value, dict):
            self.target(value, rule, path)
        for invariant in rule.invariants:
            self.invariant(value, invariant, path, table.name if table else rule.name)
        if not isinstance(value, dict):
            return
        for name, child in rule.children.items():
            items = list(_items(value, name, path, table))
            self.choice_types(items, child)
            self.cardinality(len(items), child, f"{path}.{name.removesuffix('[x]')}")
            if child.slices:
                self.sliced(items, child, path)
            for item, item_path, info in items:
                self.element(item, child, item_path, _table_of(info))

    def cardinality(self, count: int, rule: ElementRule, path: str) -> None:
        of = f" of the slice '{rule.slice_name}' ({_describe(rule)})" if rule.slice_name else ""
        if count < rule.min:
            if count == 0 and rule.min == 1 and not of:
                self.issue(path, "a value is required", "required")
            else:
                self.issue(path, f"needs at least {rule.min}{of}, found {count}", "required")
        if rule.max is not None and count > rule.max:
            allowed = f"at most {rule.max}" if rule.max else "none"
            self.issue(path, f"allows {allowed}{of}, found {count}", "structure")

    def sliced(
        self, items: list[tuple[Any, str, ElementInfo | None]], rule: ElementRule, path: str
    ) -> None:
        """Each item into the first slice it matches, then each slice's cardinality."""
        counts = [0] * len(rule.slices)
        for item, item_path, info in items:
            index = next((i for i, s in enumerate(rule.slices) if _in_slice(item, s)), None)
            if index is None:
                if rule.closed:
                    self.issue(
                        item_path, "matches none of the slices the profile allows", "structure"
                    )
                continue
            counts[index] += 1
            self.element(item, rule.slices[index], item_path, _table_of(info))
        for slice_rule, count in zip(rule.slices, counts, strict=True):
            self.cardinality(count, slice_rule, f"{path}.{rule.name.removesuffix('[x]')}")

    def choice_types(
        self, items: list[tuple[Any, str, ElementInfo | None]], rule: ElementRule
    ) -> None:
        if not rule.types:
            return
        for _, item_path, info in items:
            if info is not None and info.type not in rule.types:
                allowed = " or ".join(sorted(rule.types))
                self.issue(item_path, f"must be a {allowed} here, not a {info.type}", "structure")

    def binding(self, value: Any, rule: ElementRule, path: str, type_name: str | None) -> None:
        """A required binding: a code, a Coding, or a CodeableConcept with a coding in it."""
        vs = rule.binding
        assert vs is not None
        if type_name == "CodeableConcept":
            codings = [c for c in value.get("coding", ()) if isinstance(c, dict)]
            ok = any(vs.has_coding(c.get("system"), c.get("code", "")) for c in codings)
            shown = ", ".join(_coding(c) for c in codings) or "a text without a coding"
        elif type_name == "Coding":
            ok, shown = vs.has_coding(value.get("system"), value.get("code", "")), _coding(value)
        elif isinstance(value, str):
            ok, shown = vs.has_code(value), repr(value)
        else:
            return
        if not ok:
            allowed = ", ".join(vs.sample())
            self.issue(
                path,
                f"{shown} is not in the value set {vs.url} (allowed: {allowed})",
                "code-invalid",
            )

    def target(self, reference: Json, rule: ElementRule, path: str) -> None:
        literal = reference.get("reference")
        if isinstance(literal, str) and literal.startswith("#"):
            rtype = _contained_type(self.root, literal[1:])
        elif isinstance(literal, str):
            rtype = reference_type(literal)
        else:
            rtype = reference.get("type") if isinstance(reference.get("type"), str) else None
        if rtype is not None and rtype not in rule.targets:
            allowed = ", ".join(sorted(rule.targets))
            self.issue(path, f"must refer to a {allowed}, not a {rtype}", "value")

    def invariant(self, value: Any, invariant: Invariant, path: str, base: str) -> None:
        variables = {"resource": self.resource, "rootResource": self.root}
        try:
            result = invariant.evaluate(ResourceNode.create_node(value, base), variables)
        except Exception as exc:  # fhirpathpy raises assorted errors on unexpected data
            self.issue(
                path,
                f"{invariant.key} could not be evaluated: {exc}",
                "invariant",
                invariant.severity,
            )
            return
        if result != [True]:
            self.issue(path, f"{invariant.key}: {invariant.human}", "invariant", invariant.severity)


# ---------------------------------------------------------------------------------------------
# JSON helpers


def _items(
    node: Json, name: str, path: str, table: TypeTable | None
) -> Iterator[tuple[Any, str, ElementInfo | None]]:
    """(value, path, element info) of each value of element ``name`` (every type of a choice)."""
    if name.endswith("[x]"):
        stem = name[:-3]
        keys = (
            table.names_for(stem)
            if table
            else tuple(
                k for k in node if k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper()
            )
        )
    else:
        keys = (name,)
    for key in keys:
        value = node.get(key)
        if value is None:
            continue
        info = table.get(key) if table else None
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield item, f"{path}.{key}[{i}]", info
        else:
            yield value, f"{path}.{key}", info


def _table_of(info: ElementInfo | None) -> TypeTable | None:
    return type_table(info.type) if info is not None and info.kind is Kind.COMPLEX else None


def _in_slice(item: Any, rule: ElementRule) -> bool:
    for d in rule.discriminators:
        values = [item]
        for step in d.path:
            values = [v for value in values for v in _children(value, step)]
        if not any(v == d.value if d.exact else _conforms(v, d.value) for v in values):
            return False
    return True


def _children(value: Any, key: str) -> list[Any]:
    if not isinstance(value, dict) or key not in value:
        return []
    child = value[key]
    return child if isinstance(child, list) else [child]


def _conforms(value: Any, pattern: Any) -> bool:
    """Whether ``value`` has everything ``pattern`` has (FHIR pattern[x] semantics: every
    pattern property present with a conforming value; every pattern array item matched by
    some item of the value's array)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            _conforms(value.get(k), v) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(_conforms(v, p) for v in value) for p in pattern)
    return value == pattern


def _contained_type(root: Json, id_: str) -> str | None:
    for item in root.get("contained", ()):
        if isinstance(item, dict) and item.get("id") == id_:
            return item.get("resourceType")
    return None


def _coding(coding: Json) -> str:
    system, code = coding.get("system"), coding.get("code")
    return f"{system}|{code}" if system else repr(code)


def _show(value: Any) -> str:
    """A fixed or pattern value, as a person reads it: codings as system|code."""
    if isinstance(value, dict) and isinstance(value.get("coding"), list):
        return "a coding " + " and ".join(
            _coding(c) if "code" in c else f"from {c.get('system')}" for c in value["coding"]
        )
    return repr(value)


def _describe(rule: ElementRule) -> str:
    return "; ".join(f"{'.'.join(d.path) or 'value'} {_show(d.value)}" for d in rule.discriminators)
