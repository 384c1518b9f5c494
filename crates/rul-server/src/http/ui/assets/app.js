// The dashboard's entry: the shared fleet state (engines, active alerts, alert policy), the live event stream
// that keeps it current, and the hash router over the three views (#/, #/engine/{id}, #/model).

import { allEngines, activeAlerts, connectEvents, getJson } from './api.js';
import { clear, el } from './dom.js';
import { fleetView } from './fleet.js';
import { engineView } from './engine.js';
import { modelView } from './model.js';

/** What every view reads; kept current by GET /events. */
const store = {
  engines: new Map(),
  alerts: new Map(),
  policy: null,
  loaded: false,
  error: null,
};

const main = document.getElementById('main');
const live = document.getElementById('live');
let view = null;

function setStatus(text, state) {
  live.textContent = text;
  live.dataset.state = state;
}

function putAlert(alert) {
  if (alert.state === 'cleared') store.alerts.delete(alert.alert_id);
  else store.alerts.set(alert.alert_id, alert);
}

// Events that arrive while a load is in flight are replayed on top of its snapshot.
let pending = null;
let loading = null;

function apply(kind, body) {
  if (pending) pending.push([kind, body]);
  if (kind === 'engine') store.engines.set(body.engine_id, body);
  else if (kind === 'deleted') store.engines.delete(body.engine_id);
  else putAlert(body);
}

async function loadFleet() {
  if (loading) return loading;
  pending = [];
  loading = fetchFleet().finally(() => {
    loading = null;
  });
  return loading;
}

async function fetchFleet() {
  try {
    const [engines, alerts, policy] = await Promise.all([allEngines(), activeAlerts(), getJson('/alerts/policy')]);
    store.engines = new Map(engines.map((e) => [e.engine_id, e]));
    store.alerts = new Map();
    alerts.forEach(putAlert);
    store.policy = policy;
    store.error = null;
  } catch (e) {
    store.error = e.status === 503 ? 'fleet state is not enabled on this server' : `cannot load the fleet: ${e.message}`;
  }
  const missed = pending || [];
  pending = null;
  for (const [kind, body] of missed) apply(kind, body);
  store.loaded = true;
  view?.refresh?.();
}

function route() {
  view?.destroy?.();
  clear(main);
  const hash = location.hash || '#/';
  for (const a of document.querySelectorAll('nav a')) {
    const current = (a.dataset.view === 'model') === hash.startsWith('#/model') && !hash.startsWith('#/engine/');
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (hash.startsWith('#/engine/')) {
    let id = null;
    try {
      id = decodeURIComponent(hash.slice('#/engine/'.length));
    } catch {
      main.append(el('p', { class: 'empty', text: 'That engine link is malformed.' }));
    }
    view = id === null ? null : engineView(main, id, store);
  } else if (hash.startsWith('#/model')) {
    view = modelView(main, store);
  } else {
    view = fleetView(main, store);
  }
  main.focus({ preventScroll: true });
}

connectEvents({
  status: setStatus,
  engine(body) {
    apply('engine', body);
    view?.onEngine?.(body);
  },
  deleted(body) {
    apply('deleted', body);
    view?.onDeleted?.(body.engine_id);
  },
  alert(body) {
    apply('alert', body);
    view?.onAlert?.(body);
  },
  resync() {
    loadFleet();
  },
});

window.addEventListener('hashchange', route);
route();
