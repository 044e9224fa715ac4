// Draws the console's charts with Plotly (served by this app, from the plotly package).
// Each chart's data sits in <script type="application/json" id="ID-data">; the page's tables
// carry the same figures for readers who do not see the chart.
(function () {
  "use strict";
  const layoutBase = { margin: { l: 60, r: 20, t: 10, b: 50 }, font: { family: "system-ui, sans-serif", size: 13 },
                       paper_bgcolor: "#fff", plot_bgcolor: "#fff", legend: { orientation: "h", y: -0.2 } };
  const config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"] };
  const colours = { granted: "#1a6b34", capped: "#a3201a", owed: "#0b5cad", counted: "#b3261e",
                    notCounted: "#9aa5b1", maintenance: "#2f6f9f", downtime: "#5b2c83", claims: "#8a5200" };

  function data(el) { return JSON.parse(document.getElementById(el.id + "-data").textContent); }

  const draw = {
    months(el, d) {
      Plotly.newPlot(el, [
        { type: "bar", name: "granted", x: d.months, y: d.granted, marker: { color: colours.granted } },
        { type: "bar", name: "forfeited by the cap", x: d.months, y: d.capped, marker: { color: colours.capped } },
        { type: "scatter", mode: "lines+markers", name: "credit owed", x: d.months, y: d.owed,
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
                 marker: { color: colours[row.kind] } };
      });
      Plotly.newPlot(el, traces, Object.assign({}, layoutBase, {
        barmode: "overlay", margin: { l: 260, r: 20, t: 10, b: 40 },
        xaxis: { type: "date", range: [d.start, d.end] }, yaxis: { automargin: true, autorange: "reversed" },
      }), config);
    },
    claims(el, d) {
      Plotly.newPlot(el, [
        { type: "bar", name: "credit entitled (" + d.currency + ")", x: d.customers, y: d.entitled,
          marker: { color: colours.granted } },
        { type: "scatter", mode: "markers", name: "claims filed", x: d.customers, y: d.claims, yaxis: "y2",
          marker: { color: colours.claims, size: 12, symbol: "diamond" } },
      ], Object.assign({}, layoutBase, { yaxis: { title: { text: "credit entitled" } },
        yaxis2: { title: { text: "claims filed", standoff: 10 }, overlaying: "y", side: "right", rangemode: "tozero",
                  dtick: 1, automargin: true },
        xaxis: { type: "category" } }), config);
    },
  };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      draw[el.dataset.chart](el, data(el));
      el.dataset.drawn = "true";
    });
  });
})();
