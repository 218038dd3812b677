"use strict";
// polylens explorer: talks only to this server's JSON API; builds the DOM with textContent.
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function api(path, options = {}) {
  const r = await fetch(path, options);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function neighbours(list, lang) {
  return el("td", {}, ...(list || []).map((n) =>
    el("span", { class: "nb" + (n.lang === lang ? " same" : "") }, el("span", { class: "lang" }, n.lang), " ",
      n.concept.replaceAll("_", " "), " ", n.cos.toFixed(2))));
}

function column(v, lang) {
  const head = el("tr", {}, el("th", {}, "layer"), el("th", {}, "nearest concepts (centred cosine)"),
    el("th", {}, "logit lens top tokens"));
  const aligned = v.layers.some((l) => l.align_en !== undefined);
  if (aligned) head.append(el("th", {}, "centred cos with en"));
  const body = el("tbody");
  for (const l of v.layers) {
    const tr = el("tr", { "data-layer": l.layer }, el("td", { class: "num" }, l.layer), neighbours(l.neighbours, lang),
      el("td", { class: "lens" }, ...l.lens.map(([t, p]) => el("span", { class: "tok", title: p.toFixed(4) }, t))));
    if (aligned) {
      const a = l.align_en;
      const bar = el("span", { class: "bar" });
      bar.style.width = `${Math.max(0, a) * 4}em`; // CSSOM: allowed by the page's CSP
      tr.append(el("td", { class: "num" }, bar, " ", a.toFixed(2)));
    }
    body.append(tr);
  }
  const title = el("h3", {}, v.variant);
  if (v.concept) title.append(` — known concept: ${v.concept.concept} (${v.concept.lang})`);
  const col = el("div", { class: "column", "data-variant": v.variant }, title, el("table", {}, el("thead", {}, head), body));
  if (v.note) col.append(el("p", {}, v.note));
  return col;
}

function showRoute(r) {
  const box = $("route");
  box.replaceChildren(el("div", {}, "language ", el("b", { id: "lang" }, r.lang || "unknown"),
    ` (confidence ${r.confidence}), script `, el("b", { id: "script" }, r.script || "none"),
    " — route to ", el("span", { class: "variant", id: "routed" }, r.variant)),
  el("ul", {}, ...r.reasons.map((x) => el("li", {}, x))));
}

async function analyze(ev) {
  ev.preventDefault();
  const text = $("text").value;
  const variants = Array.from(document.querySelectorAll("#variants input:checked")).map((i) => i.value);
  $("status").textContent = "…";
  try {
    const res = await api("/api/analyze", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text, variants }),
    });
    $("status").textContent = "";
    showRoute(res.route);
    $("columns").replaceChildren(...res.variants.map((v) => column(v, res.route.lang)));
    document.body.dataset.analysed = text;
  } catch (e) {
    $("status").textContent = e.message;
  }
}

async function showResult(id) {
  const r = await api("/api/results/" + id.split("/").map(encodeURIComponent).join("/"));
  const box = $("result");
  box.replaceChildren(el("h3", {}, r.id));
  if (r.report) box.append(el("p", {}, el("a", { href: r.report, target: "_blank", rel: "noopener" }, "open the HTML report")));
  for (const f of r.figures) box.append(el("img", { src: f.url, alt: f.name, title: f.name }));
  for (const t of r.tables) {
    const head = el("tr", {}, ...t.header.map((h) => el("th", {}, h)));
    const rows = t.rows.map((row) => el("tr", {}, ...row.map((c) => el("td", {}, c))));
    box.append(el("h4", {}, t.name), el("table", { class: "table" }, el("thead", {}, head), el("tbody", {}, ...rows)));
  }
}

async function init() {
  const info = await api("/api/info");
  $("info").textContent = `${info.variants.join(", ")} · limit ${info.limits.max_chars} characters`;
  $("variants").replaceChildren(...info.variants.map((v) =>
    el("label", {}, Object.assign(el("input", { type: "checkbox", value: v }), { checked: true }), " ", v)));
  $("form").addEventListener("submit", analyze);
  const { results } = await api("/api/results");
  $("results").replaceChildren(...results.map((r) => {
    const li = el("li", { "data-id": r.id }, `${r.root} / ${r.path}`);
    li.addEventListener("click", () => showResult(r.id).catch((e) => { $("status").textContent = e.message; }));
    return li;
  }));
  if (!results.length) $("results").append(el("li", {}, "no results roots given (--results DIR)"));
  document.body.dataset.ready = "1";
}

init().catch((e) => { $("status").textContent = e.message; });
