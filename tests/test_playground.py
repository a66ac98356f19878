"""The playground page (``GET /``), driven in a real headless Chromium with Playwright.

Plays the fixed task ``debug-fixed-syntax_fix`` the way a person would: pick it, reset, see a server
error shown, run the broken and a working query, inspect the schema, sample a table, submit the gold
query and read the reward. Saves a full-page screenshot to ``results/figures/playground.png``.

Then one episode of each other family, on the server's real tasks, through the controls that family
shows: a repair (execute the gold statements, finish), an analyst question (submit the answer) and a
grounded question (search the documents, click the hits to cite them, submit the answer). The answers
come from the task's gold (``make_grader().reference``); the tests assert on what the page shows.

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

from env_server.families import make_grader
from env_server.grading.grader import Grader
from env_server.tasks.registry import TaskRegistry, load_tasks
from env_server.tasks.spec import Task

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
    # Before an episode the page previews the picked family's controls: debug's.
    assert _visible(page, *FAMILY_CONTROLS["debug"]) and _hidden(page, *OTHER_CONTROLS["debug"])
    splits = page.eval_on_selector_all("#split option", "opts => opts.map(o => o.value)")
    assert splits == ["fixed", "train", "heldout_iid", "heldout_ood", "heldout_external"]

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
    assert page.text_content("#episode-family") == "debug"
    assert _visible(page, *FAMILY_CONTROLS["debug"], "#broken-panel") and _hidden(page, *OTHER_CONTROLS["debug"])
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


# -- the other families ----------------------------------------------------------------------------

# The controls each family shows (the rest are hidden): reading is common to all of them.
READ_CONTROLS = ("#sql", "#run", "#inspect", "#table", "#sample")
FAMILY_CONTROLS = {
    "debug": READ_CONTROLS + ("#submit",),
    "repair": READ_CONTROLS + ("#execute", "#finish"),
    "analyst": READ_CONTROLS + ("#answer", "#submit-answer"),
    "grounded": READ_CONTROLS + ("#docs-query", "#search", "#answer", "#citations", "#submit-answer"),
}
ALL_CONTROLS = sorted({c for controls in FAMILY_CONTROLS.values() for c in controls})
OTHER_CONTROLS = {family: [c for c in ALL_CONTROLS if c not in controls] for family, controls in FAMILY_CONTROLS.items()}


def _visible(page, *selectors: str) -> bool:
    hidden = [s for s in selectors if not page.is_visible(s)]
    assert not hidden, f"should be shown: {hidden}"
    return True


def _hidden(page, *selectors: str) -> bool:
    shown = [s for s in selectors if page.is_visible(s)]
    assert not shown, f"should be hidden: {shown}"
    return True


@pytest.fixture(scope="module")
def registry() -> TaskRegistry:
    return TaskRegistry(load_tasks())


@pytest.fixture(scope="module")
def grader() -> Grader:
    return make_grader()


def _pick(registry: TaskRegistry, family: str, splits: tuple[str, ...]) -> Task:
    """The first task of ``family`` in the first of ``splits`` that has one, preferring one-value
    answers (a set answer typed as text is fine too, but a member holding a comma would be split)."""
    for split in splits:
        # The page lists the first 200 tasks of a split (in the server's order, which is this one).
        tasks = registry.filter(family=family, split=split)[:200]
        if tasks:
            return next((t for t in tasks if t.answer_type not in ("set",)), tasks[0])
    pytest.fail(f"no {family} task in splits {splits}: build the data (`python -m env_server build-data`)",
                pytrace=False)


def _gold_answer(grader: Grader, task: Task) -> str:
    """The gold answer as a person would type it."""
    rows = grader.reference(task).rows
    if task.answer_type == "set":
        return ", ".join(str(row[0]) for row in rows)
    return str(rows[0][0])


def _start(page, live_server: str, task: Task) -> int:
    """Open the page, pick ``task`` in the pickers, reset; the steps remaining."""
    page.goto(live_server + "/")
    _wait_state(page, "idle")
    page.select_option("#family", task.family)
    # The family's controls are previewed before the episode starts.
    assert _visible(page, *FAMILY_CONTROLS[task.family]) and _hidden(page, *OTHER_CONTROLS[task.family])
    page.wait_for_selector(f'#split option[value="{task.split}"]:not([disabled])', state="attached")
    page.select_option("#split", task.split)
    page.wait_for_selector(f'#task option[value="{task.task_id}"]', state="attached")
    page.select_option("#task", task.task_id)
    page.click("#reset")
    _wait_state(page, "ready")
    assert page.text_content("#episode-task") == task.task_id
    assert page.text_content("#episode-family") == task.family
    assert task.question in page.text_content("#goal")
    assert page.text_content("#schema").strip()
    assert _visible(page, *FAMILY_CONTROLS[task.family]) and _hidden(page, *OTHER_CONTROLS[task.family])
    assert page.is_hidden("#broken-panel")  # only debug has a broken query
    assert page.input_value("#sql") == ""
    assert page.is_enabled("#run")
    return int(page.text_content("#steps"))


def _assert_success(page, message_start: str) -> None:
    _wait_state(page, "done")
    assert page.is_visible("#outcome")
    assert page.text_content("#message").startswith(message_start), page.text_content("#message")
    assert page.get_attribute("#reward", "data-success") == "true", page.text_content("#reward")
    assert page.text_content("#reward .verdict") == "success"
    assert float(page.get_attribute("#reward", "data-reward")) >= 0.9
    assert page.text_content("#reward dl.facts dd")  # the grade's reason
    components = page.eval_on_selector_all("#components th", "ths => ths.map(t => t.textContent)")
    assert "outcome" in components
    assert page.locator("#grade-components table.kv tr").count() > 0
    assert "Episode over" in page.text_content("#status")
    assert page.is_enabled("#reset")


def _assert_clean(page) -> None:
    assert page.problems == [], page.problems
    assert page.failed_responses == [], page.failed_responses


def test_playground_plays_a_repair(live_server, registry, tmp_path):
    task = _pick(registry, "repair", ("fixed", "train"))
    assert task.gold_repair_sql
    with open_page(live_server) as page:
        steps = _start(page, live_server, task)
        # Reading first: run_query is read-only.
        page.fill("#sql", "SELECT COUNT(*) AS n FROM sqlite_master")
        page.click("#run")
        _wait_state(page, "ready")
        assert page.text_content("#result thead th") == "n"
        # The gold statements, through Execute (write).
        for statement in task.gold_repair_sql:
            page.fill("#sql", statement)
            page.click("#execute")
            _wait_state(page, "ready")
            message = page.text_content("#message")
            assert message.startswith("Statement ran"), (statement, message, page.text_content("#result"))
        assert int(page.text_content("#steps")) == steps - 1 - len(task.gold_repair_sql)
        page.screenshot(path=str(tmp_path / "playground-repair.png"), full_page=True)
        page.click("#finish")
        _assert_success(page, "Repaired")
        assert page.is_disabled("#execute") and page.is_disabled("#finish") and page.is_disabled("#run")
        _assert_clean(page)


def test_playground_plays_an_analyst_question(live_server, registry, grader):
    task = _pick(registry, "analyst", ("fixed", "train"))
    answer = _gold_answer(grader, task)
    with open_page(live_server) as page:
        _start(page, live_server, task)
        assert _hidden(page, "#citations-field", "#docs-panel")
        # An empty answer is not sent.
        page.click("#submit-answer")
        page.wait_for_selector('#status[data-kind="warn"]')
        assert "answer" in page.text_content("#status")
        page.fill("#answer", answer)
        page.click("#submit-answer")
        _assert_success(page, "Correct")
        assert page.is_disabled("#answer") and page.is_disabled("#submit-answer")
        _assert_clean(page)


def test_playground_plays_a_grounded_question(live_server, registry, grader, tmp_path):
    task = _pick(registry, "grounded", ("train",))
    assert task.doc_ids
    answer = _gold_answer(grader, task)
    with open_page(live_server) as page:
        # A split the family has no task in is marked and left: grounded has no fixed tasks.
        page.goto(live_server + "/")
        _wait_state(page, "idle")
        page.select_option("#split", "fixed")
        page.select_option("#family", "grounded")
        page.wait_for_selector('#split option[value="fixed"][disabled]', state="attached")
        assert "no tasks" in page.text_content('#split option[value="fixed"]')
        assert page.input_value("#split") == "train"
        assert page.text_content("#task-info")  # the task list is there

        _start(page, live_server, task)
        assert page.locator("#docs li").count() == 0
        # Search with the question (Enter searches); the hits are listed, each with its status.
        page.fill("#docs-query", task.question)
        page.press("#docs-query", "Enter")
        _wait_state(page, "ready")
        hits = page.locator("#docs button.doc-hit")
        assert hits.count() > 0
        for i in range(hits.count()):
            hit = hits.nth(i)
            status = hit.get_attribute("data-status")
            assert hit.locator(".doc-id").text_content() == hit.get_attribute("data-doc-id")
            assert hit.locator(".doc-title").text_content()
            assert hit.locator(".doc-status").text_content() == status
            assert ("stale" in hit.locator(".doc-status").get_attribute("class")) == (status != "current")
            assert hit.locator(".doc-snippet").text_content()
        assert "document" in page.text_content("#result")
        # A required document the question's words do not find is looked up by its title.
        for doc_id in task.doc_ids:
            if page.locator(f'#docs button.doc-hit[data-doc-id="{doc_id}"]').count() == 0:
                page.fill("#docs-query", grader.docs.get(doc_id).title)
                page.click("#search")
                _wait_state(page, "ready")
            hit = page.locator(f'#docs button.doc-hit[data-doc-id="{doc_id}"]')
            assert hit.count() == 1, f"search does not find {doc_id}"
            assert hit.get_attribute("data-status") == "current"
            hit.click()
            assert "cited" in hit.get_attribute("class")
            assert hit.get_attribute("aria-pressed") == "true"
        cited = [c.strip() for c in page.input_value("#citations").split(",")]
        assert cited == list(dict.fromkeys(task.doc_ids))
        page.screenshot(path=str(tmp_path / "playground-grounded.png"), full_page=True)
        page.fill("#answer", answer)
        page.click("#submit-answer")
        _assert_success(page, "Correct")
        assert page.is_disabled("#search") and page.is_disabled("#citations")
        _assert_clean(page)
