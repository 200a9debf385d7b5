// Building the page without HTML strings: every string from the API becomes a text node,
// because events carry free text from field reports.

const SVG = "http://www.w3.org/2000/svg";

/** An HTML element with attributes (``on…`` ones are listeners) and children (text as text). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  return fill(node, attrs, children);
}

/** An SVG element, like ``h``. */
export function s(tag, attrs = {}, ...children) {
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

export const $ = (id) => document.getElementById(id);

/** The children as one fragment (``replaceChildren`` would print null and arrays as text). */
export function frag(...children) {
  return fill(document.createDocumentFragment(), {}, children);
}

/** A chart's width in its own units: the box it is drawn in, so text keeps its size. */
export function chartWidth(id, least = 420) {
  return Math.max(least, Math.round($(id).clientWidth || 720));
}

/** ``url`` when it is an http(s) URL, else null: only those become links. */
export function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

/** Say above the figures that something failed; an empty message clears it. */
export function showError(message) {
  const box = $("load-error");
  box.textContent = message;
  box.hidden = !message;
}
