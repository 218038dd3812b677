"""The report's inline stylesheet and the layer explorer's script (no CDN, no network)."""

__all__ = ["CSS", "JS"]

CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:0 auto;max-width:1200px;padding:0 20px 40px;color:#222}
h1{font-size:1.5em;margin-top:24px}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4}.ci{color:#666;font-size:12px}code{font-size:12px;word-break:break-all}
figure{margin:20px 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:13px;color:#444}
.file{color:#888}.note{color:#666;font-size:12px}nav a{margin-right:12px}
#explorer-controls{display:flex;align-items:center;gap:14px;margin:10px 0}
#layer-slider{width:420px}#layer-readout{font-weight:bold;min-width:260px}
#explorer svg text{font-family:"DejaVu Sans",Arial,sans-serif;font-size:12px}
"""

JS = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("explorer-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var slider = document.getElementById("layer-slider");
  var readout = document.getElementById("layer-readout");
  var svg = document.getElementById("explorer-svg");
  var tbody = document.querySelector("#explorer-table tbody");
  var W = 900, left = 190, right = 30, rowH = 18 * D.variants.length + 14, top = 30;
  var H = top + rowH * D.langs.length + 30;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.setAttribute("width", W); svg.setAttribute("height", H);
  var select = document.getElementById("metric-select");
  var metric = D.default_metric, S = D.series[metric], lo = 0, hi = 1;
  function scale() {
    lo = 0;
    ["lo", "null_mean", "value"].forEach(function (k) {
      if (!S[k]) return;
      D.variants.forEach(function (v) { D.langs.forEach(function (g) {
        S[k][v][g.code].forEach(function (x) { if (x !== null && x < lo) lo = x; });
      }); });
    });
    lo = Math.floor(lo * 10) / 10;
  }
  scale();
  function X(x) { return left + (x - lo) / (hi - lo) * (W - left - right); }
  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(x) { return x === null || x === undefined ? "–" : x.toFixed(3); }
  function get(k, v, g, l) { return S[k] ? S[k][v][g][l] : null; }
  function label() {
    for (var i = 0; i < D.metrics.length; i++) if (D.metrics[i].key === metric) return D.metrics[i].label;
    return metric;
  }
  function render(l) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    for (var t = Math.ceil(lo * 5) * 2; t <= 10; t += 2) {
      var x = X(t / 10);
      svg.appendChild(el("line", {x1: x, x2: x, y1: top - 6, y2: H - 24, stroke: "#e5e5e5"}));
      svg.appendChild(el("text", {x: x, y: H - 8, "text-anchor": "middle", fill: "#555"}, (t / 10).toFixed(1)));
    }
    svg.appendChild(el("text", {x: left, y: 16, fill: "#333"},
      label() + " with " + D.ref_name + " at layer " + D.layers[l] + " (" + D.layer_labels[l] + ")"));
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    D.langs.forEach(function (g, gi) {
      var y0 = top + gi * rowH;
      svg.appendChild(el("text", {x: left - 10, y: y0 + rowH / 2, "text-anchor": "end", "dominant-baseline": "middle"},
        g.name + " (" + g.code + ")"));
      D.variants.forEach(function (v, vi) {
        var y = y0 + 10 + vi * 18, c = D.colors[v];
        var nm = get("null_mean", v, g.code, l), nq = get("null_q95", v, g.code, l);
        if (nm !== null && nq !== null) svg.appendChild(el("rect", {x: X(Math.min(nm, nq)), y: y - 6,
          width: Math.max(1, Math.abs(X(nq) - X(nm))), height: 12, fill: "#bdbdbd", opacity: 0.6, "class": "null"}));
        var m = get("value", v, g.code, l), a = get("lo", v, g.code, l), b = get("hi", v, g.code, l);
        if (a !== null && b !== null) svg.appendChild(el("line", {x1: X(a), x2: X(b), y1: y, y2: y, stroke: c,
          "stroke-width": 3, opacity: 0.6, "class": "ci"}));
        if (m !== null) svg.appendChild(el("circle", {cx: X(m), cy: y, r: 5, fill: c, "class": "point",
          "data-variant": v, "data-lang": g.code, "data-value": m}));
        var tr = document.createElement("tr");
        [g.name + " (" + g.code + ")", v, fmt(m), "[" + fmt(a) + ", " + fmt(b) + "]",
         "[" + fmt(nm) + ", " + fmt(nq) + "]"].forEach(function (s) {
          var td = document.createElement("td"); td.textContent = s; tr.appendChild(td);
        });
        tbody.appendChild(tr);
      });
    });
    readout.textContent = "layer " + D.layers[l] + " of " + D.layers[D.layers.length - 1] + " — " + D.layer_labels[l];
  }
  slider.min = 0; slider.max = D.layers.length - 1; slider.step = 1;
  slider.addEventListener("input", function () { render(parseInt(slider.value, 10)); });
  select.value = metric;
  document.getElementById("explorer-metric").textContent = label();
  select.addEventListener("change", function () {
    metric = select.value; S = D.series[metric]; scale();
    document.getElementById("explorer-metric").textContent = label();
    render(parseInt(slider.value, 10));
  });
  render(parseInt(slider.value, 10));
})();
"""
