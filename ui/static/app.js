// Weft UI: small progressive enhancement. Every page works without it.
(function () {
  "use strict";

  // Copy buttons: shown only when scripts run.
  function wireCopy(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (b) {
      b.hidden = false;
      b.onclick = function () {
        var el = document.getElementById(b.getAttribute("data-copy"));
        if (!el || !navigator.clipboard) return;
        navigator.clipboard.writeText(el.textContent).then(function () {
          var t = b.textContent;
          b.textContent = "Copied";
          setTimeout(function () { b.textContent = t; }, 1200);
        });
      };
    });
  }

  // Open a step's details in place instead of reloading the page.
  function openStep(id, scroll) {
    var d = document.getElementById(id);
    if (!d || d.tagName !== "DETAILS") return false;
    d.open = true;
    if (scroll) d.scrollIntoView({ block: "nearest", behavior: "smooth" });
    return true;
  }
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest && ev.target.closest("a.node-link, .gantt-row > a");
    if (!a) return;
    var href = a.getAttribute("href") || a.getAttribute("xlink:href") || "";
    var hash = href.split("#")[1];
    if (hash && openStep(decodeURIComponent(hash), true)) {
      ev.preventDefault();
      history.replaceState(null, "", href);
    }
  });

  // Live refresh of a run's page while the run is not finished. The
  // request says which units of the live part this page holds (their key
  // and hash) and the last history event it shows; the answer sends a
  // placeholder for each unit that did not change and only the new events
  // (see ui/liveunit.go), so a refresh carries what changed.
  function live() {
    var box = document.getElementById("run-live");
    if (!box) return;
    var src = box.getAttribute("data-src");
    var last = "";
    var whole = false; // ask for everything (after a placeholder could not be filled)
    var busy = false, again = false;
    function headers() {
      var h = { "Accept": "text/html", "X-Weft-Fragment": "1" };
      var open = [];
      box.querySelectorAll("details.step[open][data-path]").forEach(function (d) {
        open.push("step=" + encodeURIComponent(d.getAttribute("data-path")));
      });
      h["X-Weft-Open"] = open.join("&");
      if (whole) return h;
      var have = [];
      box.querySelectorAll("[data-lk]").forEach(function (el) {
        // An open step held with its body: the hash of the step with it.
        var h = el.open && el.hasAttribute("data-lhb") ? el.getAttribute("data-lhb") : el.getAttribute("data-lh");
        have.push(encodeURIComponent(el.getAttribute("data-lk")) + "=" + encodeURIComponent(h));
      });
      h["X-Weft-Have"] = have.join("&");
      var ev = box.querySelector("tbody[data-events-seq]");
      if (ev) h["X-Weft-Events"] = ev.getAttribute("data-events-seq");
      return h;
    }
    // refresh fetches the live part once; then, while the run is live,
    // every 1.5 s (3 s while the tab is hidden).
    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      fetch(src, { headers: headers(), credentials: "same-origin" })
        .then(function (r) {
          if (!r.ok) throw new Error("status " + r.status);
          var more = r.headers.get("X-Weft-Live") === "true";
          return r.text().then(function (html) { return { html: html, more: more }; });
        })
        .then(function (res) {
          busy = false;
          if (res.html !== last || whole) {
            last = res.html;
            whole = !swap(box, res.html);
            if (whole) { last = ""; refresh(); return; }
          }
          box.setAttribute("data-live", res.more ? "true" : "false");
          if (again) { again = false; refresh(); }
          else if (res.more) schedule(1500);
        })
        .catch(function () { busy = false; if (box.getAttribute("data-live") === "true") schedule(5000); });
    }
    var timer = null;
    function schedule(ms) {
      clearTimeout(timer);
      timer = setTimeout(function () {
        if (document.hidden) { schedule(3000); return; }
        refresh();
      }, ms);
    }
    // A step opened whose body a refresh left out: fetch it now.
    box.addEventListener("toggle", function (ev) {
      var d = ev.target;
      if (d.open && d.matches && d.matches("details.step") && d.querySelector(":scope > .step-body[data-deferred]")) refresh();
    }, true);
    if (box.getAttribute("data-live") === "true") schedule(1500);
  }

  // swap replaces the live part with html: placeholders take the units the
  // page already holds (moved, so open steps, logs and scroll positions
  // stay as they are), new history rows are appended. It answers false
  // when a placeholder names a unit the page does not hold; the page is
  // then left as it was and the whole part must be fetched.
  function swap(box, html) {
    var tmp = document.createElement("div");
    tmp.innerHTML = html;
    var held = {};
    box.querySelectorAll("[data-lk]").forEach(function (el) { held[el.getAttribute("data-lk")] = el; });
    var keeps = tmp.querySelectorAll("[data-keep]");
    for (var i = 0; i < keeps.length; i++) {
      if (!held[keeps[i].getAttribute("data-keep")]) return false;
    }
    var rows = tmp.querySelector("tbody[data-append]");
    var cur = box.querySelector("tbody[data-events-seq]");
    if (rows && !cur) return false;
    var open = {};
    box.querySelectorAll("details[open][id]").forEach(function (d) { open[d.id] = true; });
    var closed = {};
    box.querySelectorAll("details[id]:not([open])").forEach(function (d) { closed[d.id] = true; });
    var scrolls = [];
    box.querySelectorAll(".steps, .graph-scroll").forEach(function (el) { scrolls.push([el.className, el.scrollTop, el.scrollLeft]); });
    keeps.forEach(function (ph) { ph.replaceWith(held[ph.getAttribute("data-keep")]); });
    if (rows) {
      while (rows.firstChild) cur.appendChild(rows.firstChild);
      cur.setAttribute("data-events-seq", rows.getAttribute("data-events-seq"));
      rows.replaceWith(cur);
    }
    tmp.querySelectorAll("details[id]").forEach(function (d) {
      if (open[d.id]) d.open = true;
      else if (closed[d.id]) d.open = false;
    });
    box.replaceChildren.apply(box, Array.prototype.slice.call(tmp.childNodes));
    scrolls.forEach(function (s) {
      var el = box.getElementsByClassName(s[0].split(" ")[0])[0];
      if (el) { el.scrollTop = s[1]; el.scrollLeft = s[2]; }
    });
    wireCopy(box);
    return true;
  }

  document.addEventListener("DOMContentLoaded", function () {
    wireCopy(document);
    if (location.hash) openStep(decodeURIComponent(location.hash.slice(1)), false);
    live();
  });
})();
