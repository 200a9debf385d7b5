// The API client: reads of the server that serves the page, with the bearer token when one
// was given, and the API's problem details turned into errors.

const TOKEN_KEY = "sitrep.token";

/** The token of this browser tab (empty when the server reads without one). */
export const session = { token: sessionStorage.getItem(TOKEN_KEY) || "" };

export function useToken(token) {
  session.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  session.token = "";
}

/** The server asks for a token (401): the page asks the user for one. */
export class AuthNeeded extends Error {}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

/** A URL on this origin; empty and null parameters are left out. */
export function apiUrl(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value != null && value !== "") url.searchParams.set(key, value);
  }
  return url;
}

export function authHeaders(extra = {}) {
  return session.token ? { ...extra, Authorization: `Bearer ${session.token}` } : extra;
}

/** The ``detail`` (else ``title``) of an RFC 9457 problem answer. */
export async function problemDetail(response) {
  try {
    const body = await response.json();
    return body.detail || body.title;
  } catch {
    return response.statusText;
  }
}

/** A JSON read. */
export async function api(path, params = {}) {
  // no-cache makes the browser revalidate with the read models' ETags (If-None-Match): a 304
  // costs the server almost nothing, and the browser answers from its copy.
  const response = await fetch(apiUrl(path, params), {
    headers: authHeaders({ Accept: "application/json" }),
    cache: "no-cache",
  });
  if (response.status === 401) throw new AuthNeeded(await problemDetail(response));
  if (!response.ok) throw new ApiError(response.status, await problemDetail(response));
  return response.json();
}

/** Any other answer (a CSV, a report page) read with the token; a problem becomes an error. */
export async function fetchWithToken(url) {
  const response = await fetch(url, { headers: authHeaders(), cache: "no-cache" });
  if (response.status === 401) throw new AuthNeeded(await problemDetail(response));
  if (!response.ok) throw new ApiError(response.status, await problemDetail(response));
  return response;
}
