/* DataOps-Gym playground: plays one episode at a time against this server's HTTP API.
 *
 * Plain browser JavaScript, no dependencies. It talks only to the server that served it:
 *   GET  /tasks   task lists for the pickers
 *   POST /reset   start an episode (creates a session on first use)
 *   POST /step    run_query, inspect_schema, sample_rows, submit_query
 *   DELETE /session  when the page is closed, to free the session slot
 * The session id from /reset is sent back as the X-Session-Id header on every call.
 * Every value from the server reaches the page through textContent (never innerHTML).
 */
(function () {
  "use strict";

  var SESSION_HEADER = "X-Session-Id";
  var KNOWN_FAMILIES = ["debug", "repair", "analyst", "grounded"];
  var SPLITS = ["fixed", "train", "heldout_iid", "heldout_ood"];
  var TASK_LIMIT = 200;
  var ACTION_BUTTONS = { run: "run_query", inspect: "inspect_schema", sample: "sample_rows", submit: "submit_query" };

  var sessionId = null;
  var episode = null; // {allowed: [...], done: bool} once an episode has started
  var busy = false;
  var taskListToken = 0;

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

  function refreshControls() {
    var live = episode !== null && !episode.done;
    Object.keys(ACTION_BUTTONS).forEach(function (id) {
      $(id).disabled = busy || !live || episode.allowed.indexOf(ACTION_BUTTONS[id]) < 0;
    });
    $("table").disabled = $("sample").disabled || $("table").options.length === 0;
    if ($("table").options.length === 0) $("sample").disabled = true;
    $("reset").disabled = busy;
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

  function loadSplitCounts() {
    var familyName = $("family").value;
    return Promise.all(SPLITS.map(function (split) {
      return api("GET", "/tasks" + query({ family: familyName, split: split, limit: 1 })).then(function (page) {
        return page.total;
      });
    })).then(function (totals) {
      var select = $("split");
      SPLITS.forEach(function (split, i) {
        var option = select.querySelector('option[value="' + split + '"]');
        if (option) option.textContent = split + " (" + totals[i] + ")";
      });
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
      setStatus(page.total + " " + familyName + " task(s) in split " + split +
                (page.total > page.items.length ? "; the list shows the first " + page.items.length : "") + ".");
    });
  }

  function describeTaskChoice() {
    var select = $("task");
    var option = select.options[select.selectedIndex];
    var info = $("task-info");
    $("seed").disabled = Boolean(option && option.value); // the seed only draws a random task
    if (option && option.value) {
      info.textContent = option.dataset.question || "";
    } else {
      info.textContent = "No task chosen: Reset draws one from " + $("family").value + " / " + $("split").value +
        " with the seed (a random seed if empty).";
    }
  }

  function onFamilyChange() {
    Promise.all([loadSplitCounts(), loadTasks()]).catch(showError);
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

  function startEpisode(resp) {
    var obs = resp.observation;
    episode = { allowed: obs.allowed_actions || [], done: false };
    $("episode-task").textContent = obs.task_id;
    var goal = $("goal");
    goal.textContent = obs.goal;
    goal.classList.remove("placeholder");
    $("schema").textContent = obs.schema_summary;
    $("broken-sql").textContent = obs.broken_sql || "(this family has no broken query)";
    $("sql").value = obs.broken_sql || "";
    var table = $("table");
    clear(table);
    tableNames(obs.schema_summary).forEach(function (name) {
      var option = el("option", null, name);
      option.value = name;
      table.appendChild(option);
    });
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
    if (obs.last_result) renderResult(obs.last_result, label);
    if (resp.done) finishEpisode(resp);
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
      .then(function () { return Promise.all([loadSplitCounts(), loadTasks()]); })
      .then(function () { refreshControls(); })
      .catch(function (err) { refreshControls(); showError(err); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
