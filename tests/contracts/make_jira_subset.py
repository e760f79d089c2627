"""Writes jira-openapi-subset.json: the part of Atlassian's Jira Cloud platform OpenAPI
document that the Jira emulator serves (and so the app calls), with every schema those
operations reach through ``$ref``, so the tests carry their contract with them.

    python tests/contracts/make_jira_subset.py PATH/TO/jira-cloud-platform-openapi.json

Run it again after adding a route to the emulator (``tests/fakes/jira/rest_*.py``). The
full document is Atlassian's "The Jira Cloud platform REST API" (OpenAPI 3.0), published
as swagger-v3.v3.json on developer.atlassian.com; this file records which version it was.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).with_name("jira-openapi-subset.json")
SCHEMA_REF = re.compile(r"^#/components/schemas/(.+)$")
# Worked examples and vendor annotations the emulator never reads; dropping them keeps
# the file a size one can review. `description` is kept: it is Jira's own wording.
DROPPED_KEYWORDS = ("example", "examples", "x-atlassian-data-security-policy")


def emulated_operations() -> list[tuple[str, str]]:
    """(method, path template) of every operation the emulator registers a handler for."""
    sys.path.insert(0, str(ROOT))
    from tests.fakes.jira import rest  # registers the routes of rest_issues, rest_misc

    return sorted(rest.ROUTES)


def schema_closure(spec: dict[str, Any], roots: list[Any]) -> list[str]:
    """Names of the component schemas reachable from `roots` through $ref, sorted."""
    schemas = spec["components"]["schemas"]
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            match = SCHEMA_REF.match(node.get("$ref", "")) if "$ref" in node else None
            if match and match.group(1) not in seen:
                seen.add(match.group(1))
                pending.append(schemas[match.group(1)])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return sorted(seen)


def without_examples(node: Any, *, under_properties: bool = False) -> Any:
    """A copy without DROPPED_KEYWORDS (a property *named* "example" stays)."""
    if isinstance(node, dict):
        return {
            key: without_examples(value, under_properties=key == "properties")
            for key, value in node.items()
            if under_properties or key not in DROPPED_KEYWORDS
        }
    if isinstance(node, list):
        return [without_examples(value) for value in node]
    return node


def subset(spec: dict[str, Any], operations: list[tuple[str, str]]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    missing = []
    for method, template in operations:
        operation = spec["paths"].get(template, {}).get(method)
        if operation is None:
            missing.append(f"{method.upper()} {template}")
            continue
        paths.setdefault(template, {})[method] = operation
    if missing:
        raise SystemExit("not in the full document: " + ", ".join(missing))
    names = schema_closure(spec, list(paths.values()))
    return without_examples(
        {
            "openapi": spec["openapi"],
            "info": {
                "title": spec["info"]["title"],
                "version": spec["info"]["version"],
                "x-subset-of": (
                    "Atlassian's OpenAPI document 'The Jira Cloud platform REST API' "
                    "(swagger-v3.v3.json, developer.atlassian.com), cut down by "
                    "tests/contracts/make_jira_subset.py to the operations the Jira "
                    "emulator serves and the schemas they reference; see README.md beside it"
                ),
            },
            "paths": {template: paths[template] for template in sorted(paths)},
            "components": {
                "schemas": {name: spec["components"]["schemas"][name] for name in names},
                "securitySchemes": spec["components"]["securitySchemes"],
            },
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("full_document", type=Path, help="Atlassian's full OpenAPI JSON file")
    args = parser.parse_args()
    spec = json.loads(args.full_document.read_text())
    result = subset(spec, emulated_operations())
    OUT.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(
        f"{OUT.name}: {len(result['paths'])} paths, "
        f"{sum(len(ops) for ops in result['paths'].values())} operations, "
        f"{len(result['components']['schemas'])} schemas, {OUT.stat().st_size:,} bytes"
    )


if __name__ == "__main__":
    main()
