// Numbers, dates and names as the page writes them.

import { state } from "./state.js";

const integer = new Intl.NumberFormat("en");
const compactUsd = new Intl.NumberFormat("en", {
  style: "currency", currency: "USD", notation: "compact", maximumFractionDigits: 1,
});
const wholeUsd = new Intl.NumberFormat("en", {
  style: "currency", currency: "USD", maximumFractionDigits: 0,
});
export const percent = new Intl.NumberFormat("en", { style: "percent", maximumFractionDigits: 1 });
const dayFormat = new Intl.DateTimeFormat("en-GB", {
  day: "numeric", month: "short", year: "numeric", timeZone: "UTC",
});
const instantFormat = new Intl.DateTimeFormat("en-GB", {
  day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
  second: "2-digit", hour12: false, timeZone: "UTC",
});

export const num = (value) => integer.format(Number(value));
export const usd = (value) => (value == null ? "–" : compactUsd.format(Number(value)));
export const usdWhole = (value) => (value == null ? "–" : wholeUsd.format(Number(value)));
export const utcDay = (iso) => new Date(`${iso}T00:00:00Z`);
export const showDay = (iso) => (iso ? dayFormat.format(utcDay(iso)) : "–");
export const showInstant = (iso) => `${instantFormat.format(new Date(iso))} UTC`;
export const isoDay = (date) => date.toISOString().slice(0, 10);
export const addDays = (iso, days) => isoDay(new Date(utcDay(iso).getTime() + days * 86400000));
const PLURALS = { country: "countries" };
export const plural = (n, word) => `${num(n)} ${Number(n) === 1 ? word : PLURALS[word] || `${word}s`}`;

export const country = (code) => state.names[code] || code;
export const donor = (code) => state.names[code] || code;

export function missionName(id) {
  const found = state.missions.find((m) => m.mission === id);
  return found ? found.name : id;
}
