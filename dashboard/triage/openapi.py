"""The OpenAPI description of the triage routes of the console's JSON API."""

from __future__ import annotations

from ..openapi_parts import ERRORS, Schema, errors, ref, reply
from .audit import ACTIONS

TRIAGE_SCHEMAS: Schema = {
    "AuditEntry": {
        "type": "object",
        "required": [
            "id",
            "at",
            "actor",
            "action",
            "topic",
            "scope",
            "count",
            "job_ids",
            "detail",
        ],
        "properties": {
            "id": {"type": "integer"},
            "at": {"type": "number", "description": "Unix seconds"},
            "actor": {"type": "string"},
            "action": {"type": "string", "enum": list(ACTIONS)},
            "topic": {"type": "string", "nullable": True},
            "scope": {"type": "string"},
            "count": {"type": "integer", "minimum": 0},
            "job_ids": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The first 100 job ids the action covered.",
            },
            "detail": {"type": "object"},
        },
    },
}

TRIAGE_PATHS: Schema = {
    "/audit": {
        "get": {
            "summary": "Return a page of the audit log, newest first.",
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                },
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                {"name": "topic", "in": "query", "schema": {"type": "string"}},
                {
                    "name": "action",
                    "in": "query",
                    "schema": {"type": "string", "enum": list(ACTIONS)},
                },
            ],
            "responses": {
                "200": reply(
                    "One page of entries and the cursor of the next, or null.",
                    {
                        "type": "object",
                        "required": ["entries", "next_cursor"],
                        "properties": {
                            "entries": {"type": "array", "items": ref("AuditEntry")},
                            "next_cursor": {"type": "string", "nullable": True},
                        },
                    },
                ),
                **errors(*ERRORS),
            },
        }
    },
}
