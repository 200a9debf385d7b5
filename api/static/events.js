// Events in words: what each report says, the latest events of the mission with their sources,
// and the hint walking through one correction (the quickest way to see what known_at is for).

import { api } from "./api.js";
import { h, $, safeUrl } from "./dom.js";
import { country, donor, missionName, num, plural, showDay, showInstant, usd } from "./format.js";
import { state } from "./state.js";
import { knownAtInstant, setTime, toKnownAtValue } from "./timetravel.js";

export const EVENTS_SHOWN = 12;

/** The mission's newest events, newest first, in one request. */
export async function latestEvents(mission) {
  const page = await api("/v1/events", { mission, order: "desc", limit: EVENTS_SHOWN });
  return page.events;
}

export const TYPE_LABELS = {
  MissionRegistered: "Mission registered",
  MandateAuthorized: "Mandate authorized",
  MandateRenewed: "Mandate renewed",
  MandateEnded: "Mandate ended",
  ReviewScheduled: "Review scheduled",
  ReviewCompleted: "Review completed",
  BudgetRequirementSet: "Budget requirement",
  PersonnelPledged: "Personnel pledged",
  PledgeWithdrawn: "Pledge withdrawn",
  ContingentArrived: "Contingent arrived",
  ContingentDeparted: "Contingent departed",
  FundsPledged: "Funds pledged",
  FundsCommitted: "Funds committed",
  FundsDeposited: "Funds deposited",
  EventCorrected: "Correction",
  EventRetracted: "Retraction",
  StrengthReported: "Headcount return",
  DeadlineFlagged: "Deadline alert",
};

function money(data) {
  const amount = `${num(data.amount)} ${data.currency}`;
  if (data.currency === "USD" || !data.usd_rate) return amount;
  return `${amount} (${usd(Number(data.amount) * Number(data.usd_rate))})`;
}

/** One sentence saying what an event of ``type`` with ``data`` reports. */
export function describe(type, data) {
  const people = (d) => `${num(d.personnel)} ${d.category}`;
  switch (type) {
    case "MissionRegistered":
      return `${data.name} registered, led by ${country(data.lead_country)} in ${country(data.host_country)}`;
    case "MandateAuthorized":
    case "MandateRenewed": {
      const verb = type === "MandateAuthorized" ? "authorizes the mission" : "renews the mandate";
      const ceiling = data.personnel_ceiling ? `, ceiling ${num(data.personnel_ceiling)}` : "";
      return `${data.resolution} ${verb} until ${showDay(data.expires_on)}${ceiling}`;
    }
    case "MandateEnded": {
      const next = data.successor_mission ? ` Succeeded by ${missionName(data.successor_mission)}.` : "";
      return `Mandate ended: ${data.reason}${next}`;
    }
    case "ReviewScheduled":
      return `${data.title}, due ${showDay(data.due_on)}`;
    case "ReviewCompleted":
      return `Review ${data.review_id} completed: ${data.outcome}`;
    case "BudgetRequirementSet":
      return `${usd(data.amount_usd)} needed from ${showDay(data.period_start)} to ${showDay(data.period_end)}`;
    case "PersonnelPledged":
      return `${country(data.country)} pledges ${people(data)} personnel`;
    case "PledgeWithdrawn":
      return `${country(data.country)} withdraws a pledge of ${people(data)} personnel`;
    case "ContingentArrived": {
      const where = data.location ? ` in ${data.location}` : "";
      const unit = data.unit ? ` (${data.unit})` : "";
      return `${people(data)} personnel of ${country(data.country)} arrived${where}${unit}`;
    }
    case "ContingentDeparted":
      return `${people(data)} personnel of ${country(data.country)} left (${data.reason.replaceAll("_", " ")})`;
    case "FundsPledged":
      return `${donor(data.donor)} pledged ${money(data)} (${data.channel.replaceAll("_", " ")})`;
    case "FundsCommitted":
      return `${donor(data.donor)} committed ${money(data)} (${data.channel.replaceAll("_", " ")})`;
    case "FundsDeposited":
      return `${donor(data.donor)} deposited ${money(data)} (${data.channel.replaceAll("_", " ")})`;
    case "StrengthReported": {
      const women = data.female != null ? `, ${num(data.female)} of them women` : "";
      return `${country(data.country)} reports ${people(data)} personnel in the mission at the end of the day${women}`;
    }
    case "DeadlineFlagged":
      return alertSentence(data);
    default:
      return "";
  }
}

export function alertSentence(data) {
  const mandate = data.deadline === "mandate_expiry";
  const name = mandate ? `Mandate ${data.resolution || ""}` : `Review ${data.review_id || ""}`;
  const what = name.trim();
  const due = showDay(data.due_on);
  if (data.days_remaining >= 0) {
    return `${what} ${mandate ? "expires" : "is due"} on ${due}: ${plural(data.days_remaining, "day")} left`;
  }
  // Past the date the flag says what the record lacks, not what happened in the world: a
  // renewal or a completion may yet be reported late.
  const later = `${plural(-data.days_remaining, "day")} later`;
  return mandate
    ? `${what} expired on ${due}: no renewal recorded ${later}`
    : `${what} was due on ${due}: not recorded as completed ${later}`;
}

const namedEvents = new Map(); // id -> envelope, for corrections naming older reports

/** The event ``id`` (from the list shown, those read before, or the API), or null. */
export async function namedEvent(id) {
  const known = state.events.find((e) => e.id === id) || namedEvents.get(id);
  if (known) return known;
  try {
    const event = await api(`/v1/events/${encodeURIComponent(id)}`);
    namedEvents.set(id, event);
    return event;
  } catch {
    return null;
  }
}

export async function renderEvents() {
  const list = $("events");
  const pinned = knownAtInstant();
  const asOf = state.asOf;
  const items = [];
  for (const event of state.events) items.push(await eventItem(event, pinned, asOf));
  list.replaceChildren(...items);
  if (!items.length) list.append(h("li", { class: "empty" }, "No events recorded yet."));
  await renderStory();
}

async function eventItem(event, pinned, asOf) {
  const data = event.data || {};
  let text = describe(event.type, data);
  let named = null;
  if (event.type === "EventCorrected" || event.type === "EventRetracted") {
    named = await namedEvent(data.event_id);
    const what = named
      ? `the report of ${showDay(named.occurred_on)} (${TYPE_LABELS[named.type] || named.type})`
      : "an earlier report";
    if (event.type === "EventCorrected") {
      const now = named ? describe(named.type, data.data || {}) : "";
      text = `Corrects ${what}${now ? `: now ${now}` : ""}`;
    } else {
      text = `Retracts ${what}`;
    }
  }
  const later = pinned && new Date(event.recorded_at) > new Date(pinned);
  const future = asOf && event.occurred_on > asOf;
  const corrected = state.events.some(
    (e) => (e.type === "EventCorrected" || e.type === "EventRetracted") && e.data.event_id === event.id,
  );
  const source = sourceLine(event.source);
  const reason = data.reason && (event.type === "EventCorrected" || event.type === "EventRetracted")
    ? h("p", { class: "reason" }, `Reason: ${data.reason}`)
    : null;
  const notes = event.notes
    ? h("details", { class: "notes" }, h("summary", {}, "Notes"), h("p", {}, event.notes))
    : null;
  const before = (event.type === "EventCorrected" || event.type === "EventRetracted")
    ? h("button", {
      type: "button",
      class: "linkish",
      onclick: () => showBefore(event, named),
    }, "See the figures as known before this")
    : null;
  const badges = [
    corrected ? h("span", { class: "badge amended" }, "corrected later") : null,
    later ? h("span", { class: "badge later" }, "recorded after the known-at instant") : null,
    future ? h("span", { class: "badge later" }, "after the as-of date") : null,
  ];
  return h("li", { class: `event${later || future ? " dim" : ""}`, "data-position": event.position },
    h("div", { class: "event-head" },
      h("time", { datetime: event.occurred_on }, showDay(event.occurred_on)),
      h("span", { class: `type type-${event.type}` }, TYPE_LABELS[event.type] || event.type),
      badges),
    h("p", { class: "event-text" }, text),
    reason,
    source,
    notes,
    h("p", { class: "meta" },
      `Recorded ${showInstant(event.recorded_at)} by ${event.recorded_by} · position ${num(event.position)}`,
      before ? " · " : "", before),
  );
}

/** "Source: " and the report's source, a link only when its URL is http(s); null without one. */
export function sourceLine(source) {
  if (!source) return null;
  const url = safeUrl(source.url);
  return h("p", { class: "source" }, "Source: ",
    url
      ? h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, source.title)
      : h("cite", {}, source.title));
}

/** Time-travel to just before ``amendment`` was recorded, on the date of the report it fixes. */
function showBefore(amendment, named) {
  const instant = new Date(new Date(amendment.recorded_at).getTime() - 1000).toISOString();
  setTime(named ? named.occurred_on : state.asOf, toKnownAtValue(instant));
}

/** The correction whose report stood longest before it, with that report: the clearest case
 *  of what known_at is for (a report fixed a minute later shows little). Newest first on ties. */
async function storyCorrection() {
  let best = null;
  for (const amendment of state.events.filter((e) => e.type === "EventCorrected")) {
    const named = await namedEvent(amendment.data.event_id);
    if (!named) continue;
    const stood = new Date(amendment.recorded_at) - new Date(named.recorded_at);
    if (!best || stood > best.stood) best = { amendment, named, stood };
  }
  return best;
}

/** A hint walking through one correction: the quickest way to see what known_at is for. */
async function renderStory() {
  const story = $("story");
  const found = await storyCorrection();
  if (!found) {
    story.hidden = true;
    return;
  }
  const { amendment, named } = found;
  const was = describe(named.type, named.data);
  const now = describe(named.type, amendment.data.data || {});
  const instant = new Date(new Date(amendment.recorded_at).getTime() - 1000).toISOString();
  story.replaceChildren(
    h("strong", {}, "Try time travel: "),
    `the report of ${showDay(named.occurred_on)} said “${was}”; ` +
      `on ${showDay(amendment.recorded_at.slice(0, 10))} it was corrected to “${now}”. `,
    h("button", {
      type: "button", class: "linkish",
      onclick: () => setTime(named.occurred_on, toKnownAtValue(instant)),
    }, `As of ${showDay(named.occurred_on)}, as known before the correction`),
    " · ",
    h("button", { type: "button", class: "linkish", onclick: () => setTime(named.occurred_on, "") },
      "the same date, as known now"),
  );
  story.hidden = false;
}
