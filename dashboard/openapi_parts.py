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
