/* nmrstake dashboard: local times, the leaderboard (paginated, sorted and searched by the
 * service's JSON API) and the charts (uPlot, served by the service). Read-only; no wallet;
 * every request goes to the page's own origin. */
(function () {
  "use strict";

  const WEI_DECIMALS = 18n;
  const PAGE_SIZE = 50;
  const NUMERIC = new Set(["leaf_index", "stake", "corr", "mmc", "score", "fraction", "payout", "burn", "net"]);
  const state = { charts: {}, board: null };
  window.nmrstake = state;

  /* Wei (decimal string) as NMR rounded half away from zero to `places` decimals (4 by default),
   * with its trailing zeros trimmed (`trim`: the server's nmr_short, in sentences) or kept (the
   * server's nmr_fixed, in tables and cards, so that a column's decimals line up). Exactly as the
   * server: BigInt, no floating point. */
  function nmrText(wei, places, trim) {
    places = places === undefined ? 4 : places;
    let v = BigInt(wei);
    const negative = v < 0n;
    if (negative) v = -v;
    const scale = 10n ** (WEI_DECIMALS - BigInt(places));
    let q = v / scale;
    if ((v % scale) * 2n >= scale) q += 1n;
    const unit = 10n ** BigInt(places);
    let text = (q / unit).toString();
    if (places > 0) {
      const frac = (q % unit).toString().padStart(places, "0");
      const shown = trim ? frac.replace(/0+$/, "") : frac;
      if (shown) text += "." + shown;
    }
    return negative && q !== 0n ? "-" + text : text;
  }

  function nmrShort(wei, places) { return nmrText(wei, places, true); }

  function nmrFixed(wei, places) { return nmrText(wei, places, false); }

  function nmrExact(wei) {
    let v = BigInt(wei);
    const negative = v < 0n;
    if (negative) v = -v;
    const unit = 10n ** WEI_DECIMALS;
    const frac = (v % unit).toString().padStart(18, "0").replace(/0+$/, "");
    return (negative ? "-" : "") + (v / unit).toString() + (frac ? "." + frac : "");
  }

  function pad(n, width) { return String(n).padStart(width || 2, "0"); }

  /* An ISO 8601 UTC time in the reader's time zone: "2026-11-27 23:03 UTC+05:45". */
  function localTime(iso) {
    const d = new Date(iso);
    const offset = -d.getTimezoneOffset();
    const sign = offset < 0 ? "-" : "+";
    const abs = Math.abs(offset);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}` +
      ` UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
  }

  function localiseTimes(root) {
    for (const el of (root || document).querySelectorAll("time[data-utc]")) {
      el.textContent = localTime(el.dataset.utc);
      el.title = el.dataset.utc.replace("T", " ").replace("Z", " UTC");
    }
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "text") node.textContent = v;
      else if (k === "className") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  function nmrCell(wei, col) {
    return el("td", { className: "num", "data-col": col }, [el("span", { className: "nmr", "data-wei": wei, title: nmrExact(wei) + " NMR", text: nmrFixed(wei) })]);
  }

  function scoreCell(value, col) {
    return el("td", { className: "num", "data-col": col, text: value === null ? "—" : value.toFixed(4) });
  }

  function shortAddress(a) { return a.slice(0, 8) + "…" + a.slice(-6); }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || `${response.status} ${url}`);
    return body;
  }

  // ------------------------------------------------------------------ the leaderboard

  function Board(table) {
    this.table = table;
    this.round = table.dataset.round;
    this.body = table.querySelector("tbody");
    this.search = document.getElementById("board-search");
    this.status = document.getElementById("board-status");
    this.prev = document.getElementById("board-prev");
    this.next = document.getElementById("board-next");
    this.offset = 0;
    this.limit = parseInt(table.dataset.pageSize, 10) || PAGE_SIZE;
    this.sort = table.dataset.sort || null; // the page's default: net result, highest first
    this.order = table.dataset.order || "asc";
    this.q = "";
    this.matched = 0;
    this.seq = 0;
    const self = this;
    for (const th of table.querySelectorAll("th[data-sort]")) {
      // On the <th>: its button's click (a tap, Enter or Space) reaches it, and so does a click on the cell.
      th.addEventListener("click", () => self.sortBy(th.dataset.sort));
    }
    let timer = null;
    this.search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => { self.q = self.search.value.trim(); self.offset = 0; self.load(); }, 150);
    });
    this.prev.addEventListener("click", () => { self.offset = Math.max(0, self.offset - self.limit); self.load(); });
    this.next.addEventListener("click", () => { self.offset += self.limit; self.load(); });
  }

  Board.prototype.sortBy = function (key) {
    if (this.sort === key) this.order = this.order === "asc" ? "desc" : "asc";
    else { this.sort = key; this.order = NUMERIC.has(key) && key !== "leaf_index" ? "desc" : "asc"; }
    markSorted(this.table, this.sort, this.order);
    this.offset = 0;
    this.load();
  };

  Board.prototype.url = function () {
    const p = new URLSearchParams({ offset: String(this.offset), limit: String(this.limit) });
    if (this.sort) { p.set("sort", this.sort); p.set("order", this.order); }
    if (this.q) p.set("q", this.q);
    return `/v1/rounds/${this.round}/leaderboard?${p}`;
  };

  Board.prototype.load = async function () {
    const seq = ++this.seq;
    this.table.dataset.state = "loading";
    let page;
    try {
      page = await getJSON(this.url());
    } catch (err) {
      if (seq !== this.seq) return;
      this.table.dataset.state = "error";
      this.status.textContent = "could not load the leaderboard: " + err.message;
      throw err;
    }
    if (seq !== this.seq) return; // a newer request is on its way
    this.render(page);
  };

  Board.prototype.render = function (page) {
    const rows = page.rows.map((r) => {
      const tr = el("tr", { "data-model": r.model, "data-staker": r.staker, "data-leaf": String(r.leaf_index) });
      tr.append(
        el("td", { className: "num rank", "data-col": "rank", text: String(r.rank) }),
        el("td", { "data-col": "model" }, [el("a", { href: `/models/${r.model}`, text: r.model })]),
        nmrCell(r.net, "net"),
        scoreCell(r.score, "score"), scoreCell(r.corr, "corr"), scoreCell(r.mmc, "mmc"),
        nmrCell(r.stake, "stake"), nmrCell(r.payout, "payout"), nmrCell(r.burn, "burn"),
        el("td", { "data-col": "staker" }, [el("a", { className: "hash", href: `/stakers/${r.staker}`, title: r.staker, text: shortAddress(r.staker) })]),
        r.valid ? el("td", { "data-col": "valid", text: "yes" })
          : el("td", { "data-col": "valid", className: "reason", title: r.reason, text: "no: " + r.reason }),
        el("td", { className: "num", "data-col": "leaf_index", text: String(r.leaf_index) }),
      );
      return tr;
    });
    this.body.replaceChildren(...rows);
    this.matched = page.matched;
    const first = page.matched ? page.offset + 1 : 0;
    const last = page.offset + page.rows.length;
    this.status.textContent = page.matched === page.total
      ? `${first}–${last} of ${page.total}`
      : `${first}–${last} of ${page.matched} matching (${page.total} in all)`;
    this.prev.disabled = page.offset <= 0;
    this.next.disabled = last >= page.matched;
    this.table.dataset.state = "ready";
    if (!this.shown) { this.shown = true; performance.mark("nmrstake:board-ready"); } // for bench/dashboard.py
    this.table.dataset.offset = String(page.offset);
    this.table.dataset.matched = String(page.matched);
  };

  /* aria-sort on every sortable header: "ascending" or "descending" on the sorted one, "none" on
   * the others (the headers stay <th>; the button inside each sorts). */
  function markSorted(table, key, order) {
    for (const th of table.querySelectorAll("th[data-sort]")) {
      th.setAttribute("aria-sort", th.dataset.sort === key ? (order === "asc" ? "ascending" : "descending") : "none");
    }
  }

  // ------------------------------------------------------------------ a table sorted in the page

  /* A table whose rows are all in the page (the standings): sorted here, by each cell's
   * data-value (wei: BigInt; num: number; text: as text); empty values last whatever the order. */
  function SortableTable(table) {
    this.table = table;
    this.body = table.querySelector("tbody");
    const sorted = table.querySelector("th[data-sort][aria-sort=ascending], th[data-sort][aria-sort=descending]");
    this.sort = sorted ? sorted.dataset.sort : null;
    this.order = sorted && sorted.getAttribute("aria-sort") === "ascending" ? "asc" : "desc";
    const self = this;
    for (const th of table.querySelectorAll("th[data-sort]")) {
      th.addEventListener("click", () => self.sortBy(th.dataset.sort, th.dataset.type));
    }
    table.dataset.state = "ready";
  }

  SortableTable.prototype.sortBy = function (key, type) {
    if (this.sort === key) this.order = this.order === "asc" ? "desc" : "asc";
    else { this.sort = key; this.order = type === "text" ? "asc" : "desc"; }
    const value = (tr) => {
      const text = tr.querySelector(`[data-col="${key}"]`).dataset.value;
      if (text === undefined || text === "") return null;
      return type === "wei" ? BigInt(text) : type === "num" ? Number(text) : text;
    };
    const sign = this.order === "asc" ? 1 : -1;
    const rows = Array.from(this.body.rows).map((tr, i) => ({ tr, i, v: value(tr) }));
    rows.sort((a, b) => {
      if (a.v === null || b.v === null) return a.v === b.v ? a.i - b.i : a.v === null ? 1 : -1;
      if (a.v < b.v) return -sign;
      if (a.v > b.v) return sign;
      return a.i - b.i;
    });
    this.body.replaceChildren(...rows.map((r) => r.tr));
    markSorted(this.table, this.sort, this.order);
  };

  // ------------------------------------------------------------------ charts

  /* The chart library, loaded only when a chart is drawn (after the leaderboard's first page):
   * a page's table never waits for it. Same origin: /static/vendor/ (npm `uplot`). */
  let chartLibrary = null;
  function loadChartLibrary() {
    if (window.uPlot) return Promise.resolve(window.uPlot);
    if (!chartLibrary) {
      chartLibrary = new Promise((resolve, reject) => {
        const css = el("link", { rel: "stylesheet", href: "/static/vendor/uPlot.min.css" });
        const js = el("script", { src: "/static/vendor/uPlot.iife.min.js" });
        js.addEventListener("load", () => resolve(window.uPlot));
        js.addEventListener("error", () => reject(new Error("the chart library did not load")));
        document.head.append(css, js);
      });
    }
    return chartLibrary;
  }

  function chartWidth(box) { return Math.max(240, box.clientWidth - 8); }

  function mountChart(name, box, opts, data) {
    if (typeof window.uPlot !== "function") throw new Error("the chart library did not load");
    opts.width = chartWidth(box);
    opts.height = box.clientWidth < 500 ? 220 : 300;
    const chart = new window.uPlot(opts, data, box);
    state.charts[name] = chart;
    if (window.ResizeObserver) {
      new ResizeObserver(() => {
        const w = chartWidth(box);
        if (Math.abs(w - chart.width) > 2) chart.setSize({ width: w, height: opts.height });
      }).observe(box);
    }
    box.dataset.state = "ready";
    box.dataset.points = String(data[0].length);
    performance.mark(`nmrstake:${name}-chart-ready`);
    return chart;
  }

  const nmrAxis = (u, values) => values.map((v) => (v === null ? "" : +v.toFixed(4) + ""));

  async function roundChart(box) {
    const [data] = await Promise.all([getJSON(`/v1/rounds/${box.dataset.round}/chart`), loadChartLibrary()]);
    if (!data.score.length) {
      box.textContent = "No scored stake.";
      box.dataset.state = "ready";
      box.dataset.points = "0";
      return;
    }
    const nets = data.net;
    const gains = nets.filter((n) => n > 0).length;
    const low = nets.reduce((a, b) => Math.min(a, b)), high = nets.reduce((a, b) => Math.max(a, b));
    box.setAttribute("aria-label", `Chart: net result (payout − burn, NMR) against score for ${data.score.length} scored stakes; ` +
      `scores from ${data.score[0].toFixed(4)} to ${data.score[data.score.length - 1].toFixed(4)}, ` +
      `net from ${low.toFixed(4)} to ${high.toFixed(4)} NMR; ${gains} gained, ${nets.length - gains} did not.`);
    mountChart("round", box, {
      scales: { x: { time: false }, y: {} },
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      axes: [
        { label: "score", values: (u, vals) => vals.map((v) => +v.toFixed(4) + "") },
        { label: "payout − burn (NMR)", values: nmrAxis, size: 70 },
      ],
      series: [
        { label: "score" },
        { label: "net", stroke: "#1f4e79", paths: () => null, points: { show: true, size: 5, fill: "#1f4e79", stroke: "#1f4e79" } },
      ],
    }, [data.score, data.net]);
  }

  async function historyChart(box) {
    await loadChartLibrary();
    const rounds = JSON.parse(document.getElementById("history-data").textContent).filter((r) => r.result);
    const x = rounds.map((r) => r.round);
    const y = rounds.map((r) => Number(BigInt(r.cumulative_net)) / 1e18);
    if (!x.length) {
      box.textContent = "No round with a result yet.";
      box.dataset.state = "ready";
      box.dataset.points = "0";
      return;
    }
    box.setAttribute("aria-label", `Chart: cumulative net result (payout − burn, NMR) after each of ${x.length} rounds with a result: ` +
      rounds.map((r) => `round ${r.round}, ${nmrFixed(r.cumulative_net)}`).join("; ") + ".");
    mountChart("history", box, {
      scales: { x: { time: false, range: (u, lo, hi) => [lo - 0.5, hi + 0.5] }, y: {} },
      legend: { show: false },
      axes: [
        { label: "round", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], values: (u, vals) => vals.map((v) => (Number.isInteger(v) ? String(v) : "")) },
        { label: "cumulative net (NMR)", values: nmrAxis, size: 70 },
      ],
      series: [
        { label: "round" },
        { label: "cumulative net", stroke: "#1f4e79", width: 2, points: { show: true, size: 8, fill: "#1f4e79" } },
      ],
    }, [x, y]);
  }

  /* Score, CORR and MMC per round with a result (the means of the page's stakes in the round),
   * from the same JSON as the Rounds table, which is the chart's text alternative. */
  async function performanceChart(box) {
    await loadChartLibrary();
    const rounds = JSON.parse(document.getElementById("history-data").textContent).filter((r) => r.result);
    if (!rounds.length) {
      box.textContent = "No round with a result yet.";
      box.dataset.state = "ready";
      box.dataset.points = "0";
      return;
    }
    const pick = (k) => rounds.map((r) => (r[k] === null ? null : r[k]));
    const scoreAxis = (u, vals) => vals.map((v) => (v === null ? "" : +v.toFixed(4) + ""));
    mountChart("performance", box, {
      scales: { x: { time: false, range: (u, lo, hi) => [lo - 0.5, hi + 0.5] }, y: {} },
      legend: { show: true },
      axes: [
        { label: "round", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], values: (u, vals) => vals.map((v) => (Number.isInteger(v) ? String(v) : "")) },
        { label: "score / CORR / MMC", values: scoreAxis, size: 70 },
      ],
      series: [
        { label: "round" },
        { label: "score", stroke: "#1f4e79", width: 2, points: { show: true, size: 7, fill: "#1f4e79" } },
        { label: "CORR", stroke: "#2e7d32", width: 1, dash: [6, 4], points: { show: true, size: 5 } },
        { label: "MMC", stroke: "#b26a00", width: 1, dash: [2, 3], points: { show: true, size: 5 } },
      ],
    }, [rounds.map((r) => r.round), pick("score"), pick("corr"), pick("mmc")]);
  }

  /* The tournament per round, oldest first: NMR staked, paid and burned (the rounds table below
   * holds the same numbers). */
  async function trendChart(box) {
    await loadChartLibrary();
    const rounds = JSON.parse(document.getElementById("trend-data").textContent);
    const nmr = (k) => rounds.map((r) => Number(BigInt(r[k])) / 1e18);
    mountChart("trend", box, {
      scales: { x: { time: false, range: (u, lo, hi) => [lo - 0.5, hi + 0.5] }, y: {} },
      legend: { show: true },
      axes: [
        { label: "round", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], values: (u, vals) => vals.map((v) => (Number.isInteger(v) ? String(v) : "")) },
        { label: "NMR", values: nmrAxis, size: 70 },
      ],
      series: [
        { label: "round" },
        { label: "staked", stroke: "#1f4e79", width: 2, points: { show: true, size: 7, fill: "#1f4e79" } },
        { label: "paid", stroke: "#2e7d32", width: 2, points: { show: true, size: 5 } },
        { label: "burned", stroke: "#b42318", width: 2, dash: [4, 3], points: { show: true, size: 5 } },
      ],
    }, [rounds.map((r) => r.round), nmr("staked"), nmr("payout"), nmr("burn")]);
  }

  /* An allocation strategy's idle NMR after each transfer in or out (a step line over time). */
  async function idleChart(box) {
    await loadChartLibrary();
    const moves = JSON.parse(document.getElementById("idle-data").textContent);
    mountChart("idle", box, {
      scales: { x: { time: true }, y: {} },
      legend: { show: false },
      axes: [{}, { label: "idle NMR", values: nmrAxis, size: 70 }],
      series: [
        { label: "time" },
        { label: "idle NMR", stroke: "#1f4e79", width: 2, paths: window.uPlot.paths.stepped({ align: 1 }), points: { show: true, size: 6, fill: "#1f4e79" } },
      ],
    }, [moves.map((mv) => mv.time), moves.map((mv) => Number(BigInt(mv.balance)) / 1e18)]);
  }

  // ------------------------------------------------------------------ the round's countdown

  /* The server's duration_text: the two largest units, "in …" or "… ago". */
  function durationText(seconds) {
    let left = Math.abs(Math.trunc(seconds));
    if (left === 0) return "now";
    const parts = [];
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]]) {
      if (left >= size || (parts.length && parts.length < 2)) {
        parts.push(`${Math.floor(left / size)} ${unit}`);
        left %= size;
      }
      if (parts.length === 2) break;
    }
    const text = parts.filter((p) => !p.startsWith("0 ")).join(" ") || parts[0];
    return seconds > 0 ? `in ${text}` : `${text} ago`;
  }

  /* Counts down from the chain's time the page was rendered at (data-now), by the reader's
   * clock since: the chain's clock, not the reader's, decides when a round closes. */
  function countdown(box) {
    const at = Number(box.dataset.at), now = Number(box.dataset.now), loaded = Date.now();
    const left = box.querySelector("[data-col=left]");
    const tick = () => { left.textContent = durationText(at - now - Math.floor((Date.now() - loaded) / 1000)); };
    tick();
    state.countdown = setInterval(tick, 1000);
  }

  // ------------------------------------------------------------------ start

  function start() {
    localiseTimes();
    const skip = document.getElementById("skip");
    const content = document.getElementById("content");
    // The skip link moves the keyboard's focus too, not only the view, in every browser.
    if (skip && content) skip.addEventListener("click", () => content.focus());
    const table = document.getElementById("board");
    const roundBox = document.getElementById("round-chart");
    if (table) {
      state.board = new Board(table);
      const loaded = state.board.load();
      // The chart after the first page of rows: the table is what a reader waits for.
      if (roundBox) loaded.then(() => roundChart(roundBox)).catch((err) => { roundBox.dataset.state = "error"; throw err; });
    }
    for (const sortable of document.querySelectorAll("table.sortable")) new SortableTable(sortable);
    const historyBox = document.getElementById("history-chart");
    if (historyBox) historyChart(historyBox).catch((err) => { historyBox.dataset.state = "error"; throw err; });
    const idleBox = document.getElementById("idle-chart");
    if (idleBox) idleChart(idleBox).catch((err) => { idleBox.dataset.state = "error"; throw err; });
    const clock = document.getElementById("round-clock");
    if (clock) countdown(clock);
    const trendBox = document.getElementById("trend-chart");
    if (trendBox) trendChart(trendBox).catch((err) => { trendBox.dataset.state = "error"; throw err; });
    const performanceBox = document.getElementById("performance-chart");
    if (performanceBox) performanceChart(performanceBox).catch((err) => { performanceBox.dataset.state = "error"; throw err; });
  }

  state.nmrShort = nmrShort;
  state.durationText = durationText;
  state.nmrFixed = nmrFixed;
  state.localTime = localTime;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
