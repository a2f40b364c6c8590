// A small SVG trend chart: bucket mean lines, min–max whiskers, and threshold bands.
// Written for the console instead of a charting library: no build step, ~150 lines, and the
// threshold bands (the point of the chart) are first-class.
"use strict";
const TrendChart = (() => {
  // About the width a chart gets on the page, so SVG text keeps its CSS size.
  const W = 500, H = 240, M = { left: 40, right: 10, top: 10, bottom: 26 };
  const LABEL_HEIGHT = 14;
  const NS = "http://www.w3.org/2000/svg";

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceTicks(lo, hi, count) {
    const span = hi - lo, raw = span / count;
    const step = [1, 2, 5, 10, 20, 25, 50].map((m) => m * Math.pow(10, Math.floor(Math.log10(raw)))).find((s) => s >= raw) || raw;
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) ticks.push(Math.round(v * 100) / 100);
    return ticks;
  }

  // options: {since, until (Date), yMin, yMax, bands: [{from, to, cls, label}],
  //           series: [{label, cls, points: [{t: Date, mean, min, max}]}], empty, locale}
  function render(container, options) {
    container.replaceChildren();
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "trend", role: "img" });
    const x0 = options.since.getTime(), x1 = options.until.getTime();
    const { yMin, yMax } = options;
    const px = (t) => M.left + ((t - x0) / (x1 - x0)) * (W - M.left - M.right);
    const py = (v) => M.top + (1 - (Math.min(Math.max(v, yMin), yMax) - yMin) / (yMax - yMin)) * (H - M.top - M.bottom);

    for (const band of options.bands) {
      const top = py(Math.min(band.to, yMax)), bottom = py(Math.max(band.from, yMin));
      svg.append(el("rect", { x: M.left, y: top, width: W - M.left - M.right, height: Math.max(bottom - top, 0), class: `band ${band.cls}` }));
      // A band too thin for its label (glucose 3.0–3.9) is labelled just above its top.
      const y = bottom - top >= LABEL_HEIGHT ? top + LABEL_HEIGHT - 2 : top - 3;
      svg.append(el("text", { x: W - M.right - 4, y, class: `band-label ${band.cls}`, "text-anchor": "end" }, band.label));
    }
    for (const tick of niceTicks(yMin, yMax, 5)) {
      svg.append(el("line", { x1: M.left, x2: W - M.right, y1: py(tick), y2: py(tick), class: "grid" }));
      svg.append(el("text", { x: M.left - 6, y: py(tick) + 4, class: "axis", "text-anchor": "end" }, String(tick)));
    }
    const days = (x1 - x0) / 86400000;
    const stepDays = days <= 7 ? 1 : days <= 30 ? 5 : 15;
    const format = new Intl.DateTimeFormat(options.locale, { month: "numeric", day: "numeric" });
    const start = new Date(options.since); start.setHours(0, 0, 0, 0);
    for (let t = start.getTime() + 86400000; t < x1; t += stepDays * 86400000) {
      svg.append(el("line", { x1: px(t), x2: px(t), y1: M.top, y2: H - M.bottom, class: "grid" }));
      svg.append(el("text", { x: px(t), y: H - 8, class: "axis", "text-anchor": "middle" }, format.format(new Date(t))));
    }
    let any = false;
    for (const series of options.series) {
      const points = series.points.filter((p) => p.t.getTime() >= x0 && p.t.getTime() <= x1);
      if (!points.length) continue;
      any = true;
      for (const p of points) {
        svg.append(el("line", { x1: px(p.t), x2: px(p.t), y1: py(p.min), y2: py(p.max), class: `whisker ${series.cls}` }));
      }
      const d = points.map((p, i) => `${i ? "L" : "M"}${px(p.t).toFixed(1)},${py(p.mean).toFixed(1)}`).join("");
      svg.append(el("path", { d, class: `line ${series.cls}` }));
      for (const p of points) {
        const dot = el("circle", { cx: px(p.t), cy: py(p.mean), r: 3, class: `dot ${series.cls}` });
        dot.append(el("title", {}, `${series.label} ${p.mean.toFixed(1)} (${p.min.toFixed(1)}–${p.max.toFixed(1)})`));
        svg.append(dot);
      }
    }
    svg.append(el("rect", { x: M.left, y: M.top, width: W - M.left - M.right, height: H - M.top - M.bottom, class: "frame" }));
    if (!any) svg.append(el("text", { x: W / 2, y: H / 2, class: "empty", "text-anchor": "middle" }, options.empty));
    container.append(svg);
    const legend = document.createElement("div");
    legend.className = "legend";
    for (const series of options.series) {
      const item = document.createElement("span");
      item.className = `key ${series.cls}`;
      item.textContent = series.label;
      legend.append(item);
    }
    container.append(legend);
  }

  return { render };
})();
