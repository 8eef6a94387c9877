// Bar charts a room can read: plain SVG drawn here, large type, one question per chart.
// IvrCharts.render(container, analytics) draws ivr.analytics.line_analytics's result: how calls
// ended, the option chosen at each menu, where callers hang up, where they hit retries.
// Exposes window.IvrCharts.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const BAR = 42;       // bar height
  const GAP = 16;       // between bars
  const LABEL = 330;    // room for the labels on the left
  const WIDTH = 960;    // viewBox width; the chart scales to its box
  const FONT = 26;
  const SEGMENTS = {    // retry kinds, in stacking order
    no_input: "no input", invalid: "wrong key", invalid_entry: "bad entry",
  };

  function words(name) {
    return String(name).replace(/_/g, " ");
  }

  function svgElement(name, attributes, text) {
    const el = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes || {})) el.setAttribute(key, value);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function element(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function clip(text, length) {
    return text.length > length ? text.slice(0, length - 1) + "…" : text;
  }

  /**
   * One horizontal bar chart. rows: [{label, value, note?, segments?: [{kind, value}]}];
   * segments stack inside the bar (their kinds are CSS classes, named in the legend).
   */
  function barChart(title, rows, options = {}) {
    const figure = element("figure", "chart");
    figure.appendChild(element("figcaption", "", title));
    if (options.subtitle) figure.appendChild(element("p", "chart-subtitle", options.subtitle));
    if (!rows.length) {
      figure.appendChild(element("p", "note", options.empty || "No calls yet."));
      return figure;
    }
    if (options.legend) {
      const legend = element("p", "legend");
      for (const [kind, name] of Object.entries(options.legend)) {
        const item = element("span", "legend-item");
        item.append(element("span", `swatch seg-${kind}`), document.createTextNode(name));
        legend.appendChild(item);
      }
      figure.appendChild(legend);
    }
    const max = Math.max(1, ...rows.map((row) => row.value));
    const height = rows.length * (BAR + GAP) + GAP;
    const svg = svgElement("svg", {
      viewBox: `0 0 ${WIDTH} ${height}`, class: "bars", role: "img",
      "aria-label": `${title}: ` + rows.map((row) => `${row.label} ${row.value}`).join(", "),
    });
    // Bars stop where the longest value text still fits after them.
    const valueText = (row) => (row.note ? `${row.value} · ${row.note}` : String(row.value));
    const longest = Math.max(...rows.map((row) => valueText(row).length));
    const room = WIDTH - LABEL - 24 - longest * FONT * 0.62;
    rows.forEach((row, index) => {
      const y = GAP + index * (BAR + GAP);
      const width = row.value > 0 ? Math.max(6, (row.value / max) * room) : 0;
      svg.appendChild(svgElement("text", {
        x: LABEL - 14, y: y + BAR / 2, class: "bar-label", "text-anchor": "end",
        "dominant-baseline": "middle", "font-size": FONT,
      }, clip(String(row.label), 22)));
      const group = svgElement("g", { class: "bar", "data-label": row.label, "data-value": row.value });
      group.appendChild(svgElement("title", {}, `${row.label}: ${row.value}${row.note ? ` (${row.note})` : ""}`));
      if (row.segments) {
        let x = LABEL;
        for (const segment of row.segments) {
          if (!segment.value) continue;
          const w = (segment.value / row.value) * width;
          group.appendChild(svgElement("rect", {
            x, y, width: w, height: BAR, class: `seg seg-${segment.kind}`,
          }));
          x += w;
        }
      } else {
        group.appendChild(svgElement("rect", { x: LABEL, y, width, height: BAR, rx: 5, class: "seg" }));
      }
      svg.appendChild(group);
      svg.appendChild(svgElement("text", {
        x: LABEL + width + 12, y: y + BAR / 2, class: "bar-value",
        "dominant-baseline": "middle", "font-size": FONT,
      }, valueText(row)));
    });
    figure.appendChild(svg);
    return figure;
  }

  function tile(label, value) {
    const div = element("div", "tile");
    div.append(element("strong", "", value), element("span", "", label));
    return div;
  }

  function counts(table) {
    return Object.entries(table || {}).map(([label, value]) => ({ label: words(label), value }));
  }

  /** "9 (stays)" -> "9 (same menu)": the option keeps the caller where they are. */
  function optionLabel(label) {
    return words(label).replace(/\(stays\)$/, "(same menu)");
  }

  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : many}`;
  }

  function render(container, data) {
    container.innerHTML = "";
    const tiles = element("div", "tiles");
    tiles.appendChild(tile("calls", String(data.calls || 0)));
    if (data.steps) tiles.appendChild(tile("inputs per call (average)", String(data.steps.average)));
    if (data.duration_seconds) {
      tiles.appendChild(tile("seconds per call (average)", String(Math.round(data.duration_seconds.average))));
    }
    tiles.appendChild(tile("switched language", String(data.switched_language || 0)));
    container.appendChild(tiles);

    const grid = element("div", "chart-grid");
    // A call still going has not ended: it is counted apart, not as a way of ending.
    const ended = counts(data.outcome_kinds).filter((row) => row.label !== "in progress");
    const going = (data.outcome_kinds || {})["in progress"] || 0;
    grid.appendChild(barChart("How calls ended", ended,
      { subtitle: going ? `${plural(going, "call", "calls")} still on the line` : "" }));
    grid.appendChild(barChart("Transfers by desk", counts(data.transfers),
      { empty: "No transfers yet." }));
    grid.appendChild(barChart("Where callers hang up", counts(data.hangups),
      { empty: "Nobody hung up in a menu." }));
    const retries = Object.entries(data.retries || {}).map(([state, kinds]) => {
      const segments = Object.keys(SEGMENTS).map((kind) => ({ kind, value: kinds[kind] || 0 }));
      const value = segments.reduce((sum, s) => sum + s.value, 0);
      return { label: words(state), value, segments,
               note: kinds.failover ? `${kinds.failover} sent to a person` : "" };
    }).filter((row) => row.value > 0);
    grid.appendChild(barChart("Retries by state", retries,
      { legend: SEGMENTS, empty: "No retries yet." }));
    container.appendChild(grid);

    const menus = element("section", "chart-group");
    menus.appendChild(element("h3", "", "Option chosen at each menu"));
    const choices = Object.entries(data.choices || {});
    for (const [state, table] of choices) {
      const rows = Object.values(table.options).map((option) => ({
        label: optionLabel(option.label), value: option.count,
        note: option.spoken ? `${option.spoken} by voice` : "",
      }));
      menus.appendChild(barChart(words(state), rows, { subtitle: plural(table.total, "choice", "choices") }));
    }
    if (!choices.length) menus.appendChild(element("p", "note", "No choices yet."));
    container.appendChild(menus);
  }

  window.IvrCharts = { render, barChart };
})();
