// The figures as text: the summary cards, the panels' notes and the tables. A country's row of
// the strength table and a donor's row of the funding table open the reports behind them.

import { h, $ } from "./dom.js";
import { country, donor, num, percent, plural, showDay, usd, usdWhole } from "./format.js";
import { openProvenance } from "./provenance.js";

// --- force strength --------------------------------------------------------------------------

export function renderStrengthTable(answer) {
  $("deployed-total").textContent = num(answer.deployed);
  const ceiling = answer.personnel_ceiling;
  $("deployed-detail").textContent = `of ${num(answer.pledged)} pledged${ceiling ? ` · ceiling ${num(ceiling)}` : ""}`;
  $("strength-note").textContent =
    `${plural(answer.by_country.filter((c) => c.deployed > 0).length, "country")} deployed, ` +
    `${plural(answer.by_country.length, "country")} with a pledge or a deployment. ` +
    (ceiling ? `The mandate allows ${num(ceiling)} personnel.` : "The mandate in force sets no personnel ceiling.");

  const body = answer.by_country.map((c) =>
    h("tr", { "data-country": c.country, class: "opens", onclick: (event) => openFrom(event, "country", c.country) },
      h("th", { scope: "row" }, opener(country(c.country), "country"), " ",
        h("abbr", { class: "code", title: country(c.country) }, c.country)),
      h("td", { class: "num deployed" }, num(c.deployed)),
      h("td", { class: "num pledged" }, num(c.pledged)),
      h("td", { class: "num" }, num(c.by_category.police || 0)),
      h("td", { class: "num" }, num(c.by_category.military || 0)),
      h("td", { class: "num" }, num(c.by_category.civilian || 0)),
      h("td", { class: "num" }, num(c.female)),
      h("td", { class: "reported-on" }, c.reported_on ? showDay(c.reported_on) : "–"),
      h("td", { class: "num unreconciled", title: unreconciledTitle(c) }, unreconciled(c))));
  const table = $("strength-table");
  table.tBodies[0].replaceChildren(...body);
  if (!body.length) {
    table.tBodies[0].append(h("tr", {}, h("td", { colspan: 9 }, "Nobody pledged or deployed on this date.")));
  }
  table.tFoot.replaceChildren(h("tr", {},
    h("th", { scope: "row" }, "Total"),
    h("td", { class: "num", id: "deployed-sum" }, num(answer.deployed)),
    h("td", { class: "num" }, num(answer.pledged)),
    h("td", { colspan: 6 })));
}

function openFrom(event, kind, code) {
  openProvenance(kind, code, event.currentTarget.querySelector("button"));
}

/** The row's keyboard way in: the click reaches the row, which opens the reports. */
function opener(name, what) {
  return h("button", {
    type: "button", class: "linkish", "aria-haspopup": "dialog",
    title: `The reports behind this ${what}'s figures`,
  }, name);
}

/** A headcount return's change to what the movements gave: "+200", "−12", "0", or "–". */
function unreconciled(c) {
  if (!c.reported_on) return "–";
  const n = Number(c.unreconciled || 0);
  return n > 0 ? `+${num(n)}` : n < 0 ? `−${num(-n)}` : "0";
}

function unreconciledTitle(c) {
  if (!c.reported_on) return "No headcount return on or before this date: the movements alone.";
  const n = Number(c.unreconciled || 0);
  if (!n) return "The latest headcount return matches the reported movements.";
  return `The headcount return of ${showDay(c.reported_on)} differs from the reported movements by ${unreconciled(c)}: ` +
    "a movement report is probably missing.";
}

// --- strength over time ----------------------------------------------------------------------

export function renderTimelineTable(view, now) {
  const points = view.points;
  const table = $("timeline-table");
  table.tHead.replaceChildren(h("tr", {},
    h("th", { scope: "col" }, "Date"),
    h("th", { scope: "col", class: "num" }, "Deployed"),
    h("th", { scope: "col", class: "num" }, "Pledged"),
    now ? h("th", { scope: "col", class: "num" }, "Deployed, as known now") : null,
    h("th", { scope: "col", class: "num" }, "USD deposited")));
  table.tBodies[0].replaceChildren(...points.map((p, i) => h("tr", {},
    h("th", { scope: "row" }, h("time", { datetime: p.date }, showDay(p.date))),
    h("td", { class: "num" }, num(p.deployed)),
    h("td", { class: "num" }, num(p.pledged)),
    now ? h("td", { class: "num" }, num(now.points[i].deployed)) : null,
    h("td", { class: "num" }, usdWhole(p.deposited_usd)))));
}

// --- funding ---------------------------------------------------------------------------------

export function renderFundingTable(answer) {
  $("deposited-total").textContent = usd(answer.deposited);
  $("coverage-detail").textContent = answer.coverage == null
    ? "no budget requirement covers this date"
    : `${percent.format(answer.coverage)} of the ${usd(answer.requirement)} requirement`;
  $("funding-note").textContent = answer.requirement == null
    ? "No budget requirement covers this date. Totals cover every channel, in US dollars."
    : `Deposits cover ${percent.format(answer.coverage)} of the requirement for the budget period. ` +
      "Totals cover every channel, in US dollars.";

  const body = answer.by_donor.map((d) =>
    h("tr", { "data-donor": d.donor, class: "opens", onclick: (event) => openFrom(event, "donor", d.donor) },
      h("th", { scope: "row" }, opener(donor(d.donor), "donor"),
        d.donor !== donor(d.donor) ? [" ", h("abbr", { class: "code" }, d.donor)] : null),
      h("td", { class: "num" }, usdWhole(d.pledged)),
      h("td", { class: "num" }, usdWhole(d.committed)),
      h("td", { class: "num" }, usdWhole(d.deposited)),
      h("td", { class: "num" }, usdWhole(d.outstanding))));
  const tbody = $("funding-table").tBodies[0];
  tbody.replaceChildren(...body);
  if (!body.length) tbody.append(h("tr", {}, h("td", { colspan: 5 }, "No funds reported by this date.")));
}
