// Weft UI: what a run's page keeps across its live refreshes. Large
// inputs and outputs are left out of the refreshed part (it carries only
// what changes): the page keeps the text it has while its hash is the
// same, and fetches it when a block is opened. And step logs: Each step's log box is filled from
// GET /api/v1/runs/{id}/logs when its step is opened, and followed live
// (server-sent events) while the step can still write. The lines live
// outside the refreshed fragment: after each refresh the boxes get their
// lines back, so the refresh never carries logs.
(function () {
  "use strict";

  var MAX_SHOWN = 5000; // lines kept on the page; the download has them all
  var logs = {};        // step path -> {pre, cursor, source, done, count}

  function api(run, step, extra) {
    return "/api/v1/runs/" + encodeURIComponent(run) + "/logs?step=" + encodeURIComponent(step) + extra;
  }

  function addLine(st, l) {
    var span = document.createElement("span");
    span.className = "log-line lv-" + l.level;
    span.setAttribute("data-level", l.level);
    var ts = (l.ts || "").replace("T", " ").replace(/(\.\d{3})\d*/, "$1").replace("Z", "");
    var meta = document.createElement("span");
    meta.className = "log-meta";
    meta.textContent = ts.slice(11) + " " + (l.attempt > 1 ? "#" + l.attempt + " " : "");
    var lv = document.createElement("span");
    lv.className = "log-level";
    lv.textContent = l.level;
    span.appendChild(meta);
    span.appendChild(lv);
    span.appendChild(document.createTextNode(" " + l.message + "\n"));
    st.pre.appendChild(span);
    st.count++;
    if (st.count > MAX_SHOWN && st.pre.firstChild) {
      st.pre.removeChild(st.pre.firstChild);
      st.count--;
      st.clipped = true;
    }
  }

  function settle(st) {
    if (st.count === 0) {
      st.pre.innerHTML = "";
      var e = document.createElement("span");
      e.className = "muted log-empty";
      e.textContent = st.done ? "Nothing was logged." : "Nothing logged yet.";
      st.pre.appendChild(e);
    }
  }

  function clearEmpty(st) {
    var e = st.pre.querySelector(".log-empty");
    if (e) st.pre.removeChild(e);
  }

  function scrollEnd(st, stick) { if (stick) st.pre.scrollTop = st.pre.scrollHeight; }
  function atEnd(st) { return st.pre.scrollTop + st.pre.clientHeight >= st.pre.scrollHeight - 8; }

  function follow(st) {
    if (st.source || st.done || !window.EventSource) return;
    var src = new EventSource(api(st.run, st.step, "&follow=true" + (st.cursor ? "&after=" + st.cursor : "")));
    st.source = src;
    src.onmessage = function (ev) {
      var stick = atEnd(st);
      clearEmpty(st);
      addLine(st, JSON.parse(ev.data));
      if (ev.lastEventId) st.cursor = ev.lastEventId;
      scrollEnd(st, stick);
    };
    src.addEventListener("end", function () {
      src.close();
      st.source = null;
      st.done = true;
      settle(st);
    });
    src.onerror = function () {
      // The browser reconnects by itself with Last-Event-ID; stop when
      // the page's refresh says the step has ended.
      if (st.done) { src.close(); st.source = null; }
    };
  }

  function page(st) {
    fetch(api(st.run, st.step, "&limit=5000" + (st.cursor ? "&after=" + st.cursor : "")),
      { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("status " + r.status); return r.json(); })
      .then(function (p) {
        clearEmpty(st);
        p.lines.forEach(function (l) { addLine(st, l); });
        st.cursor = p.next_cursor || st.cursor;
        if (p.lines.length === 5000) { page(st); return; }
        st.done = true;
        settle(st);
      })
      .catch(function () {
        st.pre.textContent = "The log could not be loaded; use the download link.";
      });
  }

  function load(box) {
    var step = box.getAttribute("data-log-step");
    var st = logs[step];
    var live = box.getAttribute("data-log-live") === "true";
    var old = box.querySelector("pre.log");
    if (!st) {
      st = { run: box.getAttribute("data-log-run"), step: step, pre: old, cursor: "", source: null, done: false, count: 0 };
      logs[step] = st;
      st.pre.innerHTML = "";
      settle(st);
      if (live) follow(st); else page(st);
      return;
    }
    if (old !== st.pre) box.replaceChild(st.pre, old); // after a refresh: keep the lines
    if (!live && st.source) {
      // The refresh says the step ended; the stream's end event follows.
      return;
    }
  }

  var texts = {}; // pre id -> {hash, text}

  function remember(root) {
    root.querySelectorAll("pre.code[data-json-hash]").forEach(function (pre) {
      var det = pre.closest("details[data-json-src]");
      if (!det || pre.textContent) texts[pre.id] = { hash: pre.getAttribute("data-json-hash"), text: pre.textContent };
    });
  }

  function fillJSON(root) {
    root.querySelectorAll("details[data-json-src]").forEach(function (det) {
      var pre = det.querySelector("pre.code");
      var hash = det.getAttribute("data-json-hash");
      var have = texts[pre.id];
      if (have && have.hash === hash) { pre.textContent = have.text; return; }
      function fetchIt() {
        if (pre.textContent || !det.open) return;
        fetch(det.getAttribute("data-json-src"), { credentials: "same-origin" })
          .then(function (r) { if (!r.ok) throw new Error("status " + r.status); return r.text(); })
          .then(function (t) { pre.textContent = t; texts[pre.id] = { hash: hash, text: t }; })
          .catch(function () { pre.textContent = "Could not load; reload the page."; });
      }
      det.addEventListener("toggle", fetchIt);
      fetchIt();
    });
  }

  function wire(root) {
    fillJSON(root);
    remember(root);
    root.querySelectorAll(".step-log").forEach(function (box) {
      var det = box.closest("details");
      if (logs[box.getAttribute("data-log-step")] || !det || det.open) load(box);
      if (det && !det.getAttribute("data-log-wired")) {
        det.setAttribute("data-log-wired", "1");
        det.addEventListener("toggle", function () { if (det.open) load(box); });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    wire(document);
    var box = document.getElementById("run-live");
    if (box && window.MutationObserver) {
      new MutationObserver(function () { wire(box); }).observe(box, { childList: true });
    }
  });
})();
