"""Shared by the definition generators: where the official FHIR R4 files are, and where the
generated subset goes. Run the generators from the repository root:

    python scripts/gen_search_definitions.py
    python scripts/gen_structure_definitions.py

They read ../shared/fhir-r4 (or $FHIR_R4_DIR) and write service/zorgleefplan/definitions/.
``gen_profile_definitions.py`` reads only the project's own conformance resources in profiles/.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "service"))

from zorgleefplan.fhir.resource_types import SUPPORTED_TYPES  # noqa: E402

SOURCE = Path(os.environ.get("FHIR_R4_DIR", ROOT.parent / "shared" / "fhir-r4"))
OUTPUT = ROOT / "service" / "zorgleefplan" / "definitions"
PROFILES = ROOT / "profiles"  # the project's own conformance resources

__all__ = ["OUTPUT", "PROFILES", "SOURCE", "SUPPORTED_TYPES", "bundle_resources", "write_json"]


def bundle_resources(name: str) -> list[dict[str, Any]]:
    """The resources of one official definitions bundle (e.g. 'search-parameters.json')."""
    data = orjson.loads((SOURCE / name).read_bytes())
    if data.get("resourceType") == "Bundle":
        return [e["resource"] for e in data.get("entry", []) if "resource" in e]
    return [data]


def write_json(name: str, data: Any) -> None:
    """Write deterministic, diff-friendly JSON (sorted keys, two-space indent)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / name).write_bytes(
        orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
