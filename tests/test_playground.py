"""The playground page (``GET /``), driven in a real headless Chromium with Playwright.

Plays the fixed task ``debug-fixed-syntax_fix`` the way a person would: pick it, reset, see a server
error shown, run the broken and a working query, inspect the schema, sample a table, submit the gold
query and read the reward. Saves a full-page screenshot to ``results/figures/playground.png``.

Needs Debian's ``/usr/bin/chromium`` and the ``playwright`` Python package (``make test`` installs
both: ``scripts/install_browser.sh`` and pip). Never runs ``playwright install``: it downloads
browsers from the internet.
"""
from __future__ import annotations

import json
import os
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "results" / "figures" / "playground.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
]
TASK_ID = "debug-fixed-syntax_fix"
GOLD_SQL = (
    "SELECT name, email, signup_date FROM users WHERE plan = 'pro' "
    "AND signup_date >= '2024-01-01' ORDER BY signup_date, id"
)
TIMEOUT_MS = 15_000

pytestmark = pytest.mark.browser


def _require_browser():
    """The sync Playwright API, or a failure that says how to install what is missing."""
    problems = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        problems.append(f"the playwright Python package is missing ({exc})")
    if not os.access(CHROMIUM, os.X_OK):
        problems.append(f"{CHROMIUM} is missing (Debian package 'chromium')")
    if problems:
        pytest.fail(
            "browser test cannot run: " + "; ".join(problems)
            + ". Run `make test`, which installs them (scripts/install_browser.sh and pip install playwright).",
            pytrace=False,
        )
    return sync_playwright


@contextmanager
def open_page(base_url: str):
    """A Chromium page on a 1280x900 viewport. ``page.problems`` collects console errors, page errors
    and requests to anywhere but ``base_url``; ``page.failed_responses`` the HTTP errors."""
    sync_playwright = _require_browser()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.problems = []
            page.on("pageerror", lambda exc: page.problems.append(f"page error: {exc}"))
            page.failed_responses = []  # (status, method, path) of every 4xx/5xx answer
            page.on(
                "console",
                lambda msg: msg.type == "error"
                and not msg.text.startswith("Failed to load resource")  # HTTP errors: see failed_responses
                and page.problems.append(f"console: {msg.text}"),
            )
            page.on(
                "response",
                lambda resp: resp.status >= 400
                and page.failed_responses.append((resp.status, resp.request.method, resp.url[len(base_url):])),
            )
            page.on(
                "request",
                lambda req: req.url.startswith(base_url) or page.problems.append(f"external request: {req.url}"),
            )
            yield page
            context.close()
        finally:
            browser.close()


def _wait_state(page, *states: str) -> None:
    selector = ", ".join(f'body[data-state="{s}"]' for s in states)
    page.wait_for_selector(selector)


def test_playground_plays_an_episode(live_server):
    with open_page(live_server) as page:
        _play(page, live_server)


def _play(page, live_server: str) -> None:
    # The gold SQL used here must be the task's answer: check it through the API first, so a task
    # change fails here with a clear message instead of as a mysterious UI failure.
    request = urllib.request.Request(
        f"{live_server}/grade",
        data=json.dumps({"items": [{"task_id": TASK_ID, "sql": GOLD_SQL}]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert json.load(resp)["results"][0]["grade"]["success"], f"GOLD_SQL no longer solves {TASK_ID}"

    page.goto(live_server + "/")
    _wait_state(page, "idle")
    assert page.title() == "DataOps-Gym playground"
    assert page.locator("#family").input_value() == "debug"
    assert page.is_disabled("#run") and page.is_disabled("#submit")

    # A server error is shown with its message: a negative seed is refused by /reset (422).
    page.select_option("#split", "fixed")
    page.wait_for_selector(f'#task option[value="{TASK_ID}"]', state="attached")
    page.fill("#seed", "-1")
    page.click("#reset")
    page.wait_for_selector('#status[data-kind="error"]')
    status = page.text_content("#status")
    assert "422" in status and "seed" in status, status
    _wait_state(page, "idle")

    # Reset on the chosen task.
    page.fill("#seed", "")
    page.select_option("#task", TASK_ID)
    assert "pro" in page.text_content("#task-info")
    page.click("#reset")
    _wait_state(page, "ready")
    assert page.text_content("#episode-task") == TASK_ID
    assert "Fix it" in page.text_content("#goal")
    assert "users(" in page.text_content("#schema")
    broken = page.text_content("#broken-sql")
    assert "WHER plan" in broken
    assert page.input_value("#sql") == broken
    steps = int(page.text_content("#steps"))
    assert steps > 5
    tables = page.eval_on_selector_all("#table option", "opts => opts.map(o => o.value)")
    assert tables == ["events", "order_items", "orders", "products", "users"]

    # Run the broken query: a syntax error is shown.
    page.click("#run")
    _wait_state(page, "ready")
    assert page.text_content("#result .error-kind") == "syntax"
    assert "syntax error" in page.text_content("#result .error-message")
    assert int(page.text_content("#steps")) == steps - 1

    # Run a working query: rows in the table.
    page.fill("#sql", "SELECT id, name, plan, NULL AS missing FROM users WHERE plan = 'pro' ORDER BY id")
    page.click("#run")
    _wait_state(page, "ready")
    headers = page.eval_on_selector_all("#result thead th", "ths => ths.map(t => t.textContent)")
    assert headers == ["id", "name", "plan", "missing"]
    rows = page.locator("#result tbody tr")
    assert rows.count() > 0
    assert rows.first.locator("td").nth(2).text_content() == "pro"
    assert rows.first.locator("td").nth(3).text_content() == "NULL"
    assert "showing" in page.text_content("#result .result-meta")

    # Data is text, never markup.
    page.fill("#sql", "SELECT '<b id=\"injected\">bold</b>' AS html")
    page.click("#run")
    _wait_state(page, "ready")
    assert page.locator("#injected").count() == 0
    assert page.text_content("#result tbody td") == '<b id="injected">bold</b>'

    # Inspect the schema, then sample a table.
    page.click("#inspect")
    _wait_state(page, "ready")
    assert page.eval_on_selector_all("#result thead th", "ths => ths.map(t => t.textContent)")[:2] == [
        "table",
        "column",
    ]
    page.select_option("#table", "users")
    page.click("#sample")
    _wait_state(page, "ready")
    assert page.locator("#result tbody tr").count() > 0
    assert "email" in page.eval_on_selector_all("#result thead th", "ths => ths.map(t => t.textContent)")
    assert int(page.text_content("#steps")) == steps - 5

    # Submit the gold query: reward and success shown, episode over.
    page.fill("#sql", GOLD_SQL)
    page.click("#submit")
    _wait_state(page, "done")
    assert page.is_visible("#outcome")
    reward = float(page.get_attribute("#reward", "data-reward"))
    assert reward >= 0.9, reward
    assert page.get_attribute("#reward", "data-success") == "true"
    assert page.text_content("#reward .verdict") == "success"
    assert "equivalent" in page.text_content("#reward dl.facts")
    components = page.eval_on_selector_all("#components th", "ths => ths.map(t => t.textContent)")
    assert "outcome" in components
    assert page.is_disabled("#run") and page.is_disabled("#submit") and page.is_disabled("#inspect")
    assert page.is_enabled("#reset")
    assert int(page.text_content("#steps")) == steps - 6
    assert "Episode over" in page.text_content("#status")

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000

    # A new reset in the same session re-enables the actions.
    page.click("#reset")
    _wait_state(page, "ready")
    assert page.is_enabled("#run") and page.is_enabled("#submit")
    assert page.is_hidden("#outcome")

    assert page.problems == [], page.problems
    assert page.failed_responses == [(422, "POST", "/reset")], page.failed_responses
