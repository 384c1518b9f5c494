// Fleet view: every engine, most urgent first (the tracked interval's lower bound), with its interval, last
// cycle, alert and quality flags; filters by tag, state and id; a histogram of fleet RUL. Re-renders at most
// once per animation frame however fast events arrive.

import { el, clear, fmt, engineHash, emptyState } from './dom.js';
import { histogram, intervalBar } from './charts.js';

/** The alert line of `engine`: its `alert_rul_below` label when valid, else the policy's. */
export function thresholdFor(engine, policy) {
  const label = policy?.engine_label && engine?.labels?.[policy.engine_label];
  const own = label !== undefined && label !== null ? Number(String(label).trim()) : NaN;
  if (Number.isFinite(own) && own >= 0) return own;
  return policy ? policy.rul_below : undefined;
}

/** Quality flags of an engine's latest prediction (empty before that field exists on this server). */
export function flagsOf(prediction) {
  const flags = prediction?.quality?.flags;
  return Array.isArray(flags) ? flags.filter((f) => f && typeof f.sensor === 'string') : [];
}

const STATES = [
  ['all', 'all engines'],
  ['alert', 'any active alert'],
  ['critical', 'critical'],
  ['warning', 'warning'],
  ['open', 'not acknowledged'],
  ['acked', 'acknowledged'],
  ['quiet', 'no alert'],
  ['flagged', 'quality flags or drift'],
  ['waiting', 'no prediction yet'],
];

function byLowerBound(a, b) {
  const la = a.latest ? a.latest.lower : Infinity;
  const lb = b.latest ? b.latest.lower : Infinity;
  if (la !== lb) return la < lb ? -1 : 1;
  return a.engine_id < b.engine_id ? -1 : a.engine_id > b.engine_id ? 1 : 0;
}

export function fleetView(main, store) {
  const filters = { search: '', tag: '', state: 'all' };
  const search = el('input', { type: 'search', id: 'search', placeholder: 'engine id', autocomplete: 'off', on: { input: () => { filters.search = search.value.trim().toLowerCase(); schedule(); } } });
  const tag = el('select', { id: 'tag', on: { change: () => { filters.tag = tag.value; schedule(); } } });
  const state = el('select', { id: 'state', on: { change: () => { filters.state = state.value; schedule(); } } },
    STATES.map(([value, text]) => el('option', { value, text })));
  const summary = el('p', { class: 'summary', role: 'status' });
  const chart = el('figure', { class: 'histogram-box' });
  const body = el('tbody');
  const table = el('table', { class: 'fleet' },
    el('caption', { class: 'visually-hidden', text: 'Engines, most urgent first (lowest interval lower bound)' }),
    el('thead', {}, el('tr', {},
      ['Engine', 'RUL', 'Interval', 'Last cycle', 'Alert', 'Quality', 'Tags'].map((h, i) =>
        el('th', { scope: 'col', class: ['id', 'rul', 'interval', 'cycle', 'alert', 'quality', 'tags'][i], text: h })))),
    body);
  const content = el('div', { class: 'fleet-content' });
  main.append(
    el('h1', { text: 'Fleet' }),
    el('div', { class: 'filters' },
      el('label', { for: 'search' }, 'Search ', search),
      el('label', { for: 'tag' }, 'Tag ', tag),
      el('label', { for: 'state' }, 'State ', state)),
    summary,
    content,
  );

  let frame = 0;
  function schedule() {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); });
  }

  function alertsByEngine() {
    const map = new Map();
    for (const a of store.alerts.values()) map.set(a.engine_id, a);
    return map;
  }

  function matches(e, alert) {
    if (filters.search && !e.engine_id.toLowerCase().includes(filters.search)) return false;
    if (filters.tag && !(e.tags || []).includes(filters.tag)) return false;
    switch (filters.state) {
      case 'alert': return !!alert;
      case 'critical': return alert?.severity === 'critical';
      case 'warning': return alert?.severity === 'warning';
      case 'open': return alert?.state === 'open';
      case 'acked': return alert?.state === 'acked';
      case 'quiet': return !alert;
      case 'flagged': return e.drift?.drifting === true || flagsOf(e.latest).length > 0;
      case 'waiting': return !e.latest;
      default: return true;
    }
  }

  function syncTags(engines) {
    const tags = [...new Set(engines.flatMap((e) => e.tags || []))].sort();
    const wanted = ['', ...tags];
    const have = [...tag.options].map((o) => o.value);
    if (wanted.length === have.length && wanted.every((t, i) => t === have[i])) return;
    const keep = tag.value;
    tag.replaceChildren(...wanted.map((t) => el('option', { value: t, text: t || 'any tag' })));
    tag.value = wanted.includes(keep) ? keep : '';
    filters.tag = tag.value;
  }

  function row(e, alert, max) {
    const p = e.latest;
    const threshold = thresholdFor(e, store.policy);
    const flags = flagsOf(p);
    const quality = el('td', { class: 'quality' });
    if (e.drift?.drifting === true) quality.append(el('span', { class: 'badge drift', text: 'drifting' }));
    for (const f of flags) quality.append(el('span', { class: 'badge flag', title: `${f.sensor}: ${f.kind}`, text: `${f.sensor} ${String(f.kind).replace(/_/g, ' ')}` }));
    if (!quality.hasChildNodes()) quality.append(el('span', { class: 'muted', text: p ? 'ok' : '–' }));
    const alertCell = el('td', { class: 'alert' });
    if (alert) alertCell.append(el('span', { class: `badge ${alert.severity} ${alert.state}`, text: `${alert.severity} · ${alert.state}` }));
    else alertCell.append(el('span', { class: 'muted', text: 'none' }));
    return el('tr', { dataset: { engineId: e.engine_id, lower: p ? String(p.lower) : '' }, class: alert ? 'has-alert ' + alert.severity : '' },
      el('th', { scope: 'row', class: 'id' }, el('a', { href: engineHash(e.engine_id), text: e.engine_id })),
      el('td', { class: 'rul' }, p ? el('span', {}, el('strong', { text: fmt(p.rul) }), el('small', { text: ` [${fmt(p.lower)}, ${fmt(p.upper)}]` })) : '–'),
      el('td', { class: 'interval' }, intervalBar(p, max, threshold)),
      el('td', { class: 'cycle last-cycle', text: e.last_cycle ?? '–' }),
      alertCell,
      quality,
      el('td', { class: 'tags' }, (e.tags || []).map((t) => el('span', { class: 'tag', text: t }))),
    );
  }

  function render() {
    const focused = document.activeElement?.closest?.('tbody tr')?.dataset.engineId;
    clear(content);
    if (!store.loaded) {
      summary.textContent = 'loading…';
      return;
    }
    if (store.error) {
      summary.textContent = '';
      content.append(emptyState(store.error));
      return;
    }
    const all = [...store.engines.values()].sort(byLowerBound);
    syncTags(all);
    if (all.length === 0) {
      summary.textContent = '';
      content.append(emptyState('no engines yet — run ', 'rul replay'));
      return;
    }
    const alerts = alertsByEngine();
    const shown = all.filter((e) => matches(e, alerts.get(e.engine_id)));
    const active = [...alerts.values()];
    const critical = active.filter((a) => a.severity === 'critical').length;
    const unacked = active.filter((a) => a.state === 'open').length;
    summary.textContent = `${all.length} engines · ${active.length} active alerts (${critical} critical, ${unacked} not acknowledged) · showing ${shown.length}`;
    const uppers = all.map((e) => e.latest?.upper).filter(Number.isFinite);
    const max = Math.max(50, Math.ceil(Math.max(0, ...uppers) / 25) * 25);
    clear(chart).append(
      histogram(shown.map((e) => e.latest?.rul), { width: Math.max(280, Math.round(content.clientWidth || 720) - 20), label: `Histogram of tracked RUL over ${shown.length} engines`, threshold: store.policy?.rul_below, xLabel: 'tracked RUL (cycles)' }),
      el('figcaption', { text: 'Tracked RUL of the engines shown (bars left of the line are below the alert threshold)' }),
    );
    body.replaceChildren(...shown.map((e) => row(e, alerts.get(e.engine_id), max)));
    content.append(chart, el('div', { class: 'table-wrap' }, table));
    if (shown.length === 0) content.append(emptyState('no engine matches these filters'));
    if (focused !== undefined) {
      const again = [...body.rows].find((r) => r.dataset.engineId === focused);
      again?.querySelector('a')?.focus({ preventScroll: true });
    }
  }

  render();
  window.addEventListener('resize', schedule);
  return {
    refresh: schedule,
    onEngine: schedule,
    onDeleted: schedule,
    onAlert: schedule,
    destroy() {
      if (frame) cancelAnimationFrame(frame);
      window.removeEventListener('resize', schedule);
    },
  };
}
