// DOM helpers. Every piece of text reaches the page through textContent or an attribute value, never through
// HTML parsing: engine ids, tags, labels and notes are user input.

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(node, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = String(value);
    else if (key === 'on') for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'style') throw new Error('inline styles are refused by the page policy');
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
  return node;
}

/** An HTML element with attributes (`text`, `on`, `dataset` are special) and children (nodes or text). */
export function el(tag, attrs = {}, ...children) {
  return append(apply(document.createElement(tag), attrs), children);
}

/** An SVG element, as `el`. */
export function svg(tag, attrs = {}, ...children) {
  return append(apply(document.createElementNS(SVG_NS, tag), attrs), children);
}

/** Removes every child of `node`. */
export function clear(node) {
  node.replaceChildren();
  return node;
}

/** A number for people: fixed digits, or an en dash when absent. */
export function fmt(value, digits = 0) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–';
}

/** The hash of the engine view of `id`. */
export function engineHash(id) {
  return '#/engine/' + encodeURIComponent(id);
}

/** A paragraph saying what is missing, with optional inline code. */
export function emptyState(text, code) {
  return el('p', { class: 'empty' }, text, code ? el('code', { text: code }) : null);
}
