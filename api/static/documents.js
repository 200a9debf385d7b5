// The documents of the view shown: the CSV exports and the situation report of the week to the
// as-of date (a printable page, and Markdown). A plain link cannot send the Authorization
// header, so with a token the file is fetched and handed over from a Blob URL; the links keep
// their hrefs, so they can still be copied.

import { apiUrl, fetchWithToken, session } from "./api.js";
import { h, $, showError } from "./dom.js";
import { addDays, isoDay, showDay } from "./format.js";
import { state } from "./state.js";
import { knownAtInstant, when } from "./timetravel.js";

const EXPORTS = [["export-strength", "force-strength"], ["export-funding", "funding"]];
// The report links and the media type each is shown as in its tab (Markdown as plain text,
// which a browser displays instead of downloading).
const REPORTS = [["report-html", "report.html", "text/html"], ["report-md", "report.md", "text/plain"]];

/** Point the links at the mission, date and instant shown; ``asOf`` is the server's answer
 *  for "today" when the view has no date. */
export function renderDocuments(asOf = "") {
  const mission = `/v1/missions/${encodeURIComponent(state.mission)}`;
  const params = when();
  for (const [id, name] of EXPORTS) $(id).href = apiUrl(`${mission}/${name}.csv`, params).href;
  // The week to the as-of date, as known at the instant shown (the report's own default: now).
  const to = state.asOf || asOf || isoDay(new Date());
  const from = addDays(to, -7);
  const period = { from, to, known_at: knownAtInstant() };
  for (const [id, name] of REPORTS) $(id).href = apiUrl(`${mission}/${name}`, period).href;
  $("report-period").textContent = `${showDay(from)} to ${showDay(to)}`;
}

async function downloadWithToken(event) {
  if (!session.token) return;
  event.preventDefault();
  const link = event.currentTarget;
  let response;
  try {
    response = await fetchWithToken(link.href);
  } catch (error) {
    showError(`The export failed: ${error.message}`);
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

async function openWithToken(event, mediaType) {
  if (!session.token) return; // the plain link opens it
  event.preventDefault();
  const link = event.currentTarget;
  // The tab is opened now, while the click still allows one, and filled when the page arrives.
  const tab = window.open("", "_blank");
  try {
    const response = await fetchWithToken(link.href);
    const blob = new Blob([await response.arrayBuffer()], { type: `${mediaType}; charset=utf-8` });
    const url = URL.createObjectURL(blob);
    if (tab) {
      tab.opener = null;
      // The dashboard's policy, which the Blob page inherits, allows the report's style sheet
      // by its hash (api/reports.py STYLE_HASH).
      tab.location.replace(url);
    } else {
      window.open(url, "_blank", "noopener");
    }
    // Long enough for the tab to load it; the page stays open after.
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (error) {
    if (tab) tab.close();
    showError(`The report could not be opened: ${error.message}`);
  }
}

export function wireDocuments() {
  for (const [id] of EXPORTS) $(id).addEventListener("click", downloadWithToken);
  for (const [id, , mediaType] of REPORTS) {
    $(id).addEventListener("click", (event) => openWithToken(event, mediaType));
  }
}
