// Sound for the room: prompts read aloud (Web Speech API) and keypad tones (WebAudio DTMF).
// Exposes window.IvrAudio. Nothing here knows the menu: it speaks what the server sent.
"use strict";

(function () {
  // Each key is the sum of a row and a column frequency (ITU-T Q.23).
  const DTMF = {
    "1": [697, 1209], "2": [697, 1336], "3": [697, 1477],
    "4": [770, 1209], "5": [770, 1336], "6": [770, 1477],
    "7": [852, 1209], "8": [852, 1336], "9": [852, 1477],
    "*": [941, 1209], "0": [941, 1336], "#": [941, 1477],
  };
  const TONE_SECONDS = 0.16;
  let context = null;
  let muted = window.localStorage.getItem("ivr-trainer-muted") === "1";

  function audioContext() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!context) context = new Context();
    if (context.state === "suspended") context.resume();
    return context;
  }

  /** Play the two frequencies of a phone key. */
  function tone(key) {
    const pair = DTMF[key];
    const ctx = pair && !muted ? audioContext() : null;
    if (!ctx) return;
    const gain = ctx.createGain();
    gain.gain.value = 0.12;
    gain.connect(ctx.destination);
    const start = ctx.currentTime;
    for (const hertz of pair) {
      const oscillator = ctx.createOscillator();
      oscillator.type = "sine";
      oscillator.frequency.value = hertz;
      oscillator.connect(gain);
      oscillator.start(start);
      oscillator.stop(start + TONE_SECONDS);
    }
  }

  function hasSpeech() {
    return "speechSynthesis" in window && "SpeechSynthesisUtterance" in window;
  }

  /** The installed voice for a language tag: exact (es-US), else the same language (es-MX). */
  function voiceFor(lang) {
    const wanted = (lang || "en-US").toLowerCase();
    const voices = window.speechSynthesis.getVoices();
    const norm = (v) => v.lang.replace("_", "-").toLowerCase();
    return voices.find((v) => norm(v) === wanted)
      || voices.find((v) => norm(v).split("-")[0] === wanted.split("-")[0])
      || null;
  }

  /** Queue a prompt in its language (en-US, es-US); returns false when muted or unsupported. */
  function speak(text, lang) {
    if (muted || !text || !hasSpeech()) return false;
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = lang || "en-US";
    const voice = voiceFor(utterance.lang);
    if (voice) utterance.voice = voice;
    window.speechSynthesis.speak(utterance);
    return true;
  }

  /** Stop speaking now: a key press barges in, as on a real call. */
  function cancel() {
    if (hasSpeech()) window.speechSynthesis.cancel();
  }

  function setMuted(value) {
    muted = Boolean(value);
    window.localStorage.setItem("ivr-trainer-muted", muted ? "1" : "0");
    if (muted) cancel();
  }

  if (hasSpeech()) {
    // Voices load late in some browsers; asking once starts the load.
    window.speechSynthesis.getVoices();
  }

  window.IvrAudio = {
    DTMF, tone, speak, cancel, setMuted,
    get muted() { return muted; },
  };
})();
