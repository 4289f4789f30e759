/* clearcount beacon: <script defer src="https://collector/beacon.js" data-site="shop"></script>
   Page views (SPA included), outbound/download/data-cc-event clicks, scroll depth and
   engaged time, with the visitor's consent applied here before anything is sent.
   No cookies; a visitor id lives in localStorage only under granted consent.
   ES5, no build step; served minified, and it must stay within 1,600 bytes gzipped. */
(function (w, d, history, KEY) {
  var script = d.currentScript,
    data = script && script.dataset,
    site = data && data.site,
    loc = w.location,
    nav = w.navigator,
    queued = (w.clearcount || 0).q,
    outbox = [],
    timer,
    backoff,
    store,
    page,
    depth,
    engaged,
    since,
    sent;

  // Every entry point is wrapped: an error in here must never reach the host page.
  function safe(fn) {
    return function (a, b, c) {
      try {
        fn(a, b, c);
      } catch (e) {}
    };
  }
  function on(target, type, fn) {
    target.addEventListener(type, safe(fn), 1);
  }

  w.clearcount = safe;
  // A page on this machine (or a file:) is a developer's: ignored unless the tag says so,
  // and the console says why, once (console.warn answers undefined: the test goes on true).
  if (!site || (/^(localhost|127\.|\[::1\]|$)/.test(loc.hostname) && data.allowLocal == null &&
    !console.warn("clearcount: ignoring a local page; add data-allow-local to the tag"))) return;
  var api = new URL("api/", script.src),
    optOut = nav.doNotTrack == 1 || nav.globalPrivacyControl;
  try {
    store = localStorage;
  } catch (e) {}
  var vid = !optOut && store ? store.getItem(KEY) : null,
    // A stored id means consent was granted on an earlier page; otherwise the site decides.
    consent = optOut ? "denied" : vid && "granted"; // null: the site's default applies

  function href() {
    return data.hash != null ? loc.href : loc.href.split("#")[0];
  }
  // sendBeacon when the page goes away (a string body: text/plain, no preflight); else fetch.
  function send(path, body, leaving) {
    body = JSON.stringify(body);
    path = api + path;
    return leaving && nav.sendBeacon(path, body) || fetch(path, { method: "POST", body: body, keepalive: 1 });
  }
  // Events that happen together leave together; 429 and 503 put them back, with backoff.
  function flush(leaving) {
    timer = 0; // a timer still pending finds the outbox empty, which is harmless
    var batch = outbox.splice(0, 100),
      sending = batch.length && send("event", batch, leaving);
    if (sending.then)
      sending.then(function (r) {
        backoff = /429|503/.test(r.status) ? backoff * 2 || 500 : 0;
        if (backoff) {
          outbox = batch.concat(outbox);
          timer = setTimeout(flush, backoff);
        }
      }, safe);
  }
  function track(type, extra) {
    outbox.push(Object.assign({ site: site, type: type, url: href(), consent: consent, visitor_id: vid }, extra));
    timer = timer || setTimeout(flush, 50);
  }

  function engage() {
    var now = Date.now();
    if (since) engaged += now - since;
    since = !d.hidden && d.hasFocus() && now;
  }
  function scrolled() {
    depth = Math.max(depth, Math.min(100, Math.round((scrollY + innerHeight) * 100 / d.documentElement.scrollHeight)));
  }
  // One engagement event per page view when the page is hidden or left, if anything changed.
  // Leaving fires pagehide and visibilitychange, in either order: the first stops the clock
  // (since = 0), so the second finds nothing changed. Showing the page again restarts it.
  function report() {
    engage();
    since = 0;
    if (sent != (sent = depth + "," + engaged)) track("engagement", { url: page, depth: depth, engaged_ms: engaged }); // the page measured
    flush(1);
  }
  // load: the first page view, when the visitor has not opted out
  function pageview(referrer, load) {
    if (href() != page) {
      if (page) report();
      page = href();
      depth = engaged = since = 0;
      scrolled();
      engage();
      sent = depth + "," + engaged;
      track("pageview", { referrer: referrer, sw: screen.width, sh: screen.height });
    }
    // Behaviour maps and web vitals, when the site has them on, come in a second script.
    if (load) d.head.appendChild(d.createElement("script")).src = api + "behaviour.js?site=" + site;
  }

  function clicked(e) {
    // No such element, or a link without href, fails below, quietly (safe catches it).
    var el = e.target.closest("a,[data-cc-event]"),
      props = {},
      name = el.dataset.ccEvent,
      link = el.href && new URL(el.href),
      k;
    if (!name) {
      if (/\.(pdf|zip|dmg|exe|docx?|xlsx?|csv|mp[34])$/i.test(link.pathname)) name = "download";
      else if (link.host != loc.host && /^http/.test(link.protocol)) name = "outbound";
      else return;
    }
    for (k in el.dataset) if (/^ccProp./.test(k)) props[k.slice(6).toLowerCase()] = el.dataset[k];
    // Empty parts are left out (JSON drops undefined); the collector trims and redacts text too.
    track("click", {
      name: name,
      props: props,
      target: {
        tag: el.tagName,
        id: el.id,
        classes: "" + el.className,
        href: link && link.href,
        text: (el.innerText || "").slice(0, 100),
      },
    });
    if (link) flush(1); // the page may be about to unload
  }

  // The public API: clearcount('event', name, props) · ('consent', state) · ('forget').
  w.clearcount = safe(function (cmd, a, b) {
    var old = vid;
    if (cmd == "event") return track("custom", { name: "" + a, props: b });
    // behaviour.js wraps track, told the consent state so far and the page URL: it sees each
    // event and may hold one back.
    if (cmd == "hook") return track = a(track, consent, href);
    // forget and any state but granted drop the id; GPC and DNT make every state denied.
    // An unknown command resolves to the current state, and so changes nothing.
    a = cmd == "consent" ? optOut ? "denied" : a : cmd == "forget" ? 0 : consent;
    // The id only links this visitor's own events; it guards nothing, so Math.random will do.
    if (a == "granted") store.setItem(KEY, vid = vid || ("" + Math.random()).slice(2));
    else store.removeItem(KEY, vid = null);
    if (!a) old && send("forget", { site: site, visitor_id: old });
    else if (consent != a) send("consent", { site: site, visitor_id: vid || old, consent: consent = a });
  });

  function navigated() {
    pageview(page);
  }
  ["pushState", "replaceState"].map(function (name) {
    var original = history[name];
    history[name] = function () {
      var result = original.apply(this, arguments);
      safe(navigated)();
      return result;
    };
  });
  on(w, "popstate", navigated); // fragment navigation fires popstate too
  on(d, "click", clicked);
  on(w, "scroll", scrolled);
  on(w, "focus", engage);
  on(w, "blur", engage);
  // A navigation away has begun: what is waiting leaves now, as a beacon. A fetch started
  // later, as the page is left, may be cancelled (Chromium does), sent or not.
  on(w, "beforeunload", flush);
  on(d, "visibilitychange", function () {
    d.hidden ? report() : engage();
  });
  on(w, "pagehide", report);

  // Calls queued before the beacon loaded (a consent manager's choice) apply from the first
  // page view on.
  queued && queued.map(function (c) {
    w.clearcount.apply(w, c);
  });
  safe(pageview)(d.referrer, !optOut);
})(window, document, history, "cc_vid");
