// The trainer page: a softphone that drives simulated calls through the app's own webhooks, the
// live diagram, the transcript, the call history with replay, analytics, a presenter view for a
// room and a classroom view of every live call on a line.
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
    diagramTitle: $("#diagram-title"), diagramText: $("#diagram-text"), transcript: $("#transcript"),
    transcriptBox: $("#transcript-box"), hints: $("#transcript-hints"), history: $("#history tbody"),
    historyRefresh: $("#history-refresh"), analyticsLine: $("#analytics-line"),
    analyticsRefresh: $("#analytics-refresh"), charts: $("#charts"), toast: $("#toast"),
    presenter: $("#presenter"), controlsToggle: $("#controls-toggle"), bannerState: $("#banner-state"),
    bannerDetail: $("#banner-detail"), seconds: $("#seconds"), classroomLine: $("#classroom-line"),
  };
  const KEYS = "0123456789*#";
  const POLL_MS = 1000;
  const PLAY_MS = 1600;
  const HISTORY_MS = 5000;
  const LANGUAGES = { en: "English", es: "Spanish" };
  const VIEWS = ["phone", "classroom", "history", "analytics"];
  const CENTRAL = "America/Chicago";
  const CLOCK = new Intl.DateTimeFormat("en-US", {
    timeZone: CENTRAL, hour: "numeric", minute: "2-digit", second: "2-digit",
  });
  const DAY = new Intl.DateTimeFormat("en-US", { timeZone: CENTRAL, month: "short", day: "numeric" });
  const DATE_KEY = new Intl.DateTimeFormat("en-CA", { timeZone: CENTRAL });

  const app = {
    lines: [],
    detail: null,   // the page call's last answer from the server
    spoken: 0,      // transcript entries of the page call already read aloud
    shown: 0,       // transcript entries of the page call already on screen
    viewer: null,   // {sid, detail, index, pollTimer, playTimer}
    view: "phone",
    presenter: false,
    historyTimer: null,
    historyShown: "", // the rows on screen, as JSON
    queue: Promise.resolve(), // page-call actions run one after another, in order
  };

  // -- plumbing ------------------------------------------------------------------------------

  /**
   * Call the trainer API. A state-changing request is JSON, carries the page's CSRF token
   * (`<meta name="csrf-token">`) as X-CSRF-Token, and is same-origin (the browser adds Origin):
   * web/security.py refuses anything else. A 401 (logged out) goes to the login page.
   */
  async function api(method, path, body) {
    const options = { method, headers: {}, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") {
      const meta = document.querySelector('meta[name="csrf-token"]');
      options.headers["X-CSRF-Token"] = meta ? meta.content : "";
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body === undefined ? {} : body);
    }
    const response = await fetch(`/trainer/api${path}`, options);
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (response.status === 401) {
      window.location.assign(`/trainer/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
    }
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

  function lineTitle(name) {
    const info = lineInfo(name);
    return info ? info.title : `${name} line`;
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /** en / en-US -> en-US, as the line's voices say it. */
  function locale(lang, line) {
    if (!lang) return null;
    if (lang.includes("-")) return lang;
    const info = lineInfo(line);
    return (info && info.locales[lang]) || `${lang}-US`;
  }

  /** en-US / es -> en / es: the language the diagram is labelled in. */
  function baseLang(lang) {
    return lang ? String(lang).split("-")[0].toLowerCase() : "en";
  }

  function stateName(state) {
    return state ? state.replace(/_/g, " ") : "";
  }

  /** An epoch (seconds) or an ISO 8601 time as a Date. */
  function toDate(value) {
    if (value === null || value === undefined || value === "") return null;
    const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  /** A time in Central (the clock every line keeps): 2:05:09 PM today, else with its date. */
  function when(value) {
    const date = toDate(value);
    if (!date) return "—";
    const time = CLOCK.format(date);
    return DATE_KEY.format(date) === DATE_KEY.format(new Date()) ? time : `${DAY.format(date)}, ${time}`;
  }

  function duration(seconds) {
    const s = Math.round(seconds);
    return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  }

  /** The words of a step: the server's `heard` (a string, or a list of strings or {text}). */
  function heardText(step) {
    const heard = step.heard;
    if (Array.isArray(heard)) {
      return heard.map((part) => (typeof part === "string" ? part : part && part.text) || "").filter(Boolean).join(" ");
    }
    return heard || "";
  }

  // -- views ---------------------------------------------------------------------------------

  function showView(name, options = {}) {
    if (!VIEWS.includes(name)) name = "phone";
    app.view = name;
    for (const tab of document.querySelectorAll(".tab")) {
      const on = tab.dataset.view === name;
      tab.classList.toggle("active", on);
      tab.setAttribute("aria-pressed", String(on));
    }
    for (const view of document.querySelectorAll(".view")) {
      view.classList.toggle("hidden", view.id !== `view-${name}`);
    }
    document.body.dataset.view = name;
    clearInterval(app.historyTimer);
    if (name === "history") {
      loadHistory();
      app.historyTimer = setInterval(loadHistory, HISTORY_MS); // new calls appear on their own
    }
    if (name === "analytics") loadAnalytics();
    if (name === "classroom") {
      IvrClassroom.open(els.classroomLine.value || els.line.value).catch((e) => toast(e.message));
    } else {
      IvrClassroom.stop();
    }
    if (name === "phone") IvrDiagram.resize(els.diagram);
    if (!options.keepUrl) writeUrl();
  }

  function setPresenter(on) {
    app.presenter = Boolean(on);
    document.body.classList.toggle("presenter", app.presenter);
    els.presenter.setAttribute("aria-pressed", String(app.presenter));
    els.presenter.textContent = app.presenter ? "Normal view" : "Presenter view";
    setControlsOpen(!app.presenter);
    if (app.presenter && app.view !== "phone") showView("phone", { keepUrl: true });
    writeUrl();
    requestAnimationFrame(() => IvrDiagram.resize(els.diagram));
  }

  function setControlsOpen(open) {
    els.softphone.classList.toggle("open", open);
    els.controlsToggle.setAttribute("aria-expanded", String(open));
    requestAnimationFrame(() => IvrDiagram.resize(els.diagram));
  }

  /** The address says what is on screen: ?view=presenter, ?view=classroom&line=tty. */
  function writeUrl() {
    const params = new URLSearchParams();
    if (app.presenter) params.set("view", "presenter");
    else if (app.view !== "phone") params.set("view", app.view);
    if (app.view === "classroom" && els.classroomLine.value) params.set("line", els.classroomLine.value);
    const query = params.toString();
    const url = `${window.location.pathname.replace(/\/(presenter|classroom)\/?$/, "/")}${query ? `?${query}` : ""}`;
    if (url !== window.location.pathname + window.location.search) window.history.replaceState(null, "", url);
  }

  function readUrl() {
    const params = new URLSearchParams(window.location.search);
    const view = params.get("view") || document.body.dataset.startView || "phone";
    const line = params.get("line");
    if (line && lineInfo(line)) {
      els.classroomLine.value = line;
      if (view !== "classroom") { els.line.value = line; els.analyticsLine.value = line; }
    }
    if (view === "presenter") setPresenter(true);
    showView(view === "presenter" ? "phone" : view, { keepUrl: view === "phone" });
  }

  function phoneVisible() {
    return app.view === "phone" && els.viewer.classList.contains("hidden");
  }

  // -- lines and the diagram -----------------------------------------------------------------

  async function loadLines() {
    const data = await api("GET", "/lines");
    app.lines = data.lines;
    for (const select of [els.line, els.analyticsLine, els.classroomLine]) {
      select.replaceChildren();
      for (const line of app.lines) {
        const option = element("option", "", line.title);
        option.value = line.name;
        select.appendChild(option);
      }
    }
    els.line.value = lineInfo("main") ? "main" : app.lines[0].name;
    els.analyticsLine.value = els.line.value;
    els.classroomLine.value = els.line.value;
  }

  /** Show `line`'s diagram in `lang` (the call's language) with its hours. */
  async function showLine(line, lang) {
    els.diagramTitle.textContent = lineTitle(line);
    const info = lineInfo(line);
    els.hoursNote.textContent = info && info.hours
      ? `This line is open ${info.hours.replace(/ \(.*\)$/, "")}.` : "This line is open 24/7.";
    els.hoursNote.title = info && info.hours ? `Open ${info.hours}` : "";
    return IvrDiagram.load(els.diagram, line, baseLang(lang));
  }

  /** Draw the path on the diagram, in the call's language (the graph is fetched again if it changed). */
  function drawPath(line, lang, steps, current) {
    const wanted = baseLang(lang);
    const draw = () => {
      IvrDiagram.show(els.diagram, steps, current);
      describePath(steps, current);
      if (current && !(app.detail && app.detail.live && app.detail.live.ended && !app.viewer)) {
        els.bannerState.textContent = IvrDiagram.label(els.diagram, current) || stateName(current);
      }
    };
    if (els.diagram.dataset.line !== line || els.diagram.dataset.lang !== wanted) {
      showLine(line, wanted).then(draw);
    } else {
      draw();
    }
  }

  /** The diagram's text alternative: where the call is and how it got there. */
  function describePath(steps, current) {
    const path = [];
    for (const step of steps || []) {
      if (!path.length) path.push(stateName(step.source));
      if (step.dest !== path[path.length - 1]) path.push(stateName(step.dest));
    }
    els.diagramText.textContent = current
      ? `The call is in ${stateName(current)}. Path: ${path.join(", then ")}.`
      : "No call on the diagram.";
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
    resetTranscript();
    const line = els.line.value;
    await showLine(line, "en");
    renderPhone(await api("POST", "/calls", { line, now: chosenClock() }));
  }

  async function hangUp() {
    IvrAudio.cancel();
    renderPhone(await api("POST", `/calls/${callSid()}/hangup`));
  }

  /** The tab is closing or going away: no page call stays "live" after it. */
  function hangUpOnLeave() {
    if (!inCall() || !navigator.sendBeacon) return;
    const body = new Blob([JSON.stringify({ csrf_token: csrfToken() })], { type: "application/json" });
    navigator.sendBeacon(`/trainer/api/calls/${encodeURIComponent(callSid())}/hangup`, body);
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

  function resetDisplay() {
    els.displayState.textContent = "No call";
    els.displayLang.textContent = "";
    els.displayKeys.textContent = "";
    els.bannerState.textContent = "No call";
    els.bannerDetail.textContent = `${lineTitle(els.line.value)} · press Call (or Enter)`;
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
    const lang = (live && live.language) || (call && call.lang) || "en";
    drawPath(call ? call.line : els.line.value, lang, detail.steps, current);
    for (const input of [els.line, els.clockNow, els.clockChosen, els.clockAt, els.afterHours]) {
      input.disabled = inCall(); // a call keeps the line and clock it was placed with
    }
    document.body.classList.toggle("in-call", inCall());
    els.call.textContent = inCall() ? "Hang up" : "Call";
    els.call.classList.toggle("hangup", inCall());
    const stateText = live && live.ended
      ? `Call ended: ${call ? call.outcome_label : live.outcome}`
      : `State: ${stateName(current)}`;
    els.displayState.textContent = stateText;
    els.displayState.title = stateText;
    const reference = call && call.reference ? ` · ref ${call.reference}` : "";
    const language = LANGUAGES[baseLang(lang)] || lang;
    els.displayLang.textContent = language + reference;
    els.displayKeys.textContent = live && live.pending ? `Keys so far: ${live.pending} (# to send)` : "";
    els.bannerState.textContent = live && live.ended
      ? stateText : IvrDiagram.label(els.diagram, current) || stateName(current) || "No call";
    const said = [...entries].reverse().find((e) => e.who === "caller");
    els.bannerDetail.textContent = [language, said ? `caller ${said.text}` : "", live && live.pending ? `keys ${live.pending}` : ""]
      .filter(Boolean).join(" · ");
  }

  function transcriptEntry(entry) {
    const li = element("li", `entry who-${entry.who}`);
    if (entry.lang) li.appendChild(element("span", "lang", entry.lang));
    const who = { ivr: "IVR", caller: "Caller", system: "" }[entry.who];
    if (who) li.appendChild(element("span", "who", who));
    li.appendChild(element("span", "text", entry.text));
    if (entry.who === "ivr" && entry.state) li.appendChild(element("span", "state", stateName(entry.state)));
    if (entry.lang) li.lang = entry.lang;
    return li;
  }

  function resetTranscript() {
    app.shown = 0;
    els.transcript.replaceChildren();
    els.transcript.setAttribute("aria-live", "polite");
    showHints(true);
  }

  function showHints(on) {
    els.hints.replaceChildren();
    if (!on) return;
    els.hints.appendChild(element("li", "entry hint",
      "Choose a line and press Call. Then press keys, say words, or stay silent."));
    els.hints.appendChild(element("li", "entry hint",
      "Keyboard: 0–9 * # press keys · Enter calls or hangs up · Space is silence (when no button has focus)."));
  }

  /** The live region only ever gets new lines appended: a screen reader hears each line once. */
  function renderLiveTranscript(entries) {
    if (entries.length < app.shown) resetTranscript();
    showHints(!entries.length);
    for (const entry of entries.slice(app.shown)) els.transcript.appendChild(transcriptEntry(entry));
    app.shown = entries.length;
    els.transcriptBox.scrollTop = els.transcriptBox.scrollHeight;
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
    els.transcript.setAttribute("aria-live", "off"); // replay redraws the list: not a live region
    showHints(false);
    await showLine(detail.call.line, detail.call.lang);
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
    IvrAudio.speak(heardText(step), locale(step.lang, app.viewer.detail.call.line));
  }

  function renderViewer() {
    const { detail, index } = app.viewer;
    const call = detail.call;
    const steps = detail.steps;
    els.viewerRef.textContent = call.reference ? `ref ${call.reference}` : call.call_sid;
    els.viewerFacts.replaceChildren();
    const facts = [
      ["Line", lineTitle(call.line)], ["Started", `${when(call.started_at)} CT`],
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
    const lang = step ? step.lang : call.lang;
    drawPath(call.line, lang, steps.slice(0, index + 1), step ? step.dest : call.state);
    const shown = step ? step.dest : call.state;
    els.bannerState.textContent = IvrDiagram.label(els.diagram, shown) || stateName(shown);
    els.bannerDetail.textContent = step ? `Step ${index + 1} of ${steps.length} · ${step.input}` : "";
    renderStepTranscript(steps, index, call.line);
  }

  function renderStepTranscript(steps, index, line) {
    els.transcript.replaceChildren();
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
      li.appendChild(element("span", "text", heardText(step) || "(nothing to say)"));
      li.appendChild(element("span", "state", stateName(step.dest)));
      if (step.approximate) li.title = "The prompt of this state (this call's words were not recorded)";
      els.transcript.appendChild(li);
      if (i === index) now = li;
    });
    if (now) {
      // Scroll the transcript box only, never the page (a phone would jump).
      const box = els.transcriptBox;
      const top = now.offsetTop - box.offsetTop;
      if (top < box.scrollTop || top + now.offsetHeight > box.scrollTop + box.clientHeight) {
        box.scrollTop = Math.max(0, top - box.clientHeight / 3);
      }
    }
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
    resetTranscript();
    if (app.detail) {
      renderPhone(app.detail);
    } else {
      resetDisplay();
      drawPath(els.line.value, "en", [], null);
    }
  }

  // -- history -------------------------------------------------------------------------------

  function cell(className, text, label) {
    const td = element("td", className, text);
    td.dataset.label = label;
    return td;
  }

  async function loadHistory() {
    let data;
    try { data = await api("GET", "/calls?limit=50"); } catch (error) { toast(error.message); return; }
    const signature = JSON.stringify(data.calls);
    if (signature === app.historyShown) return; // unchanged: keep the rows (and any click) as they are
    app.historyShown = signature;
    els.history.replaceChildren();
    for (const call of data.calls) {
      const tr = element("tr");
      tr.dataset.sid = call.call_sid;
      const started = cell("when", when(call.started_at), "Started");
      if (call.in_progress) started.appendChild(element("span", "badge live", "live"));
      const path = call.path.map(stateName);
      const shown = path.length > 6 ? [...path.slice(0, 2), "…", ...path.slice(-3)] : path;
      const pathCell = cell("path", shown.join(" → "), "Path");
      pathCell.title = path.join(" → ");
      tr.append(
        started, cell("", lineTitle(call.line), "Line"), cell("num", duration(call.duration), "Duration"),
        pathCell, cell("outcome", call.outcome_label, "Outcome"), cell("ref", call.reference, "Reference"),
        cell("from", call.page_call ? "this page" : call.caller || "—", "From"));
      const actions = cell("actions", undefined, "");
      const open = element("button", "open", call.in_progress ? "Follow" : "Open");
      open.type = "button";
      open.setAttribute("aria-label", `${open.textContent} the call of ${when(call.started_at)}`);
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
      els.charts.replaceChildren(element("p", "note", `Analytics are not available: ${error.message}`));
    }
  }

  // -- keyboard ------------------------------------------------------------------------------

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

  /** A control that takes typed characters itself (digits must go into it, not to the call). */
  function takesText(target) {
    return target instanceof HTMLElement
      && (target.matches("input:not([type=radio]):not([type=checkbox]):not([type=button]), textarea, select")
        || target.isContentEditable);
  }

  /**
   * Any control with a keyboard behaviour of its own (Enter and Space activate it, not the call).
   * A scrollable region (the transcript) is focusable but not a control: shortcuts work there.
   */
  function interactive(target) {
    return target instanceof HTMLElement && target !== document.body && target.getAttribute("role") !== "region"
      && (takesText(target)
        || Boolean(target.closest("button, a[href], input, select, textarea, summary, [tabindex], [contenteditable=''], [contenteditable=true]")));
  }

  function onKeyDown(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat && event.key === "Enter") return;
    if (!phoneVisible() || takesText(event.target)) return;
    if (KEYS.includes(event.key)) {
      event.preventDefault(); // digits never do anything native on a button: always a key press
      pressKey(event.key);
      return;
    }
    if (interactive(event.target)) return; // Enter and Space belong to the focused control
    if (event.key === "Enter") {
      event.preventDefault();
      toggleCall();
    } else if (event.key === " ") {
      event.preventDefault(); // and the page does not scroll
      silence();
    }
  }

  // -- wiring --------------------------------------------------------------------------------

  function init() {
    for (const tab of document.querySelectorAll(".tab")) {
      tab.addEventListener("click", () => {
        if (app.presenter && tab.dataset.view !== "phone") setPresenter(false);
        showView(tab.dataset.view);
      });
    }
    els.presenter.addEventListener("click", () => setPresenter(!app.presenter));
    els.controlsToggle.addEventListener("click", () => setControlsOpen(!els.softphone.classList.contains("open")));
    els.call.addEventListener("click", () => toggleCall());
    els.keypad.addEventListener("click", (event) => {
      const button = event.target.closest("[data-key]");
      if (!button) return;
      pressKey(button.dataset.key);
      // A mouse or finger press leaves no focus behind: Enter then hangs up, as the hint says.
      if (event.detail > 0) button.blur();
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
        resetTranscript();
        resetDisplay();
        drawPath(els.line.value, "en", [], null);
      }
    });
    els.classroomLine.addEventListener("change", () => {
      IvrClassroom.open(els.classroomLine.value).catch((e) => toast(e.message));
      writeUrl();
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
    for (const how of ["in", "out", "fit", "follow"]) {
      $(`#zoom-${how}`).addEventListener("click", () => IvrDiagram.setZoom(els.diagram, how));
    }
    const renderSeconds = () => els.seconds.setAttribute("aria-pressed", String(IvrDiagram.seconds));
    els.seconds.addEventListener("click", () => { IvrDiagram.setSeconds(!IvrDiagram.seconds); renderSeconds(); });
    renderSeconds();
    els.historyRefresh.addEventListener("click", () => loadHistory());
    els.analyticsLine.addEventListener("change", () => loadAnalytics());
    els.analyticsRefresh.addEventListener("click", () => loadAnalytics());
    document.addEventListener("keydown", onKeyDown);
    window.addEventListener("pagehide", hangUpOnLeave);
    let resizing = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => {
        IvrDiagram.resize(els.diagram);
        IvrDiagram.resize($("#classroom-diagram"));
      }, 150);
    });
    IvrClassroom.init({
      diagram: $("#classroom-diagram"), diagramLine: $("#classroom-diagram-line"),
      status: $("#classroom-status"), count: $("#classroom-count"), countLabel: $("#classroom-count-label"),
      states: $("#classroom-states tbody"), calls: $("#classroom-calls"),
    }, { when, lineTitle });
    renderMute();
    resetTranscript();
    loadLines()
      .then(() => {
        readUrl();
        resetDisplay();
        return showLine(els.line.value, "en");
      })
      .then(() => {
        drawPath(els.line.value, "en", [], null);
        document.body.dataset.ready = "1";
      })
      .catch((error) => toast(`Cannot load the lines: ${error.message}`));
  }

  init();
})();
