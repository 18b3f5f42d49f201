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
    var a = ev.target.closest && ev.target.closest("a.node-link, a.gantt-label");
    if (!a) return;
    var href = a.getAttribute("href") || a.getAttribute("xlink:href") || "";
    var hash = href.split("#")[1];
    if (hash && openStep(decodeURIComponent(hash), true)) {
      ev.preventDefault();
      history.replaceState(null, "", href);
    }
  });

  // Live refresh of a run's page while the run is not finished.
  function live() {
    var box = document.getElementById("run-live");
    if (!box || box.getAttribute("data-live") !== "true") return;
    var src = box.getAttribute("data-src");
    var last = "";
    var timer = null;
    function schedule(ms) { timer = setTimeout(tick, ms); }
    function tick() {
      if (document.hidden) { schedule(3000); return; }
      fetch(src, { headers: { "Accept": "text/html", "X-Weft-Fragment": "1" }, credentials: "same-origin" })
        .then(function (r) {
          if (!r.ok) throw new Error("status " + r.status);
          var more = r.headers.get("X-Weft-Live") === "true";
          return r.text().then(function (html) { return { html: html, more: more }; });
        })
        .then(function (res) {
          if (res.html !== last) {
            last = res.html;
            swap(box, res.html);
          }
          if (res.more) schedule(1500);
          else box.setAttribute("data-live", "false");
        })
        .catch(function () { schedule(5000); });
    }
    schedule(1500);
  }

  // swap replaces the live part, keeping open steps and scroll positions.
  function swap(box, html) {
    var open = {};
    box.querySelectorAll("details[open][id]").forEach(function (d) { open[d.id] = true; });
    var closed = {};
    box.querySelectorAll("details[id]:not([open])").forEach(function (d) { closed[d.id] = true; });
    var scrolls = [];
    box.querySelectorAll(".steps, .graph-scroll").forEach(function (el) { scrolls.push([el.className, el.scrollTop, el.scrollLeft]); });
    box.innerHTML = html;
    box.querySelectorAll("details[id]").forEach(function (d) {
      if (open[d.id]) d.open = true;
      else if (closed[d.id]) d.open = false;
    });
    scrolls.forEach(function (s) {
      var el = box.getElementsByClassName(s[0].split(" ")[0])[0];
      if (el) { el.scrollTop = s[1]; el.scrollLeft = s[2]; }
    });
    wireCopy(box);
  }

  document.addEventListener("DOMContentLoaded", function () {
    wireCopy(document);
    if (location.hash) openStep(decodeURIComponent(location.hash.slice(1)), false);
    live();
  });
})();
