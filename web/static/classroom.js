// The classroom view: every live call on a line (trainees' page calls and real phone calls) as
// markers on the diagram, with counts per state and where callers dropped out. Updated by
// server-sent events (GET /trainer/api/lines/<line>/live, event "calls"); EventSource reconnects
// on its own. Exposes window.IvrClassroom.
"use strict";

(function () {
  const POLL_MS = 3000; // only when the event stream is refused (an older server)
  const state = { line: null, source: null, pollTimer: null, last: null, els: null, hooks: null };

  const words = (name) => String(name || "").replace(/_/g, " ");
  /** A state as the diagram names it ("Billing and insurance"), else its name in words. */
  const title = (name) => IvrDiagram.label(state.els.diagram, name) || words(name);

  function element(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function status(text, kind) {
    state.els.status.textContent = text;
    state.els.status.dataset.kind = kind || "";
  }

  /** Draw one snapshot: {line, at, calls: [{sid, state, lang, source, started_at, steps}], counts, dropped}. */
  function render(snapshot) {
    if (!snapshot || snapshot.line !== state.line) return;
    state.last = snapshot;
    const { els, hooks } = state;
    const calls = snapshot.calls || [];
    const counts = snapshot.counts || {};
    const dropped = snapshot.dropped || {};
    els.count.textContent = String(calls.length);
    els.countLabel.textContent = calls.length === 1 ? "call in progress" : "calls in progress";
    const names = Object.keys(counts).concat(Object.keys(dropped)).filter((v, i, all) => all.indexOf(v) === i);
    names.sort((a, b) => (counts[b] || 0) - (counts[a] || 0) || (dropped[b] || 0) - (dropped[a] || 0));
    els.states.replaceChildren();
    for (const name of names) {
      const tr = element("tr");
      tr.dataset.state = name;
      tr.append(element("th", "", title(name)), element("td", "num now", String(counts[name] || 0)),
        element("td", "num dropped", String(dropped[name] || 0)));
      tr.firstChild.scope = "row";
      if (!dropped[name]) tr.lastChild.dataset.zero = "";
      els.states.appendChild(tr);
    }
    if (!names.length) {
      const tr = element("tr");
      const td = element("td", "note", "Nobody is on this line yet. Trainees: open this page and press Call.");
      td.colSpan = 3;
      tr.appendChild(td);
      els.states.appendChild(tr);
    }
    els.calls.replaceChildren();
    for (const call of calls) {
      const li = element("li", `call ${call.source === "twilio" ? "twilio" : "page"}`);
      li.dataset.sid = call.sid;
      li.dataset.state = call.state || "";
      const from = call.source === "twilio" ? "phone" : "page";
      li.append(element("span", "from", from), element("span", "where", title(call.state)),
        element("span", "meta", `${call.lang || ""} · since ${hooks.when(call.started_at)} · ${call.steps || 0} ${call.steps === 1 ? "step" : "steps"}`));
      els.calls.appendChild(li);
    }
    IvrDiagram.markers(els.diagram, calls, dropped);
    status(`Live · updated ${hooks.when(snapshot.at)}`, "live");
  }

  function stop() {
    if (state.source) state.source.close();
    state.source = null;
    clearTimeout(state.pollTimer);
    state.pollTimer = null;
  }

  async function poll() {
    const line = state.line;
    try {
      const response = await fetch(`/trainer/api/lines/${encodeURIComponent(line)}/live.json`);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      if (line === state.line) render(await response.json());
    } catch (error) {
      status(`The live view is not available: ${error.message}`, "error");
    }
    if (line === state.line && !state.source) state.pollTimer = setTimeout(poll, POLL_MS);
  }

  function listen() {
    stop();
    const line = state.line;
    const source = new EventSource(`/trainer/api/lines/${encodeURIComponent(line)}/live`);
    state.source = source;
    source.addEventListener("calls", (event) => {
      try { render(JSON.parse(event.data)); } catch (error) { status(`Bad update: ${error.message}`, "error"); }
    });
    source.addEventListener("open", () => status("Live", "live"));
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        // Refused (not a stream): fall back to the snapshot, every few seconds.
        if (state.source === source) state.source = null;
        if (line === state.line) poll();
      } else {
        status("Reconnecting…", "error");
      }
    });
    poll(); // the snapshot at once, whatever the stream does
  }

  /** Open the view on `line`: draw its diagram, then follow its live calls. */
  async function open(line) {
    const changed = line !== state.line;
    state.line = line;
    state.els.diagramLine.textContent = state.hooks.lineTitle(line);
    await IvrDiagram.load(state.els.diagram, line, "en");
    IvrDiagram.resize(state.els.diagram);
    if (changed || !state.source) listen();
    else if (state.last) render(state.last);
  }

  function init(els, hooks) {
    state.els = els;
    state.hooks = hooks;
  }

  window.IvrClassroom = { init, open, stop, render, get line() { return state.line; } };
})();
