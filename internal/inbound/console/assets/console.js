// relay ops console. Plain JavaScript, no dependencies: every datum comes
// from /admin/v1 with the admin token, which lives in this tab's
// sessionStorage only (never in the URL, never in a cookie). Everything
// shown is set with textContent, never parsed as HTML: message ids and
// vendor errors are data from outside.
(function () {
  "use strict";

  var TOKEN_KEY = "relay.adminToken";
  var STATES = ["pending", "retrying", "paused", "confirmed", "already_confirmed", "failed"];
  var $ = function (id) { return document.getElementById(id); };

  var state = {
    cursor: "",        // next page of the events listing
    detailID: "",      // event shown in the detail panel
    replay: null,      // {spec, key} of the open replay dialog
    timers: []
  };

  // ---- HTTP ----------------------------------------------------------------

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

  // api calls /admin/v1 and resolves to the JSON answer; a problem+json
  // answer rejects with its detail. A 401 signs out.
  function api(method, path, body, headers) {
    var h = { "Authorization": "Bearer " + token(), "Accept": "application/json" };
    var init = { method: method, headers: h, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
    if (body !== undefined) {
      h["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    return fetch("/admin/v1" + path, init).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (resp.status === 401) {
          signOut("The admin token was refused.");
        }
        if (!resp.ok) {
          var msg = (data && (data.detail || data.title)) || ("HTTP " + resp.status);
          if (data && data.errors && data.errors.length) {
            msg = data.errors.map(function (e) { return e.field + ": " + e.detail; }).join("; ");
          }
          var err = new Error(msg);
          err.status = resp.status;
          throw err;
        }
        return data;
      });
    });
  }

  // randomKey makes an Idempotency-Key; crypto.getRandomValues works on
  // plain-http origins too, unlike crypto.randomUUID.
  function randomKey() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return "console-" + Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }

  // ---- DOM helpers ---------------------------------------------------------

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function stateBadge(s) { return el("span", s, "state s-" + s); }

  function when(iso) {
    if (!iso) { return "—"; }
    return iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
  }

  function dash(v) { return v === null || v === undefined || v === "" ? "—" : v; }

  // ---- sign in / out ---------------------------------------------------------

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.timers.forEach(clearInterval);
    state.timers = [];
    $("app").hidden = true;
    $("logout").hidden = true;
    $("modal").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("login-token").value = "";
    $("login-token").focus();
  }

  function signIn(t) {
    sessionStorage.setItem(TOKEN_KEY, t);
    // The stats call doubles as the token check.
    return api("GET", "/stats").then(function (st) {
      $("login").hidden = true;
      $("app").hidden = false;
      $("logout").hidden = false;
      renderStats(st);
      loadTrends();
      loadEvents(true);
      loadReplays();
      state.timers.push(setInterval(refresh, 5000));
      state.timers.push(setInterval(refreshDetail, 1000));
    });
  }

  function refresh() {
    if ($("app").hidden) { return; }
    api("GET", "/stats").then(renderStats).catch(function () {});
    loadTrends();
    loadReplays();
  }

  // ---- stats and vendors ---------------------------------------------------

  function renderStats(st) {
    var box = $("stats");
    clear(box);
    STATES.forEach(function (s) {
      var b = el("button", null, "stat s-" + s);
      b.type = "button";
      b.id = "stat-" + s;
      b.appendChild(el("span", st.by_state[s] || 0, "count"));
      b.appendChild(el("span", s, "name"));
      b.title = "Show " + s + " events";
      b.addEventListener("click", function () {
        $("f-state").value = s;
        loadEvents(true);
      });
      box.appendChild(b);
    });
    var c = st.consumer;
    $("consumer").textContent = "total " + st.total + " events" +
      (c ? " · JetStream: " + c.pending + " waiting for a worker, " + c.ack_pending + " in flight or waiting to retry" : "");
    $("updated").textContent = "updated " + when(st.at);

    renderEnabledVendors(st);

    var tbody = $("vendors").querySelector("tbody");
    clear(tbody);
    (st.vendors || []).forEach(function (v) {
      var tr = el("tr");
      tr.dataset.vendor = v.vendor;
      tr.appendChild(el("td", v.vendor));
      var status = el("td");
      // Why: "credentials" (the vendor refused them) or "unavailable"
      // (the breaker tripped); a running vendor shows the fleet's count of
      // consecutive transient failures while it is not zero.
      var label = v.paused ? "paused" + (v.kind ? ": " + v.kind : "") : "running";
      status.appendChild(el("span", label, "state " + (v.paused ? "s-paused" : "s-confirmed")));
      status.dataset.kind = v.paused ? (v.kind || "") : "";
      tr.appendChild(status);
      var failures = v.consecutive_failures || 0;
      tr.appendChild(el("td", v.paused ? dash(v.reason) : (failures > 0 ? failures + " consecutive transient failures" : "—")));
      tr.appendChild(el("td", v.paused ? when(v.paused_at) : "—"));
      var act = el("td");
      if (v.paused) {
        var b = el("button", "Resume", "small");
        b.type = "button";
        b.className = "small resume";
        b.addEventListener("click", function () { resume(v.vendor, b); });
        act.appendChild(b);
      }
      tr.appendChild(act);
      tbody.appendChild(tr);
    });
    var anyVendor = (st.vendors || []).length > 0;
    $("vendors").hidden = !anyVendor;
    $("vendors-empty").hidden = anyVendor;
  }

  // renderEnabledVendors shows each enabled confirm vendor: its state and
  // its calls of the last minutes across the fleet. Each row carries its
  // figures in data- attributes, as the trends' buckets do.
  function renderEnabledVendors(st) {
    var list = st.enabled_vendors || [];
    var minutes = Math.round((st.vendor_window_seconds || 300) / 60);
    $("vendor-window").textContent = "calls of the last " + minutes + " minutes, every replica";
    var tbody = $("enabled-vendors").querySelector("tbody");
    clear(tbody);
    list.forEach(function (v) {
      var tr = el("tr");
      tr.dataset.vendor = v.vendor;
      tr.dataset.state = v.state;
      tr.dataset.calls = String(v.calls);
      var label = v.state === "not_configured" ? "not configured" : v.state;
      if (v.pause_kind) { label += ": " + v.pause_kind; }
      tr.appendChild(el("td", v.vendor));
      var state = el("td", null, "v-state");
      state.appendChild(el("span", label, "state s-" + v.state));
      tr.appendChild(state);
      tr.appendChild(el("td", v.calls_per_minute, "v-rate"));
      tr.appendChild(el("td", dash(v.latency_ms_p50), "v-p50"));
      tr.appendChild(el("td", dash(v.latency_ms_p95), "v-p95"));
      var reason = v.state === "not_configured" ? "credentials not set" : dash(v.reason);
      tr.appendChild(el("td", reason, "v-reason"));
      tbody.appendChild(tr);
    });
    $("enabled-vendors").hidden = list.length === 0;
    $("enabled-vendors-empty").hidden = list.length > 0;
  }

  function resume(vendor, button) {
    if (!window.confirm("Resume " + vendor + "? Do it once its credentials are fixed: its paused events are sent again now.")) {
      return;
    }
    button.disabled = true;
    api("POST", "/vendors/" + encodeURIComponent(vendor) + "/resume").then(function (r) {
      button.textContent = r.resumed ? "resumed, " + r.requeued + " requeued" : "was not paused";
      refresh();
    }).catch(function (e) {
      button.disabled = false;
      alert("Resume failed: " + e.message);
    });
  }

  // ---- vendor-call trends ----------------------------------------------------
  // Two SVG charts drawn with DOM calls: geometry in attributes, colours in
  // console.css by class (the CSP allows no inline style). Each minute is a
  // <g class="bucket"> carrying its counts in data- attributes and a <title>
  // the browser shows on hover.

  var SVGNS = "http://www.w3.org/2000/svg";
  var TREND_MINUTES = 60;
  // The charts' viewBox (index.html) and the plot area inside it.
  var CH = { w: 560, h: 190, left: 46, right: 8, top: 10, bottom: 24 };

  function svgEl(tag, attrs, cls) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    if (cls) { e.setAttribute("class", cls); }
    return e;
  }

  function svgText(x, y, text, anchor, cls) {
    var t = svgEl("text", { x: x, y: y, "text-anchor": anchor || "start" }, cls);
    t.textContent = text;
    return t;
  }

  function svgTitle(text) {
    var t = svgEl("title");
    t.textContent = text;
    return t;
  }

  // niceMax rounds an axis maximum up to 1, 2, 2.5 or 5 times a power of ten.
  function niceMax(v) {
    if (!(v > 0)) { return 1; }
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * p >= v) { return steps[i] * p; }
    }
    return 10 * p;
  }

  function hhmm(iso) { return iso.slice(11, 16); }

  function ms(v) { return v >= 100 ? v.toFixed(0) : v.toFixed(1); }

  // frame draws the axes, three horizontal grid lines labelled 0, max/2 and
  // max, and an hh:mm label every 15 minutes (UTC, like every time shown).
  function frame(svg, points, max, unit) {
    var plotH = CH.h - CH.top - CH.bottom;
    [0, 0.5, 1].forEach(function (f) {
      var y = CH.top + plotH * (1 - f);
      svg.appendChild(svgEl("line", { x1: CH.left, x2: CH.w - CH.right, y1: y, y2: y }, f === 0 ? "axis" : "gridline"));
      var v = max * f;
      svg.appendChild(svgText(CH.left - 6, y + 4, (v % 1 ? v.toFixed(1) : v) + unit, "end"));
    });
    var n = points.length;
    var step = (CH.w - CH.left - CH.right) / n;
    points.forEach(function (p, i) {
      if ((n - 1 - i) % 15 === 0) {
        // The last label ends at the plot's edge rather than past it.
        var last = i === n - 1;
        svg.appendChild(svgText(last ? CH.w - CH.right : CH.left + step * (i + 0.5), CH.h - 6, hhmm(p.at), last ? "end" : "middle"));
      }
    });
    return step;
  }

  function emptyNote(svg, text) {
    svg.appendChild(svgText(CH.left + (CH.w - CH.left - CH.right) / 2, CH.top + (CH.h - CH.top - CH.bottom) / 2, text, "middle", "empty"));
  }

  function drawOutcomes(svg, points) {
    clear(svg);
    var max = niceMax(Math.max.apply(null, points.map(function (p) { return p.calls; })));
    var step = frame(svg, points, max, "");
    var plotH = CH.h - CH.top - CH.bottom;
    var barW = Math.max(1, step * 0.78);
    points.forEach(function (p, i) {
      var g = svgEl("g", { "data-at": p.at, "data-calls": p.calls, "data-confirmed": p.confirmed,
        "data-already-confirmed": p.already_confirmed, "data-failures": p.failures }, "bucket");
      g.appendChild(svgTitle(hhmm(p.at) + " UTC · " + p.calls + " calls: " + p.confirmed + " confirmed, " +
        p.already_confirmed + " already confirmed, " + p.failures + " failures"));
      var x = CH.left + step * i;
      g.appendChild(svgEl("rect", { x: x, y: CH.top, width: step, height: plotH }, "hit"));
      var y = CH.top + plotH;
      [["confirmed", "bar-confirmed"], ["already_confirmed", "bar-already"], ["failures", "bar-failures"]].forEach(function (k) {
        var v = p[k[0]];
        if (!v) { return; }
        var h = plotH * v / max;
        y -= h;
        g.appendChild(svgEl("rect", { x: x + (step - barW) / 2, y: y, width: barW, height: h }, k[1]));
      });
      svg.appendChild(g);
    });
    if (!points.some(function (p) { return p.calls > 0; })) {
      emptyNote(svg, "no vendor call in these " + points.length + " minutes");
    }
  }

  function drawLatency(svg, points) {
    clear(svg);
    var max = niceMax(Math.max.apply(null, points.map(function (p) { return p.latency_ms_p95 || 0; })));
    var step = frame(svg, points, max, "");
    var plotH = CH.h - CH.top - CH.bottom;
    ["p50", "p95"].forEach(function (q) {
      var key = "latency_ms_" + q;
      var run = [];
      // A minute without a call breaks the line rather than reading as 0 ms.
      var flush = function () {
        if (run.length > 1) { svg.appendChild(svgEl("polyline", { points: run.join(" ") }, "line-" + q)); }
        run = [];
      };
      points.forEach(function (p, i) {
        var v = p[key];
        if (v === null || v === undefined) { flush(); return; }
        var x = CH.left + step * (i + 0.5);
        var y = CH.top + plotH * (1 - v / max);
        run.push(x.toFixed(1) + "," + y.toFixed(1));
        var dot = svgEl("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 2.5, "data-at": p.at, "data-ms": v }, "dot-" + q);
        dot.appendChild(svgTitle(hhmm(p.at) + " UTC · " + q + " " + ms(v) + " ms (" + p.calls + " calls)"));
        svg.appendChild(dot);
      });
      flush();
    });
    if (!points.some(function (p) { return p.latency_ms_p95 !== null; })) {
      emptyNote(svg, "no latency to show");
    }
  }

  function renderTrends(tr) {
    var pts = tr.points;
    var sum = function (k) { return pts.reduce(function (a, p) { return a + p[k]; }, 0); };
    $("trend-calls").textContent = sum("calls");
    $("trend-confirmed").textContent = sum("confirmed");
    $("trend-already").textContent = sum("already_confirmed");
    $("trend-failures").textContent = sum("failures");
    var last = null;
    pts.forEach(function (p) { if (p.calls > 0) { last = p; } });
    $("trend-latency").textContent = last ? ms(last.latency_ms_p50) + " / " + ms(last.latency_ms_p95) : "—";
    $("trend-latency-label").textContent = "ms p50 / p95" + (last ? ", minute of " + hhmm(last.at) : "");
    $("trend-range").textContent = hhmm(tr.from) + "–" + hhmm(tr.to) + " UTC, one bar per minute";
    drawOutcomes($("trend-outcomes"), pts);
    drawLatency($("trend-latency-chart"), pts);
    $("trend-error").textContent = "";
  }

  function loadTrends() {
    return api("GET", "/trends?minutes=" + TREND_MINUTES).then(renderTrends).catch(function (e) {
      $("trend-error").textContent = "trends: " + e.message;
    });
  }

  // ---- events listing ------------------------------------------------------

  function filterValues() {
    var f = {};
    var pairs = [["state", "f-state"], ["vendor", "f-vendor"], ["message_id", "f-message"], ["since", "f-since"], ["until", "f-until"]];
    pairs.forEach(function (p) {
      var v = $(p[1]).value.trim();
      if (v) { f[p[0]] = v; }
    });
    return f;
  }

  function loadEvents(reset) {
    var f = filterValues();
    var q = new URLSearchParams(f);
    q.set("limit", "50");
    if (!reset && state.cursor) { q.set("cursor", state.cursor); }
    $("events-error").textContent = "";
    return api("GET", "/registrations?" + q.toString()).then(function (page) {
      var tbody = $("events").querySelector("tbody");
      if (reset) { clear(tbody); }
      page.items.forEach(function (e) { tbody.appendChild(eventRow(e)); });
      state.cursor = page.next_cursor || "";
      $("more").hidden = !state.cursor;
      $("events-empty").hidden = tbody.children.length > 0;
    }).catch(function (e) {
      $("events-error").textContent = e.message;
    });
  }

  function eventRow(e) {
    var tr = el("tr");
    tr.dataset.id = e.id;
    tr.dataset.messageId = e.message_id;
    if (e.id === state.detailID) { tr.classList.add("selected"); }
    tr.appendChild(el("td", when(e.created_at)));
    tr.appendChild(el("td", e.vendor));
    tr.appendChild(el("td", e.message_id));
    var st = el("td");
    st.appendChild(stateBadge(e.state));
    tr.appendChild(st);
    tr.appendChild(el("td", e.attempts));
    tr.appendChild(el("td", dash(e.vendor_code)));
    tr.appendChild(el("td", dash(e.last_error), "err"));
    tr.addEventListener("click", function () { openDetail(e.id); });
    return tr;
  }

  // ---- event detail --------------------------------------------------------

  function openDetail(id) {
    state.detailID = id;
    Array.prototype.forEach.call($("events").querySelectorAll("tbody tr"), function (tr) {
      tr.classList.toggle("selected", tr.dataset.id === id);
    });
    return refreshDetail().then(function () {
      $("detail").hidden = false;
      $("detail").scrollIntoView({ block: "nearest" });
    });
  }

  function refreshDetail() {
    var id = state.detailID;
    if (!id || $("app").hidden) { return Promise.resolve(); }
    return api("GET", "/attempts/" + encodeURIComponent(id)).then(function (d) {
      if (id !== state.detailID) { return; }
      var e = d.event;
      $("detail-id").textContent = e.id;
      var s = $("detail-state");
      s.textContent = e.state;
      s.className = "state s-" + e.state;
      $("detail-msg").textContent = e.vendor + " · " + e.message_id;
      $("detail-attempts").textContent = e.attempts;
      $("detail-error").textContent = dash(e.last_error);
      $("detail-times").textContent = when(e.created_at) + " · " + when(e.updated_at);
      var tbody = $("history").querySelector("tbody");
      clear(tbody);
      d.attempts.forEach(function (a) {
        var tr = el("tr");
        tr.appendChild(el("td", a.attempt));
        tr.appendChild(el("td", when(a.time)));
        tr.appendChild(el("td", a.duration_ms.toFixed(1)));
        tr.appendChild(el("td", dash(a.http_status)));
        tr.appendChild(el("td", dash(a.vendor_code)));
        tr.appendChild(el("td", dash(a.vendor_meaning)));
        tr.appendChild(el("td", a.outcome));
        tr.appendChild(el("td", dash(a.error), "err"));
        tbody.appendChild(tr);
      });
      $("history-empty").hidden = d.attempts.length > 0;
    }).catch(function (e) {
      $("detail-error").textContent = "could not load: " + e.message;
    });
  }

  // ---- replay dialog -------------------------------------------------------

  function describe(spec) {
    if (spec.ids) { return "Replay event " + spec.ids[0] + "."; }
    var f = spec.filter;
    return "Replay every event matching " + Object.keys(f).map(function (k) { return k + "=" + f[k]; }).join(", ") + ".";
  }

  function openReplay(spec) {
    state.replay = { spec: spec, key: "" };
    $("replay-what").textContent = describe(spec);
    $("replay-force").checked = false;
    $("replay-force").disabled = false;
    $("replay-result").textContent = "";
    $("replay-error").textContent = "";
    $("replay-cancel").textContent = "Cancel";
    $("modal").hidden = false;
    preview();
  }

  function request(dryRun) {
    var r = JSON.parse(JSON.stringify(state.replay.spec));
    r.dry_run = dryRun;
    r.force = $("replay-force").checked;
    return r;
  }

  // preview asks for a dry run: nothing changes, the answer says what would.
  function preview() {
    var box = $("replay-preview");
    var confirmBtn = $("replay-confirm");
    confirmBtn.disabled = true;
    box.textContent = "Checking (dry run)…";
    return api("POST", "/replays", request(true), { "X-Relay-Actor": "console" }).then(function (r) {
      clear(box);
      box.appendChild(el("div", r.matched + " matched · " + r.would_replay + " would be replayed · " + r.skipped_total + " skipped"));
      var reasons = {};
      r.skipped.forEach(function (s) { reasons[s.reason] = (reasons[s.reason] || 0) + 1; });
      var keys = Object.keys(reasons);
      if (keys.length) {
        var ul = el("ul");
        keys.forEach(function (k) { ul.appendChild(el("li", reasons[k] + " × " + k)); });
        box.appendChild(ul);
      }
      confirmBtn.disabled = r.would_replay === 0;
      confirmBtn.textContent = "Replay " + r.would_replay + (r.would_replay === 1 ? " event" : " events");
    }).catch(function (e) {
      box.textContent = "";
      $("replay-error").textContent = e.message;
    });
  }

  function confirmReplay() {
    var btn = $("replay-confirm");
    btn.disabled = true;
    $("replay-force").disabled = true;
    // One key per confirmed dialog: a double click or a retry after a
    // network error cannot replay twice.
    if (!state.replay.key) { state.replay.key = randomKey(); }
    $("replay-error").textContent = "";
    api("POST", "/replays", request(false), { "Idempotency-Key": state.replay.key, "X-Relay-Actor": "console" }).then(function (r) {
      $("replay-result").textContent = "Replayed " + r.replayed + " of " + r.matched + " matched (replay " + r.replay_id + ").";
      $("replay-cancel").textContent = "Close";
      loadEvents(true);
      refresh();
      refreshDetail();
    }).catch(function (e) {
      $("replay-error").textContent = e.message + " — press Replay again to retry safely.";
      btn.disabled = false;
    });
  }

  function loadReplays() {
    return api("GET", "/replays?limit=10").then(function (d) {
      var tbody = $("replays").querySelector("tbody");
      clear(tbody);
      d.items.forEach(function (r) {
        var tr = el("tr");
        tr.appendChild(el("td", when(r.created_at)));
        tr.appendChild(el("td", r.actor));
        var what = r.ids ? r.ids + (r.ids === 1 ? " id" : " ids") :
          Object.keys(r.filter || {}).map(function (k) { return k + "=" + r.filter[k]; }).join(" ");
        tr.appendChild(el("td", (r.force ? "force · " : "") + what));
        tr.appendChild(el("td", r.dry_run ? "yes" : "no"));
        tr.appendChild(el("td", r.matched));
        tr.appendChild(el("td", r.replayed));
        tr.appendChild(el("td", r.status + (r.error ? ": " + r.error : "")));
        tbody.appendChild(tr);
      });
    }).catch(function () {});
  }

  // ---- wiring --------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", function () {
    $("login-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var t = $("login-token").value.trim();
      if (!t) { return; }
      $("login-submit").disabled = true;
      signIn(t).catch(function (e) {
        if (e.status !== 401) { signOut("Sign in failed: " + e.message); }
      }).then(function () { $("login-submit").disabled = false; });
    });
    $("logout").addEventListener("click", function () { signOut(""); });
    $("filter").addEventListener("submit", function (ev) { ev.preventDefault(); loadEvents(true); });
    $("more").addEventListener("click", function () { loadEvents(false); });
    $("f-replay").addEventListener("click", function () {
      var f = filterValues();
      if (!Object.keys(f).length) {
        $("events-error").textContent = "Set at least one filter before replaying by filter.";
        return;
      }
      openReplay({ filter: f });
    });
    $("detail-close").addEventListener("click", function () {
      state.detailID = "";
      $("detail").hidden = true;
    });
    $("detail-replay").addEventListener("click", function () {
      if (state.detailID) { openReplay({ ids: [state.detailID] }); }
    });
    $("replay-force").addEventListener("change", preview);
    $("replay-confirm").addEventListener("click", confirmReplay);
    $("replay-cancel").addEventListener("click", function () { $("modal").hidden = true; state.replay = null; });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && !$("modal").hidden) { $("replay-cancel").click(); }
    });

    if (token()) {
      signIn(token()).catch(function (e) {
        if (e.status !== 401) { signOut("Sign in failed: " + e.message); }
      });
    } else {
      signOut("");
    }
  });
})();
