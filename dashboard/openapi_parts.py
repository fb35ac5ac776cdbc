"""Building blocks of the console API's OpenAPI description, shared by its parts."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STATUSES = ["pending", "reserved", "completed", "failed", "dead"]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def reply(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": json_content(schema)}


def errors(*codes: str) -> Schema:
    return {code: {"$ref": f"#/components/responses/{code}"} for code in codes}


TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {**TIME, "nullable": True}

TOPIC = {
    "name": "topic",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}
JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}
CSRF: list[Schema] = [{"csrf": []}, {"basic": [], "csrf": []}]
ERRORS = ("400", "401", "403", "404", "503")


def operation(
    summary: str,
    parameters: list[Schema],
    result: tuple[str, Schema],
    *,
    write: bool = False,
    body: Schema | None = None,
) -> Schema:
    """Return an operation with a 200 reply of *result* (description, schema).

    A *write* operation, or one with a JSON *body*, needs the CSRF token.
    """
    spec: Schema = {
        "summary": summary,
        "parameters": parameters,
        "responses": {"200": reply(*result), **errors(*ERRORS)},
    }
    if write or body is not None:
        spec["security"] = CSRF
    if body is not None:
        spec["requestBody"] = {"required": True, "content": json_content(body)}
    return spec


def object_schema(required: list[str], properties: Schema) -> Schema:
    """Return the schema of a JSON object with *properties*."""
    return {"type": "object", "required": required, "properties": properties}
