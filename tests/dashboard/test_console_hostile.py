"""Hostile payloads, error texts, search text and topic names on every page.

Each page is rendered twice, from a store seeded with hostile texts and from
one seeded with plain texts of the same shape. Escaping is proven by the
parsed HTML: the hostile page has no tag, attribute or script that the plain
page lacks, and no control or bidi character reaches the text as itself.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from console_helpers import HTMX, page_csrf_token
from flask.testing import FlaskClient

from dashboard import ConsoleSettings, create_app
from dashboard.context import MAX_SEARCH_CHARACTERS
from queue_core import Queue, Settings, WorkerRecord
from queue_core.backends import open_backend
from tests.hostile_text import (
    ACTING_CHARACTERS,
    HOSTILE_TEXTS,
    MEGABYTE_TEXT,
    ODD_TOPICS,
    REJECTED_TOPICS,
    fail_once,
    seed_hostile,
)

TOPIC = "hostile"
# Spans come from the console itself: each control character becomes one.
OWN_TAGS = {"span"}
# Attributes that point the browser somewhere.
URL_ATTRIBUTES = ("href", "src", "action", "hx-get", "hx-post", "formaction")


class PageShape(HTMLParser):
    """The tags, attributes and text of a page, as a browser would parse them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.attributes: list[tuple[str, str, str]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        for name, value in attrs:
            self.attributes.append((tag, name, value or ""))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def seed_plain(queue: Queue) -> None:
    """Seed *queue* like :func:`seed_hostile`, with harmless texts."""
    now = time.time()
    queue.backend.record_heartbeat(
        WorkerRecord("w1", TOPIC, "host", 4242, now - 60, now, "job", 5, 1)
    )
    for name in HOSTILE_TEXTS:
        payload = {"case": name, "text": f"plain {name}", "k": ["v", {"nested": "n"}]}
        queue.push(payload)
        fail_once(queue, payload, f"ValueError: plain {name}")
    fail_once(queue, {"big": "M" * len(MEGABYTE_TEXT)}, "M" * len(MEGABYTE_TEXT))


def make_client(path: Path, seed: Callable[[Queue], object]) -> FlaskClient:
    queue_settings = Settings(path=path)
    backend = open_backend(queue_settings)
    seed(Queue(TOPIC, max_retries=1, settings=queue_settings, backend=backend))
    app = create_app(ConsoleSettings(secret_key="k"), queue_settings, backend)
    app.config["TESTING"] = True
    return app.test_client()


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FlaskClient]:
    def hostile(queue: Queue) -> None:
        seed_hostile(queue, queue.backend)

    root = tmp_path_factory.mktemp("stores")
    return {
        "hostile": make_client(root / "hostile", hostile),
        "plain": make_client(root / "plain", seed_plain),
    }


def dead_job_urls(client: FlaskClient) -> list[str]:
    jobs = client.get(f"/api/topics/{TOPIC}/jobs?status=dead&limit=100").get_json()
    return [f"/topics/{TOPIC}/jobs/{job['id']}" for job in jobs["jobs"]]


def group_preview_urls(client: FlaskClient) -> list[str]:
    groups = client.get(f"/api/topics/{TOPIC}/errors").get_json()["groups"]
    return [
        f"/topics/{TOPIC}/bulk?action=retry&status=dead&signature="
        + quote(group["signature"], safe="")
        for group in groups
    ]


FIXED_PAGES = [
    "/",
    f"/topics/{TOPIC}",
    f"/topics/{TOPIC}?status=dead",
    f"/topics/{TOPIC}/errors",
    f"/topics/{TOPIC}/bulk?action=purge&status=dead",
    f"/topics/{TOPIC}/charts",
    "/charts",
]


def page_problems(html: str) -> list[str]:
    """List what in *html* shows that hostile text became markup or acts."""
    shape = PageShape(html)
    problems = []
    for tag, name, value in shape.attributes:
        if name.startswith("on") or name.startswith("hx-on"):
            problems.append(f"<{tag}> has handler {name}={value[:40]!r}")
        if name in URL_ATTRIBUTES and not value.startswith(("/", "data:,")):
            problems.append(f"<{tag} {name}> points to {value[:60]!r}")
    scripts = [
        value
        for tag, name, value in shape.attributes
        if tag == "script" and name == "src"
    ]
    if shape.tags["script"] not in (0, 2) or any(
        not value.endswith(("/vendor/htmx.min.js", "/static/console.js"))
        for value in scripts
    ):
        problems.append(f"unexpected scripts {scripts!r}")
    text = "".join(shape.text)
    for character in ACTING_CHARACTERS:
        if character in text:
            problems.append(f"text contains U+{ord(character):04X} as itself")
    return problems


def tag_difference(hostile: str, plain: str) -> dict[str, int]:
    """Count the tags and attributes that *hostile* has more than *plain*.

    Attributes are counted as ``tag[name]``, so an attribute that hostile
    text broke out into shows up even on a tag the plain page also has.
    """
    hostile_shape = PageShape(hostile)
    plain_shape = PageShape(plain)
    hostile_counts = hostile_shape.tags + Counter(
        f"{tag}[{name}]" for tag, name, _ in hostile_shape.attributes
    )
    plain_counts = plain_shape.tags + Counter(
        f"{tag}[{name}]" for tag, name, _ in plain_shape.attributes
    )
    return {
        key: hostile_counts[key] - plain_counts[key]
        for key in set(hostile_counts) | set(plain_counts)
        if key.split("[")[0] not in OWN_TAGS
        and hostile_counts[key] != plain_counts[key]
    }


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
@pytest.mark.parametrize("url", FIXED_PAGES)
def test_page_has_plain_page_shape(clients, url, htmx):
    headers = HTMX if htmx else {}

    hostile = clients["hostile"].get(url, headers=headers)
    plain = clients["plain"].get(url, headers=headers)

    assert hostile.status_code == 200
    assert plain.status_code == 200
    html = hostile.get_data(as_text=True)
    assert page_problems(html) == []
    assert tag_difference(html, plain.get_data(as_text=True)) == {}


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_job_pages_have_plain_page_shape(clients, htmx):
    headers = HTMX if htmx else {}
    hostile_urls = dead_job_urls(clients["hostile"])
    plain_urls = dead_job_urls(clients["plain"])

    assert len(hostile_urls) == len(HOSTILE_TEXTS) + 1
    # Both stores were seeded in the same order, so the lists pair up.
    for url, plain_url in zip(hostile_urls, plain_urls, strict=True):
        html = clients["hostile"].get(url, headers=headers).get_data(as_text=True)
        plain = clients["plain"].get(plain_url, headers=headers)
        plain_html = plain.get_data(as_text=True)
        assert page_problems(html) == [], url
        assert tag_difference(html, plain_html) == {}, url


def test_group_previews_have_plain_page_shape(clients):
    hostile_urls = group_preview_urls(clients["hostile"])
    plain_url = group_preview_urls(clients["plain"])[0]
    plain_html = clients["plain"].get(plain_url).get_data(as_text=True)

    assert len(hostile_urls) == len(HOSTILE_TEXTS) + 1
    for url in hostile_urls:
        response = clients["hostile"].get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert 'data-count="1"' in html, url
        assert page_problems(html) == [], url
        assert tag_difference(html, plain_html) == {}, url


@pytest.mark.parametrize("name", sorted(HOSTILE_TEXTS))
def test_search_for_hostile_text_is_inert(clients, name):
    text = HOSTILE_TEXTS[name][:MAX_SEARCH_CHARACTERS]
    client = clients["hostile"]
    query = {"status": "dead", "q": text}

    page = client.get(f"/topics/{TOPIC}", query_string=query)
    fragment = client.get(f"/topics/{TOPIC}", query_string=query, headers=HTMX)
    preview = client.get(
        f"/topics/{TOPIC}/bulk", query_string={**query, "action": "purge"}
    )

    for response in (page, fragment, preview):
        assert response.status_code == 200
        assert page_problems(response.get_data(as_text=True)) == []
    assert PageShape(fragment.get_data(as_text=True)).tags["tr"] >= 2


def test_megabyte_search_is_clean_400(clients):
    # SQLite rejects a LIKE pattern over 50,000 bytes; that used to be a 503.
    client = clients["hostile"]
    query = {"status": "dead", "q": MEGABYTE_TEXT}

    page = client.get(f"/topics/{TOPIC}", query_string=query)
    preview = client.get(
        f"/topics/{TOPIC}/bulk", query_string={**query, "action": "purge"}
    )
    api = client.get(f"/api/topics/{TOPIC}/jobs", query_string=query)
    longest = client.get(
        f"/api/topics/{TOPIC}/jobs",
        query_string={"q": "W" * MAX_SEARCH_CHARACTERS, "status": "dead"},
    )

    assert page.status_code == 400
    assert "use at most 1,000" in page.get_data(as_text=True)
    assert page_problems(page.get_data(as_text=True)) == []
    assert preview.status_code == 400
    assert api.status_code == 400
    assert api.get_json()["error"] == (
        f"the search text is {len(MEGABYTE_TEXT):,} characters long; use at most 1,000"
    )
    assert len(longest.get_json()["jobs"]) == 1


def test_megabyte_status_is_clean_400(clients):
    response = clients["hostile"].get(
        f"/topics/{TOPIC}", query_string={"status": MEGABYTE_TEXT}
    )

    assert response.status_code == 400
    assert page_problems(response.get_data(as_text=True)) == []


@pytest.mark.parametrize(
    "url",
    [
        "/topics/hostile/jobs/{text}",
        "/topics/hostile?status={text}",
        "/topics/hostile?cursor={text}",
        "/topics/hostile/errors?status={text}",
        "/topics/hostile/bulk?action={text}&status=dead",
        "/charts?range={text}",
    ],
)
@pytest.mark.parametrize("name", ["script", "double-quote", "bidi", "c0"])
def test_error_pages_are_inert(clients, url, name):
    text = quote(HOSTILE_TEXTS[name], safe="")
    client = clients["hostile"]

    page = client.get(url.format(text=text))
    fragment = client.get(url.format(text=text), headers=HTMX)

    assert page.status_code in (400, 404)
    assert page.mimetype == "text/html"
    assert page_problems(page.get_data(as_text=True)) == []
    assert fragment.status_code == page.status_code
    assert fragment.mimetype == "text/plain"


# Topic names -----------------------------------------------------------------


@pytest.mark.parametrize("topic", REJECTED_TOPICS)
def test_rejected_topic_is_clean_404(client, topic):
    name = quote(topic, safe="")

    page = client.get(f"/topics/{name}")
    api = client.get(f"/api/topics/{name}/jobs")
    post = client.post(
        f"/api/topics/{name}/bulk",
        data=json.dumps({"action": "purge", "status": "dead", "dry_run": True}),
        content_type="application/json",
        headers={"X-CSRFToken": page_csrf_token(client)},
    )

    assert page.status_code == 404
    assert page_problems(page.get_data(as_text=True)) == []
    assert api.status_code == 404
    assert post.status_code == 404
    for response in (api, post):
        error = response.get_json()["error"]
        if "/" not in topic:
            assert error.startswith("invalid topic")
            assert "ASCII letters, digits" in error


@pytest.mark.parametrize("topic", ODD_TOPICS)
def test_odd_valid_topic_works(client, make_queue, topic):
    queue = make_queue(topic)
    job_id = fail_once(queue, {"n": 1}, "ValueError: odd")

    overview = client.get("/").get_data(as_text=True)
    page = client.get(f"/topics/{topic}?status=dead")
    job = client.get(f"/api/topics/{topic}/jobs/{job_id}")
    groups = client.get(f"/api/topics/{topic}/errors")

    assert f'data-topic="{topic}"' in overview
    assert page.status_code == 200
    assert f'data-job-id="{job_id}"' in page.get_data(as_text=True)
    assert job.get_json()["error"] == "ValueError: odd"
    assert groups.get_json()["groups"][0]["count"] == 1


# JSON API ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HOSTILE_TEXTS))
def test_api_returns_hostile_text_exactly(client, make_queue, name):
    text = HOSTILE_TEXTS[name]
    search = text[:MAX_SEARCH_CHARACTERS]
    queue = make_queue(TOPIC)
    payload = {"text": text, text[:200]: [text]}
    job_id = fail_once(queue, payload, f"ValueError: {text}")

    job = client.get(f"/api/topics/{TOPIC}/jobs/{job_id}")
    found = client.get(
        f"/api/topics/{TOPIC}/jobs", query_string={"status": "dead", "q": search}
    )

    assert job.mimetype == "application/json"
    assert job.get_json()["payload"] == payload
    assert job.get_json()["error"] == f"ValueError: {text}"
    assert [found_job["id"] for found_job in found.get_json()["jobs"]] == [job_id]


def test_api_megabyte_payload_exact(client, make_queue):
    job_id = fail_once(make_queue(TOPIC), {"big": MEGABYTE_TEXT}, MEGABYTE_TEXT)

    job = client.get(f"/api/topics/{TOPIC}/jobs/{job_id}").get_json()

    assert job["payload"] == {"big": MEGABYTE_TEXT}
    assert job["error"].startswith(MEGABYTE_TEXT[:65536])
    assert job["error"].endswith("more characters cut]")


def test_api_lone_surrogates_are_handled(client, make_queue):
    queue = make_queue(TOPIC)
    job_id = fail_once(queue, {"n": 1}, "ValueError: half \ud800 pair")
    token = page_csrf_token(client)
    body = '{"action": "retry", "status": "dead", "dry_run": true, "signature": "%s"}'

    signature = client.post(
        f"/api/topics/{TOPIC}/bulk",
        data=body % "\\ud800",
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    ids = client.post(
        f"/api/topics/{TOPIC}/bulk",
        data='{"action": "retry", "status": "dead", "ids": ["\\udfff"]}',
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    search = client.get(f"/api/topics/{TOPIC}/jobs?status=dead&q=%ED%A0%80")
    job = client.get(f"/api/topics/{TOPIC}/jobs/{job_id}").get_json()

    # A lone surrogate in a signature used to reach SQLite and come back as
    # a UnicodeEncodeError message.
    for response in (signature, ids):
        assert response.status_code == 400
        assert "lone surrogate" in response.get_json()["error"]
    assert search.status_code == 200
    assert search.get_json()["jobs"] == []
    # The store cannot hold a lone surrogate, so fail() keeps a "?" instead.
    assert job["error"] == "ValueError: half ? pair"
    assert queue.counts()["dead"] == 1


# Signatures in forms ----------------------------------------------------------


def hidden_value(html: str, name: str) -> str:
    """Return the value of the hidden input *name* in *html*, as a browser reads it."""
    values = [
        dict(attrs)
        for attrs in _input_attributes(html)
        if dict(attrs).get("name") == name
    ]
    assert len(values) == 1, f"{len(values)} inputs named {name}"
    return values[0]["value"] or ""


def _input_attributes(html: str) -> list[list[tuple[str, str | None]]]:
    found: list[list[tuple[str, str | None]]] = []

    class Inputs(HTMLParser):
        def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
            if tag == "input":
                found.append(attrs)

    Inputs().feed(html)
    return found


@pytest.mark.parametrize("error", ["nul\x00 here", "cr\r here", "both\r\x00\r"])
def test_group_with_nul_or_cr_retries_from_form(client, make_queue, error):
    # An HTML attribute turns NUL into U+FFFD and CR into LF, so a hidden
    # signature field used to confirm a group retry that moved nothing.
    queue = make_queue(TOPIC)
    fail_once(queue, {"n": 1}, error)
    [group] = client.get(f"/api/topics/{TOPIC}/errors").get_json()["groups"]
    preview = client.get(
        f"/topics/{TOPIC}/bulk",
        query_string={
            "action": "retry",
            "status": "dead",
            "signature": group["signature"],
        },
    ).get_data(as_text=True)
    token = page_csrf_token(client)

    encoded = hidden_value(preview, "signature_json")
    result = client.post(
        f"/topics/{TOPIC}/bulk",
        data={"action": "retry", "status": "dead", "signature_json": encoded},
        headers={"X-CSRFToken": token},
    )

    assert "\x00" not in encoded
    assert "\r" not in encoded
    assert 'data-count="1"' in preview
    assert 'data-moved="1"' in result.get_data(as_text=True)
    assert queue.counts()["dead"] == 0


def test_search_within_group_keeps_nul_signature(client, make_queue):
    queue = make_queue(TOPIC)
    job_id = fail_once(queue, {"n": 1}, "nul\x00 here")
    fail_once(queue, {"n": 2}, "other error")
    [signature] = [
        group["signature"]
        for group in client.get(f"/api/topics/{TOPIC}/errors").get_json()["groups"]
        if "\x00" in group["signature"]
    ]
    page = client.get(
        f"/topics/{TOPIC}", query_string={"status": "dead", "signature": signature}
    ).get_data(as_text=True)

    encoded = hidden_value(page, "signature_json")
    searched = client.get(
        f"/topics/{TOPIC}",
        query_string={"status": "dead", "signature_json": encoded, "q": "n"},
    ).get_data(as_text=True)
    invalid = client.get(f"/topics/{TOPIC}?signature_json=5")

    assert f'data-job-id="{job_id}"' in searched
    assert searched.count("data-job-id=") == 1
    assert invalid.status_code == 400
