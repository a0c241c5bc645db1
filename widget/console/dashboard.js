/*
 * SupportLine dashboard: figures and SVG charts from GET /api/analytics for a chosen period.
 * Uses the console's sign-in (sessionStorage); no chart library, no CDN.
 * Intent names and article ids come from the bot: they are only ever set as text.
 */
(() => {
  "use strict";

  const AUTH_KEY = "supportline-console:auth";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const DAY = 86400;
  const COLORS = ["#1f6f5c", "#3e63dd", "#e5484d", "#f59e0b", "#8e4ec6", "#64748b", "#0ea5e9"];
  const TOP = 10; // bars in a breakdown by name; the rest is summed up below the chart
  const REASONS = {
    human_requested: "Asked for a person",
    frustration: "Frustrated",
    bot_failure: "Bot failed",
    policy_topic: "Policy topic",
    bot_unavailable: "Bot unavailable",
  };

  const $ = (selector) => document.querySelector(selector);

  function el(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, String(value));
    }
    for (const child of children) if (child) node.appendChild(child);
    return node;
  }

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function auth() {
    try {
      const data = JSON.parse(sessionStorage.getItem(AUTH_KEY) || "null");
      if (data && data.token && (!data.expires_at || data.expires_at * 1000 > Date.now())) return data;
    } catch (err) {
      return null;
    }
    return null;
  }

  async function fetchAnalytics(token, since, until) {
    const response = await fetch(`/api/analytics?since=${since}&until=${until}`, { headers: { Authorization: `Bearer ${token}` } });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error((body && body.error && body.error.message) || `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  function startOfDay(date) {
    const copy = new Date(date);
    copy.setHours(0, 0, 0, 0);
    return copy;
  }

  /** The chosen period as Unix times, and its buckets for the time chart (hours or calendar days). */
  function period() {
    const choice = $("#period-select").value;
    const now = Math.ceil(Date.now() / 1000);
    if (choice === "1") return { since: now - DAY, until: now, bucket: 3600 };
    if (choice === "custom") {
      const from = $("#from").value;
      const to = $("#to").value;
      if (!from || !to || to < from) return null;
      const since = startOfDay(new Date(`${from}T00:00`)).getTime() / 1000;
      const until = startOfDay(new Date(`${to}T00:00`)).getTime() / 1000 + DAY;
      return { since, until, bucket: DAY };
    }
    const first = startOfDay(Date.now()).getTime() / 1000 - (Number(choice) - 1) * DAY;
    return { since: first, until: now, bucket: DAY };
  }

  function seconds(value) {
    if (value === null || value === undefined) return "—";
    if (value < 60) return `${Math.round(value)}s`;
    return `${Math.floor(value / 60)}m ${String(Math.round(value % 60)).padStart(2, "0")}s`;
  }

  function card(label, value, hint) {
    return el("div", { class: "card" }, [
      el("div", { class: "label", text: label }),
      el("div", { class: "value", text: value }),
      hint ? el("div", { class: "hint", text: hint }) : null,
    ]);
  }

  function renderCards(data) {
    const cards = $("#cards");
    cards.textContent = "";
    const share = data.resolved_by_bot_share;
    cards.append(
      card("Conversations", String(data.conversations)),
      card("Resolved by the bot", share === null ? "—" : `${Math.round(share * 100)}%`, `${data.resolved_by_bot} conversations`),
      card("Handoffs", String(data.handoffs)),
      card("Median queue wait", seconds(data.queue_wait.median_s), `p90 ${seconds(data.queue_wait.p90_s)}`),
      card("Median first answer", seconds(data.first_agent_response.median_s), `p90 ${seconds(data.first_agent_response.p90_s)}`),
      card("Rating", data.ratings.average === null ? "—" : `${data.ratings.average.toFixed(1)} / 5`, `${data.ratings.count} ratings`),
      card("Email tickets", String(data.tickets)),
    );
  }

  function empty(target, text) {
    target.textContent = "";
    target.appendChild(el("p", { class: "empty", text }));
  }

  /** A label cut to `max` characters (the whole one is in the bar's tooltip). */
  function clip(label, max) {
    return label.length > max ? `${label.slice(0, max - 1)}…` : label;
  }

  /** Horizontal bars: [{label, value}]; labelWidth in chart units, longer labels are cut. */
  function barChart(target, rows, format = String, { labelWidth = 140, maxLabel = 22 } = {}) {
    const usable = rows.filter((r) => r.value !== null && r.value !== undefined);
    if (!usable.length || usable.every((r) => !r.value)) {
      empty(target, "No data for this period.");
      return;
    }
    const width = 420;
    const rowHeight = 30;
    const height = usable.length * rowHeight + 8;
    const max = Math.max(...usable.map((r) => r.value)) || 1;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": usable.map((r) => `${r.label}: ${format(r.value)}`).join(", ") });
    usable.forEach((row, i) => {
      const y = i * rowHeight + 4;
      const barWidth = Math.max(2, ((width - labelWidth - 60) * row.value) / max);
      const bar = svg("g", { class: "bar" });
      bar.append(
        svg("title", {}, `${row.label}: ${format(row.value)}`),
        svg("text", { x: labelWidth - 8, y: y + 16, "text-anchor": "end", fill: "#344054", class: "bar-label" }, clip(row.label, maxLabel)),
        svg("rect", { x: labelWidth, y: y + 3, width: barWidth, height: 18, rx: 4, fill: row.color || COLORS[i % COLORS.length] }),
        svg("text", { x: labelWidth + barWidth + 6, y: y + 16, fill: "#475467", class: "bar-value" }, format(row.value)),
      );
      chart.append(bar);
    });
    target.textContent = "";
    target.appendChild(chart);
  }

  /**
   * A breakdown by name ({name: count}, e.g. intents or article ids): an optional line
   * with the total, the TOP most frequent as bars, and a line that sums up the rest.
   */
  function breakdownChart(target, counts, total) {
    const rows = Object.entries(counts || {})
      .filter(([, value]) => typeof value === "number" && value > 0)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .map(([label, value]) => ({ label, value }));
    barChart(target, rows.slice(0, TOP), String, { labelWidth: 200, maxLabel: 26 });
    if (total && rows.length) target.prepend(el("p", { class: "total", text: total }));
    const rest = rows.slice(TOP);
    if (rest.length) {
      const total = rest.reduce((sum, row) => sum + row.value, 0);
      target.appendChild(el("p", { class: "more", text: `and ${rest.length} more (${total} in all)` }));
    }
  }

  /** Columns per day with a line of handoffs. */
  function dailyChart(target, days) {
    if (!days.length || days.every((d) => !d.conversations)) {
      empty(target, "No conversations in this period.");
      return;
    }
    const width = 900;
    const height = 220;
    const pad = { left: 36, right: 12, top: 34, bottom: 32 };
    const max = Math.max(1, ...days.map((d) => d.conversations));
    const step = (width - pad.left - pad.right) / days.length;
    const scaleY = (v) => height - pad.bottom - ((height - pad.top - pad.bottom) * v) / max;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": days.map((d) => `${d.label}: ${d.conversations} conversations, ${d.handoffs} handoffs`).join("; ") });
    for (let t = 0; t <= 4; t += 1) {
      const v = Math.round((max * t) / 4);
      const y = scaleY(v);
      chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, stroke: "#eef2f6" }),
        svg("text", { x: pad.left - 6, y: y + 4, "text-anchor": "end", fill: "#98a2b3" }, String(v)));
    }
    const points = [];
    days.forEach((day, i) => {
      const x = pad.left + i * step;
      const barWidth = Math.max(4, step * 0.6);
      const y = scaleY(day.conversations);
      chart.append(svg("rect", { x: x + (step - barWidth) / 2, y, width: barWidth, height: height - pad.bottom - y, rx: 3, fill: "#9fd6c3" }));
      points.push(`${x + step / 2},${scaleY(day.handoffs)}`);
      if (days.length <= 14 || i % Math.ceil(days.length / 12) === 0) {
        chart.append(svg("text", { x: x + step / 2, y: height - 12, "text-anchor": "middle", fill: "#667085" }, day.label));
      }
    });
    chart.append(svg("polyline", { points: points.join(" "), fill: "none", stroke: "#e5484d", "stroke-width": 2.5 }));
    const legend = svg("g", { transform: `translate(${pad.left}, 4)` });
    legend.append(svg("rect", { x: 0, y: 0, width: 12, height: 12, fill: "#9fd6c3" }), svg("text", { x: 18, y: 11, fill: "#344054" }, "conversations"),
      svg("rect", { x: 120, y: 5, width: 14, height: 3, fill: "#e5484d" }), svg("text", { x: 140, y: 11, fill: "#344054" }, "handoffs"));
    chart.append(legend);
    target.textContent = "";
    target.appendChild(chart);
  }

  async function load() {
    const session = auth();
    const error = $("#dash-error");
    if (!session) {
      error.textContent = "";
      error.append("Please ", el("a", { href: "/console/", text: "sign in" }), " first.");
      error.hidden = false;
      return;
    }
    $("#agent-name").textContent = session.agent ? session.agent.name : "";
    const range = period();
    if (!range) {
      error.textContent = "Choose a start and an end date.";
      error.hidden = false;
      return;
    }
    error.hidden = true;
    try {
      const total = await fetchAnalytics(session.token, range.since, range.until);
      renderCards(total);
      barChart($("#chart-reasons"), Object.entries(total.handoffs_by_reason || {}).map(([reason, value]) => ({ label: REASONS[reason] || reason, value })));
      barChart($("#chart-ratings"), [5, 4, 3, 2, 1].map((score, i) => ({ label: `${"★".repeat(score)}`, value: (total.ratings.by_score || {})[String(score)] || 0, color: ["#12b76a", "#66c61c", "#f79009", "#f97066", "#d92d20"][i] })));
      barChart($("#chart-times"), [
        { label: "Queue wait median", value: total.queue_wait.median_s, color: "#3e63dd" },
        { label: "Queue wait p90", value: total.queue_wait.p90_s, color: "#8da4ef" },
        { label: "First answer median", value: total.first_agent_response.median_s, color: "#1f6f5c" },
        { label: "First answer p90", value: total.first_agent_response.p90_s, color: "#9fd6c3" },
      ], (v) => `${Math.round(v)} s`);
      barChart($("#chart-resolved"), [
        { label: "Bot", value: total.resolved_by_bot, color: "#1f6f5c" },
        { label: "People", value: total.conversations - total.resolved_by_bot, color: "#f59e0b" },
        { label: "Email tickets", value: total.tickets, color: "#64748b" },
      ]);
      breakdownChart($("#chart-handoff-intents"), total.handoffs_by_intent, `${total.handoffs} handoffs`);
      breakdownChart($("#chart-fallback-intents"), total.fallbacks_by_intent, `${total.fallbacks} fallbacks (clarifying questions)`);
      breakdownChart($("#chart-articles"), total.articles_before_handoff);
      const count = Math.min(62, Math.max(1, Math.ceil((range.until - range.since) / range.bucket)));
      const hourly = range.bucket < DAY;
      const days = [];
      for (let i = 0; i < count; i += 1) {
        const since = range.since + i * range.bucket;
        const when = new Date(since * 1000);
        days.push(fetchAnalytics(session.token, since, Math.min(range.until, since + range.bucket)).then((d) => ({
          label: hourly ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : when.toLocaleDateString([], { month: "short", day: "numeric" }),
          conversations: d.conversations, handoffs: d.handoffs,
        })));
      }
      dailyChart($("#chart-daily"), await Promise.all(days));
    } catch (err) {
      error.textContent = "";
      if (err.status === 401) error.append("Your session has expired. ", el("a", { href: "/console/", text: "Sign in again" }), ".");
      else error.textContent = `Could not load the figures: ${err.message}`;
      error.hidden = false;
    }
  }

  $("#period-select").addEventListener("change", (event) => {
    $("#custom").hidden = event.target.value !== "custom";
    if (event.target.value !== "custom") load();
  });
  $("#period").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  load();
})();
