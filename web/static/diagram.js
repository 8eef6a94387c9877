// The line's menu diagram: the server's SVG (ivr.diagram.to_svg) inlined, with the path drawn on
// it. Nodes are <g class="node" id="state-NAME">, edges <path class="edge" data-source data-dest>.
// Exposes window.IvrDiagram.
"use strict";

(function () {
  const cache = new Map(); // line -> SVG text

  /** Fetch (once) and inline the diagram of `line` into `container`. */
  async function load(container, line) {
    if (container.dataset.line === line && container.querySelector("svg")) return true;
    let svg = cache.get(line);
    if (!svg) {
      const response = await fetch(`/trainer/api/lines/${encodeURIComponent(line)}/diagram.svg`);
      if (!response.ok) {
        let message = `HTTP ${response.status}`;
        try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
        container.innerHTML = "";
        const p = document.createElement("p");
        p.className = "note";
        p.textContent = `The diagram is not available: ${message}`;
        container.appendChild(p);
        container.dataset.line = "";
        return false;
      }
      svg = await response.text();
      cache.set(line, svg);
    }
    container.innerHTML = svg; // our own server's SVG, built from the flow file
    container.dataset.line = line;
    const root = container.querySelector("svg");
    if (root) {
      root.dataset.naturalWidth = root.getAttribute("width") || "";
      root.removeAttribute("height");
      root.setAttribute("role", "img");
      root.setAttribute("aria-label", `Menu diagram of the ${line} line`);
    }
    applyZoom(container);
    return true;
  }

  // Zoom: a factor of the SVG's own size, or "fit" (the whole menu in the panel's width).
  let zoom = window.localStorage.getItem("ivr-trainer-zoom") || "1.2";

  function applyZoom(container) {
    const root = container.querySelector("svg");
    if (!root) return;
    const natural = parseFloat(root.dataset.naturalWidth);
    if (zoom === "fit" || !natural) {
      root.style.width = "100%";
    } else {
      root.style.width = `${Math.round(natural * parseFloat(zoom))}px`;
    }
    root.style.maxWidth = zoom === "fit" ? "100%" : "none";
  }

  /** Change the zoom: "in", "out" or "fit"; returns the new setting. */
  function setZoom(container, how) {
    const steps = [0.5, 0.75, 1, 1.2, 1.5, 2];
    const now = zoom === "fit" ? 0.5 : parseFloat(zoom);
    if (how === "fit") zoom = "fit";
    else if (how === "in") zoom = String(steps.find((s) => s > now + 0.01) || steps[steps.length - 1]);
    else zoom = String([...steps].reverse().find((s) => s < now - 0.01) || steps[0]);
    window.localStorage.setItem("ivr-trainer-zoom", zoom);
    applyZoom(container);
    const here = container.querySelector(".node.current");
    if (here) here.scrollIntoView({ block: "center", inline: "center" });
    return zoom;
  }

  function node(container, state) {
    return container.querySelector(`#state-${CSS.escape(state)}`);
  }

  function edges(container, source, dest) {
    return container.querySelectorAll(
      `.edge[data-source="${CSS.escape(source)}"][data-dest="${CSS.escape(dest)}"]`);
  }

  /**
   * Draw a path: `steps` are {source, dest} in call order, `current` the state the call is in.
   * Visited states and taken edges get classes; the last edge and the current state stand out.
   */
  function show(container, steps, current) {
    for (const el of container.querySelectorAll(".visited, .current, .taken, .last")) {
      el.classList.remove("visited", "current", "taken", "last");
    }
    steps.forEach((step, index) => {
      for (const name of [step.source, step.dest]) {
        const el = node(container, name);
        if (el) el.classList.add("visited");
      }
      for (const edge of edges(container, step.source, step.dest)) {
        edge.classList.add("taken");
        if (index === steps.length - 1) edge.classList.add("last");
      }
    });
    const here = current ? node(container, current) : null;
    if (here) {
      here.classList.add("current");
      reveal(container, here);
    }
    return Boolean(here);
  }

  /** Bring a node to the middle: glide when it is in sight (the room sees the move), else jump. */
  function reveal(container, el) {
    const box = container.getBoundingClientRect();
    const r = el.getBoundingClientRect();
    const inSight = r.right > box.left && r.left < box.right && r.bottom > box.top && r.top < box.bottom;
    el.scrollIntoView({ block: "center", inline: "center", behavior: inSight ? "smooth" : "instant" });
  }

  function clear(container) {
    show(container, [], null);
  }

  window.IvrDiagram = { load, show, clear, setZoom };
})();
