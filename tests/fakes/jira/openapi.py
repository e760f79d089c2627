"""Checks requests against Atlassian's OpenAPI document, so that a request real Jira would
reject fails in the emulator too.

The document is the subset in tests/contracts/ (the operations the emulator serves, with
their schemas). It is parsed once per process and each operation's body validator is
built on demand. ``$ref`` resolution is left to ``referencing`` (lazy, cached).
"""

from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jsonschema import Draft4Validator, validators
from referencing import Registry
from referencing.jsonschema import DRAFT4

SPEC_PATH = Path(__file__).resolve().parents[2] / "contracts" / "jira-openapi-subset.json"
_URN = "urn:jira-cloud-platform-openapi"
_lock = threading.Lock()


# OpenAPI 3.0 schemas are Draft 4 plus `nullable` and `readOnly`/`writeOnly`.
def _allow_null(keyword: str):
    original = Draft4Validator.VALIDATORS[keyword]

    def check(validator, value, instance, schema):
        if instance is None and schema.get("nullable"):
            return
        yield from original(validator, value, instance, schema)

    return check


def _required(validator, required, instance, schema):
    # readOnly properties exist only in responses, so a request may leave them out.
    props = schema.get("properties") or {}
    wanted = [name for name in required if not (props.get(name) or {}).get("readOnly")]
    yield from Draft4Validator.VALIDATORS["required"](validator, wanted, instance, schema)


OpenApiValidator = validators.extend(
    Draft4Validator,
    {k: _allow_null(k) for k in ("type", "enum", "allOf", "anyOf", "oneOf")}
    | {"required": _required},
)


@dataclass
class Operation:
    method: str
    template: str  # e.g. "/rest/api/3/issue/{issueIdOrKey}"
    operation_id: str
    regex: re.Pattern[str]
    spec: dict[str, Any] = field(repr=False)

    @property
    def oauth_scopes(self) -> list[str] | None:
        """Classic scopes an OAuth caller needs; None when OAuth isn't offered."""
        for entry in self.spec.get("security") or []:
            if "OAuth2" in entry:
                return list(entry["OAuth2"])
        return None

    def query_errors(self, query: dict[str, list[str]]) -> list[str]:
        """Cheap checks of typed query parameters (integers, booleans, enums, required)."""
        errors = []
        for param in self.spec.get("parameters") or []:
            if param.get("in") != "query":
                continue
            name, schema = param["name"], param.get("schema") or {}
            values = query.get(name)
            if not values:
                if param.get("required"):
                    errors.append(f"The '{name}' parameter is required.")
                continue
            kind = schema.get("type")
            item = schema.get("items", {}) if kind == "array" else schema
            for raw in values:
                for value in raw.split(",") if kind == "array" else [raw]:
                    problem = _scalar_problem(item, value)
                    if problem:
                        errors.append(f"Parameter '{name}': {problem}")
        return errors

    @functools.cached_property
    def body_validator(self) -> Any | None:
        content = (self.spec.get("requestBody") or {}).get("content") or {}
        media = content.get("application/json")
        if media is None or not media.get("schema"):
            return None
        pointer = "/".join(
            quote(part.replace("~", "~0").replace("/", "~1"), safe="")
            for part in (
                "paths",
                self.template,
                self.method,
                "requestBody",
                "content",
                "application/json",
                "schema",
            )
        )
        return OpenApiValidator({"$ref": f"{_URN}#/{pointer}"}, registry=_spec()[1])

    @property
    def body_required(self) -> bool:
        return bool((self.spec.get("requestBody") or {}).get("required"))

    def body_errors(self, body: Any) -> list[str]:
        validator = self.body_validator
        if validator is None:
            return []
        if (
            self.operation_id == "assignIssue"
            and isinstance(body, dict)
            and (body.get("accountId") is None)
        ):
            # Spec erratum: the schema types accountId as a plain string, but the
            # operation's own text says null unassigns, and Jira accepts it.
            body = {k: v for k, v in body.items() if k != "accountId"}
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        return [_describe(e) for e in errors[:5]]


def _scalar_problem(schema: dict[str, Any], value: str) -> str | None:
    kind = schema.get("type")
    if kind == "integer":
        try:
            number = int(value)
        except ValueError:
            return f"'{value}' is not a valid integer"
        if "minimum" in schema and number < schema["minimum"]:
            return f"must be at least {schema['minimum']}"
    elif kind == "boolean" and value.lower() not in ("true", "false"):
        return f"'{value}' is not a valid boolean"
    elif "enum" in schema and value not in schema["enum"]:
        return f"'{value}' is not one of {schema['enum']}"
    return None


def _describe(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(request body)"
    if error.validator == "additionalProperties":
        # Jira (Jackson) words this as an unrecognized field.
        extra = re.findall(r"'([^']+)'", error.message)
        return (
            f'Unrecognized field "{extra[0] if extra else "?"}" at {where}, not marked as ignorable'
        )
    return f"{error.message} at {where}"


@functools.cache
def _spec() -> tuple[dict[str, Any], Registry]:
    with open(SPEC_PATH, "rb") as f:
        spec = json.load(f)
    registry = Registry().with_resource(_URN, DRAFT4.create_resource(spec))
    return spec, registry


@functools.cache
def _operations() -> dict[str, list[Operation]]:
    spec = _spec()[0]
    table: dict[str, list[Operation]] = {}
    for template, item in spec["paths"].items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "([^/]+)", re.escape(template))
        regex = re.compile(f"^{pattern}$")
        for method, op in item.items():
            if method in ("get", "post", "put", "delete", "patch"):
                table.setdefault(method, []).append(
                    Operation(method, template, op.get("operationId", ""), regex, op)
                )
    for ops in table.values():  # literal segments beat parameters: /issue/bulk vs /issue/{id}
        ops.sort(key=lambda o: (o.template.count("{"), -len(o.template)))
    return table


def find_operation(method: str, path: str) -> Operation | None:
    """The spec operation for e.g. ("POST", "/rest/api/3/issue/bulk"), if the spec has it."""
    with _lock:  # first use parses the file; concurrent requests must not parse it twice
        ops = _operations().get(method.lower(), [])
    for op in ops:
        if op.regex.match(path):
            return op
    return None


def response_schema_errors(method: str, template: str, status: int, body: Any) -> list[str]:
    """For the emulator's own tests: does a response body fit the spec's schema?"""
    op = next(o for o in _operations()[method.lower()] if o.template == template)
    content = (op.spec["responses"].get(str(status)) or {}).get("content") or {}
    if "application/json" not in content or "schema" not in content["application/json"]:
        return []
    pointer = "/".join(
        quote(p.replace("~", "~0").replace("/", "~1"), safe="")
        for p in (
            "paths",
            template,
            method.lower(),
            "responses",
            str(status),
            "content",
            "application/json",
            "schema",
        )
    )
    validator = OpenApiValidator({"$ref": f"{_URN}#/{pointer}"}, registry=_spec()[1])
    return [_describe(e) for e in validator.iter_errors(body)]


def preload() -> None:
    """Parses the spec now (the emulator calls this at start, off the request path)."""
    with _lock:
        _operations()
