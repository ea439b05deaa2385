"""The web page in a real browser: headless Chromium, driven by Selenium, against
`durable-engine ui` and a worker, both real processes, on a database made here.

Screenshots go to a temporary folder, or to $DURABLE_UI_SCREENSHOTS (the docs' are
made with DURABLE_UI_SCREENSHOTS=docs/images). Where no Chromium can be found these
tests are skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import env
from tests.web.helpers import Made, make_database

pytestmark = pytest.mark.timeout(180)

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
_CLI = (sys.executable, "-m", "durable_engine")


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI=true the browser tests must run, not be skipped")
    pytest.skip(reason)


def _chromium() -> tuple[str, str]:
    """The browser and its driver, or skip (fail under CI) saying which is missing."""
    browser = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        _missing("no Chromium to drive (install the Debian packages chromium and chromium-driver)")
    assert browser is not None and driver is not None
    return browser, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Site:
    made: Made
    base: str
    token: str
    shots: Path
    driver: Any

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def text(self, css: str) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.CSS_SELECTOR, css).text)

    def text_now(self, css: str) -> str:
        """The element's text, or "" while the page is being reloaded."""
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
        )

        try:
            return self.text(css)
        except (NoSuchElementException, StaleElementReferenceException):
            return ""

    def shoot(self, name: str) -> Path:
        path = self.shots / name
        assert self.driver.save_screenshot(str(path))
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        return path


def _wait_for(what: str, check: Any, seconds: float = 60) -> Any:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"never saw {what}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    browser, chromedriver = _chromium()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ModuleNotFoundError:
        _missing("selenium is not installed (the test extra has it)")
    folder = tmp_path_factory.mktemp("web-browser")
    made = make_database(folder)
    port = _free_port()
    ui_out = folder / "ui.out"
    with ui_out.open("w") as out, (folder / "ui.err").open("w") as err:
        ui = subprocess.Popen(
            [*_CLI, "ui", "--db", "app.db", "--port", str(port), "--allow-actions"],
            cwd=folder,
            env=env(),
            stdout=out,
            stderr=err,
        )
    with (folder / "worker.err").open("w") as err:
        worker = subprocess.Popen(
            [*_CLI, "worker", "--app", "app:engine", "--db", "app.db", "--grace-seconds", "1"],
            cwd=folder,
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    driver = None
    try:
        printed = _wait_for("the token line", lambda: "?token=" in ui_out.read_text())
        assert printed
        token = ui_out.read_text().split("?token=", 1)[1].split()[0]
        _wait_for("the server", lambda: _answers(port))
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
            options.add_argument(arg)
        options.add_argument("--window-size=1280,900")
        driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
        shots = Path(os.environ.get("DURABLE_UI_SCREENSHOTS") or folder / "shots")
        shots.mkdir(parents=True, exist_ok=True)
        site = Site(made, f"http://127.0.0.1:{port}", token, shots, driver)
        site.open(f"/?token={token}")  # the cookie that unlocks the actions
        yield site
    finally:
        if driver is not None:
            driver.quit()
        for proc in (ui, worker):
            proc.terminate()
            proc.wait(timeout=30)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_the_executions_page(site: Site) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    site.open(f"/?token={site.token}")  # the link the command printed
    assert site.driver.current_url == site.base + "/"  # the token left the address bar
    assert site.driver.title == "Executions · durable-engine"
    rows = site.driver.find_elements(By.CSS_SELECTOR, "#executions tbody tr")
    seen = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")][:4] for row in rows]
    made = site.made
    assert seen == [
        [made.waiting, "order-42", "approve", "SUSPENDED"],
        [made.big, "-", "report", "SUCCEEDED"],
        [made.failed, "-", "explode", "FAILED"],
        [made.succeeded, "greet-ana", "greet", "SUCCEEDED"],
    ]
    assert "actions on" in site.text("header")
    site.shoot("ui-executions.png")
    Select(site.driver.find_element(By.NAME, "status")).select_by_visible_text("FAILED")
    site.driver.find_element(By.CSS_SELECTOR, "form.filters button").click()
    _wait_for("the filtered list", lambda: "status=FAILED" in site.driver.current_url)
    rows = site.driver.find_elements(By.CSS_SELECTOR, "#executions tbody tr")
    assert [row.text.split()[0] for row in rows] == [made.failed]


def test_untrusted_text_is_shown_and_never_run(site: Site) -> None:
    site.open(f"/executions/{site.made.failed}")
    assert "<script>window.pwned = 1;" in site.text("#input")
    assert "StepError (ValueError): cannot ship <script>" in site.text("#error")
    assert site.driver.execute_script("return window.pwned === undefined")
    assert site.driver.title != "pwned"


def test_a_large_value_opens_whole(site: Site) -> None:
    from selenium.webdriver.common.by import By

    site.open(f"/executions/{site.made.big}")
    assert "line 00499" not in site.text("#result")
    site.driver.find_element(By.LINK_TEXT, "see it whole").click()
    assert "line 00499" in site.text("body")


def test_answering_a_callback_finishes_the_execution(site: Site) -> None:
    from selenium.webdriver.common.by import By

    made = site.made
    site.open(f"/executions/{made.waiting}")
    assert "callback manager-approval" in site.text("#waits")
    bars = site.driver.find_elements(By.CSS_SELECTOR, "#timeline .tl-bar")
    assert len(bars) == 4 and all(bar.size["width"] > 0 for bar in bars)
    history = site.driver.find_elements(By.CSS_SELECTOR, "#history tbody tr")
    assert [row.text.split()[0] for row in history] == ["1", "2", "2/1", "2/2"]
    site.shoot("ui-execution.png")

    site.open("/callbacks")
    (row,) = site.driver.find_elements(By.CSS_SELECTOR, "#callbacks tbody tr")
    assert made.waiting in row.text and "approve" in row.text
    site.shoot("ui-callbacks.png")
    row.find_element(By.NAME, "result").send_keys('{"approved": true}')
    row.find_element(By.CSS_SELECTOR, "button[value=succeed]").click()
    _wait_for("no pending callback", lambda: "No execution waits" in site.text_now("#callbacks"))

    site.open(f"/executions/{made.waiting}")  # it reloads itself until the worker ends it
    _wait_for("the execution finish", lambda: "SUCCEEDED" in site.text_now("h1"))
    assert site.text("#result") == '{"order": 42, "answer": {"approved": true}}'


def test_the_server_answers_only_to_this_machines_names(site: Site) -> None:
    """A site whose name points at 127.0.0.1 (DNS rebinding) gets no page to read."""
    import http.client

    port = int(site.base.rsplit(":", 1)[1])
    for host, expected in (("evil.example", 400), (f"localhost:{port}", 200)):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/", headers={"Host": host})
            assert conn.getresponse().status == expected, host
        finally:
            conn.close()
