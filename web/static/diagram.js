// The line's menu diagram on Cytoscape.js with ELK's layered layout (both vendored, served by the
// app). Drawn from GET /trainer/api/lines/<line>/graph?lang=; it follows a call: the path taken
// is lit, the current state stands out and the view glides to it and its neighbours, at a size a
// room can read. Several diagrams can live on one page (the phone view, the classroom view).
// Exposes window.IvrDiagram.
"use strict";

(function () {
  // One size for every state: a label that changes size in place is clipped by Cytoscape's cache.
  const FONT = 20;          // node text, in graph units
  const CURRENT_FONT = FONT;
  // The current state's text on screen is never smaller than this: 20 px on a projector (1080p
  // and up, read from the back of a room), 16 px on a laptop or a phone (read from a chair).
  const readablePx = () => (window.innerWidth >= 1600 ? 20 : 16);
  const OVERVIEW_PX = 13;   // with no call: the start menu and all its choices, a little smaller
  const MAX_ZOOM = 1.25;
  const GLIDE_MS = 450;
  // Someone who asked their system for less motion gets no glides: the view jumps instead
  // (WCAG 2.3.3, "Animation from Interactions"). Read on each move, so a change applies at once.
  const MOTION = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : null;
  const still = () => Boolean(MOTION && MOTION.matches);
  const glideMs = (ms) => (still() ? 0 : ms);
  const NODE_WIDTH = 250;
  const CHARS_PER_LINE = 20;
  const ANY = "any";

  const graphs = new Map();        // "line|lang" -> Promise of the graph JSON
  const diagrams = new WeakMap();  // container -> {cy, line, lang, graph, ready, steps, current}
  let showSeconds = window.localStorage.getItem("ivr-trainer-seconds") === "1";

  const STYLE = [
    { selector: "node", style: {
      shape: "round-rectangle", width: NODE_WIDTH, height: "data(height)",
      "background-color": "#ffffff", "border-width": 2, "border-color": "#8a96a0",
      label: "data(label)", "text-wrap": "wrap", "text-max-width": NODE_WIDTH - 20,
      "text-valign": "center", "text-halign": "center", "font-size": FONT, color: "#15202b",
      "font-family": "system-ui, sans-serif",
      "line-height": 1.2, "transition-property": "background-color, border-color", "transition-duration": 250,
    } },
    { selector: "node[kind = 'menu']", style: { "background-color": "#e3eefb", "border-color": "#0b5cad" } },
    { selector: "node[kind = 'start']", style: { "background-color": "#eef1f4", "border-color": "#5b6770" } },
    { selector: "node[kind = 'entry']", style: { "background-color": "#f1e9fb", "border-color": "#6a3fa0" } },
    { selector: "node[kind = 'transfer']", style: { "background-color": "#e6f4ea", "border-color": "#1b7f3b" } },
    { selector: "node[kind = 'end']", style: { "background-color": "#fde8e6", "border-color": "#b3261e" } },
    { selector: "node[kind = 'any']", style: {
      "background-color": "#fff8e1", "border-color": "#8a6d00", "border-style": "dashed", "border-width": 3,
    } },
    { selector: "node.visited", style: { "background-color": "#d8f0dd", "border-color": "#1b7f3b", "border-width": 4 } },
    { selector: "node.current", style: {
      "background-color": "#ffcc33", "border-color": "#c25e00", "border-width": 7, "z-index": 20,
    } },
    { selector: "edge", style: {
      width: 2, "line-color": "#8a96a0", "target-arrow-color": "#8a96a0", "target-arrow-shape": "triangle",
      "arrow-scale": 1.3, "curve-style": "bezier", label: "data(shown)", "font-size": 18, "font-weight": "bold",
      color: "#15202b", "text-background-color": "#ffffff", "text-background-opacity": 0.95,
      "text-background-padding": 3, "text-background-shape": "round-rectangle", "text-rotation": "none",
      "control-point-step-size": 50,
    } },
    { selector: "edge[kind = 'global'], edge[kind = 'failover']", style: { "line-style": "dashed", opacity: 0.55 } },
    { selector: "edge[kind = 'retry']", style: { "line-style": "dotted" } },
    // A key that keeps the caller where they are is drawn only once the call has used it.
    { selector: "edge:loop", style: { display: "none" } },
    { selector: "edge:loop.taken", style: { display: "element" } },
    { selector: "edge:loop", style: { "loop-direction": "0deg", "loop-sweep": "50deg", "control-point-step-size": 110 } },
    { selector: "edge.taken", style: {
      width: 5, "line-color": "#1b7f3b", "target-arrow-color": "#1b7f3b", "arrow-scale": 0.9,
      "line-style": "solid", "z-index": 10, opacity: 1,
    } },
    { selector: "edge.last", style: {
      width: 7, "line-color": "#c25e00", "target-arrow-color": "#c25e00", "arrow-scale": 0.8, "z-index": 11,
      "font-size": 20,
    } },
    { selector: "node.marker", style: {
      shape: "round-rectangle", width: "data(width)", height: 34, "background-color": "#b3261e",
      "border-width": 0, color: "#ffffff", "font-size": 22, "font-weight": "bold", label: "data(label)",
      "text-wrap": "none", "z-index": 30, events: "no",
    } },
    { selector: "node.marker.twilio", style: { "background-color": "#5b2a86" } },
    { selector: "node.occupied", style: { "border-color": "#b3261e", "border-width": 6 } },
    { selector: "node.marker.drop", style: { "background-color": "#5b6770", "font-size": 18, height: 28 } },
  ];

  // -- data ----------------------------------------------------------------------------------

  function fetchGraph(line, lang) {
    const key = `${line}|${lang}`;
    if (!graphs.has(key)) {
      const url = `/trainer/api/lines/${encodeURIComponent(line)}/graph?lang=${encodeURIComponent(lang)}`;
      const promise = fetch(url, { headers: { Accept: "application/json" } }).then(async (response) => {
        let data = null;
        try { data = await response.json(); } catch (_) { data = null; }
        if (!response.ok) throw new Error((data && data.error) || `HTTP ${response.status}`);
        return data;
      });
      promise.catch(() => graphs.delete(key)); // try again next time
      graphs.set(key, promise);
    }
    return graphs.get(key);
  }

  function lines(text) {
    return String(text || "").split("\n").reduce(
      (sum, part) => sum + Math.max(1, Math.ceil(part.length / CHARS_PER_LINE)), 0);
  }

  /** A label the room can read: repeated parts once ("0 / say “x” / 0 / say “x”" -> "0 / say “x”"). */
  function tidy(label) {
    const parts = String(label || "").split(" / ").filter((part, i, all) => all.indexOf(part) === i);
    const text = parts.join(" / ");
    return text.length > 44 ? `${text.slice(0, 43).trimEnd()}…` : text;
  }

  function edgeText(edge) {
    const label = tidy(edge.label);
    return showSeconds && typeof edge.seconds === "number" ? `${label} · ${Math.round(edge.seconds)} s` : label;
  }

  /**
   * Cytoscape elements of a graph. Each arrow "from any menu" starts at a proxy of the any node
   * of its own, laid out next to where it leads: a 0 pressed deep in a submenu then lights a short
   * arrow beside the representative, not a line across the whole menu.
   */
  function elements(graph) {
    const ids = new Set(graph.nodes.map((node) => node.id));
    const anyNode = graph.nodes.find((node) => node.kind === "any");
    const node = (id, label, kind) => ({
      group: "nodes",
      data: { id, label, kind, height: Math.max(56, lines(label) * CURRENT_FONT * 1.2 + 20) },
    });
    const out = [];
    const proxies = new Set();
    const edges = [];
    let anyUsed = false;
    for (const edge of graph.edges) {
      if (!ids.has(edge.source) || !ids.has(edge.target)) continue;
      let source = edge.source;
      const fromAny = anyNode && edge.source === anyNode.id && edge.target !== anyNode.id;
      if (fromAny) {
        source = `${ANY}:${edge.target}`;
        if (!proxies.has(source)) {
          proxies.add(source);
          out.push(node(source, anyNode.label, "any"));
        }
      } else if (anyNode && (edge.source === anyNode.id || edge.target === anyNode.id)) {
        anyUsed = true;
      }
      edges.push({
        group: "edges",
        data: {
          id: `e:${edge.id}`, source, target: edge.target, label: edge.label || "",
          key: edge.key || "", kind: edge.kind || "choice", seconds: edge.seconds, shown: edgeText(edge),
          sources: edge.sources || null, fromAny: Boolean(fromAny),
        },
      });
    }
    for (const item of graph.nodes) {
      if (item === anyNode && !anyUsed) continue;
      out.push(node(item.id, item.label, item.kind));
    }
    return out.concat(edges);
  }

  // -- drawing -------------------------------------------------------------------------------

  function note(container, text) {
    container.replaceChildren();
    const p = document.createElement("p");
    p.className = "note";
    p.textContent = text;
    container.appendChild(p);
  }

  /** Draw the diagram of `line` in `lang` into `container` (once per line and language). */
  async function load(container, line, lang) {
    lang = lang || "en";
    const had = diagrams.get(container);
    if (had && had.line === line && had.lang === lang) return had.ready;
    let graph;
    try {
      graph = await fetchGraph(line, lang);
    } catch (error) {
      if (had && had.cy) had.cy.destroy();
      diagrams.delete(container);
      note(container, `The diagram is not available: ${error.message}`);
      container.dataset.line = "";
      return false;
    }
    const now = diagrams.get(container);
    if (now && now !== had) return now.ready; // a newer load won the race
    if (had && had.cy) had.cy.destroy();
    container.replaceChildren();
    container.dataset.line = line;
    container.dataset.lang = lang;
    const cy = window.cytoscape({
      container, elements: elements(graph), style: STYLE, minZoom: 0.15, maxZoom: 3,
      boxSelectionEnabled: false, autoungrabify: true, autounselectify: true,
    });
    const state = { cy, line, lang, graph, steps: [], current: null, ready: null, markers: [] };
    diagrams.set(container, state);
    state.ready = new Promise((resolve) => {
      const layout = cy.layout({
        name: "elk", fit: false, animate: false, nodeDimensionsIncludeLabels: false,
        elk: {
          algorithm: "layered", "elk.direction": "RIGHT",
          "elk.layered.spacing.nodeNodeBetweenLayers": 120, "elk.spacing.nodeNode": 34,
          "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
          "elk.layered.crossingMinimization.forceNodeModelOrder": false,
          "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
        },
      });
      layout.one("layoutstop", () => resolve(true));
      layout.run();
    });
    await state.ready;
    if (diagrams.get(container) !== state) return false;
    container.setAttribute("role", "img");
    container.setAttribute("aria-label", `Menu diagram of the ${line} line`);
    const first = state.pending || { steps: [], current: null };
    state.pending = null;
    paint(state, first.steps, first.current, { instant: true });
    return true;
  }

  /** The key a step pressed ('1', '*', '#'), or its trigger for other input. */
  function stepKey(step) {
    const trigger = step.trigger || "";
    const keys = { press_star: "*", press_pound: "#" };
    if (keys[trigger]) return keys[trigger];
    if (trigger.startsWith("press_")) return trigger.slice(6);
    return trigger;
  }

  /** The drawn edge a step went along: its own arrow, else the "from any menu" one. */
  function edgeFor(cy, step) {
    const key = stepKey(step);
    const pick = (found) => {
      if (found.empty()) return null;
      const same = found.filter((edge) => edge.data("key") === key);
      return (same.nonempty() ? same : found).first();
    };
    const direct = cy.edges().filter((e) => e.data("source") === step.source && e.data("target") === step.dest);
    if (step.source === step.dest) {
      const loop = pick(direct.filter((edge) => edge.data("key") === key));
      if (loop) return loop;
      return pick(cy.edges().filter((e) => e.data("source") === ANY && e.data("target") === ANY
        && e.data("key") === key));
    }
    const global = cy.edges().filter((e) => e.data("fromAny") && e.data("target") === step.dest);
    const from = global.filter((e) => (e.data("sources") || []).includes(step.source));
    return pick(direct) || pick(from) || pick(global);
  }

  function paint(state, steps, current, options = {}) {
    const cy = state.cy;
    state.steps = steps || [];
    state.current = current || null;
    state.broken = [];
    cy.batch(() => {
      cy.elements().removeClass("visited current taken last");
      state.steps.forEach((step, index) => {
        for (const name of [step.source, step.dest]) cy.getElementById(name).addClass("visited");
        if (step.trigger === "start" && step.source === step.dest) return;
        const edge = edgeFor(cy, step);
        if (edge) {
          edge.addClass("taken");
          edge.source().addClass("visited");
          if (index === state.steps.length - 1) edge.addClass("last");
        } else if (step.source !== step.dest && cy.getElementById(step.source).nonempty()) {
          state.broken.push(`${step.source} → ${step.dest}`);
        }
      });
      if (current) cy.getElementById(current).removeClass("visited").addClass("current");
    });
    focus(state, options);
  }

  /**
   * What to frame, best first: the current state with its neighbours and the state the call came
   * from; then with only the states it leads to; then with the state it came from; then alone.
   */
  function framings(state) {
    const cy = state.cy;
    let here = state.current ? cy.getElementById(state.current) : cy.collection();
    if (here.empty()) here = startMenu(cy);
    if (here.empty()) return { here, options: [cy.nodes()] };
    const plain = (nodes) => nodes.not(".marker").filter((n) => n.id() !== ANY || here.id() === ANY);
    // Where the call came from: the last arrow's start ("from any menu" for a 0, # or failover).
    const came = cy.edges(".last").sources().filter((n) => n.id() !== here.id());
    const next = plain(here.outgoers("node"));
    return {
      here,
      options: [
        plain(here.closedNeighborhood().nodes()).union(came),
        here.union(next).union(came),
        here.union(next),
        here.union(came),
      ],
    };
  }

  function startMenu(cy) {
    const start = cy.nodes().filter((n) => n.indegree(false) === 0 && n.data("kind") !== "any" && !n.hasClass("marker"));
    const menu = start.outgoers("node").filter((n) => n.data("kind") === "menu");
    return menu.nonempty() ? menu.first() : cy.nodes("[kind = 'menu']").first();
  }

  /** Glide to the widest framing that fits at a readable size (else the current state alone). */
  function focus(state, options = {}) {
    const cy = state.cy;
    const { here, options: choices } = framings(state);
    if (here.empty()) return;
    const width = cy.width();
    const height = cy.height();
    if (!width || !height) return;
    const pad = Math.min(40, width * 0.04);
    const readable = (state.current ? readablePx() / CURRENT_FONT : OVERVIEW_PX / FONT) * 1.01;
    const at = here.position();
    // Nothing fits: readable, the current state left of the middle, its choices to its right.
    let zoom = readable;
    const side = here.outgoers("node").nonempty() ? 1 : -1; // a transfer or goodbye: the arrows come from the left
    let centre = { x: at.x + side * Math.max(0, width / 2 - pad - (NODE_WIDTH / 2) * zoom - 30) / zoom, y: at.y };
    for (const eles of choices) {
      if (eles.length < 2) continue; // the current state alone says nothing about the path
      const box = eles.boundingBox({ includeLabels: true, includeOverlays: false });
      // Best: the current state in the middle with the whole framing around it.
      const around = Math.min(
        (width / 2 - pad) / Math.max(at.x - box.x1, box.x2 - at.x, 1),
        (height / 2 - pad) / Math.max(at.y - box.y1, box.y2 - at.y, 1));
      const fit = Math.min((width - 2 * pad) / box.w, (height - 2 * pad) / box.h);
      if (around >= readable) {
        zoom = Math.min(MAX_ZOOM, around);
        centre = at;
        break;
      }
      if (fit >= readable) {
        zoom = Math.min(MAX_ZOOM, fit);
        centre = { x: box.x1 + box.w / 2, y: box.y1 + box.h / 2 };
        break;
      }
    }
    const pan = { x: width / 2 - centre.x * zoom, y: height / 2 - centre.y * zoom };
    cy.stop(true, true);
    if (options.instant || document.hidden || still()) {
      cy.viewport({ zoom, pan });
      state.moving = false;
    } else {
      const glide = (state.glide || 0) + 1;
      state.glide = glide;
      state.moving = true;
      cy.animate({ zoom, pan }, {
        duration: GLIDE_MS, easing: "ease-in-out-cubic",
        complete: () => { if (state.glide === glide) state.moving = false; },
      });
    }
  }

  /** Draw a call's path: `steps` are {source, dest, trigger} in call order, `current` its state. */
  function show(container, steps, current) {
    const state = diagrams.get(container);
    if (!state) return false;
    // Kept aside until drawn: describe() reports a state only once the view is moving to it.
    state.pending = { steps: steps || [], current: current || null };
    state.ready.then(() => {
      if (diagrams.get(container) !== state || !state.pending) return;
      const { steps: path, current: here } = state.pending;
      state.pending = null;
      paint(state, path, here);
    });
    return true;
  }

  function clear(container) {
    return show(container, [], null);
  }

  /** "in", "out" or "fit" (the whole menu); "follow" frames the current state again. */
  function setZoom(container, how) {
    const state = diagrams.get(container);
    if (!state) return;
    const cy = state.cy;
    const centre = { x: cy.width() / 2, y: cy.height() / 2 };
    if (how === "fit") cy.animate({ fit: { eles: cy.nodes(), padding: 20 } }, { duration: glideMs(GLIDE_MS) });
    else if (how === "follow") focus(state);
    else cy.animate({ zoom: { level: cy.zoom() * (how === "in" ? 1.25 : 0.8), renderedPosition: centre } },
      { duration: glideMs(200) });
  }

  /** Show or hide the seconds of listening on each edge (from `ivr lint`, when the graph has them). */
  function setSeconds(on) {
    showSeconds = Boolean(on);
    window.localStorage.setItem("ivr-trainer-seconds", showSeconds ? "1" : "0");
    for (const container of document.querySelectorAll("[data-line]")) {
      const state = diagrams.get(container);
      if (!state) continue;
      state.cy.edges().forEach((edge) => edge.data("shown", edgeText(edge.data())));
    }
    return showSeconds;
  }

  /**
   * The classroom: every live call as a marker next to the state it is in (counted by where the
   * call comes from), and the states where callers dropped out outlined.
   */
  function markers(container, calls, dropped) {
    const state = diagrams.get(container);
    if (!state) return;
    state.ready.then(() => {
      const cy = state.cy;
      cy.batch(() => {
        cy.nodes(".marker").remove();
        cy.nodes().removeClass("occupied");
        const by = new Map();
        for (const call of calls || []) {
          if (!by.has(call.state)) by.set(call.state, []);
          by.get(call.state).push(call);
        }
        const badge = (name, kind, count, label, y) => {
          const node = cy.getElementById(name);
          const box = node.boundingBox();
          const slot = cy.nodes(".marker").filter((m) => m.data("state") === name && m.data("row") === y).length;
          const width = 24 + label.length * 12;
          const marker = cy.add({
            group: "nodes", data: { id: `marker:${name}:${kind}`, label, state: name, count, width, row: y },
            classes: `marker ${kind}`,
            position: { x: box.x1 + 6 + width / 2 + slot * 118, y: y === "top" ? box.y1 - 16 : box.y2 + 16 },
          });
          marker.lock();
        };
        for (const [name, here] of by) {
          const node = cy.getElementById(name);
          if (node.empty()) continue;
          node.addClass("occupied");
          const phones = here.filter((call) => call.source === "twilio").length;
          const pages = here.length - phones;
          if (pages) badge(name, "page", pages, `${pages} page`, "top");
          if (phones) badge(name, "twilio", phones, `${phones} phone`, "top");
        }
        for (const [name, count] of Object.entries(dropped || {})) {
          if (count > 0 && cy.getElementById(name).nonempty()) badge(name, "drop", count, `${count} hung up`, "bottom");
        }
      });
      if (!state.current) {
        const busy = cy.nodes(".occupied");
        const fit = busy.nonempty() ? busy.union(cy.nodes(".marker.page, .marker.twilio")) : startMenu(cy).closedNeighborhood().nodes();
        const box = fit.boundingBox({ includeLabels: true });
        const zoom = Math.min(MAX_ZOOM, (cy.width() - 80) / box.w, (cy.height() - 80) / box.h);
        const pan = { x: cy.width() / 2 - (box.x1 + box.w / 2) * zoom, y: cy.height() / 2 - (box.y1 + box.h / 2) * zoom };
        cy.stop(true, true);
        if (still()) cy.viewport({ zoom, pan });
        else cy.animate({ zoom, pan }, { duration: GLIDE_MS });
      }
    });
  }

  /** What is drawn, for tests and the page's text alternative. */
  function describe(container) {
    const state = diagrams.get(container);
    if (!state) return null;
    const cy = state.cy;
    const rect = container.getBoundingClientRect();
    const here = state.current ? cy.getElementById(state.current) : cy.collection();
    const box = here.nonempty() ? here.renderedBoundingBox({ includeLabels: false }) : null;
    return {
      line: state.line,
      lang: state.lang,
      zoom: cy.zoom(),
      animating: Boolean(state.moving || state.pending) || cy.animated(),
      current: state.current,
      currentLabel: here.nonempty() ? here.data("label") : null,
      currentFontPx: here.nonempty() ? parseFloat(here.style("font-size")) * cy.zoom() : null,
      currentBox: box && { left: rect.left + box.x1, top: rect.top + box.y1, right: rect.left + box.x2, bottom: rect.top + box.y2 },
      panel: { left: rect.left, top: rect.top, right: rect.right, bottom: rect.bottom },
      visited: cy.nodes(".visited").map((n) => n.id()),
      taken: cy.edges(".taken").map((e) => ({ source: e.data("fromAny") ? ANY : e.data("source"), target: e.data("target"), key: e.data("key"), last: e.hasClass("last") })),
      broken: state.broken || [],
      markers: cy.nodes(".marker.page, .marker.twilio").map((n) => ({ state: n.data("state"), count: n.data("count"), kind: n.hasClass("twilio") ? "twilio" : "page" })),
      dropped: cy.nodes(".marker.drop").map((n) => ({ state: n.data("state"), count: n.data("count") })),
      labels: cy.nodes().not(".marker").map((n) => n.data("label")),
      edgeLabels: cy.edges().map((e) => e.data("shown")),
    };
  }

  /** The label a state has on the diagram (in the call's language), or null. */
  function label(container, id) {
    const state = diagrams.get(container);
    const node = state && id ? state.cy.getElementById(id) : null;
    return node && node.nonempty() ? node.data("label") : null;
  }

  function resize(container) {
    const state = diagrams.get(container);
    if (!state) return;
    state.cy.resize();
    focus(state, { instant: true });
  }

  window.IvrDiagram = { load, show, clear, setZoom, setSeconds, markers, describe, resize, label,
    get seconds() { return showSeconds; } };
})();
