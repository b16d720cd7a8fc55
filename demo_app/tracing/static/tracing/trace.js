// The /trace/ waterfall: joins the browser's Navigation Timing (DNS, connect, TLS, request,
// first byte, download) with the Server-Timing metrics the server sent (queue, app, db) and
// draws one bar per phase, each labelled with its layer and the talk section it belongs to.
(function () {
  "use strict";

  const layers = JSON.parse(document.getElementById("trace-layers").textContent);
  const layerInfo = Object.fromEntries(layers.map((l) => [l.name, l]));

  function parseServerTiming(header) {
    // "app;dur=12.3;desc=\"...\", db;dur=1.2;desc=\"3 queries\"" -> [{name, duration, description}]
    if (!header) return [];
    return header.split(/,(?=\s*[A-Za-z0-9_-]+\s*(?:;|,|$))/).map((part) => {
      const [name, ...params] = part.split(";").map((s) => s.trim());
      const entry = { name: name, duration: 0, description: "" };
      for (const p of params) {
        const eq = p.indexOf("=");
        const key = p.slice(0, eq).trim();
        const value = p.slice(eq + 1).trim().replace(/^"|"$/g, "");
        if (key === "dur") entry.duration = parseFloat(value) || 0;
        if (key === "desc") entry.description = value;
      }
      return entry;
    });
  }

  async function serverMetrics(nav) {
    // Browsers expose serverTiming only in a secure context (HTTPS, localhost). Elsewhere,
    // fetch the page once more and read the header of that repeat request instead.
    if (nav.serverTiming && nav.serverTiming.length) {
      return { source: "this page load", metrics: Array.from(nav.serverTiming) };
    }
    const response = await fetch(location.href, { cache: "no-store" });
    return {
      source: "a repeat request (serverTiming needs a secure context)",
      metrics: parseServerTiming(response.headers.get("Server-Timing")),
    };
  }

  function phasesOf(nav, server) {
    const ms = (a, b) => Math.max(0, b - a);
    const get = (name) => (server.find((m) => m.name === name) || { duration: 0 }).duration;
    const tls = nav.secureConnectionStart > 0;
    const tcpEnd = tls ? nav.secureConnectionStart : nav.connectEnd;
    const phases = [
      { layer: "dns", label: "DNS lookup", start: nav.domainLookupStart, dur: ms(nav.domainLookupStart, nav.domainLookupEnd) },
      { layer: "connect", label: "TCP connect", start: nav.connectStart, dur: ms(nav.connectStart, tcpEnd) },
      { layer: "connect", label: tls ? "TLS handshake" : "TLS handshake (none: plain HTTP)", start: tcpEnd, dur: tls ? ms(nav.secureConnectionStart, nav.connectEnd) : 0 },
    ];
    // The server's spans fill the end of the wait between sending the request and the first
    // byte; what is left of that wait is the network, load balancer and proxy in between.
    const wait = ms(nav.requestStart, nav.responseStart);
    const queue = get("queue"), app = get("app"), db = get("db");
    const inServer = Math.min(wait, queue + app + db);
    let t = nav.requestStart;
    const before = Math.max(0, wait - inServer);
    phases.push({ layer: "lb", label: "request in flight (network, proxy)", start: t, dur: before });
    t += before;
    for (const [layer, label, dur] of [
      ["queue", server.some((m) => m.name === "queue") ? "waiting for a worker"
        : "waiting for a worker (no X-Request-Start: not measured)", queue],
      ["app", "Django (middleware, view, templates)", app],
      // "connect + N queries" when this request opened its connection (CONN_MAX_AGE = 0).
      ["db", server.some((m) => m.name === "db" && m.description.startsWith("connect"))
        ? "database (connection set-up and queries)" : "database queries", db],
    ]) {
      phases.push({ layer: layer, label: label, start: t, dur: dur, server: true });
      t += dur;
    }
    phases.push({ layer: "download", label: "download", start: nav.responseStart, dur: ms(nav.responseStart, nav.responseEnd) });
    return phases;
  }

  function fmt(x) {
    return x.toFixed(1) + " ms";
  }

  function draw(nav, server) {
    const phases = phasesOf(nav, server.metrics);
    const origin = nav.domainLookupStart || nav.startTime;
    const end = Math.max(nav.responseEnd, ...phases.map((p) => p.start + p.dur));
    const span = Math.max(end - origin, 1);
    const rows = document.getElementById("waterfall");
    rows.textContent = "";
    for (const p of phases) {
      const info = layerInfo[p.layer];
      const row = document.createElement("div");
      row.className = "wf-row" + (p.server ? " wf-server" : "");
      row.dataset.layer = p.layer;
      row.title = info.description;
      const left = ((p.start - origin) / span) * 100;
      const width = (p.dur / span) * 100;
      row.innerHTML =
        '<div class="wf-label"><span class="wf-phase"></span>' +
        '<span class="wf-tag layer-' + p.layer + '"></span><span class="wf-section"></span></div>' +
        '<div class="wf-track"><div class="wf-bar layer-' + p.layer + '"></div></div>' +
        '<div class="wf-ms"></div>';
      row.querySelector(".wf-phase").textContent = p.label;
      row.querySelector(".wf-tag").textContent = p.layer;
      row.querySelector(".wf-section").textContent = info.section;
      row.querySelector(".wf-ms").textContent = fmt(p.dur);
      const bar = row.querySelector(".wf-bar");
      bar.style.left = Math.min(left, 99.5) + "%";
      bar.style.width = "max(3px, " + width + "%)";
      rows.appendChild(row);
    }
    document.getElementById("wf-total").textContent = fmt(nav.responseEnd - nav.startTime);
    document.getElementById("wf-ttfb").textContent = fmt(nav.responseStart - nav.startTime);
    document.getElementById("wf-source").textContent = server.source;
    const app = server.metrics.find((m) => m.name === "app");
    document.getElementById("wf-served-by").textContent = app ? app.description : "unknown (no Server-Timing)";
    const table = document.getElementById("server-timing");
    table.textContent = "";
    for (const m of server.metrics) {
      const tr = document.createElement("tr");
      for (const text of [m.name, fmt(m.duration), m.description]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      table.appendChild(tr);
    }
    document.body.dataset.traceReady = "true";
  }

  window.addEventListener("load", () => {
    // responseEnd and the load event's own timings settle after the handler returns.
    setTimeout(async () => {
      const nav = performance.getEntriesByType("navigation")[0];
      if (!nav) {
        document.getElementById("waterfall").textContent =
          "This browser does not expose Navigation Timing Level 2.";
        return;
      }
      draw(nav, await serverMetrics(nav));
    }, 0);
  });
})();
