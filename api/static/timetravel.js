// Time travel: the as-of date and the known-at instant the view is asked for, the banner that
// says which, and the URL that keeps them (each asked view is a step Back undoes).

import { h, $ } from "./dom.js";
import { plural, showDay, showInstant } from "./format.js";
import { state } from "./state.js";

let changed = () => {};

/** What to do when the date or instant changes (the page's refresh). */
export function onTimeChange(callback) {
  changed = callback;
}

/** The known-at input's value as an RFC 3339 instant in UTC, or "" for now. */
export function knownAtInstant() {
  if (!state.knownAt) return "";
  const withSeconds = state.knownAt.length === 16 ? `${state.knownAt}:00` : state.knownAt;
  return `${withSeconds}Z`;
}

/** An RFC 3339 instant as the known-at input's value (UTC, to the second). */
export function toKnownAtValue(instant) {
  return new Date(instant).toISOString().slice(0, 19);
}

/** The asked date and instant as query parameters. */
export function when() {
  return { as_of: state.asOf, known_at: knownAtInstant() };
}

export function renderBanner() {
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
export function setTime(asOf, knownAt, coalesce = false) {
  state.asOf = asOf || "";
  state.knownAt = knownAt || "";
  $("as-of").value = state.asOf;
  $("known-at").value = state.knownAt;
  state.unseen = 0;
  saveLocation(coalesce);
  changed();
}

/** Put the view in the URL. Changes while typing (``coalesce``) share one history entry. */
export function saveLocation(coalesce = false) {
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

export function readLocation() {
  const params = new URLSearchParams(location.search);
  state.mission = params.get("mission") || "";
  const asOf = params.get("as_of") || "";
  state.asOf = /^\d{4}-\d{2}-\d{2}$/.test(asOf) ? asOf : "";
  const knownAt = params.get("known_at");
  state.knownAt = knownAt && !Number.isNaN(Date.parse(knownAt)) ? toKnownAtValue(knownAt) : "";
  $("as-of").value = state.asOf;
  $("known-at").value = state.knownAt;
}

/** The page's URL for ``mission`` at the date and instant shown. */
export function missionHref(mission) {
  const params = new URLSearchParams({ mission });
  if (state.asOf) params.set("as_of", state.asOf);
  if (state.knownAt) params.set("known_at", knownAtInstant());
  return `${location.pathname}?${params}`;
}

/** The time form: Show, typing a date, and the reset button. */
export function wireTimeControls() {
  $("time-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setTime($("as-of").value, $("known-at").value);
  });
  for (const id of ["as-of", "known-at"]) {
    // Typing a date fires a change per complete value: those share one history entry.
    $(id).addEventListener("change", () => setTime($("as-of").value, $("known-at").value, true));
  }
  $("reset-time").addEventListener("click", () => setTime("", ""));
}
