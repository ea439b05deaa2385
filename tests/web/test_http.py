"""The web page over plain HTTP (Starlette's TestClient): what each page holds, escaping,
and the actions' guards: off without allow_actions, refused with a wrong token or from
another site."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from durable_engine.web import _app, create_app
from tests.conftest import rows
from tests.web.helpers import SCRIPT, Made, make_database

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    return make_database(tmp_path_factory.mktemp("web-http"))


@pytest.fixture
def fresh(tmp_path: Path) -> Made:
    """A database of its own, for a test that changes it."""
    return make_database(tmp_path)


@pytest.fixture
def reader(made: Made) -> Iterator[TestClient]:
    with TestClient(create_app(made.db)) as client:
        yield client


def _acting(db: Path) -> TestClient:
    """A client of an app that allows actions, holding the token's cookie."""
    client = TestClient(create_app(db, allow_actions=True, token=TOKEN), follow_redirects=False)
    client.cookies.set("durable_engine_token", TOKEN)
    return client


def _status(made: Made, execution_id: str) -> str:
    ((status,),) = rows(
        made.db, f"SELECT status FROM executions WHERE execution_id = '{execution_id}'"
    )
    return str(status)


def _callback_id(made: Made) -> str:
    ((cid,),) = rows(made.db, "SELECT callback_id FROM callbacks WHERE status = 'PENDING'")
    return str(cid)


def test_executions_page_lists_newest_first_with_filters(made: Made, reader: TestClient) -> None:
    page = reader.get("/")
    assert page.status_code == 200
    listed = re.findall(r'href="/executions/(\w+)"', page.text)
    assert listed == [made.waiting, made.big, made.failed, made.succeeded]
    assert "greet-ana" in page.text and "order-42" in page.text
    failed = reader.get("/", params={"status": "FAILED"}).text
    assert re.findall(r'href="/executions/(\w+)"', failed) == [made.failed]
    by_function = reader.get("/", params={"function": "greet"}).text
    assert re.findall(r'href="/executions/(\w+)"', by_function) == [made.succeeded]
    by_name = reader.get("/", params={"name": "order-42"}).text
    assert re.findall(r'href="/executions/(\w+)"', by_name) == [made.waiting]
    unknown = reader.get("/", params={"status": "nope"}).text
    assert "There is no status" in unknown and made.failed in unknown
    assert "data-refresh" in page.text  # it reloads itself


def test_executions_page_is_paged(
    made: Made, reader: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_app, "PAGE_SIZE", 3)
    first = reader.get("/").text
    assert re.findall(r'href="/executions/(\w+)"', first) == [made.waiting, made.big, made.failed]
    assert 'href="/?page=2" rel="next"' in first and 'rel="prev"' not in first
    second = reader.get("/?page=2").text
    assert re.findall(r'href="/executions/(\w+)"', second) == [made.succeeded]
    assert 'href="/" rel="prev"' in second and 'rel="next"' not in second


def test_an_execution_shows_input_error_and_history_escaped(made: Made, reader: TestClient) -> None:
    page = reader.get(f"/executions/{made.failed}")
    assert page.status_code == 200
    assert SCRIPT not in page.text
    assert "&lt;script&gt;window.pwned = 1;" in page.text
    assert "StepError (ValueError): cannot ship &lt;script&gt;" in page.text
    assert "1 ship" in page.text and "FAILED" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'nonce-" in policy


def test_a_suspended_execution_shows_what_it_waits_for(made: Made, reader: TestClient) -> None:
    page = reader.get(f"/executions/{made.waiting}").text
    waits = page.split('id="waits"', 1)[1].split("</ul>", 1)[0]
    assert "callback manager-approval" in waits and _callback_id(made) in waits
    timeline = page.split('id="timeline"', 1)[1].split("<h2>", 1)[0]
    labels = re.findall(r'class="tl-label"[^>]*>([^<]+)<', timeline)
    assert labels == ["1 check", "2 manager-approval", "2/1 manager-approval", "2/2 submit"]
    assert timeline.count("tl-bar s-STARTED open") == 2  # the context and its callback
    assert "Stop this execution" not in page  # actions are off
    assert "<h2>Result</h2>" not in page


def test_a_large_value_is_cut_with_a_link_to_all_of_it(made: Made, reader: TestClient) -> None:
    page = reader.get(f"/executions/{made.big}").text
    assert f'href="/executions/{made.big}/result">see it whole' in page
    assert "line 00499" not in page
    whole = reader.get(f"/executions/{made.big}/result")
    assert whole.headers["content-type"].startswith("text/plain")
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert whole.text.startswith('"line 00000\\nline 00001') and "line 00499" in whole.text
    op = reader.get(f"/executions/{made.big}/operations/1")
    assert op.status_code == 200 and "line 00499" in op.text
    assert reader.get(f"/executions/{made.big}/secrets").status_code == 404
    assert reader.get(f"/executions/{made.big}/operations/9").status_code == 404


def test_unknown_execution_is_a_404_page(reader: TestClient) -> None:
    page = reader.get("/executions/nope")
    assert page.status_code == 404 and "no execution with id" in page.text
    assert reader.get("/executions/nope/input").status_code == 404


def test_callbacks_page_lists_the_pending_callback(made: Made, reader: TestClient) -> None:
    page = reader.get("/callbacks").text
    table = page.split('id="callbacks"', 1)[1]
    assert _callback_id(made) in table and made.waiting in table and "approve" in table
    assert "<form" not in table  # no answers without --allow-actions


def test_actions_are_refused_without_allow_actions(fresh: Made) -> None:
    with TestClient(create_app(fresh.db), follow_redirects=False) as client:
        client.cookies.set("durable_engine_token", TOKEN)
        stop = client.post(f"/executions/{fresh.waiting}/stop", data={"token": TOKEN})
        answer = client.post(
            f"/callbacks/{_callback_id(fresh)}/succeed", data={"token": TOKEN, "result": "1"}
        )
    assert stop.status_code == answer.status_code == 403
    assert "--allow-actions" in stop.text
    assert _status(fresh, fresh.waiting) == "SUSPENDED"
    assert rows(fresh.db, "SELECT status FROM callbacks") == [("PENDING",)]


def test_actions_are_refused_with_a_wrong_or_missing_token(fresh: Made) -> None:
    url = f"/executions/{fresh.waiting}/stop"
    with _acting(fresh.db) as client:
        assert client.post(url, data={"token": "guess"}).status_code == 403
        assert client.post(url, data={}).status_code == 403
        client.cookies.clear()  # the form's token alone is not enough either
        refused = client.post(url, data={"token": TOKEN})
    assert refused.status_code == 403 and "Wrong or missing token" in refused.text
    assert _status(fresh, fresh.waiting) == "SUSPENDED"


def test_actions_are_refused_from_another_site(fresh: Made) -> None:
    url = f"/callbacks/{_callback_id(fresh)}/succeed"
    form = {"token": TOKEN, "result": '"yes"'}
    with _acting(fresh.db) as client:
        foreign = client.post(url, data=form, headers={"Origin": "https://evil.example"})
        cross = client.post(url, data=form, headers={"Sec-Fetch-Site": "cross-site"})
    assert foreign.status_code == cross.status_code == 403
    assert "Cross-site request refused" in foreign.text
    assert rows(fresh.db, "SELECT status FROM callbacks") == [("PENDING",)]


def test_answering_a_callback_and_stopping(fresh: Made) -> None:
    cid = _callback_id(fresh)
    with _acting(fresh.db) as client:
        page = client.get(f"/executions/{fresh.waiting}").text
        assert f'value="{TOKEN}"' in page and "Stop this execution" in page
        bad = client.post(f"/callbacks/{cid}/succeed", data={"token": TOKEN, "result": "{"})
        assert bad.status_code == 400 and "not valid JSON" in bad.text
        back = f"/executions/{fresh.waiting}"
        answered = client.post(
            f"/callbacks/{cid}/succeed",
            data={"token": TOKEN, "result": '{"approved": true}', "next": back},
            headers={"Origin": "http://testserver"},
        )
        assert answered.status_code == 303 and answered.headers["location"] == back
        again = client.post(f"/callbacks/{cid}/succeed", data={"token": TOKEN})
        assert again.status_code == 409 and "already resolved" in again.text
        assert cid not in client.get("/callbacks").text
        stopped = client.post(f"/executions/{fresh.succeeded}/stop", data={"token": TOKEN})
        assert stopped.status_code == 409 and "ExecutionAlreadyEnded" in stopped.text
        stopped = client.post(f"/executions/{fresh.waiting}/stop", data={"token": TOKEN})
        assert stopped.status_code == 303
        assert stopped.headers["location"] == f"/executions/{fresh.waiting}"
        missing = client.post("/executions/nope/stop", data={"token": TOKEN})
        assert missing.status_code == 404
    assert rows(fresh.db, "SELECT status FROM callbacks") == [("SUCCEEDED",)]
    assert _status(fresh, fresh.waiting) == "STOPPED"


def test_an_executions_custom_status_is_shown(made: Made, reader: TestClient) -> None:
    page = reader.get(f"/executions/{made.waiting}").text
    assert "Custom status" in page and "&#34;done&#34;: 1" in page
    whole = reader.get(f"/executions/{made.waiting}/custom_status")
    assert whole.status_code == 200 and '"total": 2' in whole.text
    assert "Custom status" not in reader.get(f"/executions/{made.succeeded}").text


def test_rerunning_a_failed_execution_and_resuming(fresh: Made) -> None:
    with _acting(fresh.db) as client:
        page = client.get(f"/executions/{fresh.failed}").text
        assert "Rerun with the same input" in page and "Resume on the code" not in page
        assert "Rerun with the same input" not in client.get(f"/executions/{fresh.waiting}").text
        rerun = client.post(f"/executions/{fresh.failed}/rerun", data={"token": TOKEN})
        assert rerun.status_code == 303
        new_id = rerun.headers["location"].rsplit("/", 1)[1]
        assert new_id != fresh.failed
        refused = client.post(f"/executions/{fresh.succeeded}/rerun", data={"token": TOKEN})
        assert refused.status_code == 409 and "ExecutionNotRerunnable" in refused.text
        # A waiting execution is not BLOCKED: resume leaves it as it is.
        resumed = client.post(f"/executions/{fresh.waiting}/resume", data={"token": TOKEN})
        assert resumed.status_code == 303
        ended = client.post(f"/executions/{fresh.succeeded}/resume", data={"token": TOKEN})
        assert ended.status_code == 409 and "ExecutionAlreadyEnded" in ended.text
        missing = client.post("/executions/nope/rerun", data={"token": TOKEN})
        assert missing.status_code == 404
    assert rows(fresh.db, f"SELECT rerun_of FROM executions WHERE execution_id = '{new_id}'") == [
        (fresh.failed,)
    ]
    assert _status(fresh, fresh.waiting) == "SUSPENDED"


def test_a_failure_answer_and_where_it_sends_the_browser(fresh: Made) -> None:
    cid = _callback_id(fresh)
    with _acting(fresh.db) as client:
        answered = client.post(
            f"/callbacks/{cid}/fail",
            data={"token": TOKEN, "error_type": "Denied", "message": "no", "next": "//evil"},
        )
    assert answered.status_code == 303 and answered.headers["location"] == "/callbacks"
    assert rows(fresh.db, "SELECT status FROM callbacks") == [("FAILED",)]


def test_the_token_link_sets_the_cookie_and_leaves_the_address(made: Made) -> None:
    app = create_app(made.db, allow_actions=True, token=TOKEN)
    with TestClient(app, follow_redirects=False) as client:
        locked = client.get("/callbacks").text
        assert "actions need the token" in locked and '<form method="post"' not in locked
        wrong = client.get("/callbacks", params={"token": "guess"})
        assert wrong.status_code == 403 and "durable_engine_token" not in wrong.headers.get(
            "set-cookie", ""
        )
        opened = client.get("/callbacks", params={"token": TOKEN, "x": "1"})
        assert opened.status_code == 303 and opened.headers["location"] == "/callbacks?x=1"
        cookie = opened.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        unlocked = client.get("/callbacks").text
    assert f'name="token" value="{TOKEN}"' in unlocked and 'action="/callbacks/' in unlocked


def test_create_app_refuses_a_missing_file_and_makes_a_token(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no database file"):
        create_app(tmp_path / "none.db")
    db = make_database(tmp_path).db
    app = create_app(db, allow_actions=True)
    assert isinstance(app.state.token, str) and len(app.state.token) >= 32
    assert create_app(db).state.token is None
