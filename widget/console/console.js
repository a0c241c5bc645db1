/*
 * SupportLine agent console. Talks to the bridge's HTTP API (/api/...) and its
 * Socket.IO namespace /agent. All conversation data is rendered as text.
 */
(() => {
  "use strict";

  const AUTH_KEY = "supportline-console:auth";
  const REASONS = {
    human_requested: "Asked for a person",
    frustration: "Frustrated",
    bot_failure: "Bot failed",
    policy_topic: "Policy topic",
    bot_unavailable: "Bot unavailable",
  };
  const TEAMS = ["general", "billing", "technical", "orders", "account"];
  const RESOLUTIONS = [
    ["resolved", "Resolved"],
    ["not_resolved", "Not resolved"],
    ["follow_up", "Needs follow-up"],
    ["duplicate", "Duplicate"],
    ["spam", "Spam / abuse"],
  ];
  const HANDBACK_INTENTS = ["greet", "order_status", "shipping_options", "returns_policy", "refund_status", "goodbye"];
  const TYPING_IDLE_MS = 2500;

  const $ = (selector, root = document) => root.querySelector(selector);

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

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function safeUrl(raw) {
    if (typeof raw !== "string" || !raw.trim()) return null;
    try {
      const url = new URL(raw.trim(), location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (err) {
      return null;
    }
  }

  function link(href, label) {
    const a = el("a", { target: "_blank", rel: "noopener noreferrer", text: label });
    a.href = href;
    return a;
  }

  /** Text with bare http(s) URLs as safe links. */
  function richText(text) {
    const fragment = document.createDocumentFragment();
    const source = String(text == null ? "" : text);
    let last = 0;
    for (const match of source.matchAll(/\bhttps?:\/\/[^\s<>"'`]+/gi)) {
      let raw = match[0];
      const trailing = raw.match(/[.,;:!?)\]]+$/);
      if (trailing) raw = raw.slice(0, -trailing[0].length);
      const url = safeUrl(raw);
      if (!url) continue;
      fragment.appendChild(document.createTextNode(source.slice(last, match.index)));
      fragment.appendChild(link(url, raw));
      last = match.index + raw.length;
    }
    fragment.appendChild(document.createTextNode(source.slice(last)));
    return fragment;
  }

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
    return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
  }

  function clock(ts) {
    if (!ts) return "";
    return new Date(Number(ts) * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function shortId(id) {
    return String(id || "").slice(0, 6);
  }

  function reasonLabel(reason) {
    return REASONS[reason] || (reason ? String(reason).replace(/_/g, " ") : "Escalated");
  }

  /* ---------- auth ---------- */

  function loadAuth() {
    try {
      const auth = JSON.parse(sessionStorage.getItem(AUTH_KEY) || "null");
      if (auth && auth.token && (!auth.expires_at || auth.expires_at * 1000 > Date.now())) return auth;
    } catch (err) {
      return null;
    }
    return null;
  }

  async function api(path, options = {}) {
    const headers = Object.assign({ "Content-Type": "application/json" }, options.headers || {});
    if (app.auth) headers.Authorization = `Bearer ${app.auth.token}`;
    const response = await fetch(path, Object.assign({}, options, { headers }));
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (!response.ok) {
      const error = new Error((body && body.error && body.error.message) || `HTTP ${response.status}`);
      error.status = response.status;
      error.code = body && body.error && body.error.code;
      throw error;
    }
    return body;
  }

  /* ---------- sound and title badge ---------- */

  const notifier = {
    audio: null,
    pending: 0,
    baseTitle: document.title,
    unlock() {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!this.audio && Ctx) this.audio = new Ctx();
      if (this.audio && this.audio.state === "suspended") this.audio.resume();
    },
    beep() {
      if (!$("#sound").checked || !this.audio) return;
      const ctx = this.audio;
      const start = ctx.currentTime;
      [880, 1175].forEach((freq, i) => {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = "sine";
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, start + i * 0.16);
        gain.gain.exponentialRampToValueAtTime(0.18, start + i * 0.16 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.16 + 0.15);
        osc.connect(gain).connect(ctx.destination);
        osc.start(start + i * 0.16);
        osc.stop(start + i * 0.16 + 0.16);
      });
      window.__supportlineBeeps = (window.__supportlineBeeps || 0) + 1;
    },
    notify() {
      this.beep();
      if (document.hidden || !document.hasFocus()) {
        this.pending += 1;
        this.renderTitle();
      }
    },
    clear() {
      this.pending = 0;
      this.renderTitle();
    },
    renderTitle() {
      document.title = this.pending ? `(${this.pending}) New chat · ${this.baseTitle}` : this.baseTitle;
    },
  };

  /* ---------- application state ---------- */

  const app = {
    auth: null,
    socket: null,
    queue: [],
    queueReceivedAt: 0,
    knownQueueIds: new Set(),
    chats: new Map(),
    activeId: null,
    canned: [],
  };

  function toast(text) {
    const box = $("#toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
  }

  function showLogin(message) {
    $("#app").hidden = true;
    $("#login").hidden = false;
    const error = $("#login-error");
    error.hidden = !message;
    error.textContent = message || "";
    $("#login-username").focus();
  }

  async function onLogin(event) {
    event.preventDefault();
    notifier.unlock();
    const username = $("#login-username").value.trim();
    const password = $("#login-password").value;
    const error = $("#login-error");
    if (!username || !password) {
      error.textContent = "Enter your username and password.";
      error.hidden = false;
      return;
    }
    try {
      app.auth = null;
      const body = await api("/api/agent/login", { method: "POST", body: JSON.stringify({ username, password }) });
      app.auth = { token: body.token, expires_at: body.expires_at, agent: body.agent };
      sessionStorage.setItem(AUTH_KEY, JSON.stringify(app.auth));
      $("#login-password").value = "";
      start();
    } catch (err) {
      error.textContent = err.status === 401 ? "Wrong username or password." : `Sign-in failed: ${err.message}`;
      error.hidden = false;
    }
  }

  async function logout() {
    try {
      if (app.socket) app.socket.emit("presence", { status: "offline" });
      await api("/api/agent/logout", { method: "POST", body: "{}" });
    } catch (err) {
      /* the token is dropped locally either way */
    }
    endSession("");
  }

  function endSession(message) {
    sessionStorage.removeItem(AUTH_KEY);
    app.auth = null;
    if (app.socket) {
      app.socket.removeAllListeners();
      app.socket.disconnect();
      app.socket = null;
    }
    for (const chat of app.chats.values()) chat.view.remove();
    app.chats.clear();
    app.activeId = null;
    app.queue = [];
    renderQueue();
    renderChatList();
    showLogin(message);
  }

  function start() {
    $("#login").hidden = true;
    $("#app").hidden = false;
    $("#agent-name").textContent = app.auth.agent ? app.auth.agent.name : "";
    connect();
    loadCanned();
  }

  async function loadCanned() {
    try {
      const response = await fetch("/console/canned-responses.json");
      const data = await response.json();
      app.canned = Array.isArray(data) ? data.filter((c) => c && typeof c.title === "string" && typeof c.text === "string") : [];
    } catch (err) {
      app.canned = [];
    }
  }

  /* ---------- socket ---------- */

  function setConn(kind, text) {
    const conn = $("#conn");
    conn.dataset.kind = kind;
    conn.textContent = text;
  }

  function connect() {
    setConn("connecting", "Connecting…");
    const socket = io("/agent", { auth: { token: app.auth.token }, reconnectionDelay: 500, reconnectionDelayMax: 4000 });
    app.socket = socket;
    socket.on("connect", () => {
      setConn("online", "Connected");
      socket.emit("presence", { status: $("#presence").value });
    });
    socket.on("disconnect", (reason) => {
      setConn("offline", "Reconnecting…");
      if (reason === "io server disconnect") socket.connect();
    });
    socket.on("connect_error", (err) => {
      const text = String((err && err.message) || "");
      if (/unauthori[sz]ed|invalid token|forbidden/i.test(text) || (err && err.data && err.data.code === "unauthorized")) {
        endSession("Your session has expired. Please sign in again.");
        return;
      }
      setConn("offline", "Reconnecting…");
    });
    socket.on("queue", (data) => onQueue(data));
    socket.on("assigned", (data) => onAssigned(data));
    socket.on("visitor_message", (data) => onVisitorMessage(data));
    socket.on("agent_message", (data) => onAgentMessage(data));
    socket.on("visitor_typing", (data) => onVisitorTyping(data));
    socket.on("conversation_update", (data) => onConversationUpdate(data));
    socket.on("error", (data) => toast((data && data.message) || "Something went wrong."));
  }

  function emitAck(event, payload, timeout = 10000) {
    return new Promise((resolve) => {
      if (!app.socket || !app.socket.connected) {
        resolve({ ok: false, error: { code: "offline", message: "Not connected" } });
        return;
      }
      app.socket.timeout(timeout).emit(event, payload, (err, ack) => {
        if (err) resolve({ ok: false, error: { code: "timeout", message: "No answer from the server" } });
        else resolve(ack || { ok: true });
      });
    });
  }

  /* ---------- queue ---------- */

  function onQueue(data) {
    const queue = data && Array.isArray(data.queue) ? data.queue : [];
    const fresh = queue.filter((item) => !app.knownQueueIds.has(item.conversation_id));
    app.queue = queue;
    app.queueReceivedAt = Date.now();
    app.knownQueueIds = new Set(queue.map((item) => item.conversation_id));
    renderQueue();
    if (fresh.length) notifier.notify();
  }

  function renderQueue() {
    const list = $("#queue");
    list.textContent = "";
    for (const item of app.queue) {
      const claim = el("button", { type: "button", class: "btn primary small", text: "Claim",
        "aria-label": `Claim conversation ${shortId(item.conversation_id)}`,
        onclick: () => claimConversation(item.conversation_id, claim) });
      const prio = Number(item.priority) || 0;
      list.appendChild(el("li", { class: "queue-item", "data-id": item.conversation_id, "data-reason": item.reason || "" }, [
        el("div", { class: "qi-top" }, [
          el("span", { class: `reason reason-${item.reason || "other"}`, text: reasonLabel(item.reason) }),
          item.topic ? el("span", { class: "tag", text: item.topic }) : null,
          el("span", { class: `prio prio-${Math.min(prio, 3)}`, title: "Priority", text: `P${prio}` }),
          el("span", { class: "wait", "data-waiting": String(Number(item.waiting_s) || 0), text: duration(item.waiting_s || 0) }),
        ]),
        el("p", { class: "qi-summary", title: item.summary || "", text: item.summary || "No summary" }),
        el("div", { class: "qi-bottom" }, [
          el("span", { class: "muted", text: item.position ? `#${item.position} in line` : "" }),
          claim,
        ]),
      ]));
    }
    $("#queue-count").textContent = String(app.queue.length);
    $("#queue-empty").hidden = app.queue.length > 0;
  }

  function tickWaiting() {
    const elapsed = (Date.now() - app.queueReceivedAt) / 1000;
    document.querySelectorAll("#queue .wait").forEach((node) => {
      node.textContent = duration(Number(node.dataset.waiting) + elapsed);
    });
  }

  async function claimConversation(id, button) {
    button.disabled = true;
    const ack = await emitAck("claim", { conversation_id: id });
    if (!ack.ok) {
      button.disabled = false;
      toast(`Could not claim: ${(ack.error && ack.error.message) || "already taken"}`);
    }
  }

  /* ---------- chats ---------- */

  function onAssigned(data) {
    if (!data || !data.conversation) return;
    const conversation = data.conversation;
    const id = conversation.id || conversation.conversation_id;
    if (!id) return;
    let chat = app.chats.get(id);
    const isNew = !chat;
    if (!chat) {
      chat = { id, rendered: new Map(), unread: 0, ended: false };
      app.chats.set(id, chat);
    }
    chat.conversation = conversation;
    chat.packet = data.packet || {};
    chat.ended = false;
    buildChatView(chat, Array.isArray(data.messages) ? data.messages : []);
    renderChatList();
    if (isNew) {
      notifier.notify();
      if (!app.activeId) activate(id);
    }
    if (app.activeId === id) activate(id);
  }

  function renderChatList() {
    const list = $("#chats");
    list.textContent = "";
    for (const chat of app.chats.values()) {
      const packet = chat.packet || {};
      const tab = el("button", {
        type: "button", role: "tab", class: "chat-tab", "data-id": chat.id,
        "aria-selected": String(chat.id === app.activeId), onclick: () => activate(chat.id),
      }, [
        el("span", { class: "ct-title", text: `Visitor ${shortId(chat.id)}` }),
        el("span", { class: "ct-sub", text: chat.ended ? chat.endedText || "Ended" : reasonLabel(packet.reason || chat.conversation.reason) }),
        chat.unread ? el("span", { class: "ct-unread", text: String(chat.unread), "aria-label": `${chat.unread} unread` }) : null,
      ]);
      if (chat.ended) tab.classList.add("ended");
      list.appendChild(el("li", {}, [tab]));
    }
    $("#chats-count").textContent = String(app.chats.size);
    $("#chats-empty").hidden = app.chats.size > 0;
  }

  function activate(id) {
    app.activeId = id;
    $("#placeholder").hidden = Boolean(id);
    for (const chat of app.chats.values()) {
      chat.view.hidden = chat.id !== id;
      if (chat.id === id) chat.unread = 0;
    }
    renderChatList();
    const chat = app.chats.get(id);
    if (chat && !chat.ended) chat.input.focus();
  }

  function scrollChat(chat) {
    chat.scroll.scrollTop = chat.scroll.scrollHeight;
  }

  function buildChatView(chat, messages) {
    const packet = chat.packet;
    const since = Number(chat.conversation.queued_at || chat.conversation.assigned_at || 0);
    if (chat.view) chat.view.remove();
    chat.rendered = new Map();

    chat.live = el("ol", { class: "messages live", role: "log", "aria-live": "polite", "aria-label": "Live chat" });
    chat.typing = el("div", { class: "typing", hidden: true }, [
      el("span", { class: "dots", "aria-hidden": "true" }, [el("i"), el("i"), el("i")]), " Visitor is typing…",
    ]);
    chat.banner = el("div", { class: "ended-banner", role: "status", hidden: true });
    chat.scroll = el("div", { class: "chat-scroll" }, [buildPacket(chat, packet), el("div", { class: "divider" }, [el("span", { text: "Live chat" })]), chat.live]);
    const composer = buildComposer(chat);
    const head = el("header", { class: "chat-head" }, [
      el("div", {}, [
        el("h2", { text: `Visitor ${shortId(chat.id)}` }),
        el("p", { class: "muted small" }, [
          el("span", { class: `reason reason-${packet.reason || "other"}`, text: reasonLabel(packet.reason) }),
          packet.topic ? el("span", { class: "tag", text: packet.topic }) : null,
          chat.conversation.page_url || packet.page_url ? el("span", { class: "page", text: chat.conversation.page_url || packet.page_url }) : null,
        ]),
      ]),
      el("div", { class: "chat-actions" }, [
        el("button", { type: "button", class: "btn", text: "Hand back to bot", "data-action": "hand-back", onclick: () => openDialog(chat, "hand_back") }),
        el("button", { type: "button", class: "btn", text: "Transfer", "data-action": "transfer", onclick: () => openDialog(chat, "transfer") }),
        el("button", { type: "button", class: "btn danger", text: "Close chat", "data-action": "close", onclick: () => openDialog(chat, "close") }),
      ]),
    ]);
    chat.view = el("section", { class: "chat", "data-id": chat.id, "aria-label": `Chat with visitor ${shortId(chat.id)}`, hidden: chat.id !== app.activeId },
      [head, chat.banner, chat.scroll, chat.typing, composer]);
    $("#main").appendChild(chat.view);
    for (const message of messages) {
      if (!since || Number(message.ts) >= since) addMessage(chat, message);
    }
    chat.scroll.scrollTop = 0;
  }

  function buildPacket(chat, packet) {
    const facts = el("dl", { class: "facts" });
    const fact = (label, value, node) => {
      if (!value && !node) return;
      facts.append(el("dt", { text: label }), el("dd", {}, [node || String(value)]));
    };
    fact("Reason", null, el("span", { class: `reason reason-${packet.reason || "other"}`, text: reasonLabel(packet.reason) }));
    fact("Topic", packet.topic);
    fact("Detail", packet.detail);
    const pageUrl = safeUrl(packet.page_url);
    fact("Page", packet.page_url, pageUrl ? link(pageUrl, packet.page_url) : null);
    fact("Browser", packet.user_agent);

    const intents = el("ul", { class: "intents" });
    for (const intent of Array.isArray(packet.intents) ? packet.intents : []) {
      const confidence = Math.max(0, Math.min(1, Number(intent.confidence) || 0));
      const bar = el("span", { class: "bar" }, [el("span", { class: confidence < 0.5 ? "low" : "" })]);
      bar.firstChild.style.width = `${Math.round(confidence * 100)}%`;
      intents.appendChild(el("li", {}, [
        el("span", { class: "intent-name", text: String(intent.name || "?") }), bar,
        el("span", { class: "conf", text: `${Math.round(confidence * 100)}%` }),
      ]));
    }

    const slots = el("dl", { class: "slots" });
    for (const [name, value] of Object.entries(packet.slots || {})) {
      if (value === null || value === undefined || value === "") continue;
      slots.append(el("dt", { text: name }), el("dd", { text: typeof value === "object" ? JSON.stringify(value) : String(value) }));
    }

    const articles = el("ul", { class: "chips" });
    for (const article of Array.isArray(packet.articles_shown) ? packet.articles_shown : []) {
      const label = typeof article === "string" ? article : article && (article.title || article.id);
      if (label) articles.appendChild(el("li", { class: "chip", text: String(label) }));
    }

    const earlier = el("ul", { class: "earlier" });
    for (const conv of Array.isArray(packet.earlier_conversations) ? packet.earlier_conversations : []) {
      earlier.appendChild(el("li", {}, [
        el("span", { class: "muted", text: conv.started_at ? new Date(conv.started_at * 1000).toLocaleString() : "" }),
        " ", el("span", { class: "tag", text: String(conv.state || "") }),
        conv.reason ? el("span", { class: "tag", text: reasonLabel(conv.reason) }) : null, " ",
        el("span", { text: String(conv.summary || "(no summary)") }),
      ]));
    }

    chat.transcript = el("ol", { class: "messages transcript", "aria-label": "Transcript before the handoff" });
    for (const message of Array.isArray(packet.transcript) ? packet.transcript : []) {
      chat.transcript.appendChild(buildMessage(chat, message, true));
    }

    const section = (title, body, empty) => el("section", { class: "packet-section" }, [
      el("h3", { text: title }),
      body.childElementCount ? body : el("p", { class: "muted small", text: empty }),
    ]);

    return el("details", { class: "packet", open: true }, [
      el("summary", {}, [el("strong", { text: "Handoff packet" }), el("span", { class: "muted", text: ` · ${reasonLabel(packet.reason)}` })]),
      el("div", { class: "packet-body" }, [
        el("p", { class: "summary", text: packet.summary || "No summary." }),
        el("div", { class: "packet-grid" }, [
          section("Context", facts, "—"),
          section("Intents", intents, "No intents recorded."),
          section("Slots", slots, "No slots filled."),
          section("Articles shown", articles, "None."),
        ]),
        section("Earlier conversations", earlier, "First conversation."),
        section("Transcript", chat.transcript, "No messages before the handoff."),
      ]),
    ]);
  }

  function buildMessage(chat, message, inTranscript) {
    const sender = ["visitor", "bot", "agent", "system", "note"].includes(message.sender) ? message.sender : "bot";
    const who = sender === "visitor" ? "Visitor" : sender === "bot" ? "Bot" : sender === "agent" ? (message.agent_name || "Agent")
      : sender === "note" ? `Internal note${message.agent_name ? ` · ${message.agent_name}` : ""}` : "System";
    const item = el("li", { class: `message from-${sender}`, "data-sender": sender });
    if (message.id) item.dataset.id = message.id;
    if (message.client_id) item.dataset.clientId = message.client_id;
    if (message.failed) item.classList.add("failed");
    const meta = el("div", { class: "meta" }, [
      el("span", { class: "who", text: who }),
      el("span", { class: "time", text: clock(message.ts) }),
      message.intent ? el("span", { class: "intent", text: `${message.intent}${message.confidence !== undefined ? ` ${Math.round(Number(message.confidence) * 100)}%` : ""}` }) : null,
      message.failed ? el("span", { class: "failed-tag", text: "Not understood" }) : null,
    ]);
    const body = el("div", { class: "body" });
    if (typeof message.text === "string" && message.text) body.appendChild(richText(message.text));
    const attachment = message.attachment && message.attachment.payload;
    const src = attachment && safeUrl(attachment.src || attachment.url);
    if (src) body.appendChild(el("div", {}, [link(src, message.attachment.type === "image" ? "[image]" : "[attachment]")]));
    if (Array.isArray(message.quick_replies) && message.quick_replies.length) {
      body.appendChild(el("div", { class: "muted small", text: `Buttons: ${message.quick_replies.map((q) => q && q.title).filter(Boolean).join(" · ")}` }));
    }
    item.append(meta, body);
    if (sender === "visitor" && message.id) {
      const flag = el("button", { type: "button", class: "flag", text: "Flag as misunderstood", title: "Send to the conversation designers for review" });
      flag.addEventListener("click", async () => {
        flag.disabled = true;
        const ack = await emitAck("flag", { conversation_id: chat.id, message_id: message.id });
        if (ack.ok === false) {
          flag.disabled = false;
          toast(`Could not flag: ${(ack.error && ack.error.message) || "error"}`);
        } else {
          flag.textContent = "Flagged";
          item.classList.add("flagged");
        }
      });
      meta.appendChild(flag);
    }
    if (inTranscript) item.classList.add("in-transcript");
    return item;
  }

  function addMessage(chat, message) {
    if (!message || typeof message !== "object") return;
    if (message.client_id && chat.rendered.has(`c:${message.client_id}`)) {
      const node = chat.rendered.get(`c:${message.client_id}`);
      if (node instanceof Element) {
        node.classList.remove("pending");
        if (message.id) {
          node.dataset.id = message.id;
          chat.rendered.set(message.id, node);
        }
      }
      return;
    }
    if (message.id && chat.rendered.has(message.id)) return;
    const node = buildMessage(chat, message, false);
    if (message.id) chat.rendered.set(message.id, node);
    if (message.client_id) chat.rendered.set(`c:${message.client_id}`, node);
    chat.live.appendChild(node);
    scrollChat(chat);
  }

  function onVisitorMessage(data) {
    if (!data) return;
    const chat = app.chats.get(data.conversation_id);
    if (!chat) return;
    addMessage(chat, Object.assign({ sender: "visitor" }, data));
    setVisitorTyping(chat, false);
    if (app.activeId !== chat.id || document.hidden) {
      chat.unread += 1;
      renderChatList();
      notifier.notify();
    }
  }

  function onAgentMessage(data) {
    // this agent's own reply, maybe from another tab: addMessage de-duplicates by client_id and id
    if (!data) return;
    const chat = app.chats.get(data.conversation_id);
    if (chat) addMessage(chat, Object.assign({}, data, { sender: "agent" }));
  }

  function onVisitorTyping(data) {
    if (!data) return;
    const chat = app.chats.get(data.conversation_id);
    if (chat) setVisitorTyping(chat, Boolean(data.on));
  }

  function setVisitorTyping(chat, on) {
    clearTimeout(chat.typingTimer);
    chat.typing.hidden = !on;
    if (on) chat.typingTimer = setTimeout(() => { chat.typing.hidden = true; }, 15000);
  }

  function onConversationUpdate(data) {
    if (!data) return;
    const chat = app.chats.get(data.conversation_id);
    if (!chat) return;
    const mine = app.auth && app.auth.agent && data.agent_id === app.auth.agent.id;
    if (data.state === "agent" && (mine || data.agent_id === undefined)) return;
    const text = data.state === "closed" ? "Chat closed."
      : data.state === "bot" ? "Handed back to the bot."
        : data.state === "queued" ? "Returned to the queue."
          : data.state === "agent" ? "Transferred to another agent." : `State: ${data.state}`;
    endChat(chat, text);
  }

  function endChat(chat, text) {
    chat.ended = true;
    chat.endedText = text;
    chat.banner.textContent = "";
    chat.banner.append(el("span", { text }), el("button", { type: "button", class: "btn small", text: "Dismiss", onclick: () => dismissChat(chat) }));
    chat.banner.hidden = false;
    chat.view.classList.add("ended");
    chat.view.querySelectorAll(".chat-actions button, .composer textarea, .composer button").forEach((node) => { node.disabled = true; });
    setVisitorTyping(chat, false);
    renderChatList();
  }

  function dismissChat(chat) {
    chat.view.remove();
    app.chats.delete(chat.id);
    if (app.activeId === chat.id) {
      const next = app.chats.keys().next();
      activate(next.done ? null : next.value);
    } else {
      renderChatList();
    }
  }

  /* ---------- composer ---------- */

  function buildComposer(chat) {
    const input = el("textarea", { rows: "3", placeholder: "Reply to the visitor… (Enter to send, Shift+Enter for a new line, / for canned responses)", "aria-label": "Reply" });
    const noteToggle = el("input", { type: "checkbox", class: "note-toggle" });
    const sendButton = el("button", { type: "submit", class: "btn primary", text: "Send" });
    const cannedButton = el("button", { type: "button", class: "btn", text: "Canned responses", "aria-haspopup": "listbox", "aria-expanded": "false" });
    const picker = buildCannedPicker(chat, input, cannedButton);
    const form = el("form", { class: "composer" }, [
      picker,
      input,
      el("div", { class: "composer-bar" }, [
        cannedButton,
        el("label", { class: "note-label" }, [noteToggle, " Internal note"]),
        el("div", { class: "spacer" }),
        sendButton,
      ]),
    ]);
    chat.input = input;
    noteToggle.addEventListener("change", () => {
      form.classList.toggle("note-mode", noteToggle.checked);
      sendButton.textContent = noteToggle.checked ? "Add note" : "Send";
      input.placeholder = noteToggle.checked ? "Internal note — never shown to the visitor" : "Reply to the visitor…";
    });
    cannedButton.addEventListener("click", () => picker.toggle());
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === "/" && !input.value) {
        event.preventDefault();
        picker.toggle(true);
      }
    });
    input.addEventListener("input", () => signalTyping(chat, Boolean(input.value.trim())));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text || chat.ended) return;
      input.value = "";
      signalTyping(chat, false);
      if (noteToggle.checked) sendNote(chat, text);
      else sendReply(chat, text);
    });
    return form;
  }

  function buildCannedPicker(chat, input, button) {
    const search = el("input", { type: "search", placeholder: "Search canned responses…", "aria-label": "Search canned responses" });
    const list = el("ul", { class: "canned-list", role: "listbox", "aria-label": "Canned responses" });
    const box = el("div", { class: "canned", hidden: true }, [search, list]);
    let selected = 0;
    let shown = [];
    const render = () => {
      const query = search.value.trim().toLowerCase();
      shown = app.canned.filter((c) => !query || `${c.title} ${c.text} ${(c.tags || []).join(" ")}`.toLowerCase().includes(query));
      selected = Math.min(selected, Math.max(0, shown.length - 1));
      list.textContent = "";
      shown.forEach((c, i) => {
        const option = el("li", { role: "option", class: "canned-item", "aria-selected": String(i === selected), onmousedown: (event) => { event.preventDefault(); choose(i); } }, [
          el("strong", { text: c.title }), el("span", { text: c.text }),
        ]);
        list.appendChild(option);
      });
      if (!shown.length) list.appendChild(el("li", { class: "muted small", text: "No matches." }));
    };
    const choose = (i) => {
      const item = shown[i];
      if (!item) return;
      const agentName = app.auth && app.auth.agent ? app.auth.agent.name : "";
      input.value = item.text.replace(/\{agent\}/g, agentName);
      box.toggle(false);
      input.focus();
    };
    box.toggle = (force) => {
      const open = force === undefined ? box.hidden : force;
      box.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      if (open) {
        search.value = "";
        selected = 0;
        render();
        search.focus();
      }
    };
    search.addEventListener("input", () => { selected = 0; render(); });
    search.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown") { event.preventDefault(); selected = Math.min(selected + 1, shown.length - 1); render(); }
      else if (event.key === "ArrowUp") { event.preventDefault(); selected = Math.max(selected - 1, 0); render(); }
      else if (event.key === "Enter") { event.preventDefault(); choose(selected); }
      else if (event.key === "Escape") { event.preventDefault(); box.toggle(false); input.focus(); }
    });
    return box;
  }

  function signalTyping(chat, on) {
    clearTimeout(chat.typingIdle);
    if (on) chat.typingIdle = setTimeout(() => signalTyping(chat, false), TYPING_IDLE_MS);
    if (chat.agentTyping === on || !app.socket) return;
    chat.agentTyping = on;
    app.socket.emit("typing", { conversation_id: chat.id, on });
  }

  async function sendReply(chat, text) {
    const clientId = uuid();
    const agent = app.auth.agent || {};
    addMessage(chat, { sender: "agent", text, client_id: clientId, agent_name: agent.name, ts: Date.now() / 1000 });
    const node = chat.rendered.get(`c:${clientId}`);
    node.classList.add("pending");
    const ack = await emitAck("message", { conversation_id: chat.id, text, client_id: clientId });
    if (ack.ok) {
      node.classList.remove("pending");
      if (ack.id) {
        node.dataset.id = ack.id;
        chat.rendered.set(ack.id, node);
      }
    } else {
      node.classList.add("failed-send");
      node.appendChild(el("div", { class: "send-error", text: `Not delivered: ${(ack.error && ack.error.message) || "error"}` }));
    }
  }

  async function sendNote(chat, text) {
    const clientId = uuid();
    const agent = app.auth.agent || {};
    addMessage(chat, { sender: "note", text, client_id: clientId, agent_name: agent.name, ts: Date.now() / 1000 });
    const ack = await emitAck("note", { conversation_id: chat.id, text });
    if (ack.ok === false) toast(`Note not saved: ${(ack.error && ack.error.message) || "error"}`);
  }

  /* ---------- hand back, transfer, close ---------- */

  function openDialog(chat, kind) {
    const titles = { hand_back: "Hand back to the bot", transfer: "Transfer the chat", close: "Close the chat" };
    const fields = [];
    let read;
    if (kind === "hand_back") {
      const intent = el("input", { id: "dlg-intent", list: "dlg-intents", placeholder: "optional, e.g. order_status" });
      const datalist = el("datalist", { id: "dlg-intents" }, HANDBACK_INTENTS.map((name) => el("option", { value: name })));
      fields.push(el("p", { class: "muted small", text: "The assistant takes over again. Optionally give it an intent to continue with." }),
        el("label", { for: "dlg-intent", text: "Continue with intent" }), intent, datalist);
      read = () => (intent.value.trim() ? { intent: intent.value.trim() } : {});
    } else if (kind === "transfer") {
      const team = el("select", { id: "dlg-team" }, [el("option", { value: "", text: "Any team" })].concat(TEAMS.map((t) => el("option", { value: t, text: t }))));
      const agentId = el("select", { id: "dlg-agent" }, [el("option", { value: "", text: "Anyone in the team" })]);
      fields.push(el("label", { for: "dlg-team", text: "Team" }), team, el("label", { for: "dlg-agent", text: "Agent" }), agentId);
      api("/api/agents").then((body) => {
        const me = app.auth.agent && app.auth.agent.id;
        for (const agent of (body && body.agents) || []) {
          if (agent.id === me) continue;
          const label = `${agent.name} (${agent.status}${agent.status !== "offline" ? `, ${agent.active}/${agent.capacity} chats` : ""})`;
          agentId.appendChild(el("option", { value: agent.id, text: label, disabled: agent.status === "offline" }));
        }
      }).catch(() => {});
      read = () => {
        const payload = {};
        if (agentId.value) payload.agent_id = agentId.value;
        else payload.team = team.value || "general";
        return payload;
      };
    } else {
      const resolution = el("select", { id: "dlg-resolution" }, RESOLUTIONS.map(([value, label]) => el("option", { value, text: label })));
      fields.push(el("p", { class: "muted small", text: "The visitor will be asked to rate the conversation." }),
        el("label", { for: "dlg-resolution", text: "Resolution" }), resolution);
      read = () => ({ resolution: resolution.value });
    }
    const error = el("p", { class: "form-error", role: "alert", hidden: true });
    const confirm = el("button", { type: "submit", class: kind === "close" ? "btn danger" : "btn primary", text: { hand_back: "Hand back", transfer: "Transfer", close: "Close chat" }[kind] });
    const dialog = el("dialog", { class: "dialog", "aria-labelledby": "dlg-title" }, [
      el("form", { method: "dialog" }, [
        el("h2", { id: "dlg-title", text: titles[kind] }),
        ...fields,
        error,
        el("div", { class: "dialog-actions" }, [
          el("button", { type: "button", class: "btn", text: "Cancel", onclick: () => dialog.close() }),
          confirm,
        ]),
      ]),
    ]);
    dialog.addEventListener("close", () => dialog.remove());
    dialog.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      confirm.disabled = true;
      const ack = await emitAck(kind, Object.assign({ conversation_id: chat.id }, read()));
      if (ack.ok === false) {
        confirm.disabled = false;
        error.textContent = (ack.error && ack.error.message) || "Failed.";
        error.hidden = false;
        return;
      }
      dialog.close();
      endChat(chat, kind === "close" ? "Chat closed." : kind === "transfer" ? "Transferred." : "Handed back to the bot.");
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  }

  /* ---------- boot ---------- */

  function init() {
    $("#login-form").addEventListener("submit", onLogin);
    $("#logout").addEventListener("click", logout);
    $("#presence").addEventListener("change", (event) => {
      event.target.dataset.status = event.target.value;
      if (app.socket) app.socket.emit("presence", { status: event.target.value });
    });
    document.addEventListener("visibilitychange", () => { if (!document.hidden) notifier.clear(); });
    window.addEventListener("focus", () => notifier.clear());
    document.addEventListener("pointerdown", () => notifier.unlock(), { once: true });
    setInterval(tickWaiting, 1000);
    app.auth = loadAuth();
    if (app.auth) start();
    else showLogin("");
  }

  init();
})();
