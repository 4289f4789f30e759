// clearcount dashboard: the chart, the realtime count, the heatmap and the theme switch.
// Everything else on the page is server-rendered HTML and works without this file.
(function () {
  "use strict";

  var root = document.documentElement;
  var THEME_KEY = "clearcount-theme";

  function darkNow() {
    var chosen = root.getAttribute("data-theme");
    if (chosen) return chosen === "dark";
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  function applyTheme(theme) {
    if (theme === "dark" || theme === "light") root.setAttribute("data-theme", theme);
    var button = document.getElementById("cc-theme");
    if (button) {
      button.setAttribute("aria-pressed", darkNow() ? "true" : "false");
      button.textContent = darkNow() ? "Light theme" : "Dark theme";
    }
  }

  function stored(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }

  function store(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* private mode */ }
  }

  // ---- chart ---------------------------------------------------------------------------
  var chart = null;

  function css(name) {
    return getComputedStyle(root).getPropertyValue(name).trim();
  }

  function drawChart() {
    var holder = document.getElementById("cc-chart");
    var source = document.getElementById("cc-series");
    if (!holder || !source || typeof window.uPlot !== "function") return;
    var data = JSON.parse(source.textContent);
    var times = data.labels.map(function (label) {
      return Date.parse(data.interval === "hour" ? label : label + "T00:00:00Z") / 1000;
    });
    var partialFrom = data.partial.indexOf(true);
    var names = { visitors: "Visitors", visits: "Visits", pageviews: "Page views" };
    var colours = { visitors: css("--accent"), visits: css("--up"), pageviews: css("--muted") };
    var series = [{}];
    var columns = [times];
    Object.keys(data.series).forEach(function (name) {
      series.push({
        label: names[name] || name,
        stroke: colours[name],
        width: 2,
        points: { show: times.length <= 45 },
        value: function (u, v, si, idx) {
          if (idx == null) return "";
          return v == null ? "withheld" : v.toLocaleString();
        }
      });
      columns.push(data.series[name]);
    });
    var shade = {
      hooks: {
        drawClear: [function (u) {
          if (partialFrom < 0) return;
          // the partial bucket (today) is shaded: its numbers are still growing
          var step = times.length > 1 ? times[1] - times[0] : 86400;
          var left = u.valToPos(times[partialFrom] - step / 2, "x", true);
          var right = u.valToPos(times[times.length - 1] + step / 2, "x", true);
          var ctx = u.ctx;
          ctx.save();
          ctx.fillStyle = css("--accent-soft");
          ctx.fillRect(left, u.bbox.top, right - left, u.bbox.height);
          ctx.restore();
        }]
      }
    };
    var axis = { stroke: css("--muted"), grid: { stroke: css("--line") }, ticks: { stroke: css("--line") } };
    var options = {
      width: Math.max(holder.clientWidth, 280),
      height: 240,
      series: series,
      axes: [axis, Object.assign({}, axis, { size: 56 })],
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(max, 1)]; } } },
      plugins: [shade],
      legend: { live: true }
    };
    if (chart) chart.destroy();
    holder.textContent = "";
    chart = new window.uPlot(options, columns, holder);
  }

  // ---- heatmap ---------------------------------------------------------------------------
  // Cells of a 20-column grid (rows of 100 px) over the page, shaded by their share of the
  // busiest cell; a scroll map shades tenths of the page by the share of page views that
  // reached them. The same numbers are in the tables below the map.
  function heat(share, alpha) {
    var hue = 220 - 220 * Math.min(1, Math.max(0, share)); // blue (few) to red (most)
    return "hsla(" + hue + ", 90%, 50%, " + alpha + ")";
  }

  function drawHeatmap() {
    var canvas = document.getElementById("cc-heatmap");
    var source = document.getElementById("cc-heatmap-data");
    if (!canvas || !source) return;
    var data = JSON.parse(source.textContent);
    var ctx = canvas.getContext("2d");
    var cellWidth = data.width / data.columns;
    // The page is drawn at a typical width of its viewport band, shrunk to fit the screen.
    var map = canvas.parentNode;
    var holder = map.parentNode;
    var scale = Math.min(1, holder.clientWidth / data.width);
    map.style.transform = scale < 1 ? "scale(" + scale + ")" : "";
    holder.style.height = Math.ceil(data.height * scale) + 2 + "px";
    var framed = canvas.parentNode.className.indexOf("framed") >= 0;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!framed) {  // the outline: the page's width, the grid's rows and their depth in px
      ctx.fillStyle = css("--card");
      ctx.fillRect(0, 0, canvas.width, canvas.height);
    }
    ctx.strokeStyle = css("--line");
    ctx.lineWidth = 1;
    for (var c = 0; c <= data.columns; c++) {
      ctx.beginPath();
      ctx.moveTo(c * cellWidth + 0.5, 0);
      ctx.lineTo(c * cellWidth + 0.5, canvas.height);
      ctx.stroke();
    }
    ctx.font = "11px system-ui, sans-serif";
    for (var y = 0; y <= canvas.height; y += data.row_px) {
      ctx.beginPath();
      ctx.moveTo(0, y + 0.5);
      ctx.lineTo(canvas.width, y + 0.5);
      ctx.stroke();
      if (!framed && y % 500 === 0) {
        ctx.fillStyle = css("--muted");
        ctx.fillText(y + " px", 4, y + 12);
      }
    }
    if (data.kind === "scroll") {
      var total = data.cells.length ? data.cells[0].engagements : 0;
      data.cells.forEach(function (step) {
        if (!total || step.depth_pct >= 100) return;
        var share = step.engagements / total;
        var top = (canvas.height * step.depth_pct) / 100;
        ctx.fillStyle = heat(share, 0.45);
        ctx.fillRect(0, top, canvas.width, canvas.height / 10);
        ctx.fillStyle = css("--text");
        ctx.fillText(Math.round(share * 100) + " % reached " + step.depth_pct + " %", 8, top + 16);
      });
      return;
    }
    var key = data.kind === "click" ? "clicks" : "ms";
    var most = 0;
    data.cells.forEach(function (cell) { most = Math.max(most, cell[key] || 0); });
    data.cells.forEach(function (cell) {
      if (!most || cell[key] == null) return;
      var share = cell[key] / most;
      ctx.fillStyle = heat(share, 0.25 + 0.5 * share);
      ctx.fillRect(cell.col * cellWidth, cell.row * data.row_px, cellWidth, data.row_px);
      if (data.kind === "click") {
        ctx.fillStyle = css("--text");
        ctx.fillText(String(cell.clicks), cell.col * cellWidth + 4, cell.row * data.row_px + 14);
      }
    });
  }

  // ---- realtime --------------------------------------------------------------------------
  var REFRESH_MS = 15000;

  function refreshRealtime() {
    var box = document.getElementById("cc-realtime");
    var count = document.getElementById("cc-realtime-count");
    if (!box || !count) return;
    fetch(box.getAttribute("data-src"), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) return;
        count.textContent = body.visitors == null ? "withheld" : String(body.visitors);
        box.setAttribute("data-updated", new Date().toISOString());
      })
      .catch(function () { /* offline for a moment: the next refresh tries again */ });
  }

  function start() {
    applyTheme(stored(THEME_KEY));
    var button = document.getElementById("cc-theme");
    if (button) {
      button.addEventListener("click", function () {
        var next = darkNow() ? "light" : "dark";
        store(THEME_KEY, next);
        applyTheme(next);
        drawChart();
        drawHeatmap();
      });
    }
    drawChart();
    drawHeatmap();
    var resizing = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizing);
      resizing = setTimeout(function () {
        drawChart();
        drawHeatmap();
      }, 150);
    });
    refreshRealtime();
    // back on the tab: fresh numbers at once rather than at the next tick
    window.addEventListener("focus", refreshRealtime);
    var every = Number(root.getAttribute("data-realtime-ms")) || REFRESH_MS;
    setInterval(refreshRealtime, every);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
