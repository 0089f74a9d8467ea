"""The admin API's OpenAPI spec as JSON Schemas: what the simulator validates requests with.

OpenAPI 3.0 schemas are almost JSON Schema; two differences matter here: `$ref`s point into the
spec document (inlined here) and `nullable: true` (turned into a `null` type). Tests validate the
simulator's answers with `response_schema`, against the same file the validator of runbooks reads.
"""

from __future__ import annotations

import copy
import functools
import re
from importlib import resources
from typing import Any

import yaml

METHODS = ("get", "post", "put", "patch", "delete")


@functools.cache
def load_spec() -> dict[str, Any]:
    """The packaged admin-api.openapi.yaml, parsed once per process."""
    text = resources.files("hybridops.specs").joinpath("admin-api.openapi.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def to_json_schema(node: Any, spec: dict[str, Any] | None = None) -> Any:
    """`node` with every `$ref` inlined and `nullable` expressed as JSON Schema understands it."""
    spec = spec or load_spec()
    if isinstance(node, list):
        return [to_json_schema(n, spec) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return to_json_schema(_resolve(spec, node["$ref"]), spec)
    out = {k: to_json_schema(v, spec) for k, v in node.items() if k not in ("nullable", "example")}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, not {ref}")
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return copy.deepcopy(node)


def operations(spec: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """Every (METHOD, path template) of the spec."""
    spec = spec or load_spec()
    return [(m.upper(), p) for p, item in spec["paths"].items() for m in item if m in METHODS]


def match_path(path: str, spec: dict[str, Any] | None = None) -> tuple[str, dict[str, str]] | None:
    """The spec path template that `path` matches, with its path parameters."""
    spec = spec or load_spec()
    for template in spec["paths"]:
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
        m = re.match(pattern, path)
        if m:
            return template, m.groupdict()
    return None


def operation(method: str, template: str, spec: dict[str, Any] | None = None) -> dict[str, Any] | None:
    spec = spec or load_spec()
    return spec["paths"].get(template, {}).get(method.lower())


def request_schema(method: str, template: str, spec: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The JSON Schema of the request body, or None when the operation takes none."""
    op = operation(method, template, spec)
    body = (op or {}).get("requestBody")
    if not body:
        return None
    return to_json_schema(body["content"]["application/json"]["schema"], spec)


def body_required(method: str, template: str, spec: dict[str, Any] | None = None) -> bool:
    op = operation(method, template, spec) or {}
    return bool(op.get("requestBody", {}).get("required"))


def response_schema(method: str, template: str, status: int,
                    spec: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The JSON Schema of the answer with `status`, or None when the spec lists no such answer."""
    spec = spec or load_spec()
    op = operation(method, template, spec) or {}
    resp = op.get("responses", {}).get(str(status))
    if resp is None:
        return None
    resp = to_json_schema(resp, spec)
    return resp.get("content", {}).get("application/json", {}).get("schema")


def needs_auth(method: str, template: str, spec: dict[str, Any] | None = None) -> bool:
    """True unless the operation overrides the spec's global bearer security with `security: []`."""
    spec = spec or load_spec()
    op = operation(method, template, spec) or {}
    security = op.get("security", spec.get("security", []))
    return bool(security)


def path_parameter_enum(method: str, template: str, name: str,
                        spec: dict[str, Any] | None = None) -> list[str] | None:
    op = operation(method, template, spec) or {}
    for p in op.get("parameters", []):
        if p.get("in") == "path" and p.get("name") == name:
            return p.get("schema", {}).get("enum")
    return None
