// Draws the console's charts with Plotly (served by this app, from the plotly package).
// Each chart's data sits in <script type="application/json" id="ID-data">; the page's tables
// carry the same figures for readers who do not see the chart.
(function () {
  "use strict";
  const layoutBase = { margin: { l: 60, r: 20, t: 10, b: 50 }, font: { family: "system-ui, sans-serif", size: 13 },
                       paper_bgcolor: "#fff", plot_bgcolor: "#fff", legend: { orientation: "h", y: -0.2 } };
  const config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"] };
  const colours = { granted: "#1a6b34", capped: "#a3201a", owed: "#0b5cad", counted: "#b3261e",
                    notCounted: "#9aa5b1", maintenance: "#2f6f9f", maintenanceNotExcluded: "#c77700",
                    downtime: "#5b2c83", claims: "#8a5200" };
  // a maintenance window that does not qualify is hatched, so it reads apart without colour too
  const patterns = { maintenanceNotExcluded: { shape: "/", fgcolor: "#5c3700", size: 6, solidity: 0.4 } };

  function data(el) { return JSON.parse(document.getElementById(el.id + "-data").textContent); }

  const draw = {
    months(el, d) {
      Plotly.newPlot(el, [
        { type: "bar", name: d.labels.granted, x: d.months, y: d.granted, marker: { color: colours.granted } },
        { type: "bar", name: d.labels.capped, x: d.months, y: d.capped, marker: { color: colours.capped } },
        { type: "scatter", mode: "lines+markers", name: d.labels.credit, x: d.months, y: d.owed,
          line: { color: colours.owed } },
      ], Object.assign({}, layoutBase, { barmode: "stack", yaxis: { title: { text: d.currency } },
                                         xaxis: { type: "category" } }), config);
    },
    gauge(el, d) {
      Plotly.newPlot(el, [{ type: "indicator", mode: "gauge+number", value: d.used_percent,
        number: { suffix: " %", valueformat: ".1f" },
        gauge: { axis: { range: [0, 100], ticksuffix: " %" }, bar: { color: d.used_percent >= 100 ? colours.capped : colours.granted } } }],
        Object.assign({}, layoutBase, { margin: { l: 40, r: 50, t: 20, b: 10 } }), config);
    },
    timeline(el, d) {
      const traces = d.rows.map(function (row) {
        return { type: "bar", orientation: "h", name: row.legend, showlegend: false,
                 y: [row.label], base: [row.start], x: [row.duration_ms], hovertext: [row.hover], hoverinfo: "text",
                 marker: Object.assign({ color: colours[row.kind] }, patterns[row.kind] ? { pattern: patterns[row.kind] } : {}) };
      });
      Plotly.newPlot(el, traces, Object.assign({}, layoutBase, {
        barmode: "overlay", margin: { l: 260, r: 20, t: 10, b: 40 },
        xaxis: { type: "date", range: [d.start, d.end] }, yaxis: { automargin: true, autorange: "reversed" },
      }), config);
    },
    claims(el, d) {
      // one row per customer: claims filed (left), the credit earned written out (right)
      const labels = d.rows.map(function (r) { return r.label; });
      Plotly.newPlot(el, [
        { type: "bar", orientation: "h", name: d.labels.claims, y: labels, x: d.rows.map(function (r) { return r.claims; }),
          text: d.rows.map(function (r) { return String(r.claims); }), textposition: "outside", cliponaxis: false,
          hoverinfo: "y+x", xaxis: "x", marker: { color: colours.claims } },
        { type: "bar", orientation: "h", name: d.labels.credit, y: labels, x: d.rows.map(function (r) { return r.share; }),
          text: d.rows.map(function (r) { return r.text; }), textposition: "outside", cliponaxis: false,
          hovertext: d.rows.map(function (r) { return r.label + ": " + r.text; }), hoverinfo: "text", xaxis: "x2",
          marker: { color: colours.granted } },
      ], Object.assign({}, layoutBase, {
        margin: { l: 10, r: 20, t: 10, b: 50 }, showlegend: false, bargap: 0.35,
        yaxis: { automargin: true, autorange: "reversed", type: "category" },
        xaxis: { domain: [0, 0.28], title: { text: d.labels.claims }, rangemode: "tozero", dtick: 1 },
        xaxis2: { domain: [0.36, 0.86], title: { text: d.labels.credit }, range: [0, 1], showticklabels: false,
                  showgrid: false },
      }), config);
    },
  };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      draw[el.dataset.chart](el, data(el));
      el.dataset.drawn = "true";
    });
  });
})();
