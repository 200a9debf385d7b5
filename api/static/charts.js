// The charts: SVG drawn here, each with a title saying in words what it shows (the tables
// beside them hold the same figures). Each keeps the answer it drew, to redraw at a new width.

import { chartWidth, frag, h, s, $ } from "./dom.js";
import { addDays, country, isoDay, num, showDay, showInstant, usd, usdWhole, utcDay } from "./format.js";
import { state } from "./state.js";
import { knownAtInstant } from "./timetravel.js";

const drawn = {}; // the answers last drawn, to redraw the charts at a new width

/** Draw the charts again at their boxes' new widths. */
export function redrawCharts() {
  if (drawn.strength) drawStrength(drawn.strength);
  if (drawn.timeline) drawTimeline(...drawn.timeline);
  if (drawn.funding) drawFunding(drawn.funding);
}

// --- force strength --------------------------------------------------------------------------

export function drawStrength(answer) {
  drawn.strength = answer;
  $("strength-chart").replaceChildren(strengthChart(answer));
}

function strengthChart(answer) {
  const width = chartWidth("strength-chart");
  const label = 170;
  const row = 34;
  const rows = answer.by_country;
  const top = 70;
  const height = top + Math.max(rows.length, 1) * row + 10;
  const barWidth = width - label - 110;
  const summary = rows
    .map((c) => `${country(c.country)} ${num(c.deployed)} deployed of ${num(c.pledged)} pledged`)
    .join("; ");
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "strength-svg-title",
    class: "svg-chart",
  }, s("title", { id: "strength-svg-title" },
    `Mission total ${num(answer.deployed)} deployed of ${num(answer.pledged)} pledged` +
    `${answer.personnel_ceiling ? `, ceiling ${num(answer.personnel_ceiling)}` : ""}. ${summary}.`));

  // The mission total on its own scale, so the ceiling can be read against it.
  const totalMax = Math.max(answer.pledged, answer.deployed, answer.personnel_ceiling || 0, 1);
  const tx = (v) => label + (v / totalMax) * barWidth;
  svg.append(
    s("text", { x: 0, y: 22, class: "row-label strong" }, "Mission total"),
    s("rect", { x: label, y: 8, width: tx(answer.pledged) - label, height: 20, class: "bar-pledged" }),
    s("rect", { x: label, y: 12, width: tx(answer.deployed) - label, height: 12, class: "bar-deployed" }),
    s("text", { x: tx(Math.max(answer.pledged, answer.deployed)) + 6, y: 22, class: "value" },
      `${num(answer.deployed)} / ${num(answer.pledged)}`),
  );
  if (answer.personnel_ceiling) {
    const x = tx(answer.personnel_ceiling);
    svg.append(
      s("line", { x1: x, x2: x, y1: 2, y2: 34, class: "ceiling" }),
      s("text", { x, y: 46, class: "axis", "text-anchor": "middle" }, `ceiling ${num(answer.personnel_ceiling)}`),
    );
  }
  svg.append(s("line", { x1: 0, x2: width, y1: 56, y2: 56, class: "rule" }));

  const max = Math.max(1, ...rows.map((c) => Math.max(c.deployed, c.pledged)));
  const x = (v) => label + (v / max) * barWidth;
  rows.forEach((c, i) => {
    const y = top + i * row;
    svg.append(
      s("text", { x: 0, y: y + 16, class: "row-label" }, country(c.country)),
      s("rect", { x: label, y: y + 2, width: Math.max(x(c.pledged) - label, 0), height: 20, class: "bar-pledged" }),
      s("rect", {
        x: label, y: y + 6, width: Math.max(x(c.deployed) - label, c.deployed ? 1.5 : 0), height: 12,
        class: "bar-deployed",
      }),
      s("text", { x: x(Math.max(c.deployed, c.pledged)) + 6, y: y + 16, class: "value" },
        `${num(c.deployed)} / ${num(c.pledged)}`),
    );
  });
  if (!rows.length) svg.append(s("text", { x: label, y: top + 16, class: "axis" }, "No pledges or deployments on this date"));
  return svg;
}

// --- strength over time ----------------------------------------------------------------------

/** The chart's last day: a month past the newest report (not past today), or the as-of date. */
function timelineEnd(asOf) {
  // The whole story is drawn and the as-of date marked in it, so moving the date moves the
  // marker instead of cutting the chart. Alerts are dated by the check, not by the story.
  const today = isoDay(new Date());
  const reports = state.events.filter((e) => e.type !== "DeadlineFlagged").map((e) => e.occurred_on);
  const newest = reports.length ? reports.reduce((a, b) => (a > b ? a : b)) : asOf;
  const end = addDays(newest, 31) < today ? addDays(newest, 31) : today;
  return state.asOf && state.asOf > end ? state.asOf : end;
}

function intervalFor(from, to) {
  const days = (utcDay(to) - utcDay(from)) / 86400000;
  if (days <= 120) return "day";
  if (days <= 365 * 4) return "week";
  return "month";
}

/** The dates and step the timeline is asked for: from the first authorization (before one,
 *  the oldest report at hand) to ``timelineEnd``. */
export function timelineRange(mandate, asOf) {
  const reports = state.events.filter((e) => e.type !== "DeadlineFlagged").map((e) => e.occurred_on);
  const oldest = reports.length ? reports.reduce((a, b) => (a < b ? a : b)) : addDays(asOf, -365);
  const start = mandate.authorized_on || oldest;
  const to = timelineEnd(asOf);
  const from = start < to ? start : addDays(to, -30);
  return { from, to, interval: intervalFor(from, to) };
}

function niceMax(value) {
  if (value <= 0) return 10;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 4, 5, 8, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

export function drawTimeline(view, now, asOf, ceiling) {
  drawn.timeline = [view, now, asOf, ceiling];
  const points = view.points;
  const width = chartWidth("timeline-chart");
  const height = 280;
  const m = { left: 56, right: 16, top: 16, bottom: 36 };
  const innerW = width - m.left - m.right;
  const innerH = height - m.top - m.bottom;
  const t0 = utcDay(points[0].date).getTime();
  const t1 = utcDay(points[points.length - 1].date).getTime();
  const all = points.flatMap((p) => [p.deployed, p.pledged]).concat(now ? now.points.map((p) => p.deployed) : []);
  const yMax = niceMax(Math.max(...all, ceiling || 0, 1));
  const x = (iso) => m.left + (t1 === t0 ? 0 : ((utcDay(iso).getTime() - t0) / (t1 - t0)) * innerW);
  const y = (v) => m.top + innerH - (v / yMax) * innerH;
  const path = (series, key) => series
    .map((p, i) => `${i ? "L" : "M"}${x(p.date).toFixed(1)},${y(p[key]).toFixed(1)}`)
    .join("");

  const last = points[points.length - 1];
  const first = points[0];
  const pinned = knownAtInstant();
  const title = `Deployed personnel from ${showDay(first.date)} to ${showDay(last.date)}: ` +
    `${num(first.deployed)} at the start, ${num(Math.max(...points.map((p) => p.deployed)))} at most, ` +
    `${num(last.deployed)} at the end; ${num(last.pledged)} pledged at the end` +
    (pinned ? `, as known at ${showInstant(pinned)}` : "") + ".";
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "timeline-svg-title",
    class: "svg-chart",
  }, s("title", { id: "timeline-svg-title" }, title));

  for (let i = 0; i <= 4; i += 1) {
    const v = (yMax / 4) * i;
    svg.append(
      s("line", { x1: m.left, x2: width - m.right, y1: y(v), y2: y(v), class: "grid-line" }),
      s("text", { x: m.left - 8, y: y(v) + 4, class: "axis", "text-anchor": "end" }, num(v)),
    );
  }
  // A label at the first point of each quarter (or month, for short spans).
  const spanDays = (t1 - t0) / 86400000;
  const months = spanDays > 500 ? [0, 3, 6, 9] : spanDays > 150 ? [0, 2, 4, 6, 8, 10] : [...Array(12).keys()];
  let lastLabel = "";
  for (const p of points) {
    const d = utcDay(p.date);
    const key = `${d.getUTCFullYear()}-${d.getUTCMonth()}`;
    if (key === lastLabel || !months.includes(d.getUTCMonth())) continue;
    lastLabel = key;
    const label = d.toLocaleString("en-GB", { month: "short", year: "2-digit", timeZone: "UTC" });
    svg.append(
      s("line", { x1: x(p.date), x2: x(p.date), y1: m.top + innerH, y2: m.top + innerH + 5, class: "tick" }),
      s("text", { x: x(p.date), y: height - 14, class: "axis", "text-anchor": "middle" }, label),
    );
  }
  svg.append(s("path", { d: `${path(points, "pledged")}`, class: "line-pledged" }));
  svg.append(s("path", {
    d: `${path(points, "deployed")}L${x(last.date)},${y(0)}L${x(first.date)},${y(0)}Z`, class: "area-deployed",
  }));
  if (now) svg.append(s("path", { d: path(now.points, "deployed"), class: "line-now" }));
  svg.append(s("path", { d: path(points, "deployed"), class: "line-deployed" }));
  if (ceiling) {
    svg.append(
      s("line", { x1: m.left, x2: width - m.right, y1: y(ceiling), y2: y(ceiling), class: "ceiling" }),
      s("text", { x: width - m.right, y: y(ceiling) - 5, class: "axis", "text-anchor": "end" }, `ceiling ${num(ceiling)}`),
    );
  }
  if (asOf >= first.date && asOf < last.date) {
    const ax = x(asOf);
    svg.append(
      s("rect", { x: ax, y: m.top, width: width - m.right - ax, height: innerH, class: "after-as-of" }),
      s("line", { x1: ax, x2: ax, y1: m.top, y2: m.top + innerH, class: "as-of-line" }),
      s("text", {
        x: ax + (ax > width - 140 ? -6 : 6), y: m.top + 12, class: "as-of-label",
        "text-anchor": ax > width - 140 ? "end" : "start",
      }, `as of ${showDay(asOf)}`),
    );
  }
  svg.append(s("line", { x1: m.left, x2: width - m.right, y1: y(0), y2: y(0), class: "axis-line" }));
  $("timeline-chart").replaceChildren(svg);

  $("timeline-key").replaceChildren(frag(
    h("span", { class: "key deployed" }), " deployed ",
    h("span", { class: "key pledged-line" }), " pledged ",
    ceiling ? [h("span", { class: "key ceiling" }), " ceiling "] : null,
    now ? [h("span", { class: "key now" }), " deployed as known now "] : null,
    h("span", { class: "key as-of" }), " the as-of date",
  ));
  $("timeline-note").textContent =
    `${{ day: "Daily", week: "Weekly", month: "Monthly" }[view.interval]} ` +
    `from ${showDay(first.date)} to ${showDay(last.date)}` +
    (pinned ? `, as known at ${showInstant(pinned)}; the dashed line is what is known now.` : ".");
}

// --- funding ---------------------------------------------------------------------------------

export function drawFunding(answer) {
  drawn.funding = answer;
  const rows = [
    ["Requirement", answer.requirement, "bar-requirement"],
    ["Pledged", answer.pledged, "bar-pledged"],
    ["Committed", answer.committed, "bar-committed"],
    ["Deposited", answer.deposited, "bar-deposited"],
  ];
  const width = chartWidth("funding-chart", 320);
  const label = 110;
  const row = 34;
  const height = rows.length * row + 6;
  const max = Math.max(1, ...rows.map(([, v]) => Number(v || 0)));
  const title = rows.map(([name, v]) => `${name} ${v == null ? "none" : usdWhole(v)}`).join("; ");
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "funding-svg-title",
    class: "svg-chart",
  }, s("title", { id: "funding-svg-title" }, title));
  rows.forEach(([name, value, cls], i) => {
    const y = i * row + 4;
    const w = ((Number(value || 0)) / max) * (width - label - 80);
    svg.append(
      s("text", { x: 0, y: y + 17, class: "row-label" }, name),
      s("rect", { x: label, y: y + 2, width: Math.max(w, value && Number(value) > 0 ? 1.5 : 0), height: 20, class: cls }),
      s("text", { x: label + w + 6, y: y + 17, class: "value" }, value == null ? "none set" : usd(value)),
    );
  });
  $("funding-chart").replaceChildren(svg);
}
