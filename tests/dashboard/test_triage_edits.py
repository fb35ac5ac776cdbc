"""Payload edits: preview with a diff, retry with the edit, history and undo."""

from __future__ import annotations

import json
import re

import pytest
from console_helpers import api_token, page_csrf_token, push_dead

from dashboard import console_state
from dashboard.triage.audit import audit_page
from dashboard.triage.edits import job_revisions, payload_diff


def test_preview_shows_diff_changes_nothing(client, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    token = page_csrf_token(client)

    reply = client.post(
        f"/topics/emails/jobs/{job_id}/edit",
        data={"csrf_token": token, "payload": '{"n": 0, "to": "<b>x</b>"}'},
    )
    html = reply.get_data(as_text=True)

    assert reply.status_code == 200
    assert (
        '<span class="added">+  &#34;to&#34;: &#34;&lt;b&gt;x&lt;/b&gt;&#34;</span>'
        in html
    )
    assert "Confirm: retry with this payload" in html
    assert queue.get(job_id).payload == {"n": 0}
    assert queue.counts()["dead"] == 1


def test_preview_of_unchanged_payload(client, make_queue):
    [job_id] = push_dead(make_queue("emails"), 1)
    token = page_csrf_token(client)

    reply = client.post(
        f"/topics/emails/jobs/{job_id}/edit",
        data={"csrf_token": token, "payload": '{"n": 0}'},
    )

    assert "equals the stored one" in reply.get_data(as_text=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "the payload is not valid JSON"),
        ("[1, 2]", "payload must be a dict"),
        ('{"n": 1e999}', "JSON has no NaN or infinity"),
    ],
)
def test_preview_rejects_invalid_payload(client, make_queue, text, message):
    [job_id] = push_dead(make_queue("emails"), 1)
    token = page_csrf_token(client)

    reply = client.post(
        f"/topics/emails/jobs/{job_id}/edit",
        data={"csrf_token": token, "payload": text},
    )

    assert reply.status_code == 400
    assert message in reply.get_data(as_text=True)


def test_edit_of_pending_job_rejected(client, make_queue):
    job_id = make_queue("emails").push({"n": 1})
    token = page_csrf_token(client)

    reply = client.post(
        f"/topics/emails/jobs/{job_id}/edit",
        data={"csrf_token": token, "payload": '{"n": 2}'},
    )

    assert reply.status_code == 400
    assert "only a failed or dead job" in reply.get_data(as_text=True)


def test_confirm_retries_and_keeps_revision(app, client, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1, "KeyError: 'to'")
    token = page_csrf_token(client)

    reply = client.post(
        f"/topics/emails/jobs/{job_id}/edit/confirm",
        data={"csrf_token": token, "payload": '{"n": 0, "to": "a@example.com"}'},
    )

    assert reply.status_code == 303
    stored = queue.get(job_id)
    assert stored.status.value == "pending"
    assert stored.payload == {"n": 0, "to": "a@example.com"}
    [revision] = job_revisions(console_state(app).triage, job_id)
    assert revision.before == {"n": 0}
    assert revision.after == {"n": 0, "to": "a@example.com"}
    assert revision.actor == "anonymous (127.0.0.1)"
    assert revision.undo_of is None
    [entry] = audit_page(console_state(app).triage).entries
    assert entry.action == "edit-retry"
    assert entry.detail == {"revision": revision.id, "undo_of": None}
    page = client.get(f"/topics/emails/jobs/{job_id}").get_data(as_text=True)
    assert f'id="revision-{revision.id}"' in page
    assert "moved to pending with the edited payload" in page


def test_undo_restores_earlier_payload(app, client, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    token = page_csrf_token(client)
    client.post(
        f"/topics/emails/jobs/{job_id}/edit/confirm",
        data={"csrf_token": token, "payload": '{"n": 5}'},
    )
    job = next(queue.consume(id=job_id, poll_interval=0))
    assert job.fail("still wrong")
    [first] = job_revisions(console_state(app).triage, job_id)

    preview = client.post(
        f"/topics/emails/jobs/{job_id}/revisions/{first.id}/undo",
        data={"csrf_token": token},
    ).get_data(as_text=True)
    confirm = client.post(
        f"/topics/emails/jobs/{job_id}/edit/confirm",
        data={"csrf_token": token, "payload": '{"n": 0}', "undo_of": str(first.id)},
    )

    assert f"Undo edit {first.id} of job" in preview
    assert '<span class="removed">-  &#34;n&#34;: 5</span>' in preview
    assert confirm.status_code == 303
    assert queue.get(job_id).payload == {"n": 0}
    undo, _ = job_revisions(console_state(app).triage, job_id)
    assert undo.undo_of == first.id
    assert undo.before == {"n": 5}
    assert [e.action for e in audit_page(console_state(app).triage).entries] == [
        "undo-edit",
        "edit-retry",
    ]


def test_undo_of_other_jobs_revision_rejected(app, client, make_queue):
    queue = make_queue("emails")
    first, second = push_dead(queue, 2)
    token = page_csrf_token(client)
    client.post(
        f"/topics/emails/jobs/{first}/edit/confirm",
        data={"csrf_token": token, "payload": '{"n": 9}'},
    )
    [revision] = job_revisions(console_state(app).triage, first)

    reply = client.post(
        f"/topics/emails/jobs/{second}/revisions/{revision.id}/undo",
        data={"csrf_token": token},
    )

    assert reply.status_code == 400
    assert f"has no payload revision {revision.id}" in reply.get_data(as_text=True)


def test_confirm_rejects_undo_of_other_jobs_revision(app, client, make_queue):
    queue = make_queue("emails")
    first, second = push_dead(queue, 2)
    token = page_csrf_token(client)
    client.post(
        f"/topics/emails/jobs/{first}/edit/confirm",
        data={"csrf_token": token, "payload": '{"n": 9}'},
    )
    [revision] = job_revisions(console_state(app).triage, first)

    reply = client.post(
        f"/topics/emails/jobs/{second}/edit/confirm",
        data={"csrf_token": token, "payload": '{"n": 42}', "undo_of": str(revision.id)},
    )

    assert reply.status_code == 400
    assert f"has no payload revision {revision.id}" in reply.get_data(as_text=True)
    assert queue.get(second).payload == {"n": 1}
    assert job_revisions(console_state(app).triage, second) == []
    actions = [entry.action for entry in audit_page(console_state(app).triage).entries]
    assert actions == ["edit-retry"]


@pytest.mark.parametrize(
    ("undo_of", "payload", "message"),
    [
        ("{revision}", '{"n": 42}', "the payload is not the one revision"),
        ("abc", '{"n": 0}', "invalid undo_of &#39;abc&#39;"),
        ("0", '{"n": 0}', "has no payload revision 0"),
        (str(2**70), '{"n": 0}', f"has no payload revision {2**70}"),
    ],
)
def test_confirm_rejects_invalid_undo(
    app, client, make_queue, undo_of, payload, message
):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    token = page_csrf_token(client)
    client.post(
        f"/topics/emails/jobs/{job_id}/edit/confirm",
        data={"csrf_token": token, "payload": '{"n": 5}'},
    )
    job = next(queue.consume(id=job_id, poll_interval=0))
    assert job.fail("still wrong")
    [revision] = job_revisions(console_state(app).triage, job_id)

    reply = client.post(
        f"/topics/emails/jobs/{job_id}/edit/confirm",
        data={
            "csrf_token": token,
            "payload": payload,
            "undo_of": undo_of.format(revision=revision.id),
        },
    )

    assert reply.status_code == 400
    assert message in reply.get_data(as_text=True)
    assert queue.get(job_id).payload == {"n": 5}
    assert len(job_revisions(console_state(app).triage, job_id)) == 1


def test_undo_of_huge_revision_id_rejected(client, make_queue):
    [job_id] = push_dead(make_queue("emails"), 1)

    reply = client.post(
        f"/topics/emails/jobs/{job_id}/revisions/{2**70}/undo",
        data={"csrf_token": page_csrf_token(client)},
    )

    assert reply.status_code == 400
    assert f"has no payload revision {2**70}" in reply.get_data(as_text=True)


def test_api_edit_dry_run_then_apply(app, client, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    token = api_token(client)
    url = f"/api/topics/emails/jobs/{job_id}/edit"

    preview = client.post(
        url,
        json={"payload": {"n": 1}, "dry_run": True},
        headers={"X-CSRFToken": token},
    ).get_json()
    applied = client.post(
        url, json={"payload": {"n": 1}}, headers={"X-CSRFToken": token}
    ).get_json()

    assert preview == {"diff": payload_diff({"n": 0}, {"n": 1}), "moved": False}
    assert applied["moved"] is True
    assert applied["revision"]["after"] == {"n": 1}
    assert queue.get(job_id).payload == {"n": 1}
    listed = client.get(f"/api/topics/emails/jobs/{job_id}/revisions").get_json()
    assert [r["id"] for r in listed["revisions"]] == [applied["revision"]["id"]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "send either payload"),
        ({"payload": {"n": 1}, "undo_of": 1}, "send either payload"),
        ({"undo_of": "1"}, "undo_of must be a revision id"),
        ({"undo_of": 99}, "has no payload revision 99"),
        ({"undo_of": 2**70}, f"has no payload revision {2**70}"),
        ({"payload": {"n": 1}, "dry_run": "yes"}, "dry_run must be true or false"),
    ],
)
def test_api_edit_rejects_invalid_body(client, make_queue, body, message):
    [job_id] = push_dead(make_queue("emails"), 1)

    reply = client.post(
        f"/api/topics/emails/jobs/{job_id}/edit",
        json=body,
        headers={"X-CSRFToken": api_token(client)},
    )

    assert reply.status_code == 400
    assert message in reply.get_json()["error"]


def test_revisions_under_other_topic_404(client, make_queue):
    [job_id] = push_dead(make_queue("emails"), 1)
    token = api_token(client)
    client.post(
        f"/api/topics/emails/jobs/{job_id}/edit",
        json={"payload": {"n": 1}},
        headers={"X-CSRFToken": token},
    )

    listed = client.get(f"/api/topics/emails/jobs/{job_id}/revisions")
    other = client.get(f"/api/topics/billing/jobs/{job_id}/revisions")

    assert len(listed.get_json()["revisions"]) == 1
    assert other.status_code == 404


def test_revisions_of_unknown_job_404(client, make_queue):
    make_queue("emails").push({"n": 1})

    assert (
        client.get(f"/api/topics/emails/jobs/{'0' * 16}/revisions").status_code == 404
    )


def test_job_page_edit_form_only_when_failed(client, make_queue):
    queue = make_queue("emails")
    [dead_id] = push_dead(queue, 1)
    pending_id = queue.push({"n": 1})

    dead_page = client.get(f"/topics/emails/jobs/{dead_id}").get_data(as_text=True)
    pending_page = client.get(f"/topics/emails/jobs/{pending_id}").get_data(
        as_text=True
    )

    assert re.search(
        r'<textarea id="edit-payload"[^>]*>\{\n  &#34;n&#34;: 0\n\}', dead_page
    )
    assert "edit-payload" not in pending_page
    assert json.loads('{"n": 0}') == queue.get(dead_id).payload
