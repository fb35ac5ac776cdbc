"""The OpenAPI 3 description of the console's JSON API, served at ``/api/openapi.json``.

The description is built per request, so its server URL carries the prefix
the console is mounted under.
"""

from __future__ import annotations

from flask import Response, jsonify

from .context import MAX_SEARCH_CHARACTERS
from .openapi_parts import (
    CSRF,
    ERRORS,
    JOB_ID,
    NULLABLE_TIME,
    STATUSES,
    TIME,
    TOPIC,
    Schema,
    errors,
    json_content,
    ref,
    reply,
)
from .state import console_state
from .triage.openapi import TRIAGE_PATHS, TRIAGE_SCHEMAS

OPENAPI_VERSION = "3.0.3"


def openapi() -> Response:
    """Return the API's OpenAPI description as JSON."""
    return jsonify(describe(console_state().url_prefix + "/api"))


def describe(server_url: str) -> Schema:
    """Return the OpenAPI description of the API served under *server_url*."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "queuedeck console API",
            "version": "1",
            "description": (
                "Reads are GET. Actions are POST with the CSRF token from "
                "GET /csrf-token in the X-CSRFToken header, sent with the "
                "session cookie that request set. Errors are "
                '{"error": message}.'
            ),
        },
        "servers": [{"url": server_url or "/"}],
        "components": {
            "schemas": {**SCHEMAS, **TRIAGE_SCHEMAS},
            "securitySchemes": {
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "When the console has a user name and password.",
                },
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
            },
            "responses": RESPONSES,
        },
        "security": [{"basic": []}, {}],
        "paths": {**PATHS, **TRIAGE_PATHS},
    }


SCHEMAS: Schema = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
    "Counts": {
        "type": "object",
        "required": STATUSES,
        "properties": {
            status: {"type": "integer", "minimum": 0} for status in STATUSES
        },
    },
    "Worker": {
        "type": "object",
        "required": ["id", "topic", "hostname", "pid", "started_at", "last_seen"],
        "properties": {
            "id": {"type": "string"},
            "topic": {"type": "string"},
            "hostname": {"type": "string"},
            "pid": {"type": "integer"},
            "started_at": {"type": "number"},
            "last_seen": {"type": "number"},
            "current_job": {"type": "string", "nullable": True},
            "processed": {"type": "integer"},
            "failed": {"type": "integer"},
        },
    },
    "Topic": {
        "type": "object",
        "required": ["topic", "counts", "oldest_pending_age", "workers"],
        "properties": {
            "topic": {"type": "string"},
            "counts": ref("Counts"),
            "oldest_pending_age": {"type": "number", "nullable": True},
            "workers": {"type": "integer", "minimum": 0},
            "dead_alert": {"type": "boolean"},
            "idle_alert": {"type": "boolean"},
        },
    },
    "Job": {
        "type": "object",
        "required": ["id", "topic", "status", "priority", "attempts", "payload"],
        "properties": {
            "id": {"type": "string"},
            "topic": {"type": "string"},
            "status": {"type": "string", "enum": STATUSES},
            "priority": {"type": "integer"},
            "attempts": {"type": "integer", "minimum": 0},
            "error": {"type": "string", "nullable": True},
            "payload": {"type": "object"},
            "created_at": TIME,
            "updated_at": TIME,
            "available_at": TIME,
            "lease_expires_at": NULLABLE_TIME,
            "retry_of": {"type": "string", "nullable": True},
        },
    },
    "BulkRequest": {
        "type": "object",
        "required": ["action", "status"],
        "properties": {
            "action": {"type": "string", "enum": ["retry", "purge"]},
            "status": {
                "type": "string",
                "enum": ["pending", "completed", "failed", "dead"],
            },
            "signature": {"type": "string"},
            "ids": {"type": "array", "items": {"type": "string"}},
            "dry_run": {"type": "boolean"},
        },
    },
}

RESPONSES: Schema = {
    code: reply(description, ref("Error"))
    for code, description in {
        "400": "Invalid request: the message names the value and the fix.",
        "401": "The console needs a user name and password.",
        "403": "Read-only console, or the host app denied access.",
        "404": "No such topic or job.",
        "503": "The queue backend cannot be reached.",
    }.items()
}
# A 401 is plain text with a WWW-Authenticate header, as browsers expect.
RESPONSES["401"] = {
    "description": "The console needs a user name and password.",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}

PATHS: Schema = {
    "/csrf-token": {
        "get": {
            "summary": "Return a CSRF token for this session's POST requests.",
            "responses": {
                "200": reply(
                    "The token.",
                    {
                        "type": "object",
                        "required": ["csrf_token"],
                        "properties": {"csrf_token": {"type": "string"}},
                    },
                ),
                **errors("401", "403"),
            },
        }
    },
    "/topics": {
        "get": {
            "summary": "Return every topic's counts, oldest pending age and workers.",
            "responses": {
                "200": reply(
                    "Topics, totals and live workers.",
                    {
                        "type": "object",
                        "required": ["topics", "totals", "workers"],
                        "properties": {
                            "topics": {"type": "array", "items": ref("Topic")},
                            "totals": ref("Counts"),
                            "workers": {"type": "array", "items": ref("Worker")},
                        },
                    },
                ),
                **errors(*ERRORS),
            },
        }
    },
    "/topics/{topic}/jobs": {
        "get": {
            "summary": "Return a page of a topic's jobs in one status, newest first.",
            "parameters": [
                TOPIC,
                {
                    "name": "status",
                    "in": "query",
                    "schema": {
                        "type": "string",
                        "enum": STATUSES,
                        "default": "pending",
                    },
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                },
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                {
                    "name": "q",
                    "in": "query",
                    "schema": {"type": "string", "maxLength": MAX_SEARCH_CHARACTERS},
                },
                {"name": "signature", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": reply(
                    "One page and the cursor of the next, or null.",
                    {
                        "type": "object",
                        "required": ["jobs", "next_cursor"],
                        "properties": {
                            "jobs": {"type": "array", "items": ref("Job")},
                            "next_cursor": {"type": "string", "nullable": True},
                        },
                    },
                ),
                **errors(*ERRORS),
            },
        }
    },
    "/topics/{topic}/jobs/{job_id}": {
        "get": {
            "summary": "Return one job with its whole payload.",
            "parameters": [TOPIC, JOB_ID],
            "responses": {
                "200": reply("The job.", ref("Job")),
                **errors(*ERRORS),
            },
        }
    },
    "/topics/{topic}/errors": {
        "get": {
            "summary": "Return a topic's dead or failed jobs grouped by error.",
            "parameters": [
                TOPIC,
                {
                    "name": "status",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["dead", "failed"]},
                },
            ],
            "responses": {
                "200": reply(
                    "Error groups, largest first.",
                    {
                        "type": "object",
                        "required": ["status", "groups"],
                        "properties": {
                            "status": {"type": "string"},
                            "groups": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["signature", "count"],
                                    "properties": {
                                        "signature": {"type": "string"},
                                        "count": {"type": "integer"},
                                        "first_seen": {"type": "number"},
                                        "last_seen": {"type": "number"},
                                    },
                                },
                            },
                        },
                    },
                ),
                **errors(*ERRORS),
            },
        }
    },
    "/topics/{topic}/jobs/{job_id}/retry": {
        "post": {
            "summary": "Move one failed or dead job back to pending.",
            "parameters": [TOPIC, JOB_ID],
            "security": CSRF,
            "responses": {
                "200": reply(
                    "Whether the job moved.",
                    {
                        "type": "object",
                        "required": ["moved"],
                        "properties": {"moved": {"type": "boolean"}},
                    },
                ),
                **errors(*ERRORS),
            },
        }
    },
    "/topics/{topic}/jobs/{job_id}/delete": {
        "post": {
            "summary": "Delete one job unless a worker reserved it.",
            "parameters": [TOPIC, JOB_ID],
            "security": CSRF,
            "responses": {
                "200": reply(
                    "Whether the job was deleted.",
                    {
                        "type": "object",
                        "required": ["deleted"],
                        "properties": {"deleted": {"type": "boolean"}},
                    },
                ),
                **errors(*ERRORS),
            },
        }
    },
    "/topics/{topic}/bulk": {
        "post": {
            "summary": "Preview (dry_run) or run a bulk retry or purge.",
            "parameters": [TOPIC],
            "security": CSRF,
            "requestBody": {
                "required": True,
                "content": json_content(ref("BulkRequest")),
            },
            "responses": {
                "200": reply(
                    "The scope and the count moved, or the preview.",
                    {
                        "type": "object",
                        "required": ["scope", "description"],
                        "properties": {
                            "scope": {"type": "object"},
                            "count": {"type": "integer"},
                            "moved": {"type": "integer"},
                            "sample": {"type": "array", "items": {"type": "string"}},
                            "description": {"type": "string"},
                        },
                    },
                ),
                **errors(*ERRORS),
            },
        }
    },
}
