// Live speed-to-lead timers: every <time data-since> counts up and turns late past its target.
(function () {
  "use strict";

  function format(minutes) {
    if (minutes < 60) return minutes + " min";
    if (minutes < 1440) return Math.floor(minutes / 60) + " h " + String(minutes % 60).padStart(2, "0") + " min";
    return Math.floor(minutes / 1440) + " d " + Math.floor((minutes % 1440) / 60) + " h";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.since);
      if (isNaN(since)) return;
      var minutes = Math.max(0, Math.floor((now - since) / 60000));
      el.textContent = format(minutes);
      var target = parseInt(el.dataset.target || "0", 10);
      if (target) el.classList.toggle("late", minutes >= target);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 15000);
    document.body.addEventListener("htmx:afterSwap", tick);
  });
})();

// The work queue's live refresh (admissions/queue_pulse.py): rows that were not on the page
// before a refresh are marked new, and stay marked for a minute across later refreshes, so a
// call or lead that just arrived stands out.
(function () {
  "use strict";
  var KEEP_MS = 60000;
  var before = null;
  var arrived = new Map(); // row link -> when it first appeared

  function rowLinks() {
    var links = [];
    document.querySelectorAll("#queue-results tbody tr").forEach(function (tr) {
      var link = tr.querySelector("a[href]");
      if (link) links.push([tr, link.getAttribute("href")]);
    });
    return links;
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "queue-results") return;
    before = new Set(rowLinks().map(function (pair) { return pair[1]; }));
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (before === null) return;
    var seen = before;
    var now = Date.now();
    before = null;
    rowLinks().forEach(function (pair) {
      var tr = pair[0], href = pair[1];
      if (!seen.has(href) && !arrived.has(href)) arrived.set(href, now);
      var at = arrived.get(href);
      if (at !== undefined && now - at < KEEP_MS) {
        tr.classList.add("row-new");
        tr.setAttribute("data-new", "true");
      }
    });
    arrived.forEach(function (at, href) { if (now - at >= KEEP_MS) arrived.delete(href); });
  });
})();

// A table wider than the screen scrolls sideways inside its .table-wrap: the wrapper then takes
// the keyboard focus (arrow keys scroll it) and is named after the page's heading, so a keyboard
// user can reach the columns off screen (WCAG 2.1.1; axe-core: scrollable-region-focusable).
(function () {
  "use strict";

  function reachable() {
    var heading = document.querySelector("main h1");
    document.querySelectorAll(".table-wrap").forEach(function (wrap) {
      if (wrap.scrollWidth > wrap.clientWidth) {
        if (wrap.hasAttribute("tabindex")) return;
        wrap.dataset.scrolls = "1";
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", (heading ? heading.textContent.trim() + ": " : "") + "table, scrolls sideways");
      } else if (wrap.dataset.scrolls) {
        delete wrap.dataset.scrolls;
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
        wrap.removeAttribute("aria-label");
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    reachable();
    window.addEventListener("resize", reachable);
    document.body.addEventListener("htmx:afterSwap", reachable);
  });
})();
