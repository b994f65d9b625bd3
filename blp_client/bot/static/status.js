/* The BLP bot status page: renders /events (server-sent status JSON) into the page.
 * Elements with data-field="a.b.c" show that path of the status (data-value keeps the raw
 * value); tables are rebuilt from the snapshot. Missing values show "—". No innerHTML. */
"use strict";
(() => {
  const DASH = "—";
  const page = { updates: 0, last: null };
  window.blpStatusPage = page;

  const get = (obj, path) =>
    path.split(".").reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
  const raw = (v) =>
    v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
  const missing = (v) => v === null || v === undefined || v === "";

  function num(v, digits) {
    const n = Number(v);
    if (!Number.isFinite(n)) return String(v);
    const max = digits !== undefined ? digits : Math.abs(n) >= 1000 ? 2 : Math.abs(n) >= 1 ? 4 : 8;
    return (n || 0).toLocaleString("en-US", { maximumFractionDigits: max });  // no "-0"
  }
  function time(ms) {
    const n = Number(ms);
    if (!Number.isFinite(n) || n <= 0) return String(ms);
    return new Date(n).toISOString().slice(11, 23);
  }
  const FORMATS = {
    num: (v) => num(v),
    ratio: (v) => num(v, 6),
    pct: (v) => num(Number(v) * 100, 2) + "%",
    x: (v) => num(v, 2) + "×",
    ms: (v) => num(v, 1) + " ms",
    time: time,
    running: (v) => (v ? "running" : "stopped"),
    paper: (v) => (v ? "paper" : "live"),
  };
  function fmt(v, kind) {
    if (missing(v)) return DASH;
    if (typeof v === "boolean" && !kind) return v ? "yes" : "no";
    if (kind && FORMATS[kind]) return FORMATS[kind](v);
    if (typeof v === "number" || (typeof v === "string" && v.trim() !== "" && !isNaN(v)))
      return num(v);
    if (Array.isArray(v)) return v.length ? v.join(", ") : DASH;
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  /* One bound element: text from the value at `path`, data-value its raw JSON. */
  function bind(node, st, path, kind) {
    const v = get(st, path);
    node.dataset.field = path;
    node.dataset.value = raw(v);
    node.textContent = fmt(v, kind);
    const n = Number(v);
    node.classList.toggle("neg", !missing(v) && kind !== "time" && n < 0);
    return node;
  }
  function cell(st, path, kind) {
    return bind(document.createElement("td"), st, path, kind);
  }
  /* A cell of free text: it wraps (long errors must not widen the panel). */
  function wrap(td) {
    td.classList.add("text");
    return td;
  }
  /* A wall-time cell; the engine's time `engineMs` under it where it differs by > 1 s. */
  function when(st, path, engineMs) {
    const td = cell(st, path, "time");
    const wall = Number(get(st, path));
    const eng = Number(engineMs);
    if (Number.isFinite(wall) && Number.isFinite(eng) && eng > 0 && Math.abs(wall - eng) > 1000) {
      const small = document.createElement("small");
      small.className = "engine";
      small.textContent = `engine ${time(eng)}`;
      td.append(small);
    }
    return td;
  }
  /* A state as (dotted key, value) rows: nested objects flattened, lists as JSON. */
  function flatten(obj, prefix, out) {
    for (const k of keys(obj)) {
      const v = obj[k];
      const key = prefix ? `${prefix}.${k}` : k;
      if (v && typeof v === "object" && !Array.isArray(v) && keys(v).length) flatten(v, key, out);
      else out.push([key, v]);
    }
    return out;
  }
  function text(value, cls) {
    const td = document.createElement("td");
    td.textContent = missing(value) ? DASH : String(value);
    if (cls) td.className = cls;
    return td;
  }
  /* Replace a table's body with one <tr> per row (each row a list of <td>). */
  function rows(id, list, columns) {
    const body = document.querySelector(`#${id} tbody`);
    const trs = list.map((cells) => {
      const tr = document.createElement("tr");
      tr.append(...cells);
      return tr;
    });
    if (!trs.length) {
      const tr = document.createElement("tr");
      const td = text("none", "empty");
      td.colSpan = columns;
      tr.append(td);
      trs.push(tr);
    }
    body.replaceChildren(...trs);
  }
  const keys = (obj) => (obj && typeof obj === "object" ? Object.keys(obj).sort() : []);
  const list = (v) => (Array.isArray(v) ? v : []);
  const newest = (v, n) => list(v).map((x, i) => [x, i]).reverse().slice(0, n);

  const FIELDS = Array.from(document.querySelectorAll("[data-field]"));  // the fixed ones

  function render(st) {
    for (const node of FIELDS) bind(node, st, node.dataset.field, node.dataset.fmt);
    const mf = Number(get(st, "risk.exchange_mf"));
    const mmf = Number(get(st, "risk.exchange_mmf"));
    document.getElementById("mf-mmf").textContent =
      missing(get(st, "risk.exchange_mf")) || !(mmf > 0) ? DASH : num(mf / mmf, 2) + "×";
    const state = get(st, "risk.state");
    document.getElementById("risk-state").dataset.state = missing(state) ? "" : state;
    const reasons = list(get(st, "risk.reasons"));
    document.getElementById("risk-reasons").replaceChildren(
      ...(reasons.length ? [...new Set(reasons)] : [DASH]).map((r) => {
        const li = document.createElement("li");
        li.textContent = r;
        return li;
      }));
    const alarms = keys(get(st, "execution.exposure_alarms"));
    document.getElementById("exposure-alarms").textContent = alarms.length
      ? alarms.map((s) => `${s} since ${time(st.execution.exposure_alarms[s])}`).join("; ")
      : "none";
    const mismatches = Number(get(st, "alarms.price_audit.mismatches"));
    document.getElementById("audit-state").dataset.state =
      !Number.isFinite(mismatches) ? "" : mismatches > 0 ? "alarm" : "ok";
    for (const w of ["minute", "hour"]) {
      const use = Number(get(st, `capacity.use_${w}`));
      document.getElementById(`use-${w}`).value = Number.isFinite(use) ? use : 0;
    }

    rows("denies", newest(get(st, "risk.last_denies"), 10).map(([, i]) => [
      cell(st, `risk.last_denies.${i}.ms`, "time"), cell(st, `risk.last_denies.${i}.reason`),
      cell(st, `risk.last_denies.${i}.intent`), cell(st, `risk.last_denies.${i}.detail`),
    ]), 4);
    const symbols = [...new Set([...keys(st.net_exposure), ...keys(st.inventory)])].sort();
    rows("net", symbols.map((s) => [
      text(s), cell(st, `net_exposure.${s}`), cell(st, `net_exposure_notional.${s}`),
      cell(st, `marks.${s}`),
    ]), 4);
    rows("inventory", keys(st.inventory).flatMap((s) => keys(st.inventory[s]).map((v) => [
      text(s), text(v), cell(st, `inventory.${s}.${v}.position`),
      cell(st, `inventory.${s}.${v}.in_flight`),
    ])), 4);
    const limits = [...new Set([...keys(st.threshold),
      ...keys(get(st, "capacity.threshold_headroom"))])].sort();
    rows("threshold", limits.map((s) => [
      text(s), cell(st, `threshold.${s}`), cell(st, `capacity.threshold_headroom.${s}`),
    ]), 3);
    rows("threshold-history", newest(st.threshold_history, 15).map(([h, i]) => [
      missing(h && h.received_ms) ? cell(st, `threshold_history.${i}.ms`, "time")
        : when(st, `threshold_history.${i}.received_ms`, h.ms),
      cell(st, `threshold_history.${i}.seq`),
      cell(st, `threshold_history.${i}.reason`),
      text(keys(h && h.max_position_notional).map(
        (s) => `${s} ${fmt(h.max_position_notional[s])}`).join(", "), "text"),
    ]), 4);
    rows("strategy-state", flatten(st.strategy_state, "", []).map(([k, v]) => [
      text(k, "text"), text(Array.isArray(v) ? JSON.stringify(v) : fmt(v), "text value"),
    ]), 2);
    rows("venues", keys(st.venues).map((v) => [
      text(v), cell(st, `venues.${v}.ok`), cell(st, `venues.${v}.errors`),
      cell(st, `venues.${v}.last_ok_ms`, "time"), wrap(cell(st, `venues.${v}.last_error`)),
      wrap(cell(st, `venues.${v}.market_data_error`)), cell(st, `venues.${v}.margin.equity`),
      cell(st, `venues.${v}.margin.notional`),
    ]), 8);
    rows("assignments", newest(st.recent_assignments, 20).map(([a, i]) => {
      const p = `recent_assignments.${i}`;
      const offsets = list(a && a.offsets).map((o) => `offset by #${o.seq} ${fmt(o.qty)}`);
      const hedges = list(a && a.hedges).map((h) => {
        const side = Number(h.qty) < 0 ? "sell" : "buy";
        const abs = (v) => fmt(String(v).replace(/^-/, ""));
        const joined = h.joined > 1 ? ` (${h.joined} orders)` : "";
        const via = h.via && h.via !== "own" ? `${h.via}${joined}: ` : "";
        return `${via}${h.venue} ${side} ${abs(h.filled)}/${abs(h.qty)} @ ${fmt(h.avg_price)} ${h.state}`;
      });
      const disc = cell(st, `${p}.discount`);
      disc.classList.toggle("pos", Number(a && a.discount) > 0);
      const state = missing(a && a.hedge_state) ? "not hedged" : a.hedge_state;
      const hedge = text(state, "text hedge-state");
      hedge.dataset.state = state.replace(/ /g, "-");
      const kind = cell(st, `${p}.kind`);
      kind.classList.add("text", "kind");
      return [cell(st, `${p}.seq`),
        missing(a && a.received_ms) ? cell(st, `${p}.ts`, "time") : when(st, `${p}.received_ms`, a.ts),
        cell(st, `${p}.symbol`), cell(st, `${p}.side`), kind, cell(st, `${p}.qty`),
        cell(st, `${p}.price`), cell(st, `${p}.mark_price`), disc, cell(st, `${p}.discount_bps`),
        hedge,
        text(offsets.length + hedges.length ? [...offsets, ...hedges].join("; ") : state,
          "text hedges")];
    }), 12);
    rows("price-mismatches", newest(get(st, "alarms.price_audit.recent_mismatches"), 10)
      .map(([, i]) => {
        const p = `alarms.price_audit.recent_mismatches.${i}`;
        return [cell(st, `${p}.seq`), cell(st, `${p}.symbol`), cell(st, `${p}.kind`),
          cell(st, `${p}.price`), cell(st, `${p}.expected`), wrap(cell(st, `${p}.reason`))];
      }), 6);
    rows("pnl-venues", keys(get(st, "pnl.by_venue")).map((v) => [text(v),
      ...["discount", "market_move", "slippage", "fees", "funding", "total"].map(
        (k) => cell(st, `pnl.by_venue.${v}.${k}`)),
    ]), 7);
    const legs = [...new Set([...keys(get(st, "funding.rates")),
      ...keys(get(st, "funding.payments"))])].sort();
    rows("funding", legs.map((k) => {
      const [s, v] = k.split("@");
      return [text(s), text(v), cell(st, `funding.rates.${k}.current`),
        cell(st, `funding.rates.${k}.predicted`), cell(st, `funding.rates.${k}.next_ms`, "time"),
        cell(st, `funding.payments.${k}.paid`), cell(st, `funding.payments.${k}.received`)];
    }), 7);
    rows("margin-events", newest(st.margin_events, 10).map(([e, i]) => [
      cell(st, `margin_events.${i}.seq`),
      missing(e && e.received_ms) ? cell(st, `margin_events.${i}.ts`, "time")
        : when(st, `margin_events.${i}.received_ms`, e.ts),
      cell(st, `margin_events.${i}.kind`),
    ]), 3);

    page.updates += 1;
    page.last = st;
    document.getElementById("updates").textContent = String(page.updates);
    document.getElementById("updated").textContent = new Date().toISOString().slice(11, 19);
    document.body.dataset.seq = raw(st.last_seq);
  }

  /* The state the server rendered the page with: shown before /events says anything. */
  function initial() {
    const block = document.getElementById("initial-status");
    if (!block) return;
    try {
      render(JSON.parse(block.textContent));
    } catch (err) {
      console.error("status page: cannot render the initial state", err);
    }
  }

  function connect() {
    const conn = document.getElementById("conn");
    const show = (state) => { conn.dataset.state = state; conn.textContent = state; };
    const source = new EventSource("/events");
    source.addEventListener("open", () => show("live"));
    source.addEventListener("error", () =>
      show(source.readyState === EventSource.CLOSED ? "lost" : "reconnecting"));
    source.addEventListener("status", (e) => {
      try {
        render(JSON.parse(e.data));
      } catch (err) {
        console.error("status page: cannot render", err);
      }
    });
  }
  initial();
  connect();
})();
