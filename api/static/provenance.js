// Where a figure comes from: a country's or a donor's row opens a dialog listing the reports
// behind its figures at the date and instant shown, each with who recorded it, when, from which
// source, and the corrections that changed it. Strings from events are put in as text.

import { api, ApiError } from "./api.js";
import { h, $ } from "./dom.js";
import { country, donor, num, showDay, showInstant, usdWhole } from "./format.js";
import { describe, namedEvent, sourceLine, TYPE_LABELS } from "./events.js";
import { state } from "./state.js";
import { knownAtInstant, when } from "./timetravel.js";

const READS = { country: "force-strength", donor: "funding" };

let asked = 0; // bumped by every opening; a late answer for an earlier row is dropped
let returnTo = null; // what had the focus before the dialog opened

/** Open the reports behind ``code``'s figures (``kind`` "country" or "donor"). */
export async function openProvenance(kind, code, from = document.activeElement) {
  const dialog = $("provenance");
  asked += 1;
  const mine = asked;
  const name = kind === "country" ? country(code) : donor(code);
  returnTo = from;
  dialog.dataset.state = "loading";
  dialog.dataset.kind = kind;
  dialog.dataset.code = code;
  $("provenance-heading").textContent = `${name}: the reports behind the figures`;
  $("provenance-view").textContent = viewSentence();
  $("provenance-entry").replaceChildren();
  $("provenance-reports").replaceChildren();
  $("provenance-status").textContent = "Loading the reports…";
  if (!dialog.open) dialog.showModal();
  $("provenance-close").focus();

  let answer;
  try {
    const path = `/v1/missions/${encodeURIComponent(state.mission)}/${READS[kind]}/${encodeURIComponent(code)}`;
    answer = await api(path, when());
  } catch (error) {
    if (mine !== asked) return;
    $("provenance-status").textContent = error instanceof ApiError && error.status === 404
      ? `No report of ${name} is dated by this day, as known then.`
      : `Could not load the reports: ${error.message}`;
    dialog.dataset.state = "failed";
    return;
  }
  if (mine !== asked) return;
  $("provenance-entry").replaceChildren(kind === "country" ? strengthFacts(answer) : fundingFacts(answer));
  const items = answer.events.map(reportItem);
  $("provenance-reports").replaceChildren(...items.map(([item]) => item));
  const count = answer.events.length;
  $("provenance-status").textContent =
    `${num(count)} ${count === 1 ? "report" : "reports"}, oldest first, as corrected by then.`;
  await Promise.all(items.map(([, corrections]) => corrections()));
  if (mine === asked) dialog.dataset.state = "loaded";
}

function viewSentence() {
  const pinned = knownAtInstant();
  const asOf = state.asOf ? `As of ${showDay(state.asOf)}` : "As of today";
  return pinned
    ? `${asOf}, as known at ${showInstant(pinned)}: reports and corrections recorded later are left out.`
    : `${asOf}, as known now.`;
}

function facts(pairs) {
  return h("dl", { class: "facts" },
    pairs.map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value))));
}

function strengthFacts(entry) {
  const categories = Object.entries(entry.by_category || {})
    .filter(([, n]) => n)
    .map(([category, n]) => `${num(n)} ${category}`)
    .join(", ");
  return facts([
    ["Deployed", num(entry.deployed)],
    ["Pledged", num(entry.pledged)],
    ["By category", categories || "–"],
    ["Female", num(entry.female)],
    ["Latest headcount", entry.reported_on ? showDay(entry.reported_on) : "–"],
  ]);
}

function fundingFacts(entry) {
  return facts([
    ["Pledged", usdWhole(entry.pledged)],
    ["Committed", usdWhole(entry.committed)],
    ["Deposited", usdWhole(entry.deposited)],
    ["Outstanding", usdWhole(entry.outstanding)],
  ]);
}

/** A report as a list item, and a function filling in the reasons of its corrections. */
function reportItem(event) {
  const effective = event.effective || { occurred_on: event.occurred_on, data: event.data };
  const correctedBy = event.corrected_by || [];
  const moved = effective.occurred_on !== event.occurred_on;
  const changed = JSON.stringify(effective.data) !== JSON.stringify(event.data);
  const corrections = correctedBy.map((id) => h("li", { "data-event": id }, h("code", {}, id)));
  const item = h("li", { class: "event report", "data-event": event.id },
    h("div", { class: "event-head" },
      h("time", { datetime: effective.occurred_on }, showDay(effective.occurred_on)),
      h("span", { class: `type type-${event.type}` }, TYPE_LABELS[event.type] || event.type),
      correctedBy.length ? h("span", { class: "badge amended" }, "corrected") : null),
    h("p", { class: "event-text effective" }, describe(event.type, effective.data)),
    changed || moved
      ? h("p", { class: "as-reported" },
        `As first reported${moved ? `, dated ${showDay(event.occurred_on)}` : ""}: `,
        describe(event.type, event.data))
      : null,
    sourceLine(event.source),
    event.notes ? h("p", { class: "notes" }, h("span", { class: "label" }, "Notes: "), event.notes) : null,
    h("p", { class: "meta recorded" },
      `Recorded ${showInstant(event.recorded_at)} by `, h("span", { class: "recorded-by" }, event.recorded_by),
      ` · id `, h("code", {}, event.id)),
    corrections.length
      ? h("div", { class: "corrected-by" }, h("p", { class: "label" }, "Corrected by"),
        h("ul", {}, corrections))
      : null);
  const fill = () => Promise.all(correctedBy.map(async (id, i) => {
    const correction = await namedEvent(id);
    if (!correction) return;
    const data = correction.data || {};
    corrections[i].append(
      ` recorded ${showInstant(correction.recorded_at)} by ${correction.recorded_by}`,
      data.reason ? h("span", { class: "reason" }, `: ${data.reason}`) : null,
    );
  }));
  return [item, fill];
}

/** The dialog's close button, and the focus given back to the row when it closes (Escape too). */
export function wireProvenance() {
  const dialog = $("provenance");
  $("provenance-close").addEventListener("click", () => dialog.close());
  // A click on the backdrop lands on the dialog itself (its content is in a box of its own).
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
  dialog.addEventListener("close", () => {
    asked += 1;
    dialog.dataset.state = "closed";
    // A live update may have drawn the table again since: then its new row takes the focus.
    const { kind, code } = dialog.dataset;
    const row = document.querySelector(`tr[data-${kind}="${CSS.escape(code || "")}"] button`);
    const target = returnTo && returnTo.isConnected && returnTo !== document.body ? returnTo : row;
    if (target) target.focus();
    returnTo = null;
  });
}
