// Live updates: the mission's new events as they are recorded, from the server-sent event
// stream (read with fetch, which unlike EventSource can send a token), else by polling.

import { api, apiUrl, AuthNeeded, authHeaders, problemDetail } from "./api.js";
import { $ } from "./dom.js";
import { state } from "./state.js";

const POLL_SECONDS = 5;

let onEvent = () => {};
let needToken = () => {};

/** Follow the mission's new events from ``state.after``; one connection at a time. */
export function listen(handlers) {
  ({ onEvent, needToken } = handlers);
  if (state.live) state.live.abort();
  const controller = new AbortController();
  state.live = controller;
  streamEvents(controller.signal).catch(() => {});
}

const pause = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
});

/** Server-sent events, reconnecting from the last position seen. */
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
