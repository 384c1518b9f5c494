// The REST API as the page uses it, the admin token (memory only) and the live event stream.

/** An answer that was not 2xx. */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function answer(response) {
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { error: text };
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** GET a JSON route of this server. */
export async function getJson(path) {
  return answer(await fetch(path, { headers: { Accept: 'application/json' } }));
}

/** The path of an engine's route (ids are user input: always encoded). */
export function enginePath(id, rest = '') {
  return '/engines/' + encodeURIComponent(id) + rest;
}

/** Every engine, most urgent first (pages of 1000). */
export async function allEngines() {
  const engines = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await getJson(`/engines?limit=1000&offset=${offset}`);
    engines.push(...page.engines);
    if (page.engines.length === 0 || engines.length >= page.total) return engines;
  }
}

/** Active (open or acknowledged) alerts. */
export async function activeAlerts(engineId) {
  const only = engineId === undefined ? '' : '&engine_id=' + encodeURIComponent(engineId);
  const [open, acked] = await Promise.all([
    getJson('/alerts?state=open&limit=1000' + only),
    getJson('/alerts?state=acked&limit=1000' + only),
  ]);
  return [...open.alerts, ...acked.alerts];
}

let apiPaths = null;

/** Whether this server documents `path` (optional routes such as /drift are used only when present). */
export async function hasRoute(path) {
  if (apiPaths === null) {
    try {
      apiPaths = new Set(Object.keys((await getJson('/openapi.json')).paths || {}));
    } catch {
      apiPaths = new Set();
    }
  }
  return apiPaths.has(path);
}

// The admin token lives in this module only, for as long as the page is open: never in storage or cookies.
let adminToken = null;

/** Whether the admin token has been entered in this browser session. */
export function hasToken() {
  return adminToken !== null;
}

/** Keeps the admin token in memory. */
export function setToken(token) {
  adminToken = token ? String(token) : null;
}

/** Acknowledges an alert; a refused token is forgotten so that the next try asks again. */
export async function ackAlert(alertId, who, note) {
  const response = await fetch('/alerts/' + encodeURIComponent(alertId) + '/ack', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + adminToken },
    body: JSON.stringify({ who, note }),
  });
  if (response.status === 401 || response.status === 403) adminToken = null;
  return answer(response);
}

/**
 * Subscribes to GET /events. `handlers` has optional `engine`, `deleted`, `alert` (parsed bodies), `resync`
 * (load everything: once subscribed, after a reconnect, or when the page fell behind) and `status` (a short
 * text for people).
 */
export function connectEvents(handlers) {
  const source = new EventSource('/events');
  let greeted = false;
  let fellBack = false;
  const on = (name, fn) =>
    source.addEventListener(name, (e) => {
      let body;
      try {
        body = JSON.parse(e.data);
      } catch {
        return;
      }
      fn(body);
    });
  // The server subscribes before it says hello: loading after each hello (the first, and every reconnect)
  // misses nothing.
  on('hello', () => {
    greeted = true;
    handlers.status?.('live', 'live');
    handlers.resync?.();
  });
  on('engine', (body) => handlers.engine?.(body));
  on('deleted', (body) => handlers.deleted?.(body));
  on('alert', (body) => handlers.alert?.(body));
  on('lagged', () => handlers.resync?.());
  source.onerror = () => {
    handlers.status?.('reconnecting…', 'down');
    // Without live events (fleet disabled, server restarting) still show what can be loaded, once.
    if (!greeted && !fellBack) {
      fellBack = true;
      handlers.resync?.();
    }
  };
  return source;
}
