// The mandate: its card, the facts in force, its history and reviews; and the deadline alerts
// the scheduler raised on it.

import { h, $ } from "./dom.js";
import { alertSentence, TYPE_LABELS } from "./events.js";
import { num, plural, showDay } from "./format.js";
import { state } from "./state.js";
import { knownAtInstant } from "./timetravel.js";

// "lapsed" is the read model's word for a mandate past its expiry with no renewal recorded: the
// page says just that, since a renewal may exist that nobody has reported yet.
const STATUS_TEXT = {
  pending: "Not yet authorized",
  active: "Active",
  lapsed: "Expired, no renewal recorded",
  ended: "Ended",
};
export const STATUS_SHORT = { lapsed: "no renewal recorded" };

export function renderMandate(answer) {
  const days = answer.days_remaining;
  const big = $("mandate-days");
  const detail = $("mandate-detail");
  if (answer.status === "active") {
    big.textContent = plural(days, "day");
    detail.textContent = `left, until ${showDay(answer.expires_on)} (${answer.resolution})`;
  } else if (answer.status === "lapsed") {
    big.textContent = "Expired";
    detail.textContent = `on ${showDay(answer.expires_on)} (${answer.resolution}), ` +
      `${plural(-days, "day")} ago: no renewal recorded`;
  } else if (answer.status === "ended") {
    const end = answer.history.filter((item) => item.type === "MandateEnded").pop();
    big.textContent = "Ended";
    detail.textContent = [end ? `on ${showDay(end.occurred_on)}` : "", answer.resolution ? `(${answer.resolution})` : ""]
      .filter(Boolean).join(" ");
  } else {
    big.textContent = STATUS_TEXT[answer.status] || answer.status;
    detail.textContent = answer.resolution ? answer.resolution : "";
  }

  const facts = [
    ["Status", h("span", { class: `status status-${answer.status}` }, STATUS_TEXT[answer.status] || answer.status)],
    ["Resolution in force", answer.resolution || "–"],
    ["First authorized", showDay(answer.authorized_on)],
    ["Expires", answer.expires_on ? h("time", { datetime: answer.expires_on }, showDay(answer.expires_on)) : "–"],
    ["Days remaining", days == null ? "–" : days >= 0 ? num(days) : `none: ${plural(-days, "day")} past expiry`],
    ["Personnel ceiling", answer.personnel_ceiling ? num(answer.personnel_ceiling) : "none set"],
  ];
  $("mandate-summary").replaceChildren(h("dl", { class: "facts" },
    facts.map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value)))));

  const history = answer.history.map((item) => h("li", {},
    h("time", { datetime: item.occurred_on }, showDay(item.occurred_on)), ": ",
    [TYPE_LABELS[item.type] || item.type, item.resolution].filter(Boolean).join(", "),
    item.expires_on ? `, until ${showDay(item.expires_on)}` : ""));
  $("mandate-history").replaceChildren(...history);
  if (!history.length) $("mandate-history").append(h("li", {}, "None by this date."));

  const reviews = answer.reviews.map((r) => h("tr", {},
    h("th", { scope: "row" }, r.title, " ", h("span", { class: "code" }, `(${r.body.replaceAll("_", " ")})`)),
    h("td", {}, h("time", { datetime: r.due_on }, showDay(r.due_on))),
    h("td", {}, r.completed_on ? showDay(r.completed_on) : h("span", { class: "status status-open" }, "open")),
    h("td", {}, r.outcome || "–")));
  const tbody = $("reviews-table").tBodies[0];
  tbody.replaceChildren(...reviews);
  if (!reviews.length) tbody.append(h("tr", {}, h("td", { colspan: 4 }, "No reviews scheduled by this date.")));
}

// --- alerts ----------------------------------------------------------------------------------

export function renderAlerts(answer) {
  // Flags are events too: the ones raised after the as-of date or recorded after the known-at
  // instant are not shown, like every other figure on the page.
  const pinned = knownAtInstant();
  const alerts = answer.alerts
    .filter((a) => !pinned || new Date(a.recorded_at) <= new Date(pinned))
    .filter((a) => !state.asOf || a.occurred_on <= state.asOf)
    .reverse();
  $("alert-count").textContent = num(alerts.length);
  $("alert-detail").textContent = alerts.length
    ? `newest ${showDay(alerts[0].occurred_on)}`
    : "none flagged by then";
  const items = alerts.slice(0, 8).map((a) => {
    const delivered = a.deliveries.filter((d) => d.state === "delivered").length;
    const delivery = a.deliveries.length
      ? `${delivered} of ${plural(a.deliveries.length, "webhook")} delivered`
      : "no webhook configured";
    return h("li", { class: `alert${a.threshold_days === 0 ? " overdue" : ""}` },
      h("p", {}, alertSentence(a)),
      h("p", { class: "meta" },
        `Flagged ${showDay(a.occurred_on)} at the ` +
        `${a.threshold_days === 0 ? "due-date" : plural(a.threshold_days, "day")} threshold · ${delivery}`));
  });
  $("alerts").replaceChildren(...items);
  if (!items.length) $("alerts").append(h("li", { class: "empty" }, "No deadline has been flagged for this mission."));
}

