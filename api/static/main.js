// The sitrep dashboard: reads the /v1 API of the server that serves it and draws the answers.
// No framework and no build step. This module wires the others: it picks the mission, asks
// for its figures, hands each answer to what draws it, and follows new events live.

import { api, AuthNeeded, forgetToken, session, useToken } from "./api.js";
import { drawFunding, drawStrength, drawTimeline, redrawCharts, timelineRange } from "./charts.js";
import { h, $, showError } from "./dom.js";
import { renderDocuments, wireDocuments } from "./documents.js";
import { describe, EVENTS_SHOWN, latestEvents, renderEvents, TYPE_LABELS } from "./events.js";
import { missionName } from "./format.js";
import { listen } from "./live.js";
import { renderAlerts, renderMandate, STATUS_SHORT } from "./mandate.js";
import { wireProvenance } from "./provenance.js";
import { state } from "./state.js";
import { renderFundingTable, renderStrengthTable, renderTimelineTable } from "./tables.js";
import {
  knownAtInstant, missionHref, onTimeChange, readLocation, renderBanner, saveLocation, when,
  wireTimeControls,
} from "./timetravel.js";

// --- the token -------------------------------------------------------------------------------

function needToken(message) {
  const panel = $("token-panel");
  const first = panel.hidden;
  panel.hidden = false;
  if (session.token) {
    $("token-message").textContent = `The token was refused (${message}). Paste another one.`;
  }
  document.body.classList.add("locked");
  if (state.live) state.live.abort();
  $("live-status").textContent = "Waiting for a token";
  if (first) $("token").focus();
}

function renderForgetToken() {
  const footer = document.querySelector(".footer p");
  document.getElementById("forget-token")?.remove();
  if (!session.token) return;
  footer.append(h("button", {
    type: "button", id: "forget-token", class: "linkish",
    onclick: () => {
      forgetToken();
      location.reload();
    },
  }, " · Forget the token"));
}

// --- the mission -----------------------------------------------------------------------------

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

// --- the figures -----------------------------------------------------------------------------

async function loadTimeline(mandate, asOf, generation) {
  const { from, to, interval } = timelineRange(mandate, asOf);
  const pinned = knownAtInstant();
  const asked = [api(`/v1/missions/${state.mission}/timeline`, { from, to, interval, known_at: pinned })];
  if (pinned) asked.push(api(`/v1/missions/${state.mission}/timeline`, { from, to, interval }));
  const [view, now] = await Promise.all(asked);
  if (generation !== state.generation) return;
  drawTimeline(view, now || null, asOf, mandate.personnel_ceiling);
  renderTimelineTable(view, now || null);
}

async function refresh() {
  state.generation += 1;
  const generation = state.generation;
  renderBanner();
  renderDocuments();
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
    renderStrengthTable(strength);
    drawStrength(strength);
    renderFundingTable(funding);
    drawFunding(funding);
    renderMandate(mandate);
    renderAlerts(alerts);
    renderDocuments(strength.as_of); // the server's today, when the view has no date
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
  listen({ onEvent, needToken });
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

// --- wiring ----------------------------------------------------------------------------------

async function main() {
  readLocation();
  try {
    state.names = await (await fetch("/static/countries.json")).json();
  } catch {
    state.names = {};
  }

  onTimeChange(refresh);
  wireTimeControls();
  wireDocuments();
  wireProvenance();
  $("mission").addEventListener("change", (event) => showMission(event.target.value));
  $("token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    useToken($("token").value.trim());
    $("token").value = "";
    await start();
  });
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(redrawCharts, 200);
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
