/* DataOps-Gym playground: plays one episode at a time against this server's HTTP API.
 *
 * Plain browser JavaScript, no dependencies. It talks only to the server that served it:
 *   GET  /tasks   task lists for the pickers
 *   POST /reset   start an episode (creates a session on first use)
 *   POST /step    the actions the episode's family allows (observation.allowed_actions):
 *                 inspect_schema, sample_rows, run_query, then submit_query (debug), execute_sql and
 *                 finish (repair), submit_answer (analyst), search_docs and submit_answer (grounded)
 *   DELETE /session  when the page is closed, to free the session slot
 * The session id from /reset is sent back as the X-Session-Id header on every call.
 * Every value from the server reaches the page through textContent (never innerHTML).
 * Only the controls of the allowed actions are shown: those of the running episode, or, before one
 * starts, those of the family picked (FAMILY_ACTIONS, a preview; the server's list decides).
 */
(function () {
  "use strict";

  var SESSION_HEADER = "X-Session-Id";
  var KNOWN_FAMILIES = ["debug", "repair", "analyst", "grounded"];
  var SPLITS = ["fixed", "train", "heldout_iid", "heldout_ood", "heldout_external"];
  var PREFERRED_SPLIT = "train";
  var TASK_LIMIT = 200;
  var READ_ACTIONS = ["inspect_schema", "sample_rows", "run_query"];
  var FAMILY_ACTIONS = {
    debug: READ_ACTIONS.concat(["submit_query"]),
    repair: READ_ACTIONS.concat(["execute_sql", "finish"]),
    analyst: READ_ACTIONS.concat(["submit_answer"]),
    grounded: READ_ACTIONS.concat(["search_docs", "submit_answer"])
  };
  // button id -> the action it takes; each button is shown only when its action is allowed
  var ACTION_BUTTONS = {
    run: "run_query",
    execute: "execute_sql",
    inspect: "inspect_schema",
    sample: "sample_rows",
    finish: "finish",
    submit: "submit_query",
    search: "search_docs",
    "submit-answer": "submit_answer"
  };
  // containers shown only when their action is allowed (citations go with the documents)
  var ACTION_PANELS = {
    "sample-group": "sample_rows",
    "docs-panel": "search_docs",
    "answer-panel": "submit_answer",
    "citations-field": "search_docs"
  };
  var SQL_ACTIONS = ["run_query", "execute_sql", "submit_query"];
  var FAMILY_HINTS = {
    debug: "Investigate with Run query, Inspect schema and Sample rows, fix the broken query, then Submit it.",
    repair: "Investigate with Run query (read-only), change the data with Execute (write), then Finish: every " +
      "table is graded. Write rules, not values: your statements are replayed on other copies of the data.",
    analyst: "Query the data with Run query, then type only the answer and Submit answer.",
    grounded: "Search the documents for the definitions the question uses (current ones, not superseded or draft), " +
      "query the data, then Submit answer citing the ids of the documents you used."
  };
  var SQL_PLACEHOLDERS = {
    debug: "SQL to run or submit (Ctrl+Enter runs it)",
    repair: "SQL to run (read-only) or execute (write) (Ctrl+Enter runs it read-only)"
  };

  var sessionId = null;
  var episode = null; // {family: name, allowed: [...], done: bool} once an episode has started
  var busy = false;
  var taskListToken = 0;
  var splitCountToken = 0;

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function fmtNumber(value) {
    if (typeof value !== "number" || !isFinite(value)) return String(value);
    if (Number.isInteger(value)) return String(value);
    return String(Math.round(value * 10000) / 10000);
  }

  // -- talking to the server ------------------------------------------------------------------

  function ApiError(status, message) {
    this.status = status;
    this.message = message;
  }

  function describeDetail(data, fallback) {
    if (data && data.detail !== undefined) {
      return typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    }
    return fallback;
  }

  function api(method, path, body) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (sessionId) headers[SESSION_HEADER] = sessionId;
    var init = { method: method, headers: headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    return fetch(path, init).then(
      function (resp) {
        return resp.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          if (!resp.ok) {
            throw new ApiError(resp.status, describeDetail(data, text || resp.statusText || "request failed"));
          }
          var returned = resp.headers.get(SESSION_HEADER);
          if (returned) sessionId = returned;
          return data;
        });
      },
      function (err) {
        throw new ApiError(0, "could not reach the server (" + (err && err.message ? err.message : err) + ")");
      }
    );
  }

  function query(params) {
    var parts = [];
    Object.keys(params).forEach(function (key) {
      var v = params[key];
      if (v !== null && v !== undefined && v !== "") parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(v));
    });
    return parts.length ? "?" + parts.join("&") : "";
  }

  // -- status line and busy state --------------------------------------------------------------

  function setStatus(text, kind) {
    var node = $("status");
    node.textContent = text;
    node.setAttribute("data-kind", kind || "info");
  }

  function showError(err) {
    if (err instanceof ApiError) {
      setStatus(err.status ? "Error (HTTP " + err.status + "): " + err.message : "Error: " + err.message, "error");
    } else {
      setStatus("Error: " + (err && err.message ? err.message : String(err)), "error");
      if (window.console) console.error(err);
    }
  }

  function shownFamily() {
    return episode !== null ? episode.family : $("family").value;
  }

  function shownActions() {
    if (episode !== null) return episode.allowed;
    return FAMILY_ACTIONS[$("family").value] || [];
  }

  function noTaskToPlay() {
    var select = $("task");
    return select.value === "" && select.dataset.total === "0";
  }

  function refreshControls() {
    var live = episode !== null && !episode.done;
    var shown = shownActions();
    var family = shownFamily();
    function allowed(action) { return shown.indexOf(action) >= 0; }
    Object.keys(ACTION_BUTTONS).forEach(function (id) {
      $(id).hidden = !allowed(ACTION_BUTTONS[id]);
      $(id).disabled = busy || !live || episode.allowed.indexOf(ACTION_BUTTONS[id]) < 0;
    });
    Object.keys(ACTION_PANELS).forEach(function (id) {
      $(id).hidden = !allowed(ACTION_PANELS[id]);
    });
    $("sql-panel").hidden = !SQL_ACTIONS.some(allowed);
    $("table").disabled = $("sample").disabled || $("table").options.length === 0;
    if ($("table").options.length === 0) $("sample").disabled = true;
    $("docs-query").disabled = $("search").disabled;
    $("answer").disabled = $("submit-answer").disabled;
    $("citations").disabled = $("submit-answer").disabled || $("citations-field").hidden;
    Array.prototype.forEach.call($("docs").querySelectorAll("button.doc-hit"), function (button) {
      button.disabled = $("citations").disabled;
    });
    var broken = family === "debug";
    $("broken-panel").hidden = !broken;
    $("episode-panels").classList.toggle("single", !broken);
    $("action-hint").textContent = FAMILY_HINTS[family] || "";
    $("sql").placeholder = SQL_PLACEHOLDERS[family] || "SQL to run (Ctrl+Enter runs it)";
    $("reset").disabled = busy || noTaskToPlay();
    var state = busy ? "busy" : episode === null ? "idle" : episode.done ? "done" : "ready";
    document.body.setAttribute("data-state", state);
  }

  function setBusy(value) {
    busy = value;
    refreshControls();
  }

  // -- task pickers ----------------------------------------------------------------------------

  function loadFamilies() {
    var family = $("family");
    return Promise.all(KNOWN_FAMILIES.map(function (name) {
      return api("GET", "/tasks" + query({ family: name, limit: 1 })).then(function (page) { return page.total; });
    })).then(function (totals) {
      clear(family);
      var firstWithTasks = null;
      KNOWN_FAMILIES.forEach(function (name, i) {
        var option = el("option", null, totals[i] > 0 ? name + " (" + totals[i] + ")" : name + " (no tasks)");
        option.value = name;
        option.disabled = totals[i] === 0;
        if (totals[i] > 0 && firstWithTasks === null) firstWithTasks = name;
        family.appendChild(option);
      });
      if (firstWithTasks === null) throw new ApiError(0, "the server has no tasks in any known family");
      family.value = firstWithTasks;
    });
  }

  // Counts the family's tasks in each split; a split without any is marked and disabled, and when the
  // chosen split is one of them the picker moves to one with tasks (train when it has some).
  function loadSplitCounts() {
    var token = ++splitCountToken;
    var familyName = $("family").value;
    return Promise.all(SPLITS.map(function (split) {
      return api("GET", "/tasks" + query({ family: familyName, split: split, limit: 1 })).then(function (page) {
        return page.total;
      });
    })).then(function (totals) {
      if (token !== splitCountToken) return; // a newer request replaced this one
      var select = $("split");
      var withTasks = [];
      SPLITS.forEach(function (split, i) {
        var option = select.querySelector('option[value="' + split + '"]');
        if (option) {
          option.textContent = totals[i] > 0 ? split + " (" + totals[i] + ")" : split + " (no tasks)";
          option.disabled = totals[i] === 0;
        }
        if (totals[i] > 0) withTasks.push(split);
      });
      var current = select.value;
      if (withTasks.length && withTasks.indexOf(current) < 0) {
        select.value = withTasks.indexOf(PREFERRED_SPLIT) >= 0 ? PREFERRED_SPLIT : withTasks[0];
        return familyName + " has no task in split " + current + ": switched to " + select.value + ".";
      }
      return null;
    });
  }

  function loadTasks() {
    var token = ++taskListToken;
    var familyName = $("family").value;
    var split = $("split").value;
    var select = $("task");
    select.disabled = true;
    return api("GET", "/tasks" + query({ family: familyName, split: split, limit: TASK_LIMIT })).then(function (page) {
      if (token !== taskListToken) return; // a newer request replaced this one
      clear(select);
      var random = el("option", null, "(random task, drawn with the seed)");
      random.value = "";
      select.appendChild(random);
      page.items.forEach(function (item) {
        var option = el("option", null, item.task_id + " \u00b7 " + item.difficulty);
        option.value = item.task_id;
        option.title = item.question;
        option.dataset.question = item.question;
        select.appendChild(option);
      });
      select.disabled = false;
      select.dataset.total = String(page.total);
      describeTaskChoice();
      refreshControls();
      if (page.total === 0) {
        setStatus("No " + familyName + " task in split " + split + ": pick another split or family.", "warn");
      } else {
        setStatus(page.total + " " + familyName + " task(s) in split " + split +
                  (page.total > page.items.length ? "; the list shows the first " + page.items.length : "") + ".");
      }
    });
  }

  function describeTaskChoice() {
    var select = $("task");
    var option = select.options[select.selectedIndex];
    var info = $("task-info");
    $("seed").disabled = Boolean(option && option.value); // the seed only draws a random task
    if (option && option.value) {
      info.textContent = option.dataset.question || "";
    } else if (noTaskToPlay()) {
      info.textContent = "There is no " + $("family").value + " task in split " + $("split").value + ".";
    } else {
      info.textContent = "No task chosen: Reset draws one from " + $("family").value + " / " + $("split").value +
        " with the seed (a random seed if empty).";
    }
  }

  // Split counts first: they may move the split picker, which the task list depends on.
  function loadSplitsAndTasks() {
    return loadSplitCounts().then(function (note) {
      return loadTasks().then(function () {
        if (note) setStatus(note + " " + $("status").textContent, "info");
      });
    });
  }

  function onFamilyChange() {
    refreshControls(); // before an episode, preview the family's controls
    loadSplitsAndTasks().catch(showError);
  }

  // -- episodes --------------------------------------------------------------------------------

  function tableNames(schemaSummary) {
    var names = [];
    (schemaSummary || "").split("\n").forEach(function (line) {
      var m = /^\s*("([^"]+)"|[A-Za-z_][A-Za-z0-9_$]*)\s*\(/.exec(line);
      if (m) {
        var name = m[2] !== undefined ? m[2] : m[1];
        if (names.indexOf(name) < 0) names.push(name);
      }
    });
    return names;
  }

  function reset() {
    var body;
    var taskId = $("task").value;
    if (taskId) {
      body = { task_id: taskId };
    } else {
      var seedText = $("seed").value.trim();
      var seed;
      if (seedText === "") {
        seed = Math.floor(Math.random() * 1000000);
        $("seed").value = String(seed);
      } else {
        seed = Number(seedText); // sent as typed: the server says what is wrong with it
      }
      body = { family: $("family").value, split: $("split").value, seed: seed };
    }
    setBusy(true);
    setStatus("Starting an episode...");
    api("POST", "/reset", body)
      .catch(function (err) {
        // The server forgets idle sessions; start a fresh one instead of failing.
        if (err instanceof ApiError && err.status === 404 && sessionId && /unknown session/.test(err.message)) {
          sessionId = null;
          return api("POST", "/reset", body);
        }
        throw err;
      })
      .then(function (resp) {
        if (resp.session_id) sessionId = resp.session_id;
        startEpisode(resp);
      })
      .catch(showError)
      .then(function () { setBusy(false); });
  }

  function showSchema(schemaSummary) {
    $("schema").textContent = schemaSummary || "";
    var table = $("table");
    var chosen = table.value;
    clear(table);
    tableNames(schemaSummary).forEach(function (name) {
      var option = el("option", null, name);
      option.value = name;
      table.appendChild(option);
    });
    if (chosen && tableNames(schemaSummary).indexOf(chosen) >= 0) table.value = chosen;
  }

  function startEpisode(resp) {
    var obs = resp.observation;
    episode = { family: obs.family, allowed: obs.allowed_actions || [], done: false };
    $("episode-family").textContent = obs.family;
    $("episode-task").textContent = obs.task_id;
    var goal = $("goal");
    goal.textContent = obs.goal;
    goal.classList.remove("placeholder");
    $("table").value = "";
    showSchema(obs.schema_summary);
    $("broken-sql").textContent = obs.broken_sql || "(this family has no broken query)";
    $("sql").value = obs.broken_sql || "";
    $("docs-query").value = "";
    $("answer").value = "";
    $("citations").value = "";
    clear($("docs"));
    clear($("result"));
    $("outcome").hidden = true;
    clear($("reward"));
    clear($("components"));
    clear($("grade-components"));
    showObservation(resp, null);
    setStatus("Episode started on " + obs.task_id + " (session " + sessionId + ").", "ok");
  }

  function step(action, label) {
    if (!episode || episode.done) return;
    setBusy(true);
    setStatus("Running " + label + "...");
    api("POST", "/step", { action: action })
      .then(function (resp) {
        showObservation(resp, label);
        if (!resp.done) setStatus(resp.observation.message || label + " done.", "ok");
      })
      .catch(showError)
      .then(function () { setBusy(false); });
  }

  function showObservation(resp, label) {
    var obs = resp.observation;
    $("steps").textContent = String(obs.steps_remaining);
    $("message").textContent = obs.message || "";
    // A repair changes the database: its schema summary (row counts, new tables) follows.
    if (obs.schema_summary && obs.schema_summary !== $("schema").textContent) showSchema(obs.schema_summary);
    if (label === "search_docs") renderDocs(obs.docs || []);
    if (obs.last_result) {
      if (label === "search_docs" && !obs.last_result.error) {
        renderSearchNote(obs.last_result);
      } else {
        renderResult(obs.last_result, label);
      }
    }
    if (resp.done) finishEpisode(resp);
  }

  // -- documents and answers (grounded, analyst) -----------------------------------------------

  function parseCitations(text) {
    var ids = [];
    (text || "").split(",").forEach(function (part) {
      var id = part.trim();
      if (id && ids.indexOf(id) < 0) ids.push(id);
    });
    return ids;
  }

  // The snippet marks the matched words as [word]: those become <mark>, the rest stays text.
  function snippetNode(snippet) {
    var node = el("span", "doc-snippet");
    String(snippet || "").split(/\[([^\[\]]*)\]/).forEach(function (part, i) {
      if (part === "") return;
      node.appendChild(i % 2 === 1 ? el("mark", null, part) : document.createTextNode(part));
    });
    return node;
  }

  function renderDocs(hits) {
    var list = $("docs");
    clear(list);
    if (hits.length === 0) {
      list.appendChild(el("li", "doc-empty", "No document matches the search."));
      return;
    }
    hits.forEach(function (hit) {
      var current = hit.status === "current";
      var item = el("li");
      var button = el("button", "doc-hit");
      button.type = "button";
      button.setAttribute("data-doc-id", hit.doc_id);
      button.setAttribute("data-status", hit.status);
      button.title = "Add " + hit.doc_id + " to the citations" +
        (current ? "" : " (this document is " + hit.status + ": not the current definition)");
      var head = el("span", "doc-head");
      head.appendChild(el("code", "doc-id", hit.doc_id));
      head.appendChild(el("span", "doc-title", hit.title));
      head.appendChild(el("span", current ? "doc-status" : "doc-status stale", hit.status));
      head.appendChild(el("span", "doc-cited", "cited"));
      button.appendChild(head);
      button.appendChild(snippetNode(hit.snippet));
      button.addEventListener("click", function () { cite(hit.doc_id); });
      item.appendChild(button);
      list.appendChild(item);
    });
    markCited();
    refreshControls();
  }

  function renderSearchNote(result) {
    var box = $("result");
    clear(box);
    box.appendChild(el("div", "result-label", "Result of search_docs"));
    box.appendChild(el("div", "result-meta", result.row_count + " document" + (result.row_count === 1 ? "" : "s") +
                       " found, listed under Documents above · " + fmtNumber(result.elapsed_ms) + " ms"));
  }

  function markCited() {
    var cited = parseCitations($("citations").value);
    Array.prototype.forEach.call($("docs").querySelectorAll("button.doc-hit"), function (button) {
      var on = cited.indexOf(button.getAttribute("data-doc-id")) >= 0;
      button.classList.toggle("cited", on);
      button.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }

  function cite(docId) {
    if ($("citations").disabled) return;
    var ids = parseCitations($("citations").value);
    if (ids.indexOf(docId) < 0) ids.push(docId);
    $("citations").value = ids.join(", ");
    markCited();
    setStatus("Citing " + ids.join(", ") + ".", "ok");
  }

  // The trimmed text of the field ``id``; empty, it says ``hint``, focuses the field and returns "".
  function required(id, hint) {
    var text = $(id).value.trim();
    if (!text) {
      setStatus(hint, "warn");
      $(id).focus();
    }
    return text;
  }

  function searchDocs() {
    var text = required("docs-query", "Type some words to search the documents for.");
    if (text) step({ action_type: "search_docs", query: text }, "search_docs");
  }

  function submitAnswer() {
    var answer = required("answer", "Type the answer first.");
    if (!answer) return;
    var action = { action_type: "submit_answer", answer: answer };
    if (!$("citations-field").hidden) action.citations = parseCitations($("citations").value);
    step(action, "submit_answer");
  }

  function renderResult(result, label) {
    var box = $("result");
    clear(box);
    if (label) box.appendChild(el("div", "result-label", "Result of " + label));
    if (result.error) {
      var err = el("div", "error-box");
      err.appendChild(el("strong", "error-kind", result.error_kind || "error"));
      err.appendChild(el("span", "error-message", result.error));
      box.appendChild(err);
      return;
    }
    var meta = el("div", "result-meta");
    if (!result.columns || result.columns.length === 0) {
      meta.textContent = "The statement ran and returned no columns" +
        (result.changes ? " (" + result.changes + " rows changed)" : "") + " \u00b7 " + fmtNumber(result.elapsed_ms) + " ms";
      box.appendChild(meta);
      return;
    }
    var rows = result.rows || [];
    meta.appendChild(el("span", "shown", "showing " + rows.length + " of " + result.row_count + " row" +
                        (result.row_count === 1 ? "" : "s")));
    meta.appendChild(el("span", "elapsed", " \u00b7 " + fmtNumber(result.elapsed_ms) + " ms"));
    if (result.truncated) {
      meta.appendChild(el("span", "truncated", "truncated: the server returned only the first " + rows.length + " rows"));
    }
    box.appendChild(meta);
    var scroller = el("div", "table-scroll");
    var table = el("table", "data");
    var thead = el("thead");
    var headRow = el("tr");
    result.columns.forEach(function (name, i) {
      var numeric = rows.length > 0 && rows.every(function (row) { return row[i] === null || typeof row[i] === "number"; }) &&
        rows.some(function (row) { return typeof row[i] === "number"; });
      headRow.appendChild(el("th", numeric ? "num" : null, name));
    });
    thead.appendChild(headRow);
    table.appendChild(thead);
    var tbody = el("tbody");
    rows.forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (cell) {
        if (cell === null || cell === undefined) {
          tr.appendChild(el("td", "null", "NULL"));
        } else if (typeof cell === "number") {
          tr.appendChild(el("td", "num", fmtNumber(cell)));
        } else {
          tr.appendChild(el("td", null, typeof cell === "object" ? JSON.stringify(cell) : cell));
        }
      });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    scroller.appendChild(table);
    box.appendChild(scroller);
  }

  function keyValueTable(obj, id) {
    var table = el("table", "kv");
    if (id) table.id = id;
    var tbody = el("tbody");
    Object.keys(obj || {}).forEach(function (key) {
      var tr = el("tr");
      tr.appendChild(el("th", null, key));
      var value = obj[key];
      var td = el("td", "num", typeof value === "number" ? fmtNumber(value) : String(value));
      if (typeof value === "number" && value < 0) td.classList.add("neg");
      tr.appendChild(td);
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    return table;
  }

  function finishEpisode(resp) {
    episode.done = true;
    var meta = resp.metadata || {};
    var grade = meta.grade || null;
    var reward = typeof resp.reward === "number" ? resp.reward : 0;
    var box = $("reward");
    clear(box);
    box.setAttribute("data-reward", String(reward));
    box.setAttribute("data-success", grade && grade.success ? "true" : "false");

    var head = el("div", "reward-head");
    var value = el("div", "reward-value");
    value.appendChild(el("span", "reward-label", "reward"));
    value.appendChild(el("span", "reward-number", reward.toFixed(3)));
    head.appendChild(value);
    var verdict;
    if (grade) {
      verdict = el("span", grade.success ? "verdict success" : "verdict failure", grade.success ? "success" : "not solved");
    } else {
      verdict = el("span", "verdict failure", "episode over without a submission");
    }
    head.appendChild(verdict);
    box.appendChild(head);

    var facts = el("dl", "facts");
    function fact(name, text) {
      facts.appendChild(el("dt", null, name));
      facts.appendChild(el("dd", null, text));
    }
    if (grade) {
      fact("reason", grade.reason);
      fact("score", fmtNumber(grade.score));
      if (grade.error_kind) fact("error kind", grade.error_kind);
    } else {
      fact("reason", resp.observation.message || "the episode ended");
    }
    if (typeof meta.episode_return === "number") fact("episode return", fmtNumber(meta.episode_return));
    box.appendChild(facts);

    var components = $("components");
    clear(components);
    components.appendChild(keyValueTable(meta.reward_components, "reward-components-table"));
    var gradeComponents = $("grade-components");
    clear(gradeComponents);
    if (grade && grade.components && Object.keys(grade.components).length) {
      gradeComponents.appendChild(keyValueTable(grade.components, "grade-components-table"));
    } else {
      gradeComponents.appendChild(el("p", "hint", "none"));
    }
    $("outcome").hidden = false;
    setStatus("Episode over: reward " + reward.toFixed(3) + ". Press Reset to play again.", grade && grade.success ? "ok" : "warn");
    $("outcome").scrollIntoView({ block: "nearest" });
  }

  // -- wiring ----------------------------------------------------------------------------------

  function init() {
    $("family").addEventListener("change", onFamilyChange);
    $("split").addEventListener("change", function () { loadTasks().catch(showError); });
    $("task").addEventListener("change", describeTaskChoice);
    $("reset").addEventListener("click", reset);
    $("run").addEventListener("click", function () {
      step({ action_type: "run_query", sql: $("sql").value }, "run_query");
    });
    $("inspect").addEventListener("click", function () {
      step({ action_type: "inspect_schema" }, "inspect_schema");
    });
    $("sample").addEventListener("click", function () {
      step({ action_type: "sample_rows", table: $("table").value }, "sample_rows " + $("table").value);
    });
    $("submit").addEventListener("click", function () {
      step({ action_type: "submit_query", sql: $("sql").value }, "submit_query");
    });
    $("execute").addEventListener("click", function () {
      step({ action_type: "execute_sql", sql: $("sql").value }, "execute_sql");
    });
    $("finish").addEventListener("click", function () {
      step({ action_type: "finish" }, "finish");
    });
    $("search").addEventListener("click", searchDocs);
    $("docs-query").addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !$("search").disabled) {
        event.preventDefault();
        searchDocs();
      }
    });
    $("submit-answer").addEventListener("click", submitAnswer);
    $("citations").addEventListener("input", markCited);
    $("sql").addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !$("run").disabled) {
        event.preventDefault();
        $("run").click();
      }
    });
    window.addEventListener("pagehide", function () {
      if (!sessionId) return;
      try {
        var headers = {};
        headers[SESSION_HEADER] = sessionId;
        fetch("/session", { method: "DELETE", headers: headers, keepalive: true });
      } catch (e) { /* best effort */ }
    });

    refreshControls();
    document.body.setAttribute("data-state", "loading");
    loadFamilies()
      .then(loadSplitsAndTasks)
      .then(function () { refreshControls(); })
      .catch(function (err) { refreshControls(); showError(err); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
