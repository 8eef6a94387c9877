// The trainer page: a softphone that drives simulated calls through the app's own webhooks, the
// live diagram, the transcript, the call history with replay, and analytics.
// No menu logic here: the server decides everything; this file shows what it answers.
"use strict";

(function () {
  const $ = (selector) => document.querySelector(selector);
  const els = {
    line: $("#line"), clockNow: $("#clock-now"), clockChosen: $("#clock-chosen"),
    clockAt: $("#clock-at"), afterHours: $("#after-hours"), hoursNote: $("#hours-note"),
    call: $("#call"), keypad: $("#keypad"), sayForm: $("#say-form"), sayText: $("#say-text"),
    silence: $("#silence"), mute: $("#mute"), displayState: $("#display-state"),
    displayLang: $("#display-lang"), displayKeys: $("#display-keys"),
    softphone: $("#softphone"), viewer: $("#viewer"), viewerRef: $("#viewer-ref"),
    viewerFacts: $("#viewer-facts"), viewerLive: $("#viewer-live"), prev: $("#replay-prev"),
    play: $("#replay-play"), next: $("#replay-next"), replayPos: $("#replay-pos"),
    exportLink: $("#export"), closeViewer: $("#close-viewer"), diagram: $("#diagram"),
    diagramTitle: $("#diagram-title"), transcript: $("#transcript"), history: $("#history tbody"),
    historyRefresh: $("#history-refresh"), analyticsLine: $("#analytics-line"),
    analyticsRefresh: $("#analytics-refresh"), charts: $("#charts"), toast: $("#toast"),
  };
  const KEYS = "0123456789*#";
  const POLL_MS = 1000;
  const PLAY_MS = 1600;
  const HISTORY_MS = 5000;
  const LANGUAGES = { en: "English", es: "Spanish" };

  const app = {
    lines: [],
    detail: null,   // the page call's last answer from the server
    spoken: 0,      // transcript entries of the page call already read aloud
    viewer: null,   // {sid, detail, index, pollTimer, playTimer}
    historyTimer: null,
    historyShown: "", // the rows on screen, as JSON
    queue: Promise.resolve(), // page-call actions run one after another, in order
  };

  // -- plumbing ------------------------------------------------------------------------------

  async function api(method, path, body) {
    const options = { method, headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(`/trainer/api${path}`, options);
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) throw new Error((data && data.error) || `HTTP ${response.status}`);
    return data;
  }

  /** Run page-call actions in order (fast typing must not reorder keys). */
  function enqueue(action) {
    app.queue = app.queue.then(action).catch((error) => toast(error.message));
    return app.queue;
  }

  let toastTimer = null;
  function toast(message) {
    els.toast.textContent = message;
    els.toast.classList.remove("hidden");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => els.toast.classList.add("hidden"), 5000);
  }

  function element(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function lineInfo(name) {
    return app.lines.find((line) => line.name === name) || null;
  }

  /** en / en-US -> en-US, as the line's voices say it. */
  function locale(lang, line) {
    if (!lang) return null;
    if (lang.includes("-")) return lang;
    const info = lineInfo(line);
    return (info && info.locales[lang]) || `${lang}-US`;
  }

  function languageName(tag) {
    if (!tag) return "";
    return `${LANGUAGES[tag.split("-")[0]] || tag} (${tag})`;
  }

  function stateName(state) {
    return state ? state.replace(/_/g, " ") : "";
  }

  /** A time today as 14:05:09; an older one with its date. */
  function when(epoch) {
    const date = new Date(epoch * 1000);
    const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    return date.toDateString() === new Date().toDateString()
      ? time : `${date.toLocaleDateString()} ${time}`;
  }

  function duration(seconds) {
    const s = Math.round(seconds);
    return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  }

  // -- views ---------------------------------------------------------------------------------

  function showView(name) {
    for (const tab of document.querySelectorAll(".tab")) {
      tab.classList.toggle("active", tab.dataset.view === name);
    }
    for (const view of document.querySelectorAll(".view")) {
      view.classList.toggle("hidden", view.id !== `view-${name}`);
    }
    clearInterval(app.historyTimer);
    if (name === "history") {
      loadHistory();
      app.historyTimer = setInterval(loadHistory, HISTORY_MS); // new calls appear on their own
    }
    if (name === "analytics") loadAnalytics();
  }

  function phoneVisible() {
    return !$("#view-phone").classList.contains("hidden") && els.viewer.classList.contains("hidden");
  }

  // -- lines and the diagram -----------------------------------------------------------------

  async function loadLines() {
    const data = await api("GET", "/lines");
    app.lines = data.lines;
    for (const select of [els.line, els.analyticsLine]) {
      select.innerHTML = "";
      for (const line of app.lines) {
        const option = element("option", "", `${line.name} — ${line.title}`);
        option.value = line.name;
        select.appendChild(option);
      }
    }
    els.line.value = lineInfo("main") ? "main" : app.lines[0].name;
    els.analyticsLine.value = els.line.value;
    await showLine(els.line.value);
  }

  async function showLine(line) {
    els.diagramTitle.textContent = line;
    const info = lineInfo(line);
    els.hoursNote.textContent = info && info.hours
      ? `This line is open ${info.hours.replace(/ \(.*\)$/, "")}.` : "This line is open 24/7.";
    els.hoursNote.title = info && info.hours ? `Open ${info.hours}` : "";
    await IvrDiagram.load(els.diagram, line);
  }

  // -- the softphone -------------------------------------------------------------------------

  function inCall() {
    return Boolean(app.detail && app.detail.live && !app.detail.live.ended);
  }

  function callSid() {
    return app.detail && app.detail.call ? app.detail.call.call_sid : null;
  }

  function chosenClock() {
    return els.clockChosen.checked && els.clockAt.value ? els.clockAt.value : null;
  }

  function toggleCall() {
    return enqueue(() => (inCall() ? hangUp() : placeCall()));
  }

  async function placeCall() {
    IvrAudio.cancel();
    closeViewer();
    app.detail = null;
    app.spoken = 0;
    els.transcript.innerHTML = "";
    const line = els.line.value;
    await showLine(line);
    renderPhone(await api("POST", "/calls", { line, now: chosenClock() }));
  }

  async function hangUp() {
    IvrAudio.cancel();
    renderPhone(await api("POST", `/calls/${callSid()}/hangup`));
  }

  function pressKey(key) {
    IvrAudio.cancel(); // the caller barges in, as on a real call
    IvrAudio.tone(key);
    flashKey(key);
    enqueue(async () => {
      if (!inCall()) { toast("No call: press Call (or Enter) first."); return; }
      renderPhone(await api("POST", `/calls/${callSid()}/press`, { keys: key }));
    });
  }

  function sayWords(text) {
    IvrAudio.cancel();
    enqueue(async () => {
      if (!inCall()) { toast("No call: press Call (or Enter) first."); return; }
      renderPhone(await api("POST", `/calls/${callSid()}/say`, { text }));
    });
  }

  function silence() {
    IvrAudio.cancel();
    enqueue(async () => {
      if (!inCall()) { toast("No call: press Call (or Enter) first."); return; }
      renderPhone(await api("POST", `/calls/${callSid()}/silence`));
    });
  }

  function flashKey(key) {
    const button = els.keypad.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (!button) return;
    button.classList.add("pressed");
    setTimeout(() => button.classList.remove("pressed"), 180);
  }

  /** Show the page call as the server answered it, and read new prompts aloud. */
  function renderPhone(detail) {
    app.detail = detail;
    const live = detail.live;
    const call = detail.call;
    const entries = live ? live.transcript : [];
    renderLiveTranscript(entries);
    const fresh = entries.filter((e) => e.n >= app.spoken && e.who === "ivr" && !e.sound);
    app.spoken = entries.length;
    if (fresh.length) {
      IvrAudio.cancel();
      for (const entry of fresh) IvrAudio.speak(entry.text, entry.lang);
    }
    const current = call ? call.state : live && live.state;
    IvrDiagram.show(els.diagram, detail.steps, current);
    for (const input of [els.line, els.clockNow, els.clockChosen, els.clockAt, els.afterHours]) {
      input.disabled = inCall(); // a call keeps the line and clock it was placed with
    }
    els.call.textContent = inCall() ? "Hang up" : "Call";
    els.call.classList.toggle("hangup", inCall());
    if (live && live.ended) {
      els.displayState.textContent = `Call ended: ${call ? call.outcome_label : live.outcome}`;
    } else {
      els.displayState.textContent = `State: ${stateName(current)}`;
    }
    const reference = call && call.reference ? ` · ref ${call.reference}` : "";
    const language = live && live.language ? LANGUAGES[live.language.split("-")[0]] || live.language : "";
    els.displayLang.textContent = language + reference;
    els.displayKeys.textContent = live && live.pending ? `Keys so far: ${live.pending}  (# to send)` : "";
  }

  function renderLiveTranscript(entries) {
    els.transcript.innerHTML = "";
    for (const entry of entries) {
      const li = element("li", `entry who-${entry.who}`);
      if (entry.lang) li.appendChild(element("span", "lang", entry.lang));
      const who = { ivr: "IVR", caller: "Caller", system: "" }[entry.who];
      if (who) li.appendChild(element("span", "who", who));
      li.appendChild(element("span", "text", entry.text));
      if (entry.who === "ivr" && entry.state) li.appendChild(element("span", "state", stateName(entry.state)));
      li.lang = entry.lang || "";
      els.transcript.appendChild(li);
    }
    if (!entries.length) {
      els.transcript.appendChild(element("li", "entry hint",
        "Choose a line and press Call. Then press keys, say words, or stay silent."));
      els.transcript.appendChild(element("li", "entry hint",
        "Keyboard: 0–9 * # press keys · Enter calls or hangs up · Space is silence."));
    }
    els.transcript.scrollTop = els.transcript.scrollHeight;
  }

  // -- the call viewer: follow a call live, replay it step by step ------------------------------

  async function openCall(sid) {
    stopViewer();
    IvrAudio.cancel();
    showView("phone");
    const detail = await api("GET", `/calls/${encodeURIComponent(sid)}`);
    app.viewer = { sid, detail, index: detail.steps.length - 1, pollTimer: null, playTimer: null };
    els.softphone.classList.add("hidden");
    els.viewer.classList.remove("hidden");
    await showLine(detail.call.line);
    renderViewer();
    if (detail.call.in_progress) app.viewer.pollTimer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    const viewer = app.viewer;
    if (!viewer) return;
    try {
      const detail = await api("GET", `/calls/${encodeURIComponent(viewer.sid)}`);
      if (app.viewer !== viewer) return;
      const before = viewer.detail.steps.length;
      const atEnd = viewer.index >= before - 1;
      viewer.detail = detail;
      if (detail.steps.length > before && atEnd && !viewer.playTimer) {
        viewer.index = detail.steps.length - 1;
        speakStep(detail.steps[viewer.index]);
      }
      renderViewer();
    } catch (error) {
      toast(error.message);
    }
    if (app.viewer === viewer && viewer.detail.call.in_progress) {
      viewer.pollTimer = setTimeout(poll, POLL_MS);
    }
  }

  function speakStep(step) {
    if (!step) return;
    IvrAudio.cancel();
    IvrAudio.speak(step.heard, locale(step.lang, app.viewer.detail.call.line));
  }

  function renderViewer() {
    const { detail, index } = app.viewer;
    const call = detail.call;
    const steps = detail.steps;
    els.viewerRef.textContent = call.reference ? `ref ${call.reference}` : call.call_sid;
    els.viewerFacts.innerHTML = "";
    const facts = [
      ["Line", call.line], ["Started", when(call.started_at)],
      ["Duration", duration(call.duration)], ["Outcome", call.outcome_label],
      ["From", call.page_call ? "this page" : call.caller || "unknown"],
    ];
    for (const [term, value] of facts) {
      els.viewerFacts.append(element("dt", "", term), element("dd", "", value));
    }
    els.viewerLive.classList.toggle("hidden", !call.in_progress);
    els.exportLink.href = `/trainer/api/calls/${encodeURIComponent(call.call_sid)}/scenario.yaml`;
    els.exportLink.setAttribute("download", `call-${call.reference || call.call_sid}.yaml`);
    const step = steps[index];
    els.replayPos.textContent = step
      ? `Step ${index + 1} of ${steps.length}: ${step.input} → ${stateName(step.dest)}`
      : "No steps recorded.";
    els.prev.disabled = index <= 0;
    els.next.disabled = index >= steps.length - 1;
    els.play.textContent = app.viewer.playTimer ? "❚❚ Pause" : "▶ Play";
    IvrDiagram.show(els.diagram, steps.slice(0, index + 1), step ? step.dest : call.state);
    renderStepTranscript(steps, index, call.line);
  }

  function renderStepTranscript(steps, index, line) {
    els.transcript.innerHTML = "";
    let now = null;
    steps.forEach((step, i) => {
      const cls = i > index ? " future" : i === index ? " now" : "";
      if (step.trigger !== "start") {
        const li = element("li", `entry who-caller${cls}`);
        li.appendChild(element("span", "lang", locale(step.input_lang, line)));
        li.appendChild(element("span", "who", "Caller"));
        li.appendChild(element("span", "text", step.input));
        els.transcript.appendChild(li);
      }
      const li = element("li", `entry who-ivr${cls}`);
      li.appendChild(element("span", "lang", locale(step.lang, line)));
      li.appendChild(element("span", "who", "IVR"));
      li.appendChild(element("span", "text", step.heard || "(nothing to say)"));
      li.appendChild(element("span", "state", stateName(step.dest)));
      li.title = "The prompt of this state, as recorded by the call's path";
      els.transcript.appendChild(li);
      if (i === index) now = li;
    });
    if (now) now.scrollIntoView({ block: "nearest" });
  }

  function replayTo(index) {
    const viewer = app.viewer;
    if (!viewer) return;
    const last = viewer.detail.steps.length - 1;
    viewer.index = Math.max(0, Math.min(last, index));
    speakStep(viewer.detail.steps[viewer.index]);
    renderViewer();
  }

  function togglePlay() {
    const viewer = app.viewer;
    if (!viewer) return;
    if (viewer.playTimer) { stopPlay(); renderViewer(); return; }
    if (viewer.index >= viewer.detail.steps.length - 1) viewer.index = -1;
    const tick = () => {
      if (app.viewer !== viewer) return;
      replayTo(viewer.index + 1);
      if (viewer.index >= viewer.detail.steps.length - 1) { stopPlay(); renderViewer(); return; }
      viewer.playTimer = setTimeout(tick, PLAY_MS);
    };
    viewer.playTimer = setTimeout(tick, 0);
    renderViewer();
  }

  function stopPlay() {
    if (app.viewer && app.viewer.playTimer) {
      clearTimeout(app.viewer.playTimer);
      app.viewer.playTimer = null;
    }
  }

  function stopViewer() {
    if (!app.viewer) return;
    stopPlay();
    clearTimeout(app.viewer.pollTimer);
    app.viewer = null;
  }

  function closeViewer() {
    const wasOpen = Boolean(app.viewer);
    stopViewer();
    els.viewer.classList.add("hidden");
    els.softphone.classList.remove("hidden");
    if (!wasOpen) return;
    IvrAudio.cancel();
    showLine(els.line.value).then(() => {
      if (app.detail) renderPhone(app.detail);
      else { IvrDiagram.clear(els.diagram); renderLiveTranscript([]); }
    });
  }

  // -- history -------------------------------------------------------------------------------

  async function loadHistory() {
    let data;
    try { data = await api("GET", "/calls?limit=50"); } catch (error) { toast(error.message); return; }
    const signature = JSON.stringify(data.calls);
    if (signature === app.historyShown) return; // unchanged: keep the rows (and any click) as they are
    app.historyShown = signature;
    els.history.innerHTML = "";
    for (const call of data.calls) {
      const tr = element("tr");
      tr.dataset.sid = call.call_sid;
      const started = element("td", "when", when(call.started_at));
      if (call.in_progress) started.appendChild(element("span", "badge live", "live"));
      const path = call.path.map(stateName);
      const shown = path.length > 6 ? [...path.slice(0, 2), "…", ...path.slice(-3)] : path;
      const pathCell = element("td", "path", shown.join(" → "));
      pathCell.title = path.join(" → ");
      tr.append(
        started, element("td", "", call.line), element("td", "num", duration(call.duration)),
        pathCell, element("td", "", call.outcome_label), element("td", "ref", call.reference),
        element("td", "from", call.page_call ? "this page" : call.caller || "—"));
      const actions = element("td", "actions");
      const open = element("button", "open", call.in_progress ? "Follow" : "Open");
      open.type = "button";
      open.addEventListener("click", () => openCall(call.call_sid).catch((e) => toast(e.message)));
      const download = element("a", "button export", "Export");
      download.href = `/trainer/api/calls/${encodeURIComponent(call.call_sid)}/scenario.yaml`;
      download.setAttribute("download", `call-${call.reference || call.call_sid}.yaml`);
      actions.append(open, download);
      tr.appendChild(actions);
      els.history.appendChild(tr);
    }
    if (!data.calls.length) {
      const tr = element("tr");
      const td = element("td", "note", "No calls yet: place one from the Phone view.");
      td.colSpan = 8;
      tr.appendChild(td);
      els.history.appendChild(tr);
    }
  }

  // -- analytics -----------------------------------------------------------------------------

  async function loadAnalytics() {
    const line = els.analyticsLine.value;
    if (!line) return;
    try {
      const data = await api("GET", `/lines/${encodeURIComponent(line)}/analytics`);
      IvrCharts.render(els.charts, data.analytics);
    } catch (error) {
      els.charts.innerHTML = "";
      els.charts.appendChild(element("p", "note", `Analytics are not available: ${error.message}`));
    }
  }

  // -- wiring --------------------------------------------------------------------------------

  function tonight() {
    const d = new Date();
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T21:30`;
  }

  function renderMute() {
    els.mute.textContent = IvrAudio.muted ? "Sound off" : "Sound on";
    els.mute.setAttribute("aria-pressed", String(IvrAudio.muted));
    els.mute.classList.toggle("off", IvrAudio.muted);
  }

  function typing(target) {
    return target instanceof HTMLElement
      && (target.matches("input[type=text], input[type=datetime-local], textarea, select")
        || target.isContentEditable);
  }

  let swallowSpace = false;
  function onKeyDown(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (!phoneVisible()) return;
    if (KEYS.includes(event.key)) {
      event.preventDefault();
      pressKey(event.key);
    } else if (event.key === "Enter") {
      event.preventDefault();
      toggleCall();
    } else if (event.key === " ") {
      event.preventDefault();
      swallowSpace = true;
      silence();
    }
  }

  function onKeyUp(event) {
    // A focused button clicks on Space's keyup: the shortcut already acted.
    if (event.key === " " && swallowSpace) { event.preventDefault(); swallowSpace = false; }
  }

  function init() {
    for (const tab of document.querySelectorAll(".tab")) {
      tab.addEventListener("click", () => showView(tab.dataset.view));
    }
    els.call.addEventListener("click", () => toggleCall());
    els.keypad.addEventListener("click", (event) => {
      const button = event.target.closest("[data-key]");
      if (button) pressKey(button.dataset.key);
    });
    els.sayForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = els.sayText.value.trim();
      if (!text) { toast("Type the words the caller says first."); return; }
      els.sayText.value = "";
      sayWords(text);
    });
    els.silence.addEventListener("click", () => silence());
    els.mute.addEventListener("click", () => { IvrAudio.setMuted(!IvrAudio.muted); renderMute(); });
    els.line.addEventListener("change", () => {
      els.analyticsLine.value = els.line.value;
      if (!inCall()) {
        app.detail = null;
        app.spoken = 0;
        renderLiveTranscript([]);
        showLine(els.line.value).then(() => IvrDiagram.clear(els.diagram));
      }
    });
    els.clockAt.value = tonight();
    els.clockAt.addEventListener("input", () => { els.clockChosen.checked = true; });
    els.afterHours.addEventListener("click", () => {
      els.clockAt.value = tonight();
      els.clockChosen.checked = true;
    });
    els.prev.addEventListener("click", () => { stopPlay(); replayTo(app.viewer.index - 1); });
    els.next.addEventListener("click", () => { stopPlay(); replayTo(app.viewer.index + 1); });
    els.play.addEventListener("click", () => togglePlay());
    els.closeViewer.addEventListener("click", () => closeViewer());
    for (const how of ["in", "out", "fit"]) {
      $(`#zoom-${how}`).addEventListener("click", () => IvrDiagram.setZoom(els.diagram, how));
    }
    els.historyRefresh.addEventListener("click", () => loadHistory());
    els.analyticsLine.addEventListener("change", () => loadAnalytics());
    els.analyticsRefresh.addEventListener("click", () => loadAnalytics());
    document.addEventListener("keydown", onKeyDown);
    document.addEventListener("keyup", onKeyUp);
    renderMute();
    renderLiveTranscript([]);
    loadLines()
      .then(() => { document.body.dataset.ready = "1"; })
      .catch((error) => toast(`Cannot load the lines: ${error.message}`));
  }

  init();
})();
