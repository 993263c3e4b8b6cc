// bottleneck's page: three tabs over the service's own API. Plain
// JavaScript, no libraries, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
let info = null;

// ---- tabs (WAI-ARIA tabs pattern: arrow keys move between tabs)
const tabs = [...document.querySelectorAll('[role="tab"]')];
function selectTab(tab) {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute("aria-selected", on);
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
  }
  if (tab.id === "tab-latent") latentInit();
  if (tab.id === "tab-anomalies") anomaliesInit();
}
tabs.forEach((t, i) => {
  t.addEventListener("click", () => selectTab(t));
  t.addEventListener("keydown", (e) => {
    const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
    if (!d) return;
    const n = tabs[(i + d + tabs.length) % tabs.length];
    n.focus();
    selectTab(n);
  });
});

function status(el, text, error) {
  el.textContent = text;
  el.classList.toggle("error", !!error);
}

// api is fetch with the bearer token, when the server needs one.
// A 503 (the server is busy) is retried after its Retry-After, a few
// times.
async function api(url, opts = {}) {
  const t = sessionStorage.getItem("bottleneck-token");
  if (t) opts.headers = { ...(opts.headers || {}), Authorization: `Bearer ${t}` };
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(url, opts);
    if (r.status === 401) $("token-form").hidden = false;
    if (r.status !== 503 || attempt === 4) return r;
    const wait = Number(r.headers.get("Retry-After")) || 1;
    await new Promise((ok) => setTimeout(ok, wait * 1000));
  }
}
$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("bottleneck-token", $("token").value);
  $("token-form").hidden = true;
  location.reload();
});

async function apiError(r) {
  try {
    const j = await r.json();
    return j.error || r.statusText;
  } catch {
    return r.status + " " + r.statusText;
  }
}

// ---- Images
let clean = null; // the picture as chosen (a File)
let reference = null; // the optional clean original
const imageStatus = $("image-status");

function pickFile(f, isRef) {
  if (!f) return;
  if (!/^image\/(png|jpeg)$/.test(f.type)) {
    status(imageStatus, `${f.name} is not a PNG or JPEG picture; choose one.`, true);
    return;
  }
  if (isRef) {
    reference = f;
    status(imageStatus, `Reference ${f.name} is set: the result will be measured against it.`);
    return;
  }
  clean = f;
  $("run-image").disabled = false;
  status(imageStatus, `${f.name} (${Math.round(f.size / 1024)} kB) is ready: choose a task and run it.`);
}
$("image-file").addEventListener("change", (e) => pickFile(e.target.files[0], false));
$("ref-file").addEventListener("change", (e) => pickFile(e.target.files[0], true));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  pickFile(e.dataTransfer.files[0], false);
});
$("sigma").addEventListener("input", (e) => { $("sigma-value").value = e.target.value; });

// What "degrade first" means for each task: the server makes the input
// from the clean picture, the standard way, and measures the result.
const degrade = {
  denoise: "Add noise first (for a clean picture)",
  upscale: "Shrink it first (for a sharp picture)",
  colorize: "Make it grey first (for a colour picture)",
};
function taskChanged() {
  const task = $("task").value.split("-")[0];
  $("degrade-text").textContent = degrade[task];
  $("sigma-label").hidden = task !== "denoise";
}
$("task").addEventListener("change", taskChanged);
taskChanged();

function loadImage(src) {
  return new Promise((ok, fail) => {
    const img = new Image();
    img.onload = () => ok(img);
    img.onerror = () => fail(new Error("the picture cannot be decoded"));
    img.src = typeof src === "string" ? src : URL.createObjectURL(src);
  });
}

// greyOf draws a picture in grey, as the colorizer sees it.
async function greyOf(blob) {
  const img = await loadImage(blob);
  const c = document.createElement("canvas");
  c.width = img.naturalWidth;
  c.height = img.naturalHeight;
  const ctx = c.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height);
  for (let i = 0; i < d.data.length; i += 4) {
    const y = 0.299 * d.data[i] + 0.587 * d.data[i + 1] + 0.114 * d.data[i + 2];
    d.data[i] = d.data[i + 1] = d.data[i + 2] = y;
  }
  ctx.putImageData(d, 0, 0);
  return c.toDataURL("image/png");
}

const fmt = (v, d) => (v === undefined || v === null ? "—" : v.toFixed(d));

$("run-image").addEventListener("click", async () => {
  const [task, scale] = $("task").value.split("-");
  const btn = $("run-image");
  btn.disabled = true;
  status(imageStatus, "Working…");
  try {
    const q = new URLSearchParams();
    if (scale) q.set("scale", scale);
    const form = new FormData();
    const degraded = $("degrade").checked;
    if (degraded) {
      form.append("reference", clean, clean.name);
      if (task === "denoise") q.set("sigma", $("sigma").value);
    } else {
      form.append("image", clean, clean.name);
      if (reference) form.append("reference", reference, reference.name);
    }
    const r = await api(`/v1/images/${task}?${q}`, { method: "POST", body: form });
    if (!r.ok) throw new Error(await apiError(r));
    const j = await r.json();
    let before = j.input || URL.createObjectURL(clean);
    if (!j.input && task === "colorize") before = await greyOf(clean);
    $("img-before").src = before;
    $("img-after").src = j.image;
    $("download").href = j.image;
    const metrics = [];
    if (j.note) metrics.push(`Input: ${j.note}.`);
    if (j.psnr !== undefined) {
      metrics.push(`PSNR ${fmt(j.psnr, 2)} dB, SSIM ${fmt(j.ssim, 3)} against the reference; the ${j.baseline} picture: ${fmt(j.baseline_psnr, 2)} dB, SSIM ${fmt(j.baseline_ssim, 3)}.`);
    }
    metrics.push(`${j.model}, ${j.seconds.toFixed(2)} s.`);
    $("image-metrics").textContent = metrics.join(" ");
    $("compare").hidden = false;
    $("compare").dataset.width = j.width;
    $("compare").dataset.height = j.height;
    if (j.psnr !== undefined) {
      $("compare").dataset.psnr = j.psnr;
      $("compare").dataset.baselinePsnr = j.baseline_psnr;
    }
    await loadImage(j.image);
    reveal();
    status(imageStatus, `Done: ${j.width}×${j.height}. Drag the slider to compare.`);
  } catch (e) {
    status(imageStatus, e.message, true);
  } finally {
    btn.disabled = false;
  }
});
function reveal() {
  $("after-clip").style.clipPath = `inset(0 0 0 ${$("reveal").value}%)`;
  $("divider").style.left = `${$("reveal").value}%`;
}
$("reveal").addEventListener("input", reveal);

// ---- Anomalies
let results = [], threshold = null, tableReady = false, sortKey = "score", sortDesc = true;

async function anomaliesInit() {
  if (tableReady) return;
  tableReady = true;
  const note = $("table-note");
  if (!info || !info.table) {
    status(note, "No table model is loaded: start the server with -m MODEL (a model trained with 'bottleneck train'), or try 'bottleneck demo --serve'.");
    $("sample").disabled = true;
    return;
  }
  status(note, `Model ${info.table.version}: ${info.table.columns.length} columns (${info.table.columns.slice(0, 6).join(", ")}${info.table.columns.length > 6 ? ", …" : ""}); paste rows with a header.`);
  const r = await api("/v1/model");
  if (r.ok) {
    const card = await r.json();
    const dl = $("card-body");
    for (const f of card.facts || []) {
      const dt = document.createElement("dt");
      dt.textContent = f.name;
      if (f.level === 1) dt.className = "sub";
      if (f.level === 2) dt.className = "param";
      const dd = document.createElement("dd");
      dd.textContent = f.value;
      dl.append(dt, dd);
    }
    if (card.validation) $("card").open = true;
  }
  $("sample").disabled = !info.table.sample;
}
$("csv").addEventListener("input", () => { $("score").disabled = !$("csv").value.trim(); });
$("csv-file").addEventListener("change", async (e) => {
  const f = e.target.files[0];
  if (!f) return;
  $("csv").value = await f.text();
  $("score").disabled = false;
});
$("sample").addEventListener("click", async () => {
  const r = await api("/v1/sample?rows=300");
  if (!r.ok) { status($("table-note"), await apiError(r), true); return; }
  $("csv").value = await r.text();
  $("score").disabled = false;
});
$("score").addEventListener("click", async () => {
  const note = $("table-note");
  status(note, "Scoring…");
  const r = await api("/v1/score", { method: "POST", body: $("csv").value, headers: { "Content-Type": "text/csv" } });
  if (!r.ok) { status(note, await apiError(r), true); return; }
  const j = await r.json();
  threshold = j.threshold;
  const labels = labelColumn($("csv").value, info.table.label);
  results = j.results.map((x, i) => ({ row: i, label: labels ? labels[i] : undefined, ...x }));
  $("label-head").hidden = !labels;
  if (labels) $("label-head").querySelector("button").textContent = info.table.label;
  $("score-out").hidden = false;
  drawTable();
  drawHist();
  status(note, `Scored ${results.length} rows with the ${j.score} score; ${results.filter((x) => x.anomaly).length} are above the model's threshold.`);
});
document.querySelectorAll("th button").forEach((b) => b.addEventListener("click", () => {
  const k = b.dataset.sort;
  sortDesc = sortKey === k ? !sortDesc : k !== "row";
  sortKey = k;
  drawTable();
}));

// labelColumn returns the values of the label column of CSV text (a
// header, then rows; fields may be quoted), or null when it has none.
function labelColumn(text, name) {
  if (!name) return null;
  const rows = [];
  let row = [], field = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") { row.push(field); field = ""; }
    else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(field); field = "";
      if (row.length > 1 || row[0] !== "") rows.push(row);
      row = [];
    } else field += ch;
  }
  if (field !== "" || row.length) { row.push(field); rows.push(row); }
  const col = rows.length ? rows[0].indexOf(name) : -1;
  return col < 0 ? null : rows.slice(1).map((r) => r[col] ?? "");
}

function drawTable() {
  const rows = [...results].sort((a, b) => {
    const va = a[sortKey] ?? -Infinity, vb = b[sortKey] ?? -Infinity;
    return (va < vb ? -1 : va > vb ? 1 : 0) * (sortDesc ? -1 : 1);
  });
  const tb = document.querySelector("#results tbody");
  tb.replaceChildren();
  for (const r of rows.slice(0, 500)) {
    const tr = document.createElement("tr");
    if (r.anomaly) tr.className = "flagged";
    const td = (t, cls) => { const d = document.createElement("td"); d.textContent = t; if (cls) d.className = cls; return d; };
    const top = document.createElement("td");
    for (const c of r.top || []) {
      const div = document.createElement("div");
      div.className = "bar";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = `${Math.round(c.share * 120)}px`;
      div.append(fill, `${c.feature} ${Math.round(c.share * 100)}%`);
      top.append(div);
    }
    const cells = [td(r.row, "num"), td(r.score === null ? (r.error || "—") : r.score.toPrecision(5), "num"), td(r.anomaly ? "yes" : "no")];
    if (r.label !== undefined) cells.push(td(r.label));
    tr.append(...cells, top);
    tb.append(tr);
  }
}

// The histogram of log scores with the threshold as a line to drag: a
// what-if, not saved.
let whatIf = null, histScale = null;
function drawHist() {
  const c = $("hist"), ctx = c.getContext("2d");
  const vals = results.filter((r) => r.score !== null).map((r) => r.score);
  if (!vals.length) return;
  const shift = Math.min(...vals, threshold) < 0 ? -Math.min(...vals, threshold) + 1 : 0;
  const tf = (v) => Math.log10(v + shift + 1e-9);
  const lo = Math.min(...vals.map(tf), tf(threshold)), hi = Math.max(...vals.map(tf), tf(threshold));
  const pad = 30, w = c.width - 2 * pad, h = c.height - 2 * pad;
  const bins = new Array(40).fill(0);
  for (const v of vals) bins[Math.min(39, Math.floor(((tf(v) - lo) / (hi - lo || 1)) * 40))]++;
  const top = Math.max(...bins);
  const css = getComputedStyle(document.body);
  ctx.clearRect(0, 0, c.width, c.height);
  ctx.fillStyle = css.getPropertyValue("--accent");
  bins.forEach((b, i) => { const bh = (b / top) * h; ctx.fillRect(pad + (i * w) / 40, pad + h - bh, w / 40 - 1, bh); });
  histScale = { lo, hi, pad, w, tf, inv: (x) => Math.pow(10, lo + ((x - pad) / w) * (hi - lo)) - shift };
  const t = whatIf ?? threshold;
  const x = pad + ((tf(t) - lo) / (hi - lo || 1)) * w;
  ctx.strokeStyle = css.getPropertyValue("--bad");
  ctx.lineWidth = 3;
  ctx.beginPath(); ctx.moveTo(x, pad - 10); ctx.lineTo(x, pad + h); ctx.stroke();
  ctx.fillStyle = css.getPropertyValue("--fg");
  ctx.font = "12px system-ui";
  ctx.fillText("log10 score →", pad + w / 2 - 40, c.height - 8);
  const label = (v) => (v >= 1e4 || (v !== 0 && Math.abs(v) < 1e-2) ? v.toExponential(1) : v.toPrecision(3));
  ctx.fillText(label(histScale.inv(pad)), pad, c.height - 8);
  const hiText = label(histScale.inv(pad + w));
  ctx.fillText(hiText, pad + w - ctx.measureText(hiText).width, c.height - 8);
  const flagged = vals.filter((v) => v > t).length;
  $("hist-caption").textContent = `Threshold ${t.toPrecision(4)}${whatIf === null ? " (the model's)" : " (what-if, not saved)"}: it flags ${flagged} of ${vals.length} rows.`;
  c.setAttribute("aria-valuenow", Math.round(((tf(t) - lo) / (hi - lo || 1)) * 100));
  c.setAttribute("aria-valuetext", `${flagged} of ${vals.length} rows flagged`);
}
function dragTo(e) {
  if (!histScale) return;
  const c = $("hist"), r = c.getBoundingClientRect();
  const x = ((e.clientX - r.left) / r.width) * c.width;
  whatIf = histScale.inv(Math.max(histScale.pad, Math.min(histScale.pad + histScale.w, x)));
  drawHist();
}
$("hist").addEventListener("pointerdown", (e) => { $("hist").setPointerCapture(e.pointerId); dragTo(e); });
$("hist").addEventListener("pointermove", (e) => { if (e.buttons) dragTo(e); });
$("hist").addEventListener("keydown", (e) => {
  if (!histScale || (e.key !== "ArrowLeft" && e.key !== "ArrowRight")) return;
  e.preventDefault();
  const t = whatIf ?? threshold;
  const step = (histScale.hi - histScale.lo) / 50;
  const v = Math.min(histScale.hi, Math.max(histScale.lo, histScale.tf(t) + (e.key === "ArrowRight" ? step : -step)));
  const x = histScale.pad + ((v - histScale.lo) / (histScale.hi - histScale.lo)) * histScale.w;
  whatIf = histScale.inv(x);
  drawHist();
});

// ---- Latent space
let latentReady = false, points = [];
const colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

async function latentInit() {
  if (latentReady) return;
  latentReady = true;
  const sel = $("latent-model");
  for (const m of (info && info.latent) || []) sel.append(new Option(m, m));
  if (!sel.options.length) {
    status($("latent-status"), "No model with a code of fixed size is loaded.");
    return;
  }
  sel.addEventListener("change", latentModel);
  await latentModel();
}
async function latentModel() {
  await Promise.all([resample(), interpolate(), drawMap()]);
}
let seed = 1;
async function resample() {
  const m = $("latent-model").value;
  await setImage($("samples"), `/v1/latent/sample?model=${encodeURIComponent(m)}&n=64&seed=${seed++}`);
}
async function interpolate() {
  const m = $("latent-model").value;
  await setImage($("strip"), `/v1/latent/interpolate?model=${encodeURIComponent(m)}&from=${$("from").value}&to=${$("to").value}&steps=10`);
}
async function setImage(img, url) {
  const r = await api(url);
  if (!r.ok) { status($("latent-status"), await apiError(r), true); return; }
  img.src = URL.createObjectURL(await r.blob());
  await img.decode().catch(() => {});
}
$("resample").addEventListener("click", resample);
$("interpolate").addEventListener("click", interpolate);

async function drawMap() {
  const m = $("latent-model").value;
  status($("latent-status"), "Mapping the codes of 1,000 test digits (t-SNE: some seconds the first time)…");
  const r = await api(`/v1/latent/map?model=${encodeURIComponent(m)}`);
  if (!r.ok) { status($("latent-status"), await apiError(r), true); return; }
  const j = await r.json();
  points = j.points;
  const c = $("map"), ctx = c.getContext("2d");
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const pad = 12;
  for (const p of points) {
    p.cx = pad + ((p[0] - x0) / (x1 - x0 || 1)) * (c.width - 2 * pad);
    p.cy = c.height - pad - ((p[1] - y0) / (y1 - y0 || 1)) * (c.height - 2 * pad);
  }
  ctx.clearRect(0, 0, c.width, c.height);
  for (const p of points) {
    ctx.fillStyle = colours[Number(p[2]) % 10] || "#888";
    ctx.beginPath(); ctx.arc(p.cx, p.cy, 3, 0, 2 * Math.PI); ctx.fill();
  }
  const legend = $("legend");
  legend.replaceChildren();
  for (let d = 0; d < 10; d++) {
    const li = document.createElement("li");
    const dot = document.createElement("span");
    dot.style.background = colours[d];
    li.append(dot, String(d));
    legend.append(li);
  }
  status($("latent-status"), `Map: ${j.how}.`);
}
// showPoint shows test digit p beside its point on the map.
const digitURLs = new Map();
async function showPoint(p) {
  hovered = p;
  const c = $("map"), r = c.getBoundingClientRect(), tip = $("tooltip");
  if (!p) { tip.hidden = true; return; }
  $("tip-text").textContent = `#${p[3]}: a ${p[2]}`;
  tip.style.left = `${(p.cx / c.width) * r.width + 10}px`;
  tip.style.top = `${(p.cy / c.height) * r.height + 10}px`;
  tip.hidden = false;
  c.setAttribute("aria-label", `Latent map: test digit ${p[3]}, a ${p[2]}; arrow keys move between digits`);
  let url = digitURLs.get(p[3]);
  if (!url) {
    const res = await api(`/v1/latent/digit?i=${p[3]}`);
    if (!res.ok) return;
    url = URL.createObjectURL(await res.blob());
    digitURLs.set(p[3], url);
  }
  $("tip-img").src = url;
  $("tip-img").alt = `test digit ${p[3]}, a ${p[2]}`;
}
$("map").addEventListener("pointermove", (e) => {
  const c = $("map"), r = c.getBoundingClientRect();
  const x = ((e.clientX - r.left) / r.width) * c.width, y = ((e.clientY - r.top) / r.height) * c.height;
  let best = null, bd = 64;
  for (const p of points) {
    const d = (p.cx - x) ** 2 + (p.cy - y) ** 2;
    if (d < bd) { bd = d; best = p; }
  }
  showPoint(best);
});
$("map").addEventListener("pointerleave", () => { $("tooltip").hidden = true; });
// A click (or Enter on the focused point) picks the digits to interpolate
// between: first the start, then the end.
let pickEnd = false, hovered = null;
function pick(p) {
  if (!p) return;
  $(pickEnd ? "to" : "from").value = p[3];
  status($("latent-status"), `Picked test digit #${p[3]} (a ${p[2]}) as the ${pickEnd ? "end" : "start"} of the path.`);
  pickEnd = !pickEnd;
  interpolate();
}
$("map").addEventListener("click", () => pick(hovered));
// Keyboard: the arrow keys walk the points from left to right.
let focusIdx = -1;
$("map").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && hovered) { pick(hovered); return; }
  if (!points.length || (e.key !== "ArrowRight" && e.key !== "ArrowLeft")) return;
  e.preventDefault();
  const order = [...points].sort((a, b) => a.cx - b.cx);
  focusIdx = (focusIdx + (e.key === "ArrowRight" ? 1 : -1) + order.length) % order.length;
  showPoint(order[focusIdx]);
});
$("map").addEventListener("blur", () => { $("tooltip").hidden = true; });

// ---- start
(async () => {
  try {
    const r = await fetch("/v1/info");
    info = r.ok ? await r.json() : null;
  } catch { info = null; }
  if (info && info.token && !sessionStorage.getItem("bottleneck-token")) $("token-form").hidden = false;
  if (location.hash === "#anomalies") selectTab($("tab-anomalies"));
  else if (location.hash === "#latent") selectTab($("tab-latent"));
})();
