// The sitrep dashboard: reads the /v1 API of the server that serves it and draws the answers.
// No framework and no build step; charts are SVG drawn here. Every string from the API is put
// into the page as text (never as HTML), because events carry free text from field reports.

const TOKEN_KEY = "sitrep.token";
const EVENTS_SHOWN = 12;
const POLL_SECONDS = 5;
const SVG = "http://www.w3.org/2000/svg";

const drawn = {}; // the answers last drawn, to redraw the charts at a new width

const state = {
  mission: "", // empty until the URL or the list of missions names one
  missions: [], // GET /v1/missions, today as known now
  asOf: "", // YYYY-MM-DD, empty for today
  knownAt: "", // datetime-local value read as UTC, empty for now
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  missionName: "",
  names: {}, // country code -> name
  events: [], // newest first, this mission's
  after: 0, // the last position seen, for the live stream
  generation: 0, // bumped by every refresh; late answers of older ones are dropped
  live: null, // AbortController of the live connection
  unseen: 0, // events recorded while the view is pinned to a past instant
};

// --- formatting ------------------------------------------------------------------------------

const integer = new Intl.NumberFormat("en");
const compactUsd = new Intl.NumberFormat("en", {
  style: "currency", currency: "USD", notation: "compact", maximumFractionDigits: 1,
});
const wholeUsd = new Intl.NumberFormat("en", {
  style: "currency", currency: "USD", maximumFractionDigits: 0,
});
const percent = new Intl.NumberFormat("en", { style: "percent", maximumFractionDigits: 1 });
const dayFormat = new Intl.DateTimeFormat("en-GB", {
  day: "numeric", month: "short", year: "numeric", timeZone: "UTC",
});
const instantFormat = new Intl.DateTimeFormat("en-GB", {
  day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
  second: "2-digit", hour12: false, timeZone: "UTC",
});

const num = (value) => integer.format(Number(value));
const usd = (value) => (value == null ? "–" : compactUsd.format(Number(value)));
const usdWhole = (value) => (value == null ? "–" : wholeUsd.format(Number(value)));
const utcDay = (iso) => new Date(`${iso}T00:00:00Z`);
const showDay = (iso) => (iso ? dayFormat.format(utcDay(iso)) : "–");
const showInstant = (iso) => `${instantFormat.format(new Date(iso))} UTC`;
const isoDay = (date) => date.toISOString().slice(0, 10);
const addDays = (iso, days) => isoDay(new Date(utcDay(iso).getTime() + days * 86400000));
const country = (code) => state.names[code] || code;
const PLURALS = { country: "countries" };
const plural = (n, word) => `${num(n)} ${Number(n) === 1 ? word : PLURALS[word] || `${word}s`}`;

/** The known-at input's value as an RFC 3339 instant in UTC, or "" for now. */
function knownAtInstant() {
  if (!state.knownAt) return "";
  const withSeconds = state.knownAt.length === 16 ? `${state.knownAt}:00` : state.knownAt;
  return `${withSeconds}Z`;
}

/** An RFC 3339 instant as the known-at input's value (UTC, to the second). */
function toKnownAtValue(instant) {
  return new Date(instant).toISOString().slice(0, 19);
}

// --- building DOM without HTML strings -----------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  return fill(node, attrs, children);
}

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  return fill(node, attrs, children);
}

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (id) => document.getElementById(id);

/** The children as one fragment (``replaceChildren`` would print null and arrays as text). */
function frag(...children) {
  return fill(document.createDocumentFragment(), {}, children);
}

/** A chart's width in its own units: the box it is drawn in, so text keeps its size. */
function chartWidth(id, least = 420) {
  return Math.max(least, Math.round($(id).clientWidth || 720));
}

function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

// --- the API ---------------------------------------------------------------------------------

class AuthNeeded extends Error {}

class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

function apiUrl(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value != null && value !== "") url.searchParams.set(key, value);
  }
  return url;
}

function authHeaders(extra = {}) {
  return state.token ? { ...extra, Authorization: `Bearer ${state.token}` } : extra;
}

async function problemDetail(response) {
  try {
    const body = await response.json();
    return body.detail || body.title;
  } catch {
    return response.statusText;
  }
}

async function api(path, params = {}) {
  // no-cache revalidates with the read models' ETags: a 304 costs the server almost nothing.
  const response = await fetch(apiUrl(path, params), {
    headers: authHeaders({ Accept: "application/json" }),
    cache: "no-cache",
  });
  if (response.status === 401) throw new AuthNeeded(await problemDetail(response));
  if (!response.ok) throw new ApiError(response.status, await problemDetail(response));
  return response.json();
}

/** The asked date and instant as query parameters. */
function when() {
  return { as_of: state.asOf, known_at: knownAtInstant() };
}

// --- latest events ---------------------------------------------------------------------------

async function eventExists(position) {
  const page = await api("/v1/events", { after: position - 1, limit: 1 });
  return page.events.length > 0;
}

/** The newest position in the store: positions are dense, so gallop then halve. */
async function headPosition() {
  if (!(await eventExists(1))) return 0;
  let low = 1;
  let high = 2;
  while (await eventExists(high)) [low, high] = [high, high * 2];
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (await eventExists(middle)) low = middle;
    else high = middle;
  }
  return low;
}

/** The mission's newest events, newest first. The API reads forwards only. */
async function latestEvents(mission) {
  const first = await api("/v1/events", { mission, after: 0, limit: 1000 });
  if (first.next == null) return first.events.slice(-EVENTS_SHOWN).reverse();
  // A long history: find the head, then widen a window back from it until it holds enough.
  const head = await headPosition();
  for (let window = 1000; ; window *= 4) {
    let after = Math.max(0, head - window);
    let found = [];
    for (;;) {
      const page = await api("/v1/events", { mission, after, limit: 1000 });
      found = found.concat(page.events).slice(-EVENTS_SHOWN);
      if (page.next == null) break;
      after = page.next;
    }
    if (found.length >= EVENTS_SHOWN || window >= head) return found.reverse();
  }
}

const TYPE_LABELS = {
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

function donor(code) {
  return state.names[code] || code;
}

/** One sentence saying what an event of ``type`` with ``data`` reports. */
function describe(type, data) {
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

function alertSentence(data) {
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

async function namedEvent(id) {
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

async function renderEvents() {
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
  const source = event.source
    ? h("p", { class: "source" }, "Source: ",
      safeUrl(event.source.url)
        ? h("a", { href: safeUrl(event.source.url), rel: "noopener noreferrer", target: "_blank" },
          event.source.title)
        : h("cite", {}, event.source.title))
    : null;
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

// --- force strength --------------------------------------------------------------------------

function renderStrength(answer) {
  drawn.strength = answer;
  $("deployed-total").textContent = num(answer.deployed);
  const ceiling = answer.personnel_ceiling;
  $("deployed-detail").textContent = `of ${num(answer.pledged)} pledged${ceiling ? ` · ceiling ${num(ceiling)}` : ""}`;
  $("strength-note").textContent =
    `${plural(answer.by_country.filter((c) => c.deployed > 0).length, "country")} deployed, ` +
    `${plural(answer.by_country.length, "country")} with a pledge or a deployment. ` +
    (ceiling ? `The mandate allows ${num(ceiling)} personnel.` : "The mandate in force sets no personnel ceiling.");

  const body = answer.by_country.map((c) =>
    h("tr", { "data-country": c.country },
      h("th", { scope: "row" }, country(c.country), " ",
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

  $("strength-chart").replaceChildren(strengthChart(answer));
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

async function loadTimeline(mandate, asOf, generation) {
  // From the first authorization; before one, from the oldest report at hand.
  const reports = state.events.filter((e) => e.type !== "DeadlineFlagged").map((e) => e.occurred_on);
  const oldest = reports.length ? reports.reduce((a, b) => (a < b ? a : b)) : addDays(asOf, -365);
  const start = mandate.authorized_on || oldest;
  const to = timelineEnd(asOf);
  const from = start < to ? start : addDays(to, -30);
  const interval = intervalFor(from, to);
  const pinned = knownAtInstant();
  const asked = [api(`/v1/missions/${state.mission}/timeline`, { from, to, interval, known_at: pinned })];
  if (pinned) asked.push(api(`/v1/missions/${state.mission}/timeline`, { from, to, interval }));
  const [view, now] = await Promise.all(asked);
  if (generation !== state.generation) return;
  renderTimeline(view, now || null, asOf, mandate.personnel_ceiling);
}

function niceMax(value) {
  if (value <= 0) return 10;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 4, 5, 8, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function renderTimeline(view, now, asOf, ceiling) {
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

function renderFunding(answer) {
  drawn.funding = answer;
  $("deposited-total").textContent = usd(answer.deposited);
  $("coverage-detail").textContent = answer.coverage == null
    ? "no budget requirement covers this date"
    : `${percent.format(answer.coverage)} of the ${usd(answer.requirement)} requirement`;
  $("funding-note").textContent = answer.requirement == null
    ? "No budget requirement covers this date. Totals cover every channel, in US dollars."
    : `Deposits cover ${percent.format(answer.coverage)} of the requirement for the budget period. ` +
      "Totals cover every channel, in US dollars.";

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

  const body = answer.by_donor.map((d) => h("tr", { "data-donor": d.donor },
    h("th", { scope: "row" }, donor(d.donor),
      d.donor !== donor(d.donor) ? [" ", h("abbr", { class: "code" }, d.donor)] : null),
    h("td", { class: "num" }, usdWhole(d.pledged)),
    h("td", { class: "num" }, usdWhole(d.committed)),
    h("td", { class: "num" }, usdWhole(d.deposited)),
    h("td", { class: "num" }, usdWhole(d.outstanding))));
  const tbody = $("funding-table").tBodies[0];
  tbody.replaceChildren(...body);
  if (!body.length) tbody.append(h("tr", {}, h("td", { colspan: 5 }, "No funds reported by this date.")));
}

// --- mandate ---------------------------------------------------------------------------------

// "lapsed" is the read model's word for a mandate past its expiry with no renewal recorded: the
// page says just that, since a renewal may exist that nobody has reported yet.
const STATUS_TEXT = {
  pending: "Not yet authorized",
  active: "Active",
  lapsed: "Expired, no renewal recorded",
  ended: "Ended",
};
const STATUS_SHORT = { lapsed: "no renewal recorded" };

function renderMandate(answer) {
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

function renderAlerts(answer) {
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

// --- the asked time --------------------------------------------------------------------------

function renderBanner() {
  const banner = $("time-banner");
  const pinned = knownAtInstant();
  const asOf = state.asOf ? showDay(state.asOf) : "today";
  banner.classList.toggle("past", Boolean(pinned));
  banner.classList.toggle("dated", Boolean(state.asOf));
  const parts = [h("strong", {}, `As of ${asOf}`)];
  if (pinned) {
    parts.push(", ", h("strong", {}, `as known at ${showInstant(pinned)}`),
      ": reports and corrections recorded after that instant are left out.");
    if (state.unseen) parts.push(` ${plural(state.unseen, "new event")} recorded since you pinned it.`);
  } else {
    parts.push(", as known now: every report and correction recorded so far.");
  }
  banner.replaceChildren(...parts);
  const view = pinned || state.asOf ? ` (${asOf}${pinned ? `, known at ${showInstant(pinned)}` : ""})` : "";
  document.title = `${state.missionName || state.mission} — sitrep${view}`;
}

/** Ask again for another date and instant; each asked view is a step Back undoes. */
function setTime(asOf, knownAt, coalesce = false) {
  state.asOf = asOf || "";
  state.knownAt = knownAt || "";
  $("as-of").value = state.asOf;
  $("known-at").value = state.knownAt;
  state.unseen = 0;
  saveLocation(coalesce);
  refresh();
}

/** Put the view in the URL. Changes while typing (``coalesce``) share one history entry. */
function saveLocation(coalesce = false) {
  const params = new URLSearchParams();
  if (state.mission) params.set("mission", state.mission);
  if (state.asOf) params.set("as_of", state.asOf);
  if (state.knownAt) params.set("known_at", knownAtInstant());
  const query = params.toString();
  const url = `${location.pathname}${query ? `?${query}` : ""}`;
  const same = url === `${location.pathname}${location.search}`;
  const draft = Boolean(history.state && history.state.draft);
  if (coalesce) {
    if (same) return;
    if (draft) history.replaceState({ draft: true }, "", url);
    else history.pushState({ draft: true }, "", url);
  } else if (draft) {
    history.replaceState(null, "", url); // the entry typed into is now a step of its own
  } else if (!same) {
    history.pushState(null, "", url);
  }
}

function readLocation() {
  const params = new URLSearchParams(location.search);
  state.mission = params.get("mission") || "";
  const asOf = params.get("as_of") || "";
  state.asOf = /^\d{4}-\d{2}-\d{2}$/.test(asOf) ? asOf : "";
  const knownAt = params.get("known_at");
  state.knownAt = knownAt && !Number.isNaN(Date.parse(knownAt)) ? toKnownAtValue(knownAt) : "";
  $("as-of").value = state.asOf;
  $("known-at").value = state.knownAt;
}

function renderExports() {
  const params = when();
  for (const [id, name] of [["export-strength", "force-strength"], ["export-funding", "funding"]]) {
    const link = $(id);
    link.href = apiUrl(`/v1/missions/${state.mission}/${name}.csv`, params).href;
  }
}

async function downloadWithToken(event) {
  // A plain link cannot send the Authorization header, so with a token the file is fetched.
  if (!state.token) return;
  event.preventDefault();
  const link = event.currentTarget;
  const response = await fetch(link.href, { headers: authHeaders() });
  if (!response.ok) {
    showError(`The export failed: ${await problemDetail(response)}`);
    return;
  }
  // The server names the file (mission, export and date); keep its name.
  const disposition = response.headers.get("Content-Disposition") || "";
  const named = /filename="?([^";]+)"?/.exec(disposition);
  const url = URL.createObjectURL(await response.blob());
  const temporary = h("a", { href: url, download: named ? named[1] : `${state.mission}.csv` });
  document.body.append(temporary);
  temporary.click();
  temporary.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// --- loading ---------------------------------------------------------------------------------

function showError(message) {
  const box = $("load-error");
  box.textContent = message;
  box.hidden = !message;
}

function needToken(message) {
  const panel = $("token-panel");
  const first = panel.hidden;
  panel.hidden = false;
  if (state.token) {
    $("token-message").textContent = `The token was refused (${message}). Paste another one.`;
  }
  document.body.classList.add("locked");
  if (state.live) state.live.abort();
  $("live-status").textContent = "Waiting for a token";
  if (first) $("token").focus();
}

/** The mission to open when none is asked for: the newest of those whose mandate is in force
 *  today, else the newest of all (by registration date, then id). */
function defaultMission(missions) {
  const newer = (a, b) => (a.registered_on || "") > (b.registered_on || "")
    || ((a.registered_on || "") === (b.registered_on || "") && a.mission > b.mission);
  const newest = (list) => list.reduce((a, b) => (newer(b, a) ? b : a));
  if (!missions.length) return "";
  const active = missions.filter((m) => m.status === "active");
  return newest(active.length ? active : missions).mission;
}

function missionName(id) {
  const found = state.missions.find((m) => m.mission === id);
  return found ? found.name : id;
}

/** The page's URL for ``mission`` at the date and instant shown. */
function missionHref(mission) {
  const params = new URLSearchParams({ mission });
  if (state.asOf) params.set("as_of", state.asOf);
  if (state.knownAt) params.set("known_at", knownAtInstant());
  return `${location.pathname}?${params}`;
}

async function showMission(mission) {
  state.mission = mission;
  saveLocation();
  await start();
}

/** A link to another mission of the succession, or its id alone when it is not registered. */
function missionLink(id) {
  if (!state.missions.some((m) => m.mission === id)) return h("code", {}, id);
  return h("a", {
    href: missionHref(id), "data-mission": id,
    onclick: (event) => {
      event.preventDefault();
      showMission(id);
    },
  }, missionName(id));
}

/** The missions before and after the one shown, as links (kept to the date and instant shown). */
function renderSuccession() {
  const current = state.missions.find((m) => m.mission === state.mission);
  const box = $("succession");
  const parts = [];
  if (current && current.predecessor_mission) {
    parts.push(h("span", { class: "predecessor" }, "Successor to ", missionLink(current.predecessor_mission)));
  }
  if (current && current.successor_mission) {
    parts.push(h("span", { class: "successor" }, "Succeeded by ", missionLink(current.successor_mission)));
  }
  box.replaceChildren(...parts.flatMap((part, i) => (i ? [" · ", part] : [part])));
  box.hidden = !parts.length;
}

async function loadMissions() {
  const answer = await api("/v1/missions");
  state.missions = answer.missions;
  const select = $("mission");
  const options = answer.missions.map((m) =>
    h("option", { value: m.mission }, `${m.mission} (${STATUS_SHORT[m.status] || m.status})`));
  if (!answer.missions.some((m) => m.mission === state.mission)) {
    state.mission = defaultMission(answer.missions);
  }
  select.replaceChildren(...options);
  if (!options.length) select.append(h("option", { value: "" }, "no mission yet"));
  select.value = state.mission;
  const current = answer.missions.find((m) => m.mission === state.mission);
  state.missionName = current ? current.name : state.mission;
  $("mission-name").textContent = state.missionName || "Mission dashboard";
  renderSuccession();
}

async function refresh() {
  state.generation += 1;
  const generation = state.generation;
  renderBanner();
  renderExports();
  renderSuccession();
  document.body.classList.add("loading");
  try {
    const mission = `/v1/missions/${state.mission}`;
    const [strength, funding, mandate, alerts] = await Promise.all([
      api(`${mission}/force-strength`, when()),
      api(`${mission}/funding`, when()),
      api(`${mission}/mandate`, when()),
      api("/v1/alerts", { mission: state.mission }),
    ]);
    if (generation !== state.generation) return;
    showError("");
    renderStrength(strength);
    renderFunding(funding);
    renderMandate(mandate);
    renderAlerts(alerts);
    await renderEvents();
    await loadTimeline(mandate, strength.as_of, generation);
    document.body.dataset.loaded = String(generation);
  } catch (error) {
    if (generation !== state.generation) return;
    if (error instanceof AuthNeeded) needToken(error.message);
    else showError(`Could not load the figures: ${error.message}`);
  } finally {
    if (generation === state.generation) document.body.classList.remove("loading");
  }
}

async function start() {
  try {
    await loadMissions();
    state.events = state.mission ? await latestEvents(state.mission) : [];
    state.after = state.events.length ? state.events[0].position : 0;
  } catch (error) {
    if (error instanceof AuthNeeded) {
      needToken(error.message);
      return;
    }
    showError(`Could not reach the API: ${error.message}`);
    return;
  }
  $("token-panel").hidden = true;
  document.body.classList.remove("locked");
  renderForgetToken();
  if (!state.mission) {
    showError("No mission is registered on this server yet.");
    return;
  }
  await refresh();
  listen();
}

// --- live updates ----------------------------------------------------------------------------

let refreshTimer = null;

function onEvent(event) {
  if (event.position <= state.after) return; // a repeat after a reconnection
  state.after = event.position;
  if (event.mission !== state.mission) return;
  state.events = [event, ...state.events.filter((e) => e.id !== event.id)].slice(0, EVENTS_SHOWN);
  $("live-news").textContent = `New event: ${TYPE_LABELS[event.type] || event.type}. ${describe(event.type, event.data)}`;
  if (knownAtInstant()) {
    // The view is pinned to a past instant: nothing new can change it, but say it happened.
    state.unseen += 1;
    renderBanner();
    renderEvents();
    return;
  }
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    await refresh();
    const item = document.querySelector(`#events li[data-position="${event.position}"]`);
    if (item) item.classList.add("fresh");
  }, 250);
}

function listen() {
  if (state.live) state.live.abort();
  const controller = new AbortController();
  state.live = controller;
  streamEvents(controller.signal).catch(() => {});
}

const pause = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
});

/** Server-sent events read with fetch(), which (unlike EventSource) can send a token. */
async function streamEvents(signal) {
  const status = $("live-status");
  let delay = 1000;
  while (!signal.aborted) {
    let response;
    try {
      response = await fetch(apiUrl("/v1/events/stream", { after: state.after, mission: state.mission }), {
        headers: authHeaders({ Accept: "text/event-stream" }),
        cache: "no-store",
        signal,
      });
    } catch {
      if (signal.aborted) return;
      status.textContent = "Live updates: reconnecting…";
      status.dataset.state = "retrying";
      await pause(delay, signal);
      delay = Math.min(delay * 2, 30000);
      continue;
    }
    if (response.status === 401) {
      needToken(await problemDetail(response));
      return;
    }
    if (response.status === 404 || response.status === 405 || !response.body) {
      await poll(signal); // a server without the stream: ask for new events every few seconds
      return;
    }
    if (!response.ok) {
      status.textContent = "Live updates: reconnecting…";
      status.dataset.state = "retrying";
      await pause(delay, signal);
      delay = Math.min(delay * 2, 30000);
      continue;
    }
    status.textContent = "Live: new events appear as they are recorded";
    status.dataset.state = "live";
    delay = 1000;
    try {
      await readStream(response.body, signal);
    } catch {
      // the connection dropped; reconnect from the last position seen
    }
    if (signal.aborted) return;
    status.textContent = "Live updates: reconnecting…";
    status.dataset.state = "retrying";
    await pause(1000, signal);
  }
}

async function readStream(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  signal.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message = { event: "message", data: [] };
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") message.data.push(text);
        else if (field === "event") message.event = text;
      }
      if (message.event !== "event" && message.event !== "message") continue;
      if (!message.data.length) continue;
      try {
        onEvent(JSON.parse(message.data.join("\n")));
      } catch {
        // not an event envelope; ignore it
      }
    }
  }
}

async function poll(signal) {
  const status = $("live-status");
  status.textContent = `Live: checking for new events every ${POLL_SECONDS} seconds`;
  status.dataset.state = "polling";
  while (!signal.aborted) {
    await pause(POLL_SECONDS * 1000, signal);
    if (signal.aborted) return;
    try {
      const page = await api("/v1/events", { after: state.after, mission: state.mission, limit: 100 });
      page.events.forEach(onEvent);
      status.textContent = `Live: checking for new events every ${POLL_SECONDS} seconds`;
    } catch (error) {
      if (error instanceof AuthNeeded) {
        needToken(error.message);
        return;
      }
      status.textContent = "Live updates: the server does not answer; retrying…";
    }
  }
}

// --- the token -------------------------------------------------------------------------------

function renderForgetToken() {
  const footer = document.querySelector(".footer p");
  document.getElementById("forget-token")?.remove();
  if (!state.token) return;
  footer.append(h("button", {
    type: "button", id: "forget-token", class: "linkish",
    onclick: () => {
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = "";
      location.reload();
    },
  }, " · Forget the token"));
}

// --- wiring ----------------------------------------------------------------------------------

async function main() {
  readLocation();
  try {
    state.names = await (await fetch("/static/countries.json")).json();
  } catch {
    state.names = {};
  }

  $("time-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setTime($("as-of").value, $("known-at").value);
  });
  for (const id of ["as-of", "known-at"]) {
    // Typing a date fires a change per complete value: those share one history entry.
    $(id).addEventListener("change", () => setTime($("as-of").value, $("known-at").value, true));
  }
  $("reset-time").addEventListener("click", () => setTime("", ""));
  $("mission").addEventListener("change", (event) => showMission(event.target.value));
  $("token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("token").value = "";
    await start();
  });
  for (const id of ["export-strength", "export-funding"]) $(id).addEventListener("click", downloadWithToken);
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      if (drawn.strength) $("strength-chart").replaceChildren(strengthChart(drawn.strength));
      if (drawn.timeline) renderTimeline(...drawn.timeline);
      if (drawn.funding) renderFunding(drawn.funding);
    }, 200);
  });
  window.addEventListener("popstate", async () => {
    const shown = state.mission;
    readLocation();
    // A URL naming no mission (or an unknown one) stands for the default one.
    if (!state.missions.some((m) => m.mission === state.mission)) state.mission = defaultMission(state.missions);
    if (state.mission !== shown) await start();
    else refresh();
  });
  await start();
}

main();
