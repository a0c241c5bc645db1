/*!
 * SupportLine chat widget. One script, one global (window.SupportLine), styles
 * isolated in a Shadow DOM. Message data is only ever rendered as text.
 */
(() => {
  "use strict";

  if (window.SupportLine && window.SupportLine.__supportline) {
    return;
  }

  const VERSION = "1.0.0";
  const SCRIPT = document.currentScript;
  const SCRIPT_URL = SCRIPT && SCRIPT.src ? new URL(SCRIPT.src, location.href) : new URL(location.href);

  const STRINGS = {
    en: {
      title: "Support",
      subtitleBot: "Our assistant answers right away",
      botName: "Assistant",
      agentRole: "Support agent",
      openChat: "Open chat",
      closeChat: "Close chat",
      unread: "{n} unread",
      placeholder: "Write a message\u2026",
      send: "Send",
      messageLabel: "Message",
      connecting: "Connecting\u2026",
      reconnecting: "Connection lost. Reconnecting\u2026",
      offline: "You're offline. Messages will be sent when you're back.",
      online: "You're back online.",
      queued: "Connecting you to a person\u2026",
      position: "You are number {position} in line.",
      waitMinutes: "Expected wait: about {minutes} min.",
      waitShort: "Expected wait: less than a minute.",
      noAgents: "No one from our team is available right now.",
      afterHours: "We're outside our business hours right now.",
      leaveEmail: "Leave your email address and we'll get back to you.",
      emailLabel: "Email address",
      emailNote: "Anything else we should know? (optional)",
      emailSubmit: "Send",
      emailInvalid: "Please enter a valid email address.",
      emailThanks: "Thanks! We'll reply to {email}.",
      chattingWith: "You're chatting with {name}",
      closed: "This chat has been closed.",
      rateTitle: "How did we do?",
      rateLegend: "Your rating",
      star: "{n} of 5",
      rateComment: "Comment (optional)",
      rateSubmit: "Send rating",
      ratePick: "Please choose a rating.",
      rateThanks: "Thanks for your feedback!",
      newChat: "Start a new chat",
      typingBot: "The assistant is typing\u2026",
      typingAgent: "{name} is typing\u2026",
      sending: "Sending\u2026",
      waiting: "Waiting for connection\u2026",
      failed: "Not sent: {reason}",
      retry: "Retry",
      suggestions: "Suggested articles",
      image: "Image",
      attachment: "Attachment",
      errorTooLarge: "that message is too long",
      errorRateLimited: "you're sending messages too quickly",
      errorGeneric: "something went wrong",
      unavailable: "The service is having trouble. Please try again shortly.",
    },
    de: {
      title: "Support",
      subtitleBot: "Unser Assistent antwortet sofort",
      botName: "Assistent",
      agentRole: "Support-Team",
      openChat: "Chat \u00f6ffnen",
      closeChat: "Chat schlie\u00dfen",
      unread: "{n} ungelesen",
      placeholder: "Nachricht schreiben\u2026",
      send: "Senden",
      messageLabel: "Nachricht",
      connecting: "Verbinde\u2026",
      reconnecting: "Verbindung unterbrochen. Verbinde erneut\u2026",
      offline: "Sie sind offline. Nachrichten werden gesendet, sobald Sie wieder online sind.",
      online: "Wieder online.",
      queued: "Wir verbinden Sie mit einem Menschen\u2026",
      position: "Sie sind Nummer {position} in der Warteschlange.",
      waitMinutes: "Voraussichtliche Wartezeit: etwa {minutes} Min.",
      waitShort: "Voraussichtliche Wartezeit: unter einer Minute.",
      noAgents: "Gerade ist niemand aus unserem Team erreichbar.",
      afterHours: "Wir sind gerade au\u00dferhalb unserer Gesch\u00e4ftszeiten.",
      leaveEmail: "Hinterlassen Sie Ihre E-Mail-Adresse, wir melden uns.",
      emailLabel: "E-Mail-Adresse",
      emailNote: "M\u00f6chten Sie noch etwas erg\u00e4nzen? (optional)",
      emailSubmit: "Senden",
      emailInvalid: "Bitte geben Sie eine g\u00fcltige E-Mail-Adresse ein.",
      emailThanks: "Danke! Wir antworten an {email}.",
      chattingWith: "Sie chatten mit {name}",
      closed: "Dieser Chat wurde beendet.",
      rateTitle: "Wie war unser Service?",
      rateLegend: "Ihre Bewertung",
      star: "{n} von 5",
      rateComment: "Kommentar (optional)",
      rateSubmit: "Bewertung senden",
      ratePick: "Bitte w\u00e4hlen Sie eine Bewertung.",
      rateThanks: "Danke f\u00fcr Ihr Feedback!",
      newChat: "Neuen Chat beginnen",
      typingBot: "Der Assistent schreibt\u2026",
      typingAgent: "{name} schreibt\u2026",
      sending: "Wird gesendet\u2026",
      waiting: "Warte auf Verbindung\u2026",
      failed: "Nicht gesendet: {reason}",
      retry: "Erneut versuchen",
      suggestions: "Passende Artikel",
      image: "Bild",
      attachment: "Anhang",
      errorTooLarge: "die Nachricht ist zu lang",
      errorRateLimited: "zu viele Nachrichten in kurzer Zeit",
      errorGeneric: "ein Fehler ist aufgetreten",
      unavailable: "Der Dienst hat gerade Probleme. Bitte versuchen Sie es gleich noch einmal.",
    },
  };

  const DEFAULTS = {
    serverUrl: SCRIPT_URL.origin,
    socketIoUrl: new URL("vendor/socket.io.min.js", SCRIPT_URL).href,
    socketPath: "/socket.io",
    title: null,
    subtitle: null,
    greeting: null,
    botName: null,
    language: (navigator.language || "en").slice(0, 2).toLowerCase(),
    position: "bottom-right",
    colors: {},
    strings: {},
    openOnStart: false,
    articleSuggestions: true,
    zIndex: 2147483000,
  };

  const COLOR_DEFAULTS = {
    primary: "#1f6f5c",
    onPrimary: "#ffffff",
    background: "#ffffff",
    text: "#1d2329",
    visitorBubble: "#1f6f5c",
    onVisitorBubble: "#ffffff",
    agentBubble: "#fff4e0",
    botBubble: "#f1f3f5",
  };

  const MAX_MESSAGE_LENGTH = 2000;
  const TYPING_IDLE_MS = 2500;
  const SUGGEST_DEBOUNCE_MS = 350;
  const ACK_TIMEOUT_MS = 10000;

  const STYLES = `
:host { all: initial; }
.sl { position: fixed; bottom: 20px; right: 20px; z-index: var(--sl-z);
  font: 400 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--sl-text); letter-spacing: normal; text-transform: none; text-align: left;
  direction: ltr; visibility: visible; -webkit-font-smoothing: antialiased; }
.sl[data-position="bottom-left"] { right: auto; left: 20px; }
.sl *, .sl *::before, .sl *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
.sl button, .sl input, .sl textarea { font: inherit; color: inherit; margin: 0; }
.sl button { cursor: pointer; }
.sl :focus-visible { outline: 3px solid var(--sl-focus); outline-offset: 2px; }
.vh { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }

.launcher { position: relative; width: 60px; height: 60px; border-radius: 50%; border: 0;
  background: var(--sl-primary); color: var(--sl-on-primary); display: grid; place-items: center;
  box-shadow: 0 6px 20px rgba(16, 24, 40, .28); transition: transform .15s ease; margin-left: auto; }
.sl[data-position="bottom-left"] .launcher { margin-left: 0; }
.launcher:hover { transform: scale(1.05); }
.launcher svg { width: 28px; height: 28px; }
.badge { position: absolute; top: -3px; right: -3px; min-width: 22px; height: 22px; padding: 0 6px;
  border-radius: 11px; background: #d92d20; color: #fff; font-size: 12px; font-weight: 700;
  line-height: 22px; text-align: center; border: 2px solid #fff; }

.panel { position: absolute; bottom: 76px; right: 0; width: 380px; height: min(620px, calc(100vh - 110px));
  display: flex; flex-direction: column; background: var(--sl-background); border-radius: 16px;
  overflow: hidden; box-shadow: 0 12px 48px rgba(16, 24, 40, .28); border: 1px solid rgba(16, 24, 40, .08); }
.sl[data-position="bottom-left"] .panel { right: auto; left: 0; }

.header { background: var(--sl-primary); color: var(--sl-on-primary); padding: 14px 12px 14px 16px;
  display: flex; align-items: center; gap: 12px; }
.avatar { width: 38px; height: 38px; border-radius: 50%; background: rgba(255,255,255,.2);
  display: grid; place-items: center; flex: none; font-weight: 700; }
.avatar svg { width: 22px; height: 22px; }
.heading { flex: 1; min-width: 0; }
.title { font-size: 16px; font-weight: 650; margin: 0; line-height: 1.25; }
.subtitle { font-size: 12.5px; opacity: .9; display: flex; align-items: center; gap: 6px; }
.dot { width: 8px; height: 8px; border-radius: 50%; background: #7ee2b8; flex: none; }
.sl[data-conn="offline"] .dot, .sl[data-conn="reconnecting"] .dot, .sl[data-conn="connecting"] .dot { background: #fdb022; }
.icon-btn { width: 36px; height: 36px; border: 0; border-radius: 8px; background: transparent;
  color: inherit; display: grid; place-items: center; }
.icon-btn:hover { background: rgba(255,255,255,.15); }
.icon-btn svg { width: 20px; height: 20px; }

.conn { padding: 8px 16px; font-size: 13px; background: #fffaeb; color: #7a2e0e; border-bottom: 1px solid #fedf89; }
.conn[data-kind="ok"] { background: #ecfdf3; color: #05603a; border-color: #abefc6; }
.status { padding: 10px 16px; font-size: 13px; background: #eef4ff; color: #1d2f6f; border-bottom: 1px solid #d1e0ff; }
.status strong { display: block; font-weight: 650; }
.status[data-state="agent"] { background: #fff7ed; color: #7c2d12; border-color: #fed7aa; }
.status[data-state="closed"] { background: #f2f4f7; color: #344054; border-color: #e4e7ec; }
.spinner { display: inline-block; width: 10px; height: 10px; margin-right: 6px; border-radius: 50%;
  border: 2px solid currentColor; border-right-color: transparent; animation: sl-spin .8s linear infinite; vertical-align: -1px; }
@keyframes sl-spin { to { transform: rotate(360deg); } }

.log { flex: 1; overflow-y: auto; padding: 16px 14px 8px; display: flex; flex-direction: column; gap: 10px;
  overscroll-behavior: contain; scroll-behavior: smooth; }
.msg { display: flex; flex-direction: column; max-width: 84%; align-self: flex-start; }
.msg[data-sender="visitor"] { align-self: flex-end; align-items: flex-end; }
.who { font-size: 11.5px; color: #667085; margin: 0 4px 3px; font-weight: 600; }
.msg[data-sender="agent"] .who { color: #b54708; }
.msg[data-sender="bot"] + .msg[data-sender="bot"] .who, .msg[data-sender="agent"] + .msg[data-sender="agent"] .who { display: none; }
.msg[data-sender="bot"] + .msg[data-sender="bot"], .msg[data-sender="agent"] + .msg[data-sender="agent"] { margin-top: -6px; }
.bubble { padding: 9px 13px; border-radius: 16px; white-space: pre-wrap; overflow-wrap: anywhere;
  background: var(--sl-bot-bubble); border-top-left-radius: 5px; }
.msg[data-sender="agent"] .bubble { background: var(--sl-agent-bubble); border: 1px solid #fddcab; }
.msg[data-sender="visitor"] .bubble { background: var(--sl-visitor-bubble); color: var(--sl-on-visitor-bubble);
  border-top-left-radius: 16px; border-top-right-radius: 5px; }
.bubble a { color: inherit; text-decoration: underline; }
.msg[data-sender="bot"] .bubble a, .msg[data-sender="agent"] .bubble a { color: #175cd3; }
.bubble img { display: block; max-width: 100%; max-height: 260px; border-radius: 10px; }
.bubble.media { padding: 4px; background: transparent; border: 1px solid #e4e7ec; }
.meta { font-size: 11px; color: #667085; margin: 3px 4px 0; }
.meta[data-kind="failed"] { color: #b42318; }
.meta button { border: 0; background: none; color: #175cd3; text-decoration: underline; padding: 0 0 0 6px; font-size: 11px; }
.msg[data-pending] .bubble { opacity: .7; }
.system { align-self: center; text-align: center; font-size: 12px; color: #475467; background: #f2f4f7;
  padding: 4px 12px; border-radius: 999px; max-width: 92%; }
.replies { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; }
.reply { border: 1px solid var(--sl-primary); color: var(--sl-primary); background: #fff; border-radius: 999px;
  padding: 6px 12px; font-size: 13px; }
.reply:hover { background: var(--sl-primary); color: var(--sl-on-primary); }

.card { align-self: stretch; border: 1px solid #e4e7ec; border-radius: 12px; padding: 12px; background: #fcfcfd; }
.card h3 { margin: 0 0 4px; font-size: 14px; font-weight: 650; }
.card p { margin: 0 0 8px; font-size: 13px; color: #475467; }
.card label { display: block; font-size: 12.5px; font-weight: 600; margin: 8px 0 4px; color: #344054; }
.card input[type="email"], .card textarea { width: 100%; border: 1px solid #d0d5dd; border-radius: 8px;
  padding: 8px 10px; background: #fff; font-size: 14px; resize: vertical; }
.card .error { color: #b42318; font-size: 12.5px; margin-top: 6px; }
.btn { margin-top: 10px; border: 0; border-radius: 8px; padding: 8px 14px; font-weight: 600;
  background: var(--sl-primary); color: var(--sl-on-primary); }
.btn.secondary { background: #fff; color: var(--sl-primary); border: 1px solid var(--sl-primary); }
.stars { display: flex; gap: 4px; border: 0; padding: 0; margin: 4px 0 0; }
.stars legend { font-size: 12.5px; font-weight: 600; color: #344054; padding: 0; margin-bottom: 4px; }
.stars input { position: absolute; opacity: 0; width: 1px; height: 1px; }
.stars label { margin: 0; font-size: 26px; line-height: 1; color: #d0d5dd; cursor: pointer; padding: 2px; border-radius: 6px; }
.stars label[data-on] { color: #f79009; }
.stars input:focus-visible + label { outline: 3px solid var(--sl-focus); }

.typing { padding: 2px 18px 6px; font-size: 12px; color: #667085; display: flex; align-items: center; gap: 8px; }
.dots { display: inline-flex; gap: 3px; }
.dots i { width: 6px; height: 6px; border-radius: 50%; background: #98a2b3; animation: sl-blink 1.2s infinite ease-in-out; }
.dots i:nth-child(2) { animation-delay: .2s; } .dots i:nth-child(3) { animation-delay: .4s; }
@keyframes sl-blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }

.suggest { border-top: 1px solid #eaecf0; padding: 8px 14px; background: #fcfcfd; max-height: 150px; overflow-y: auto; }
.suggest h4 { margin: 0 0 4px; font-size: 11.5px; text-transform: uppercase; letter-spacing: .04em; color: #667085; }
.suggest ul { list-style: none; margin: 0; padding: 0; }
.suggest li { padding: 4px 0; }
.suggest a, .suggest strong { font-size: 13px; font-weight: 600; color: #175cd3; }
.suggest strong { color: #344054; }
.suggest p { margin: 1px 0 0; font-size: 12px; color: #667085; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }

.composer { display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px; border-top: 1px solid #eaecf0; background: #fff; }
.composer textarea { flex: 1; resize: none; border: 1px solid #d0d5dd; border-radius: 12px; padding: 9px 12px;
  max-height: 120px; min-height: 40px; font-size: 14px; line-height: 1.4; background: #fff; color: var(--sl-text); }
.composer textarea:disabled { background: #f2f4f7; }
.send { width: 40px; height: 40px; border-radius: 50%; border: 0; background: var(--sl-primary); color: var(--sl-on-primary);
  display: grid; place-items: center; flex: none; }
.send:disabled { opacity: .45; cursor: default; }
.send svg { width: 18px; height: 18px; }
.footer { text-align: center; font-size: 11px; color: #98a2b3; padding: 0 0 8px; background: #fff; }

@media (max-width: 480px) {
  .sl { bottom: 12px; right: 12px; }
  .sl[data-position="bottom-left"] { left: 12px; }
  .panel { position: fixed; inset: 0; width: 100vw; height: 100%; border-radius: 0; border: 0; }
  .sl[data-open] .launcher { display: none; }
  .msg { max-width: 90%; }
}
@media (prefers-reduced-motion: reduce) {
  .launcher, .log { transition: none; scroll-behavior: auto; }
  .dots i, .spinner { animation: none; }
}
`;

  const ICONS = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6h10M7 13h6",
    close: "M6 6l12 12M18 6L6 18",
    send: "M3 11.5L21 3l-8.5 18-2-7.5L3 11.5z",
    minimize: "M6 9l6 6 6-6",
  };

  function svgIcon(name) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("fill", "none");
    svg.setAttribute("stroke", "currentColor");
    svg.setAttribute("stroke-width", "2");
    svg.setAttribute("stroke-linecap", "round");
    svg.setAttribute("stroke-linejoin", "round");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  function el(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of [].concat(children)) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function format(template, values) {
    return String(template).replace(/\{(\w+)\}/g, (match, key) => (key in values ? String(values[key]) : match));
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** An http(s) URL as an absolute string, or null for anything else (javascript:, data:, ...). */
  function safeUrl(raw, base) {
    if (typeof raw !== "string" || !raw.trim()) return null;
    try {
      const url = new URL(raw.trim(), base);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (err) {
      return null;
    }
  }

  function safeLink(href, label) {
    const link = el("a", { target: "_blank", rel: "noopener noreferrer" });
    link.href = href;
    link.textContent = label;
    return link;
  }

  const LINK_PATTERN = /\[([^\]\n]{1,200})\]\(([^)\s]{1,2000})\)|\bhttps?:\/\/[^\s<>"'`]+/gi;
  const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;

  /**
   * Text with bare http(s) URLs (and, when markdown is true, [label](url) links as the bot
   * writes them) turned into safe links; everything else is a text node.
   */
  function richText(text, base, markdown) {
    const fragment = document.createDocumentFragment();
    const source = String(text);
    let last = 0;
    for (const match of source.matchAll(markdown ? LINK_PATTERN : URL_PATTERN)) {
      let raw = match[0];
      let label = match[1];
      let href = match[2];
      if (label === undefined) {
        const trailing = raw.match(/[.,;:!?)\]]+$/);
        if (trailing) raw = raw.slice(0, -trailing[0].length);
        href = raw;
        label = raw;
      }
      const url = safeUrl(href, base);
      if (!url || !/^https?:/i.test(href)) continue;
      fragment.appendChild(document.createTextNode(source.slice(last, match.index)));
      fragment.appendChild(safeLink(url, label));
      last = match.index + raw.length;
    }
    fragment.appendChild(document.createTextNode(source.slice(last)));
    return fragment;
  }

  function safeColor(value, fallback) {
    if (typeof value === "string" && window.CSS && CSS.supports && CSS.supports("color", value)) return value;
    return fallback;
  }

  function storage() {
    try {
      const probe = "__supportline_probe__";
      window.localStorage.setItem(probe, "1");
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (err) {
      const memory = new Map();
      return {
        getItem: (k) => (memory.has(k) ? memory.get(k) : null),
        setItem: (k, v) => memory.set(k, String(v)),
        removeItem: (k) => memory.delete(k),
      };
    }
  }

  let socketIoPromise = null;

  /**
   * Loads the vendored socket.io client from the widget's own origin and keeps it
   * private: the global `io` the bundle sets is taken and the page's own value restored.
   */
  function loadSocketIo(src) {
    if (socketIoPromise) return socketIoPromise;
    socketIoPromise = new Promise((resolve, reject) => {
      const hadOwn = Object.prototype.hasOwnProperty.call(window, "io");
      const previous = window.io;
      const script = document.createElement("script");
      script.src = src;
      script.async = true;
      script.addEventListener("load", () => {
        const lib = window.io;
        if (hadOwn) window.io = previous;
        else delete window.io;
        script.remove();
        if (typeof lib === "function") resolve(lib);
        else reject(new Error("socket.io client did not load"));
      });
      script.addEventListener("error", () => {
        socketIoPromise = null;
        script.remove();
        reject(new Error(`could not load ${src}`));
      });
      (document.head || document.documentElement).appendChild(script);
    });
    return socketIoPromise;
  }

  class Widget {
    constructor(options) {
      this.config = Object.assign({}, DEFAULTS, options || {});
      this.config.serverUrl = String(this.config.serverUrl).replace(/\/+$/, "");
      const lang = String(this.config.language || "en").slice(0, 2).toLowerCase();
      this.t = Object.assign({}, STRINGS.en, STRINGS[lang] || {}, this.config.strings || {});
      this.language = lang;
      this.store = storage();
      this.keys = {
        session: `supportline:${this.config.serverUrl}:session`,
        outbox: `supportline:${this.config.serverUrl}:outbox`,
        rated: `supportline:${this.config.serverUrl}:rated`,
        open: `supportline:${this.config.serverUrl}:open`,
        visitor: `supportline:${this.config.serverUrl}:visitor`,
      };
      this.visitorId = this.store.getItem(this.keys.visitor) || uuid();
      this.store.setItem(this.keys.visitor, this.visitorId);
      this.sessionId = this.store.getItem(this.keys.session);
      this.outbox = this.loadOutbox();
      this.rendered = new Map();
      this.replyTitles = new Map();
      this.state = { state: "bot" };
      this.confirmed = false;
      this.unread = 0;
      this.typingFrom = new Map();
      this.flushing = false;
      this.suggestSeq = 0;
      this.destroyed = false;
      this.build();
      this.renderGreeting();
      this.renderOutbox();
      this.setConnection("connecting");
      if (this.config.openOnStart || this.store.getItem(this.keys.open) === "1") this.open(false);
      this.onStorage = (event) => this.handleStorage(event);
      this.onOnline = () => this.handleOnline();
      this.onOffline = () => this.handleOffline();
      window.addEventListener("storage", this.onStorage);
      window.addEventListener("online", this.onOnline);
      window.addEventListener("offline", this.onOffline);
      loadSocketIo(this.config.socketIoUrl)
        .then((io) => this.connect(io))
        .catch(() => this.setConnection("reconnecting"));
    }

    /* ---------- DOM ---------- */

    build() {
      const c = this.config;
      const colors = Object.assign({}, COLOR_DEFAULTS, c.colors || {});
      this.host = document.createElement("supportline-widget");
      this.host.setAttribute("style", [
        "all: initial !important", "position: fixed !important", "z-index: " + Number(c.zIndex || DEFAULTS.zIndex) + " !important",
        "display: block !important", "width: 0 !important", "height: 0 !important", "bottom: 0 !important",
        "right: 0 !important", "visibility: visible !important", "opacity: 1 !important", "transform: none !important",
        "filter: none !important", "contain: none !important",
      ].join("; "));
      this.root = this.host.attachShadow({ mode: "open" });
      this.root.appendChild(el("style", { text: STYLES }));

      this.container = el("div", { class: "sl", "data-position": c.position === "bottom-left" ? "bottom-left" : "bottom-right" });
      const vars = {
        "--sl-primary": safeColor(colors.primary, COLOR_DEFAULTS.primary),
        "--sl-on-primary": safeColor(colors.onPrimary, COLOR_DEFAULTS.onPrimary),
        "--sl-background": safeColor(colors.background, COLOR_DEFAULTS.background),
        "--sl-text": safeColor(colors.text, COLOR_DEFAULTS.text),
        "--sl-visitor-bubble": safeColor(colors.visitorBubble || colors.primary, COLOR_DEFAULTS.visitorBubble),
        "--sl-on-visitor-bubble": safeColor(colors.onVisitorBubble || colors.onPrimary, COLOR_DEFAULTS.onVisitorBubble),
        "--sl-agent-bubble": safeColor(colors.agentBubble, COLOR_DEFAULTS.agentBubble),
        "--sl-bot-bubble": safeColor(colors.botBubble, COLOR_DEFAULTS.botBubble),
        "--sl-focus": "#84adff",
        "--sl-z": String(Number(c.zIndex || DEFAULTS.zIndex)),
      };
      for (const [name, value] of Object.entries(vars)) this.container.style.setProperty(name, value);

      const t = this.t;
      const title = c.title || t.title;
      this.badge = el("span", { class: "badge", "aria-hidden": "true", hidden: true });
      this.launcher = el("button", {
        class: "launcher", type: "button", "aria-label": t.openChat, "aria-expanded": "false",
        "aria-controls": "sl-panel", onclick: () => this.toggle(),
      }, [svgIcon("chat"), this.badge]);

      this.subtitle = el("span", { class: "subtitle-text", text: c.subtitle || t.subtitleBot });
      this.closeButton = el("button", { class: "icon-btn", type: "button", "aria-label": t.closeChat, onclick: () => this.close(true) }, [svgIcon("minimize")]);
      const header = el("div", { class: "header" }, [
        el("div", { class: "avatar" }, [svgIcon("chat")]),
        el("div", { class: "heading" }, [
          el("h2", { class: "title", id: "sl-title", text: title }),
          el("div", { class: "subtitle" }, [el("span", { class: "dot", "aria-hidden": "true" }), this.subtitle]),
        ]),
        this.closeButton,
      ]);

      this.connBanner = el("div", { class: "conn", role: "status", "aria-live": "polite", hidden: true });
      this.statusBanner = el("div", { class: "status", role: "status", "aria-live": "polite", hidden: true });
      this.log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": title, tabindex: "0" });
      this.typingText = el("span");
      this.typing = el("div", { class: "typing", "aria-live": "polite", hidden: true }, [
        el("span", { class: "dots", "aria-hidden": "true" }, [el("i"), el("i"), el("i")]),
        this.typingText,
      ]);
      this.suggestList = el("ul");
      this.suggest = el("div", { class: "suggest", hidden: true, "aria-live": "polite" }, [
        el("h4", { text: t.suggestions }), this.suggestList,
      ]);
      this.input = el("textarea", {
        id: "sl-input", rows: "1", maxlength: String(MAX_MESSAGE_LENGTH), placeholder: t.placeholder,
        "aria-label": t.messageLabel, autocomplete: "off",
      });
      this.input.addEventListener("keydown", (event) => this.onInputKey(event));
      this.input.addEventListener("input", () => this.onInput());
      this.sendButton = el("button", { class: "send", type: "submit", "aria-label": t.send, disabled: true }, [svgIcon("send")]);
      this.composer = el("form", { class: "composer", onsubmit: (event) => { event.preventDefault(); this.submitInput(); } }, [
        this.input, this.sendButton,
      ]);
      this.panel = el("section", {
        class: "panel", id: "sl-panel", role: "dialog", "aria-labelledby": "sl-title", hidden: true,
      }, [header, this.connBanner, this.statusBanner, this.log, this.typing, this.suggest, this.composer]);
      this.panel.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          event.stopPropagation();
          this.close(true);
        }
      });

      this.container.append(this.panel, this.launcher);
      this.root.appendChild(this.container);
      document.documentElement.appendChild(this.host);
    }

    /* ---------- open / close ---------- */

    open(focus = true) {
      this.panel.hidden = false;
      this.container.setAttribute("data-open", "");
      this.launcher.setAttribute("aria-expanded", "true");
      this.launcher.setAttribute("aria-label", this.t.closeChat);
      this.store.setItem(this.keys.open, "1");
      this.setUnread(0);
      this.scrollToEnd();
      if (focus) this.input.focus();
    }

    close(focusLauncher = false) {
      this.panel.hidden = true;
      this.container.removeAttribute("data-open");
      this.launcher.setAttribute("aria-expanded", "false");
      this.store.setItem(this.keys.open, "0");
      this.setUnread(this.unread);
      this.stopTyping();
      if (focusLauncher) this.launcher.focus();
    }

    toggle() {
      if (this.panel.hidden) this.open();
      else this.close();
    }

    get isOpen() {
      return !this.panel.hidden;
    }

    setUnread(count) {
      this.unread = count;
      this.badge.textContent = count > 9 ? "9+" : String(count);
      this.badge.hidden = count === 0;
      const base = this.isOpen ? this.t.closeChat : this.t.openChat;
      this.launcher.setAttribute("aria-label", count ? `${base} (${format(this.t.unread, { n: count })})` : base);
    }

    scrollToEnd() {
      this.log.scrollTop = this.log.scrollHeight;
    }

    /* ---------- connection ---------- */

    connect(io) {
      if (this.destroyed) return;
      this.socket = io(this.config.serverUrl, {
        path: this.config.socketPath,
        reconnectionDelay: 500,
        reconnectionDelayMax: 4000,
        timeout: 8000,
      });
      const s = this.socket;
      s.on("connect", () => {
        this.confirmed = false;
        s.emit("session_request", { session_id: this.sessionId || null });
      });
      s.on("disconnect", (reason) => {
        this.confirmed = false;
        this.setConnection(navigator.onLine === false ? "offline" : "reconnecting");
        if (reason === "io server disconnect" && !this.destroyed) {
          clearTimeout(this.reconnectTimer);
          this.reconnectTimer = setTimeout(() => { if (!s.connected && navigator.onLine !== false) s.connect(); }, 1000);
        }
      });
      s.on("connect_error", () => this.setConnection(navigator.onLine === false ? "offline" : "reconnecting"));
      s.on("session_confirm", (id) => this.onSessionConfirm(id));
      s.on("history", (data) => this.onHistory(data));
      s.on("bot_uttered", (data) => this.onBotUttered(data));
      s.on("visitor_uttered", (data) => this.onVisitorUttered(data));
      s.on("conversation_state", (data) => this.applyState(data));
      s.on("typing", (data) => this.onTyping(data));
      s.on("error", (data) => this.onServerError(data));
    }

    setConnection(kind) {
      const previous = this.connection;
      this.connection = kind;
      this.container.setAttribute("data-conn", kind);
      clearTimeout(this.connTimer);
      const banner = this.connBanner;
      if (kind === "online") {
        if (previous === "offline" || previous === "reconnecting") {
          banner.textContent = this.t.online;
          banner.setAttribute("data-kind", "ok");
          banner.hidden = false;
          this.connTimer = setTimeout(() => { banner.hidden = true; }, 2500);
        } else {
          banner.hidden = true;
        }
      } else {
        banner.removeAttribute("data-kind");
        banner.textContent = kind === "offline" ? this.t.offline : kind === "connecting" ? this.t.connecting : this.t.reconnecting;
        banner.hidden = kind === "connecting" && previous === undefined;
      }
      this.updateOutboxStatus();
    }

    handleOffline() {
      this.setConnection("offline");
      if (this.socket) this.socket.disconnect();
    }

    handleOnline() {
      if (this.socket && !this.socket.connected) {
        this.setConnection("reconnecting");
        this.socket.connect();
      }
    }

    handleStorage(event) {
      if (event.key !== this.keys.session || !event.newValue || event.newValue === this.sessionId) return;
      this.sessionId = event.newValue;
      this.resetLog();
      if (this.socket && this.socket.connected) {
        this.confirmed = false;
        this.socket.emit("session_request", { session_id: this.sessionId });
      }
    }

    onSessionConfirm(id) {
      const sessionId = typeof id === "string" ? id : id && id.session_id;
      if (!sessionId) return;
      if (this.sessionId && this.sessionId !== sessionId) {
        this.resetLog();
        this.store.removeItem(this.keys.rated);
      }
      this.sessionId = sessionId;
      this.store.setItem(this.keys.session, sessionId);
      this.confirmed = true;
      this.setConnection("online");
      this.flushOutbox();
    }

    resetLog() {
      this.rendered.clear();
      this.log.textContent = "";
      this.state = { state: "bot" };
      this.renderStatus();
      this.renderGreeting();
      this.renderOutbox();
      this.setComposerEnabled(true);
    }

    /* ---------- incoming ---------- */

    onHistory(data) {
      if (!data || !Array.isArray(data.messages)) return;
      if (data.session_id && this.sessionId && data.session_id !== this.sessionId) return;
      this.rendered.clear();
      this.log.textContent = "";
      this.renderGreeting();
      for (const message of data.messages) this.renderMessage(message);
      this.renderOutbox();
      this.lastQuickReplies();
      if (data.state) this.applyState(data.state);
      this.scrollToEnd();
    }

    onBotUttered(data) {
      if (!data || typeof data !== "object") return;
      const sender = data.sender === "agent" || data.sender === "system" ? data.sender : "bot";
      if (sender !== "system") this.setTyping(sender, false);
      const node = this.renderMessage(Object.assign({}, data, { sender }));
      if (node) {
        this.lastQuickReplies();
        if (!this.isOpen) this.setUnread(this.unread + 1);
        this.scrollToEnd();
      }
    }

    onVisitorUttered(data) {
      if (!data || typeof data !== "object") return;
      this.renderMessage(Object.assign({}, data, { sender: "visitor" }));
      if (data.client_id) this.removeFromOutbox(data.client_id);
      this.scrollToEnd();
    }

    onTyping(data) {
      if (!data || (data.from !== "bot" && data.from !== "agent")) return;
      this.setTyping(data.from, Boolean(data.on), data.agent_name);
    }

    onServerError(data) {
      if (!data || typeof data !== "object") return;
      if (data.code === "unavailable") this.flash(this.t.unavailable);
    }

    /* ---------- rendering messages ---------- */

    renderGreeting() {
      const greeting = this.config.greeting;
      if (!greeting || this.rendered.has("greeting")) return;
      const node = this.buildMessage({ sender: "bot", text: String(greeting) });
      this.rendered.set("greeting", node);
      this.log.prepend(node);
    }

    /** Renders one message once: known server ids and client ids are skipped or merged. */
    renderMessage(message) {
      if (!message || typeof message !== "object") return null;
      if (message.sender === "system") {
        if (message.id && this.rendered.has(message.id)) return null;
        const node = this.addSystem(message.text || "");
        if (message.id) this.rendered.set(message.id, node);
        return node;
      }
      const clientKey = message.client_id ? `c:${message.client_id}` : null;
      if (clientKey && this.rendered.has(clientKey)) {
        const existing = this.rendered.get(clientKey);
        if (message.id) {
          existing.setAttribute("data-id", String(message.id));
          this.rendered.set(message.id, existing);
        }
        this.markDelivered(existing, message.ts);
        return null;
      }
      if (message.id && this.rendered.has(message.id)) return null;
      const node = this.buildMessage(message);
      if (!node) return null;
      if (message.id) this.rendered.set(message.id, node);
      if (clientKey) this.rendered.set(clientKey, node);
      const firstPending = this.log.querySelector(".msg[data-pending]");
      if (firstPending && !message.pending) this.log.insertBefore(node, firstPending);
      else this.log.appendChild(node);
      return node;
    }

    buildMessage(message) {
      const sender = ["visitor", "agent", "bot"].includes(message.sender) ? message.sender : "bot";
      const parts = [];
      const text = sender === "visitor" && this.replyTitles.has(message.text) ? this.replyTitles.get(message.text) : message.text;
      if (typeof text === "string" && text !== "") {
        parts.push(el("div", { class: "bubble" }, [richText(text, this.config.serverUrl, sender === "bot")]));
      }
      const media = this.buildAttachment(message);
      if (media) parts.push(media);
      const replies = Array.isArray(message.quick_replies) ? message.quick_replies
        : Array.isArray(message.buttons) ? message.buttons : [];
      const usable = replies.filter((r) => r && typeof r.title === "string" && r.title);
      if (!parts.length && !usable.length) return null;
      for (const reply of usable) {
        if (typeof reply.payload === "string" && reply.payload.startsWith("/")) this.replyTitles.set(reply.payload, reply.title);
      }

      const node = el("div", { class: "msg", "data-sender": sender });
      if (message.id) node.setAttribute("data-id", String(message.id));
      if (message.client_id) node.setAttribute("data-client-id", String(message.client_id));
      if (message.ts) node.title = new Date(Number(message.ts) * 1000).toLocaleString(this.language);
      if (sender === "agent") {
        const name = message.agent_name ? String(message.agent_name) : this.t.agentRole;
        node.appendChild(el("div", { class: "who", text: `${name} \u00b7 ${this.t.agentRole}` }));
      } else if (sender === "bot") {
        node.appendChild(el("div", { class: "who", text: this.config.botName || this.t.botName }));
      }
      for (const part of parts) node.appendChild(part);
      if (usable.length) {
        node.appendChild(el("div", { class: "replies" }, usable.map((reply) => el("button", {
          class: "reply", type: "button", text: reply.title,
          onclick: () => this.sendQuickReply(reply),
        }))));
      }
      return node;
    }

    buildAttachment(message) {
      let attachment = message.attachment;
      if (!attachment && typeof message.image === "string") attachment = { type: "image", payload: { src: message.image } };
      if (!attachment || typeof attachment !== "object") return null;
      const payload = attachment.payload && typeof attachment.payload === "object" ? attachment.payload : {};
      const raw = typeof payload.src === "string" ? payload.src : payload.url;
      const src = typeof raw === "string" && /^\s*https?:\/\//i.test(raw) ? safeUrl(raw) : null;
      if (!src) return null;
      if (attachment.type === "image") {
        const img = el("img", { alt: typeof payload.title === "string" ? payload.title : this.t.image, loading: "lazy", referrerpolicy: "no-referrer" });
        img.src = src;
        return el("div", { class: "bubble media" }, [img]);
      }
      const label = typeof payload.title === "string" && payload.title ? payload.title : this.t.attachment;
      return el("div", { class: "bubble" }, [safeLink(src, label)]);
    }

    /** Only the newest message keeps its quick replies. */
    lastQuickReplies() {
      const last = this.lastMessageNode();
      this.log.querySelectorAll(".replies").forEach((group) => { group.hidden = group.parentNode !== last; });
    }

    lastMessageNode() {
      const all = this.log.querySelectorAll(".msg");
      return all.length ? all[all.length - 1] : null;
    }

    addSystem(text) {
      const node = el("div", { class: "system", text });
      const firstPending = this.log.querySelector(".msg[data-pending]");
      if (firstPending) this.log.insertBefore(node, firstPending);
      else this.log.appendChild(node);
      this.scrollToEnd();
      return node;
    }

    /** A short-lived announcement in the status bar for screen readers and sighted users alike. */
    flash(text) {
      clearTimeout(this.flashTimer);
      this.connBanner.textContent = text;
      this.connBanner.setAttribute("data-kind", "ok");
      this.connBanner.hidden = false;
      this.flashTimer = setTimeout(() => {
        if (this.connection === "online") this.connBanner.hidden = true;
        else this.setConnection(this.connection);
      }, 3000);
    }

    markDelivered(node, ts) {
      node.removeAttribute("data-pending");
      const meta = node.querySelector(".meta");
      if (meta) meta.remove();
      if (ts) node.title = new Date(Number(ts) * 1000).toLocaleString(this.language);
    }

    /* ---------- typing ---------- */

    setTyping(from, on, agentName) {
      clearTimeout(this.typingFrom.get(from));
      if (on) {
        this.typingFrom.set(from, setTimeout(() => this.setTyping(from, false), 15000));
        if (from === "agent" && agentName) this.typingAgentName = String(agentName);
      } else {
        this.typingFrom.delete(from);
      }
      const who = this.typingFrom.has("agent") ? "agent" : this.typingFrom.has("bot") ? "bot" : null;
      this.typing.hidden = !who;
      if (who === "agent") this.typingText.textContent = format(this.t.typingAgent, { name: this.typingAgentName || this.t.agentRole });
      else if (who === "bot") this.typingText.textContent = this.t.typingBot;
      if (who) this.scrollToEnd();
    }

    /* ---------- conversation state ---------- */

    applyState(data) {
      if (!data || typeof data !== "object" || !data.state) return;
      const before = this.state;
      this.state = Object.assign({}, data);
      if (before.ticket_email && data.state === "closed") this.state.ticket_email = before.ticket_email;
      const now = data.state;
      if (now !== "agent") this.setTyping("agent", false);
      if (now !== "bot") this.setTyping("bot", false);
      this.renderStatus();
    }

    renderStatus() {
      const t = this.t;
      const s = this.state;
      const banner = this.statusBanner;
      banner.textContent = "";
      banner.setAttribute("data-state", s.state);
      this.removeCard("email");
      if (s.state !== "closed") this.removeCard("rating");
      this.setComposerEnabled(s.state !== "closed");

      if (s.state === "queued") {
        const unavailable = s.agents_online === false || s.in_business_hours === false;
        const head = el("strong", {}, [el("span", { class: "spinner", "aria-hidden": "true" }), t.queued]);
        banner.appendChild(head);
        const lines = [];
        if (unavailable) lines.push(s.in_business_hours === false ? t.afterHours : t.noAgents);
        if (typeof s.position === "number" && s.position > 0) lines.push(format(t.position, { position: s.position }));
        if (!unavailable && typeof s.expected_wait_s === "number" && s.expected_wait_s >= 0) {
          const seconds = s.expected_wait_s;
          lines.push(seconds < 60 ? t.waitShort : format(t.waitMinutes, { minutes: Math.round(seconds / 60) }));
        }
        if (lines.length) banner.appendChild(el("span", { class: "queue-info", text: lines.join(" ") }));
        if (unavailable) this.showEmailCard();
        banner.hidden = false;
        this.subtitle.textContent = t.queued;
      } else if (s.state === "agent") {
        const name = s.agent_name || t.agentRole;
        banner.appendChild(el("strong", { text: format(t.chattingWith, { name }) }));
        banner.hidden = false;
        this.subtitle.textContent = format(t.chattingWith, { name });
      } else if (s.state === "closed") {
        banner.appendChild(el("strong", { text: t.closed }));
        banner.hidden = false;
        this.subtitle.textContent = t.closed;
        if (s.ticket_id || s.ticket_email) {
          if (!this.log.querySelector('.card[data-card="rating-done"]')) this.log.appendChild(this.newChatCard(t.closed));
        }
        else if (s.rating_requested === false) this.showRatingCard(true);
        else this.showRatingCard(false);
      } else {
        banner.hidden = true;
        this.subtitle.textContent = this.config.subtitle || t.subtitleBot;
      }
    }

    removeCard(kind) {
      const card = this.log.querySelector(`.card[data-card="${kind}"]`);
      if (card) card.remove();
    }

    showEmailCard() {
      const t = this.t;
      if (this.state.ticket_email) return;
      const email = el("input", { type: "email", id: "sl-email", name: "email", required: true, autocomplete: "email" });
      const note = el("textarea", { id: "sl-email-note", rows: "2", maxlength: "1000" });
      const error = el("div", { class: "error", role: "alert", hidden: true });
      const card = el("form", { class: "card", "data-card": "email", novalidate: true }, [
        el("h3", { text: t.leaveEmail }),
        el("label", { for: "sl-email", text: t.emailLabel }), email,
        el("label", { for: "sl-email-note", text: t.emailNote }), note,
        error,
        el("button", { class: "btn", type: "submit", text: t.emailSubmit }),
      ]);
      card.addEventListener("submit", (event) => {
        event.preventDefault();
        const address = email.value.trim();
        if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(address)) {
          error.textContent = t.emailInvalid;
          error.hidden = false;
          email.focus();
          return;
        }
        error.hidden = true;
        this.emitWithAck("leave_email", { session_id: this.sessionId, email: address, message: note.value.trim() || undefined })
          .then((ack) => {
            if (ack && ack.ok) {
              this.state.ticket_email = address;
              card.replaceWith(el("div", { class: "card", "data-card": "email-done", role: "status" }, [
                el("p", { text: format(t.emailThanks, { email: address }) }),
              ]));
            } else {
              error.textContent = (ack && ack.error && ack.error.message) || t.errorGeneric;
              error.hidden = false;
            }
          });
      });
      this.log.appendChild(card);
      this.scrollToEnd();
    }

    showRatingCard(alreadyRated) {
      const t = this.t;
      if (this.log.querySelector('.card[data-card="rating"], .card[data-card="rating-done"]')) return;
      if (alreadyRated || this.store.getItem(this.keys.rated) === this.sessionId) {
        this.log.appendChild(this.newChatCard(t.rateThanks));
        return;
      }
      const stars = el("fieldset", { class: "stars" }, [el("legend", { text: t.rateLegend })]);
      const labels = [];
      let score = 0;
      const paint = (upTo) => labels.forEach((label, i) => { if (i < upTo) label.setAttribute("data-on", ""); else label.removeAttribute("data-on"); });
      for (let n = 1; n <= 5; n += 1) {
        const input = el("input", { type: "radio", name: "sl-score", id: `sl-star-${n}`, value: String(n) });
        input.addEventListener("change", () => { score = n; paint(n); });
        const label = el("label", { for: `sl-star-${n}`, title: format(t.star, { n }) }, [
          el("span", { "aria-hidden": "true", text: "\u2605" }), el("span", { class: "vh", text: format(t.star, { n }) }),
        ]);
        label.addEventListener("mouseenter", () => paint(n));
        label.addEventListener("mouseleave", () => paint(score));
        labels.push(label);
        stars.append(input, label);
      }
      const comment = el("textarea", { id: "sl-rate-comment", rows: "2", maxlength: "1000" });
      const error = el("div", { class: "error", role: "alert", hidden: true });
      const card = el("form", { class: "card", "data-card": "rating" }, [
        el("h3", { text: t.rateTitle }), stars,
        el("label", { for: "sl-rate-comment", text: t.rateComment }), comment, error,
        el("button", { class: "btn", type: "submit", text: t.rateSubmit }),
      ]);
      card.addEventListener("submit", (event) => {
        event.preventDefault();
        if (!score) {
          error.textContent = t.ratePick;
          error.hidden = false;
          return;
        }
        this.emitWithAck("rate", { session_id: this.sessionId, score, comment: comment.value.trim() || undefined })
          .then((ack) => {
            if (ack && ack.ok) {
              this.store.setItem(this.keys.rated, this.sessionId);
              const done = this.newChatCard(t.rateThanks);
              card.replaceWith(done);
              done.querySelector("button").focus();
            } else {
              error.textContent = (ack && ack.error && ack.error.message) || t.errorGeneric;
              error.hidden = false;
            }
          });
      });
      this.log.appendChild(card);
      this.scrollToEnd();
    }

    newChatCard(text) {
      return el("div", { class: "card", "data-card": "rating-done", role: "status" }, [
        el("p", { text }),
        el("button", { class: "btn secondary", type: "button", text: this.t.newChat, onclick: () => this.startNewChat() }),
      ]);
    }

    startNewChat() {
      this.sessionId = null;
      this.store.removeItem(this.keys.session);
      this.store.removeItem(this.keys.rated);
      this.resetLog();
      if (this.socket && this.socket.connected) {
        this.confirmed = false;
        this.socket.emit("session_request", { session_id: null });
      }
      this.input.focus();
    }

    setComposerEnabled(enabled) {
      this.input.disabled = !enabled;
      this.sendButton.disabled = !enabled || !this.input.value.trim();
      if (!enabled) this.hideSuggestions();
    }

    /* ---------- sending ---------- */

    loadOutbox() {
      try {
        const items = JSON.parse(this.store.getItem(this.keys.outbox) || "[]");
        return Array.isArray(items) ? items.filter((i) => i && typeof i.client_id === "string" && typeof i.message === "string") : [];
      } catch (err) {
        return [];
      }
    }

    saveOutbox() {
      if (this.outbox.length) this.store.setItem(this.keys.outbox, JSON.stringify(this.outbox));
      else this.store.removeItem(this.keys.outbox);
    }

    removeFromOutbox(clientId) {
      const before = this.outbox.length;
      this.outbox = this.outbox.filter((item) => item.client_id !== clientId);
      if (this.outbox.length !== before) this.saveOutbox();
    }

    renderOutbox() {
      for (const item of this.outbox) {
        const key = `c:${item.client_id}`;
        if (this.rendered.has(key)) continue;
        this.renderMessage({ sender: "visitor", text: item.display || item.message, client_id: item.client_id, pending: true });
        const node = this.rendered.get(key);
        if (node) node.setAttribute("data-pending", "");
      }
      this.updateOutboxStatus();
    }

    updateOutboxStatus() {
      if (!this.log) return;
      for (const item of this.outbox) {
        const node = this.rendered.get(`c:${item.client_id}`);
        if (!node || !node.hasAttribute("data-pending")) continue;
        let meta = node.querySelector(".meta");
        if (!meta) {
          meta = el("div", { class: "meta" });
          node.appendChild(meta);
        }
        if (item.failed) continue;
        meta.removeAttribute("data-kind");
        meta.textContent = this.confirmed ? this.t.sending : this.t.waiting;
      }
    }

    onInputKey(event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submitInput();
      }
    }

    onInput() {
      const text = this.input.value;
      this.sendButton.disabled = this.input.disabled || !text.trim();
      this.input.style.height = "auto";
      this.input.style.height = `${Math.min(this.input.scrollHeight, 120)}px`;
      this.signalTyping(Boolean(text.trim()));
      this.scheduleSuggestions(text);
    }

    signalTyping(on) {
      clearTimeout(this.typingIdle);
      if (on) this.typingIdle = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
      if (on === this.visitorTyping) return;
      this.visitorTyping = on;
      if (this.socket && this.confirmed) this.socket.emit("typing", { session_id: this.sessionId, on });
    }

    stopTyping() {
      this.signalTyping(false);
    }

    submitInput() {
      const text = this.input.value.trim();
      if (!text || this.input.disabled) return;
      this.input.value = "";
      this.input.style.height = "auto";
      this.sendButton.disabled = true;
      this.stopTyping();
      this.hideSuggestions();
      this.send(text.slice(0, MAX_MESSAGE_LENGTH));
    }

    sendQuickReply(reply) {
      const payload = typeof reply.payload === "string" && reply.payload ? reply.payload : reply.title;
      this.log.querySelectorAll(".replies").forEach((group) => { group.hidden = true; });
      this.send(payload, reply.title);
    }

    send(message, display) {
      if (this.state.state === "closed") return;
      const item = { client_id: uuid(), message, display: display || undefined, ts: Date.now() / 1000 };
      this.outbox.push(item);
      this.saveOutbox();
      this.renderOutbox();
      this.scrollToEnd();
      if (!this.isOpen) this.open();
      this.flushOutbox();
    }

    /** Sends queued messages in order, one at a time; each is retried with the same client_id until acknowledged. */
    async flushOutbox() {
      if (this.flushing) return;
      this.flushing = true;
      try {
        while (this.outbox.length && this.socket && this.socket.connected && this.confirmed) {
          const item = this.outbox.find((i) => !i.failed);
          if (!item) break;
          this.updateOutboxStatus();
          const payload = {
            message: item.message,
            session_id: this.sessionId,
            client_id: item.client_id,
            metadata: {
              page_url: location.href,
              title: document.title,
              referrer: document.referrer || undefined,
              language: this.language,
              user_agent: navigator.userAgent,
              visitor_id: this.visitorId,
            },
          };
          let ack;
          try {
            ack = await this.emitWithAck("user_uttered", payload);
          } catch (err) {
            break;
          }
          if (ack && ack.ok) {
            this.removeFromOutbox(item.client_id);
            const node = this.rendered.get(`c:${item.client_id}`);
            if (node) {
              if (ack.id) {
                node.setAttribute("data-id", String(ack.id));
                this.rendered.set(ack.id, node);
              }
              this.markDelivered(node);
            }
            if (this.state.state === "bot") this.setTyping("bot", true);
          } else if (ack && ack.error && ack.error.code === "rate_limited") {
            await new Promise((resolve) => setTimeout(resolve, 2000));
          } else if (ack && ack.error && ack.error.code === "forbidden" && this.state.state !== "closed") {
            this.confirmed = false;
            this.socket.emit("session_request", { session_id: this.sessionId || null });
            break;
          } else {
            this.markFailed(item, ack && ack.error);
          }
        }
      } finally {
        this.flushing = false;
      }
    }

    markFailed(item, error) {
      item.failed = true;
      this.saveOutbox();
      const node = this.rendered.get(`c:${item.client_id}`);
      if (!node) return;
      const reason = error && error.code === "too_large" ? this.t.errorTooLarge
        : error && error.code === "rate_limited" ? this.t.errorRateLimited : this.t.errorGeneric;
      let meta = node.querySelector(".meta");
      if (!meta) {
        meta = el("div", { class: "meta" });
        node.appendChild(meta);
      }
      meta.textContent = format(this.t.failed, { reason });
      meta.setAttribute("data-kind", "failed");
      meta.appendChild(el("button", {
        type: "button", text: this.t.retry, onclick: () => {
          item.failed = false;
          this.saveOutbox();
          this.updateOutboxStatus();
          this.flushOutbox();
        },
      }));
    }

    /** Emits with an acknowledgement; rejects on timeout or when not connected. */
    emitWithAck(event, payload) {
      return new Promise((resolve, reject) => {
        if (!this.socket || !this.socket.connected) {
          reject(new Error("offline"));
          return;
        }
        this.socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err, ack) => {
          if (err) reject(err);
          else resolve(ack);
        });
      });
    }

    /* ---------- article suggestions ---------- */

    scheduleSuggestions(text) {
      clearTimeout(this.suggestTimer);
      if (!this.config.articleSuggestions) return;
      const query = text.trim();
      if (query.length < 3 || this.state.state !== "bot") {
        this.hideSuggestions();
        return;
      }
      this.suggestTimer = setTimeout(() => this.fetchSuggestions(query), SUGGEST_DEBOUNCE_MS);
    }

    async fetchSuggestions(query) {
      const seq = ++this.suggestSeq;
      if (this.suggestAbort) this.suggestAbort.abort();
      this.suggestAbort = typeof AbortController === "function" ? new AbortController() : null;
      try {
        const url = `${this.config.serverUrl}/api/kb/search?q=${encodeURIComponent(query)}&limit=3`;
        const response = await fetch(url, { signal: this.suggestAbort ? this.suggestAbort.signal : undefined, credentials: "omit" });
        if (!response.ok) throw new Error(String(response.status));
        const data = await response.json();
        if (seq !== this.suggestSeq || !this.input.value.trim()) return;
        this.showSuggestions(Array.isArray(data && data.results) ? data.results.slice(0, 3) : []);
      } catch (err) {
        if (seq === this.suggestSeq) this.hideSuggestions();
      }
    }

    showSuggestions(results) {
      this.suggestList.textContent = "";
      for (const article of results) {
        if (!article || typeof article.title !== "string") continue;
        const href = safeUrl(article.url, this.config.serverUrl);
        const heading = href ? safeLink(href, article.title) : el("strong", { text: article.title });
        this.suggestList.appendChild(el("li", {}, [
          heading,
          typeof article.snippet === "string" && article.snippet ? el("p", { text: article.snippet }) : null,
        ]));
      }
      this.suggest.hidden = !this.suggestList.childElementCount;
    }

    hideSuggestions() {
      clearTimeout(this.suggestTimer);
      this.suggestSeq += 1;
      this.suggest.hidden = true;
      this.suggestList.textContent = "";
    }

    destroy() {
      this.destroyed = true;
      window.removeEventListener("storage", this.onStorage);
      window.removeEventListener("online", this.onOnline);
      window.removeEventListener("offline", this.onOffline);
      if (this.socket) {
        this.socket.removeAllListeners();
        this.socket.disconnect();
      }
      for (const timer of this.typingFrom.values()) clearTimeout(timer);
      clearTimeout(this.typingIdle);
      clearTimeout(this.suggestTimer);
      clearTimeout(this.connTimer);
      clearTimeout(this.reconnectTimer);
      this.host.remove();
    }
  }

  let instance = null;

  const api = {
    __supportline: true,
    version: VERSION,
    init(options) {
      if (instance) return api;
      const start = () => { if (!instance) instance = new Widget(options); };
      if (document.body) start();
      else document.addEventListener("DOMContentLoaded", start, { once: true });
      return api;
    },
    open() { if (instance) instance.open(); },
    close() { if (instance) instance.close(); },
    destroy() {
      if (instance) instance.destroy();
      instance = null;
    },
    get isOpen() { return Boolean(instance && instance.isOpen); },
    get sessionId() { return instance ? instance.sessionId : null; },
  };

  Object.defineProperty(window, "SupportLine", { value: Object.freeze(api), writable: false, configurable: false, enumerable: false });

  if (window.SupportLineConfig && typeof window.SupportLineConfig === "object") {
    api.init(window.SupportLineConfig);
  }
})();
