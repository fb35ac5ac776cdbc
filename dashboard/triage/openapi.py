"""The OpenAPI description of the triage routes of the console's JSON API."""

from __future__ import annotations

from ..openapi_parts import JOB_ID, TOPIC, Schema, object_schema, operation, ref
from .audit import ACTIONS
from .runs import MAX_MIN_SAMPLE

RUN_ID: Schema = {
    "name": "run_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}
ATTEMPT: Schema = {
    "type": "object",
    "required": ["job_id", "attempt", "topic", "status", "error", "failed_at"],
    "properties": {
        "job_id": {"type": "string"},
        "attempt": {"type": "integer"},
        "topic": {"type": "string"},
        "status": {"type": "string", "enum": ["failed", "dead"]},
        "error": {"type": "string", "nullable": True},
        "failed_at": {"type": "number"},
    },
}
LINK: Schema = {
    "type": "object",
    "required": ["job_id", "topic", "source_id", "source_topic", "at", "actor"],
    "properties": {
        "job_id": {"type": "string"},
        "topic": {"type": "string"},
        "source_id": {"type": "string"},
        "source_topic": {"type": "string"},
        "at": {"type": "number"},
        "actor": {"type": "string"},
    },
}

TRIAGE_SCHEMAS: Schema = {
    "Attempt": ATTEMPT,
    "Link": LINK,
    "Lineage": {
        "type": "object",
        "required": ["job_id", "attempts", "sent_from", "sent_as"],
        "properties": {
            "job_id": {"type": "string"},
            "attempts": {"type": "array", "items": ref("Attempt")},
            "sent_from": {"type": "array", "items": ref("Link")},
            "sent_as": {**ref("Link"), "nullable": True},
        },
    },
    "Revision": {
        "type": "object",
        "required": ["id", "job_id", "topic", "at", "actor", "before", "after"],
        "properties": {
            "id": {"type": "integer"},
            "job_id": {"type": "string"},
            "topic": {"type": "string"},
            "at": {"type": "number"},
            "actor": {"type": "string"},
            "before": {"type": "object"},
            "after": {"type": "object"},
            "undo_of": {"type": "integer", "nullable": True},
            "diff": {"type": "array", "items": {"type": "string"}},
        },
    },
    "EditRequest": {
        "type": "object",
        "properties": {
            "payload": {"type": "object"},
            "undo_of": {"type": "integer"},
            "dry_run": {"type": "boolean"},
        },
    },
    "Run": {
        "type": "object",
        "required": ["id", "topic", "status", "state", "total", "retried"],
        "properties": {
            "id": {"type": "integer"},
            "topic": {"type": "string"},
            "status": {"type": "string", "enum": ["failed", "dead"]},
            "signature": {"type": "string", "nullable": True},
            "rate": {"type": "number"},
            "threshold": {"type": "number"},
            "min_sample": {"type": "integer"},
            "state": {
                "type": "string",
                "enum": ["running", "paused", "cancelled", "stopped", "finished"],
            },
            "total": {"type": "integer"},
            "created_at": {"type": "number"},
            "created_by": {"type": "string"},
            "updated_at": {"type": "number"},
            "stop_reason": {"type": "string", "nullable": True},
            "retried": {"type": "integer"},
            "skipped": {"type": "integer"},
            "settled": {"type": "integer"},
            "failed_again": {"type": "integer"},
            "description": {"type": "string"},
        },
    },
    "RunRequest": {
        "type": "object",
        "required": ["status", "rate"],
        "properties": {
            "status": {"type": "string", "enum": ["failed", "dead"]},
            "signature": {"type": "string"},
            "rate": {"type": "number", "exclusiveMinimum": True, "minimum": 0},
            "threshold": {"type": "number", "maximum": 1},
            "min_sample": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_MIN_SAMPLE,
            },
        },
    },
    "SendRequest": {
        "type": "object",
        "required": ["topic"],
        "properties": {
            "topic": {"type": "string"},
            "payload": {"type": "object"},
        },
    },
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
        "get": operation(
            "Return a page of the audit log, newest first.",
            [
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
            (
                "One page of entries and the cursor of the next, or null.",
                object_schema(
                    ["entries", "next_cursor"],
                    {
                        "entries": {"type": "array", "items": ref("AuditEntry")},
                        "next_cursor": {"type": "string", "nullable": True},
                    },
                ),
            ),
        )
    },
    "/topics/{topic}/jobs/{job_id}/lineage": {
        "get": operation(
            "Return a job's recorded failed attempts and send links.",
            [TOPIC, JOB_ID],
            ("The lineage, also of a job sent on.", ref("Lineage")),
        )
    },
    "/topics/{topic}/jobs/{job_id}/send": {
        "post": operation(
            "Send a failed or dead job to a topic as a new pending job.",
            [TOPIC, JOB_ID],
            (
                "The new job.",
                object_schema(
                    ["id", "topic", "retry_of"],
                    {
                        "id": {"type": "string"},
                        "topic": {"type": "string"},
                        "retry_of": {"type": "string"},
                    },
                ),
            ),
            body=ref("SendRequest"),
        )
    },
    "/topics/{topic}/jobs/{job_id}/edit": {
        "post": operation(
            "Retry a failed or dead job with an edited payload, or preview the diff.",
            [TOPIC, JOB_ID],
            (
                "The diff and, unless dry_run, the stored revision.",
                object_schema(
                    ["diff", "moved"],
                    {
                        "diff": {"type": "array", "items": {"type": "string"}},
                        "moved": {"type": "boolean"},
                        "revision": ref("Revision"),
                    },
                ),
            ),
            body=ref("EditRequest"),
        )
    },
    "/topics/{topic}/jobs/{job_id}/revisions": {
        "get": operation(
            "Return every payload edit of a job, newest first.",
            [TOPIC, JOB_ID],
            (
                "The revisions.",
                object_schema(
                    ["revisions"],
                    {"revisions": {"type": "array", "items": ref("Revision")}},
                ),
            ),
        )
    },
    "/runs": {
        "get": operation(
            "Return the newest 50 bulk retry runs with their progress.",
            [],
            (
                "The runs, newest first.",
                object_schema(
                    ["runs"], {"runs": {"type": "array", "items": ref("Run")}}
                ),
            ),
        )
    },
    "/topics/{topic}/runs": {
        "post": operation(
            "Start a rate-limited bulk retry run of a status or error group.",
            [TOPIC],
            ("The new run.", ref("Run")),
            body=ref("RunRequest"),
        )
    },
    "/runs/{run_id}": {
        "get": operation(
            "Return one bulk retry run with its progress.",
            [RUN_ID],
            ("The run.", ref("Run")),
        )
    },
    "/runs/{run_id}/{command}": {
        "post": operation(
            "Pause, resume or cancel a bulk retry run.",
            [
                RUN_ID,
                {
                    "name": "command",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": ["pause", "resume", "cancel"]},
                },
            ],
            ("The run after the change.", ref("Run")),
            write=True,
        )
    },
}
