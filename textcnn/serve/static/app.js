// The textcnn serve page. Plain JavaScript, no dependencies, nothing fetched but this server's API.
// Every piece of user or model text goes into the page through textContent, never innerHTML.
"use strict";

const EXAMPLES = [
  "A gorgeous, witty and deeply moving film.",
  "The plot is dull and the acting is clumsy.",
  "Not bad at all, honestly quite good.",
  "<script>alert('hi')</script> was a terrible movie",
];
const ALL = "\u0000all"; // the selector's "every model side by side" value (no model name starts with NUL)

const state = { models: [], limits: { max_texts: 1000, max_chars: 20000, max_body_bytes: 2097152 }, key: "", batch: null };
const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "text") node.textContent = v;
    else if (k === "className") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c); // strings are appended as text nodes
  return node;
}

function pct(p) { return (100 * p).toFixed(1) + "%"; }

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function api(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.key) headers["X-API-Key"] = state.key;
  const init = body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) };
  const t0 = performance.now();
  const response = await fetch(path, init);
  const ms = performance.now() - t0;
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (response.status === 401) {
    $("key-section").hidden = false;
    $("api-key").focus();
  }
  if (!response.ok) {
    const why = data && typeof data.error === "string" ? data.error : response.statusText;
    throw new Error(`${response.status}: ${why}`);
  }
  return { data, ms };
}

function selectedModels() {
  const v = $("model").value;
  return v === ALL ? state.models.map((m) => m.name) : [v];
}

async function loadModels() {
  try {
    const { data } = await api("/v1/models");
    state.models = data.models;
    state.limits = data.limits || state.limits;
    const select = $("model");
    select.replaceChildren();
    if (state.models.length > 1) select.append(el("option", { value: ALL, text: "All models, side by side" }));
    for (const m of state.models) {
      select.append(el("option", { value: m.name, text: `${m.name} (${m.kind})` }));
    }
    const parts = state.models.map((m) => {
      const acc = m.validation_accuracy == null ? "" : `, validation accuracy ${pct(m.validation_accuracy)}`;
      return `${m.name}: ${m.kind} on ${m.dataset}, labels ${m.labels.join(" / ")}${acc}`;
    });
    $("models-info").textContent = parts.join(" · ");
    showError("");
  } catch (e) {
    $("models-info").textContent = "Could not load the models.";
    showError(e.message);
  }
}

// ---------------------------------------------------------------------------------------------
// One text: label, a bar per class, shaded tokens, top n-grams, per model

function bars(probabilities) {
  const box = el("div", { className: "bars" });
  for (const [name, p] of Object.entries(probabilities)) {
    const fill = el("div", { className: "bar-fill" });
    fill.style.width = pct(p);
    const bar = el("div", { className: "bar", role: "meter", "aria-valuemin": "0", "aria-valuemax": "1",
                            "aria-valuenow": String(p), "aria-label": `probability of ${name}` }, fill);
    box.append(el("div", { className: "bar-row" },
      el("span", { className: "bar-name", title: name, text: name }), bar,
      el("span", { className: "bar-value", text: pct(p) })));
  }
  return box;
}

function shaded(spans) {
  const box = el("div", { className: "sentence", "aria-label": "The text, each token shaded by its contribution" });
  const top = Math.max(1e-12, ...spans.map(([, s]) => Math.abs(s)));
  for (const [segment, score] of spans) {
    if (score === 0) { box.append(segment); continue; }
    const span = el("span", { className: "tok", title: `${score >= 0 ? "+" : ""}${score.toFixed(4)}`, text: segment });
    const alpha = (0.15 + 0.6 * Math.abs(score) / top).toFixed(3);
    span.style.backgroundColor = `rgba(var(${score > 0 ? "--pos" : "--neg"}), ${alpha})`;
    span.dataset.score = String(score);
    box.append(span);
  }
  return box;
}

function card(name, result, ms) {
  const c = el("article", { className: "card", "data-model": name });
  c.append(el("h3", { text: name }));
  c.append(el("div", { className: "muted small", text: `${result.kind} · ${ms.toFixed(1)} ms round trip` }));
  c.append(el("div", { className: "label", text: result.label }));
  c.append(bars(result.probabilities));
  const how = result.method === "exact"
    ? "Exact contributions: the n-grams plus the bias add up to the logits."
    : result.method === "occlusion"
      ? "Occlusion estimates: how much each token's removal changes the logits (not exact)."
      : "No explanation: this model is served without its torch weights (an export folder).";
  c.append(el("p", { className: "muted small", text: how + (result.truncated ? " The text was truncated." : "") }));
  c.append(shaded(result.spans));
  const grams = result.distinct || result.ngrams;  // the top n-grams that do not repeat each other
  if (grams.length) {
    const list = el("ol", { className: "ngrams", "aria-label": "Top n-grams" });
    for (const g of grams) {
      const text = g.shown || g.text || "(padding)";
      list.append(el("li", {}, `“${text}” `,
        el("span", { className: "score", text: `${g.score >= 0 ? "+" : ""}${g.score.toFixed(3)}` })));
    }
    c.append(el("div", { className: "small", text: `Top n-grams for “${result.label}”:` }), list);
  }
  return c;
}

// A model that cannot explain itself (an export folder: no torch model) still gets its prediction.
async function ask(model, text) {
  const info = state.models.find((m) => m.name === model);
  if (!info || info.explanation) return api("/v1/explain", { text, top: 5, model });
  const { data, ms } = await api("/v1/predict", { texts: [text], model });
  const p = data.predictions[0];
  return { data: { ...p, kind: info.kind, method: null, spans: [[text, 0]], ngrams: [] }, ms };
}

async function classify() {
  const text = $("text").value;
  if (!text.trim()) { showError("Type a text first."); $("text").focus(); return; }
  const names = selectedModels();
  $("classify").disabled = true;
  showError("");
  try {
    const results = await Promise.all(names.map((model) => ask(model, text)));
    $("results").replaceChildren(...results.map(({ data, ms }, i) => card(names[i], data, ms)));
  } catch (e) {
    showError(e.message);
  } finally {
    $("classify").disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Batch: many lines -> a table -> CSV

function chunks(texts) {
  const out = [];
  const budget = Math.floor(state.limits.max_body_bytes / 6) - 1024; // worst case: 6 bytes a character
  let cur = [], size = 0;
  for (const t of texts) {
    if (cur.length && (cur.length >= state.limits.max_texts || size + t.length + 3 > budget)) {
      out.push(cur); cur = []; size = 0;
    }
    cur.push(t); size += t.length + 3;
  }
  if (cur.length) out.push(cur);
  return out;
}

async function runBatch() {
  let lines = $("batch-text").value.split(/\r?\n/).filter((s) => s.trim());
  const file = $("batch-file").files[0];
  if (file) {
    if (file.size > 50 * 2 ** 20) { showBatch("The file is larger than 50 MB."); return; }
    lines = lines.concat((await file.text()).split(/\r?\n/).filter((s) => s.trim()));
  }
  if (!lines.length) { showBatch("Paste some lines or pick a file first."); return; }
  const names = selectedModels();
  const tooLong = (t) => t.length > state.limits.max_chars;
  const sendable = lines.filter((t) => !tooLong(t));
  $("batch-run").disabled = true;
  const rows = lines.map((text) => ({ text, byModel: {} }));
  try {
    for (const model of names) {
      let done = 0;
      const results = [];
      for (const part of chunks(sendable)) {
        const { data } = await api("/v1/predict", { texts: part, model });
        results.push(...data.predictions);
        done += part.length;
        showBatch(`${model}: ${done} of ${sendable.length} texts`);
      }
      let j = 0;
      for (const row of rows) {
        row.byModel[model] = tooLong(row.text) ? null : results[j++];
      }
    }
    state.batch = { names, rows };
    renderTable();
    showBatch(`${rows.length} texts classified` + (sendable.length < rows.length
      ? `; ${rows.length - sendable.length} longer than ${state.limits.max_chars} characters were skipped` : ""));
    $("batch-csv").disabled = false;
  } catch (e) {
    showBatch(e.message);
  } finally {
    $("batch-run").disabled = false;
  }
}

function showBatch(message) { $("batch-status").textContent = message; }

function renderTable() {
  const { names, rows } = state.batch;
  const table = $("batch-table");
  const head = el("tr", {}, el("th", { scope: "col", text: "#" }), el("th", { scope: "col", text: "Text" }));
  for (const n of names) {
    const suffix = names.length > 1 ? ` (${n})` : "";
    head.append(el("th", { scope: "col", text: "Label" + suffix }), el("th", { scope: "col", text: "Probability" + suffix }));
  }
  table.tHead.replaceChildren(head);
  const body = table.tBodies[0];
  body.replaceChildren();
  rows.forEach((row, i) => {
    const tr = el("tr", {}, el("td", { className: "num", text: String(i + 1) }), el("td", { className: "text", text: row.text }));
    for (const n of names) {
      const p = row.byModel[n];
      tr.append(el("td", { text: p ? p.label : "(too long)" }), el("td", { className: "num", text: p ? pct(p.probability) : "" }));
    }
    body.append(tr);
  });
  table.hidden = false;
}

function csvCell(value) {
  let s = String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = "'" + s; // a spreadsheet must not read a text as a formula
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function downloadCsv() {
  if (!state.batch) return;
  const { names, rows } = state.batch;
  const labels = Object.fromEntries(state.models.map((m) => [m.name, m.labels]));
  const header = ["text"];
  for (const n of names) {
    const pre = names.length > 1 ? `${n}:` : "";
    header.push(pre + "label", pre + "probability", ...labels[n].map((l) => `${pre}p(${l})`));
  }
  const lines = [header.map(csvCell).join(",")];
  for (const row of rows) {
    const cells = [row.text];
    for (const n of names) {
      const p = row.byModel[n];
      cells.push(p ? p.label : "", p ? p.probability : "", ...labels[n].map((l) => (p ? p.probabilities[l] : "")));
    }
    lines.push(cells.map(csvCell).join(","));
  }
  const blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
  const link = el("a", { href: URL.createObjectURL(blob), download: "predictions.csv" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// ---------------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  for (const sentence of EXAMPLES) {
    const b = el("button", { type: "button", className: "example", text: sentence });
    b.addEventListener("click", () => { $("text").value = sentence; classify(); });
    $("examples").append(b);
  }
  $("single-form").addEventListener("submit", (e) => { e.preventDefault(); classify(); });
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); classify(); }
  });
  $("batch-form").addEventListener("submit", (e) => { e.preventDefault(); runBatch(); });
  $("batch-csv").addEventListener("click", downloadCsv);
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.key = $("api-key").value.trim();
    $("key-section").hidden = true;
    loadModels();
  });
  loadModels();
});
