/* clearcount behaviour maps and web vitals: the second script (DESIGN §9).
   beacon.js loads /api/behaviour.js?site=<id> unless the visitor opted out (GPC, DNT); the
   collector answers with this script only for a site with `heatmaps` or `vitals` on, wrapped
   with the site's SETTINGS and, when vitals are on, Google's web-vitals library (WEB_VITALS).
   It adds to the beacon's own events, and only while the visitor's consent is implied or
   granted:
   - on clicks: where (x in ‰ of the document's width, y in px from its top, the viewport's
     width), a CSS path of the element (tags, ids, classes: never its text or attribute
     values), and whether it was a rage click (3 within 1 s and 30 px) or a dead one (no
     navigation and no change to the page within 1 s);
   - on the page view's engagement event: the cursor's dwell time, summed here into a grid of
     20 columns by 100 px rows (the movement itself never leaves the browser), and the page's
     web vitals, each sent once.
   Clicks the beacon does not record itself (anything but tracked links and data-cc-event
   elements) are sent from here, once their dead-or-not verdict is in.
   ES5, no build step: the collector minifies it. */
(function (w, d, settings, vitals) {
  var COLS = 20,
    ROW_PX = 100,
    RAGE_CLICKS = 3,
    RAGE_MS = 1000,
    RAGE_PX = 30,
    DEAD_MS = 1000,
    IDLE_MS = 10000, // a cursor resting longer than this is not looked at any more
    MIN_CELL_MS = 50, // a cell the cursor only crossed
    MAX_CELLS = 100,
    MAX_SELECTOR = 256,
    NAME = /^-?[A-Za-z_][\w-]*$/, // ids and classes kept in a selector; others are left out
    DIGITS = /\d{5}/, // and so are generated ones (and any that may number a person)
    MAX_Y = 999999,
    MAX_ROW = 9999,
    // Clicks here change nothing visible by design (typing, choosing, playing): never dead.
    QUIET = "a[href],input,select,textarea,label,option,button[type=submit],video,audio,[contenteditable]",
    send, // the beacon's own track(type, extra)
    state, // the visitor's consent as the beacon knows it; null: the site's default
    href, // the beacon's page URL
    recent = [], // [time, x, y] of the clicks that could make this one a rage click
    clicking, // the click being dispatched
    held = [], // clicks waiting for their verdict
    changedAt = 0,
    observer,
    grid = {}, // "col,row" -> ms
    cell,
    since,
    pointer,
    docWidth = 0,
    measured = {},
    reported = {};

  function on(target, type, fn, capture) {
    target.addEventListener(
      type,
      function (e) {
        try {
          fn(e);
        } catch (x) {}
      },
      { capture: !!capture, passive: true }
    );
  }

  function allowed() {
    var consent = state || settings.consent;
    return consent == "granted" || (consent == "implied" && !settings.optIn);
  }

  // Read again after a resize and at each click; not on every move (it may cost a layout).
  function width(fresh) {
    return (docWidth = (!fresh && docWidth) || Math.max(d.documentElement.scrollWidth, 1));
  }
  function kept(name) {
    return NAME.test(name) && !DIGITS.test(name);
  }

  // tag#id.class.class, from the element up to the nearest ancestor with an id (4 at most).
  // A tag that is not a plain CSS name (rare XML) leaves the selector out: the collector
  // would refuse it, and with it the click.
  function selector(el) {
    var parts = [],
      tag,
      id,
      classes,
      path;
    for (; el && el.tagName && el != d.body && el != d.documentElement && parts.length < 4; el = el.parentElement) {
      tag = el.tagName.toLowerCase();
      if (!NAME.test(tag)) return;
      id = kept(el.id) ? "#" + el.id : "";
      classes = (el.getAttribute("class") || "").split(/\s+/).filter(kept);
      parts.unshift(tag + id + (classes.length ? "." + classes.slice(0, 3).join(".") : ""));
      if (id) break;
    }
    for (path = parts.join(" > "); path.length > MAX_SELECTOR && parts.length; path = parts.join(" > ")) parts.shift();
    return path || undefined;
  }

  function isRage(t, x, y) {
    recent = recent.filter(function (c) {
      return t - c[0] < RAGE_MS && Math.abs(c[1] - x) <= RAGE_PX && Math.abs(c[2] - y) <= RAGE_PX;
    });
    recent.push([t, x, y]);
    return recent.length >= RAGE_CLICKS;
  }

  function clicked(e) {
    clicking = 0;
    // Keyboard and scripted clicks (detail 0) have no position to place on a map.
    if (!settings.heatmaps || !allowed() || !e.detail) return;
    var t = Date.now(),
      click = {
        at: t,
        url: href(),
        quiet: !!e.target.closest(QUIET),
        fields: {
          x: Math.min(1000, Math.max(0, Math.round((e.pageX * 1000) / width(1)))),
          y: Math.min(MAX_Y, Math.max(0, Math.round(e.pageY))),
          vw: innerWidth || undefined, // 0 in a hidden frame: left out
          selector: selector(e.target),
          rage: isRage(t, e.pageX, e.pageY),
        },
      };
    clicking = click;
    watch(); // now, before the page's own handlers change anything
    // After the page's and the beacon's own handlers: did the beacon record this click?
    setTimeout(function () {
      if (!click.sent && !click.quiet) return hold(click);
      if (!click.sent) release(click); // nothing to judge: sent at once
      unwatch();
    }, 0);
  }

  function watch() {
    if (!observer) {
      observer = new MutationObserver(function () {
        changedAt = Date.now();
      });
    }
    observer.observe(d.documentElement, { subtree: true, childList: true, attributes: true, characterData: true });
  }
  function unwatch() {
    if (!held.length) observer.disconnect();
  }

  function hold(click) {
    held.push(click);
    setTimeout(function () {
      if (held.indexOf(click) >= 0) release(click, 1);
    }, DEAD_MS);
  }

  // Send a click of our own. judged: its second is over; otherwise the page is going away
  // or navigating, and only a change already seen can say it was not dead.
  function release(click, judged) {
    var changed = changedAt >= click.at || href() != click.url;
    if (held.indexOf(click) >= 0) held.splice(held.indexOf(click), 1), unwatch();
    if (!click.quiet) click.fields.dead = judged ? !changed && !d.hidden : changed ? false : undefined;
    click.sent = 1;
    send("click", Object.assign({ url: click.url }, click.fields));
  }

  function releaseAll() {
    while (held.length) release(held[0]);
  }

  function dwell(now) {
    if (cell && since) grid[cell] = (grid[cell] || 0) + Math.min(now - since, IDLE_MS);
    since = now;
  }
  // The cursor's cell; nothing is counted while consent does not allow it, or outside the
  // document (a drag past the window's edge).
  function moved(e) {
    var x, y;
    if (e) pointer = [e.clientX, e.clientY];
    dwell(Date.now());
    cell = 0;
    if (!pointer || d.hidden || !allowed()) return;
    x = pointer[0] + scrollX;
    y = pointer[1] + scrollY;
    if (x >= 0 && y >= 0 && y < (MAX_ROW + 1) * ROW_PX)
      cell = Math.min(COLS - 1, Math.floor((x * COLS) / width())) + "," + Math.floor(y / ROW_PX);
  }
  function forgetGrid() {
    grid = {};
    cell = since = 0;
  }
  function paused() {
    dwell(Date.now());
    since = 0;
  }
  function hoverCells() {
    var cells = [],
      k;
    if (since) dwell(Date.now());
    for (k in grid) if (grid[k] >= MIN_CELL_MS) cells.push(k.split(",").map(Number).concat(Math.min(grid[k], 3600000)));
    grid = {};
    return cells
      .sort(function (a, b) {
        return b[2] - a[2];
      })
      .slice(0, MAX_CELLS);
  }

  function unsentVitals() {
    var out = {},
      name,
      any;
    for (name in measured)
      if (!(name in reported)) {
        out[name] = reported[name] = measured[name];
        any = 1;
      }
    return any && out;
  }

  // Sees each of the beacon's events before it is queued, and adds what this page may send.
  function decorate(type, extra) {
    if (type == "pageview") forgetGrid(); // a new page: what was not sent belonged to the last
    if (type == "click" && clicking) {
      Object.assign(extra, clicking.fields);
      clicking.sent = 1;
    }
    if (type == "engagement") {
      releaseAll(); // a navigation within the page: the held clicks belong to the page left
      if (settings.heatmaps) {
        extra.vw = innerWidth || undefined;
        var cells = hoverCells();
        if (cells.length) extra.hover = cells;
      }
      var values = vitals && unsentVitals();
      if (values) extra.vitals = values;
    }
  }

  w.clearcount("hook", function (track, consent, pageUrl) {
    send = track;
    state = consent;
    href = pageUrl;
    return function (type, extra) {
      try {
        if (allowed()) decorate(type, extra);
      } catch (e) {}
      send(type, extra);
    };
  });
  if (!send) return; // a beacon that takes no hook: nothing to add to
  // Consent changes go through the public API; the beacon applies them as before.
  var api = w.clearcount;
  // A change of consent starts the grid afresh: nothing from before it is sent after it.
  w.clearcount = function (cmd, value) {
    if (cmd == "consent") (state = value), forgetGrid();
    return api.apply(this, arguments);
  };

  if (settings.heatmaps) {
    on(w, "click", clicked, 1); // the window's capture phase: before the page and the beacon
    on(d, "mousemove", moved);
    on(w, "scroll", function () {
      moved();
    });
    on(d, "mouseout", function (e) {
      if (!e.relatedTarget) (pointer = 0), paused(); // the cursor left the window
    });
    on(w, "blur", paused);
    on(w, "resize", function () {
      width(1);
    });
    // Before the beacon's own handler reports the page: the held clicks go with it.
    on(
      w,
      "visibilitychange",
      function () {
        if (d.hidden) {
          paused();
          releaseAll();
        }
      },
      1
    );
  }
  if (vitals) {
    ["LCP", "INP", "CLS", "FCP", "TTFB"].forEach(function (name) {
      vitals["on" + name](
        function (metric) {
          var key = name.toLowerCase();
          measured[key] = key == "cls" ? Math.round(metric.value * 10000) / 10000 : Math.round(metric.value);
        },
        { reportAllChanges: true }
      );
    });
  }
})(window, document, SETTINGS, WEB_VITALS);
