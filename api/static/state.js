// What the page shows and what it last read for it, shared by the modules that draw it.

export const state = {
  mission: "", // empty until the URL or the list of missions names one
  missions: [], // GET /v1/missions, today as known now
  asOf: "", // YYYY-MM-DD, empty for today
  knownAt: "", // datetime-local value read as UTC, empty for now
  missionName: "",
  names: {}, // country code -> name
  events: [], // newest first, this mission's
  after: 0, // the last position seen, for the live stream
  generation: 0, // bumped by every refresh; late answers of older ones are dropped
  live: null, // AbortController of the live connection
  unseen: 0, // events recorded while the view is pinned to a past instant
};
