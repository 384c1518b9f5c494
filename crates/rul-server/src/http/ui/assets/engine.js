// Engine view: how the engine got here. The trajectory of tracked and raw RUL with both intervals and the
// alert threshold over cycles; the model inputs as small multiples with the training range shaded (when the
// server reports it) and flagged readings marked; the engine's alerts, acknowledged with the admin token.

import { getJson, enginePath, hasRoute, hasToken, setToken, ackAlert, ApiError } from './api.js';
import { el, clear, fmt, emptyState } from './dom.js';
import { lineChart } from './charts.js';
import { thresholdFor, flagsOf } from './fleet.js';

// Who acknowledges, remembered for this page's lifetime (like the token, never stored).
let lastWho = '';

export function engineView(main, id, store) {
  const heading = el('h1', { class: 'engine-id', text: id });
  const facts = el('dl', { class: 'facts' });
  const trajectory = el('figure', { class: 'trajectory-box' });
  const inputs = el('div', { class: 'multiples' });
  const alertsBox = el('div', { class: 'alerts-box' });
  const message = el('p', { class: 'error', role: 'alert' });
  main.append(
    el('p', { class: 'crumbs' }, el('a', { href: '#/', text: '← Fleet' })),
    heading, message, facts,
    el('h2', { text: 'Remaining useful life' }), trajectory,
    el('h2', { text: 'Alerts' }), alertsBox,
    el('h2', { text: 'Model inputs' }), inputs,
  );

  const data = { engine: null, predictions: [], readings: [], alerts: [], model: null, drift: null };
  let gone = false;
  let loading = null;
  let again = false;
  let ackFor = null;

  async function loadStatic() {
    const [model, drift] = await Promise.all([
      getJson('/model').catch(() => null),
      hasRoute('/drift').then((yes) => (yes ? getJson('/drift').catch(() => null) : null)),
    ]);
    data.model = model;
    data.drift = drift;
  }

  // Fetches what is new since the last load (cycles after the last one shown), then draws.
  async function load() {
    if (loading) {
      again = true;
      return;
    }
    loading = (async () => {
      try {
        const from = data.predictions.length ? data.predictions[data.predictions.length - 1].cycle + 1 : 0;
        const fromR = data.readings.length ? data.readings[data.readings.length - 1].cycle + 1 : 0;
        const [engine, predictions, readings, alerts] = await Promise.all([
          getJson(enginePath(id)),
          getJson(enginePath(id, `/predictions?limit=10000&from_cycle=${from}`)),
          getJson(enginePath(id, `/readings?limit=10000&from_cycle=${fromR}`)),
          getJson('/alerts?limit=100&engine_id=' + encodeURIComponent(id)),
        ]);
        data.engine = engine;
        data.predictions.push(...predictions.predictions);
        data.readings.push(...readings.readings);
        data.alerts = alerts.alerts;
        message.textContent = '';
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) {
          gone = true;
          message.textContent = 'No engine with this id (it may have been deleted).';
        } else {
          message.textContent = `Cannot load this engine: ${e.message}`;
        }
      }
      draw();
    })();
    await loading;
    loading = null;
    if (again && !gone) {
      again = false;
      load();
    }
  }

  function draw() {
    const e = data.engine;
    clear(facts);
    if (!e) return;
    const p = e.latest;
    const threshold = thresholdFor(e, store.policy);
    const fact = (k, v) => [el('dt', { text: k }), el('dd', {}, v)];
    facts.append(
      ...fact('Tracked RUL', p ? `${fmt(p.rul)} cycles [${fmt(p.lower)}, ${fmt(p.upper)}] at ${fmt(p.level * 100)}%` : 'no prediction yet'),
      ...fact('Model estimate', p ? `${fmt(p.rul_model)} [${fmt(p.model_lower)}, ${fmt(p.model_upper)}], confidence ${fmt(p.confidence * 100)}%` : '–'),
      ...fact('Last cycle', el('span', { class: 'last-cycle', text: e.last_cycle ?? '–' })),
      ...fact('Readings', `${e.readings} (${e.missing_cycles} cycles missing)`),
      ...fact('Alert threshold', threshold === undefined ? '–' : `lower bound below ${fmt(threshold)} cycles`),
      ...fact('Tags', (e.tags || []).length ? el('span', {}, e.tags.map((t) => el('span', { class: 'tag', text: t }))) : '–'),
      ...fact('Labels', Object.keys(e.labels || {}).length ? Object.entries(e.labels).map(([k, v]) => `${k}=${v}`).join(', ') : '–'),
      ...fact('Drift', !e.drift ? '–' : e.drift.drifting
        ? el('span', { class: 'badge drift', text: `inputs drifting from training (score ${e.drift.score.toFixed(1)}, most: ${e.drift.sensor} ${e.drift.shift.toFixed(1)} σ)` })
        : `none (score ${e.drift.score.toFixed(1)})`),
    );
    drawTrajectory(threshold);
    drawAlerts();
    drawInputs();
  }

  function drawTrajectory(threshold) {
    clear(trajectory);
    const ps = data.predictions;
    if (ps.length === 0) {
      trajectory.append(emptyState('no predictions yet for this engine'));
      return;
    }
    const pts = (key) => ps.map((p) => [p.cycle, p[key]]);
    const width = Math.max(280, Math.round(trajectory.clientWidth || 720) - 20);
    const hlines = [];
    if (threshold !== undefined) hlines.push({ y: threshold, class: 'threshold', label: `alert ${fmt(threshold)}` });
    if (store.policy && store.policy.critical_below < (threshold ?? Infinity)) hlines.push({ y: store.policy.critical_below, class: 'critical', label: `critical ${fmt(store.policy.critical_below)}` });
    trajectory.append(
      lineChart({
        width,
        height: width < 500 ? 240 : 320,
        label: `RUL trajectory of ${id} over ${ps.length} cycles: tracked RUL with its interval, the model's raw estimate and the alert threshold`,
        cls: 'trajectory',
        yMin: 0,
        bands: [
          { lower: pts('model_lower'), upper: pts('model_upper'), class: 'model' },
          { lower: pts('lower'), upper: pts('upper'), class: 'tracked' },
        ],
        lines: [
          { points: pts('rul_model'), class: 'raw' },
          { points: pts('rul'), class: 'tracked' },
        ],
        hlines,
        xLabel: 'cycle',
        yLabel: 'RUL (cycles)',
      }),
      el('figcaption', { class: 'legend' },
        el('span', { class: 'key tracked', text: 'tracked RUL and interval' }),
        el('span', { class: 'key raw', text: 'model estimate and interval' }),
        el('span', { class: 'key threshold', text: 'alert threshold' })),
    );
  }

  function drawAlerts() {
    clear(alertsBox);
    if (data.alerts.length === 0) {
      alertsBox.append(emptyState('no alerts for this engine'));
      return;
    }
    const rows = data.alerts.map((a) =>
      el('tr', { dataset: { alertId: a.alert_id } },
        el('td', { text: a.severity, class: 'severity' }),
        el('td', { class: 'state', text: a.state }),
        el('td', { text: `cycle ${a.opened_cycle} (lower ${fmt(a.opened_lower)})` }),
        el('td', { text: a.state === 'cleared' ? `cleared at cycle ${a.cleared_cycle}` : `lower ${fmt(a.last_lower)} at cycle ${a.updated_cycle}` }),
        el('td', { text: a.acked_by ? `${a.acked_by}${a.ack_note ? ': ' + a.ack_note : ''}` : '–' }),
        el('td', {}, a.state === 'cleared' ? '' : el('button', { type: 'button', class: 'ack', on: { click: () => { ackFor = a.alert_id; drawAlerts(); } } }, a.state === 'open' ? 'Acknowledge' : 'Update note'))));
    alertsBox.append(el('div', { class: 'table-wrap' }, el('table', { class: 'alerts' },
      el('thead', {}, el('tr', {}, ['Severity', 'State', 'Opened', 'Latest', 'Acknowledged by', ''].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, rows))));
    if (ackFor) alertsBox.append(ackForm(ackFor));
  }

  function ackForm(alertId) {
    const error = el('p', { class: 'error', role: 'alert' });
    const token = hasToken() ? null : el('input', { type: 'password', id: 'ack-token', required: true, autocomplete: 'off' });
    const who = el('input', { type: 'text', id: 'ack-who', required: true, maxlength: 1000, value: lastWho });
    const note = el('input', { type: 'text', id: 'ack-note', maxlength: 1000 });
    const form = el('form', { class: 'ack-form', on: {
      async submit(ev) {
        ev.preventDefault();
        if (token) setToken(token.value);
        lastWho = who.value;
        try {
          const acked = await ackAlert(alertId, who.value, note.value);
          ackFor = null;
          data.alerts = data.alerts.map((a) => (a.alert_id === acked.alert_id ? acked : a));
          drawAlerts();
          alertsBox.querySelector(`tr:not([hidden]) button.ack`)?.focus();
        } catch (e) {
          error.textContent = e.status === 401 || e.status === 403 ? `Refused: ${e.message}. Enter the admin token again.` : `Not acknowledged: ${e.message}`;
          if (!hasToken() && !token) drawAlerts();
        }
      },
    } },
    el('h3', { text: 'Acknowledge alert ' + alertId }),
    token ? el('label', { for: 'ack-token' }, 'Admin token (kept in this page only) ', token) : null,
    el('label', { for: 'ack-who' }, 'Who ', who),
    el('label', { for: 'ack-note' }, 'Note ', note),
    el('div', { class: 'buttons' },
      el('button', { type: 'submit', text: 'Acknowledge' }),
      el('button', { type: 'button', text: 'Cancel', on: { click: () => { ackFor = null; drawAlerts(); } } })),
    error);
    queueMicrotask(() => (token || who).focus());
    return form;
  }

  function drawInputs() {
    clear(inputs);
    const sensors = data.model?.sensors || [];
    if (sensors.length === 0 || data.readings.length === 0) {
      inputs.append(emptyState(data.readings.length === 0 ? 'no readings yet' : 'the model card lists no sensors'));
      return;
    }
    const ranges = new Map((data.drift?.sensors || []).map((s) => [s.sensor, s]));
    if (ranges.size === 0) inputs.append(el('p', { class: 'muted note', text: 'Training ranges are not reported by this server; flagged readings are marked when predictions carry quality flags.' }));
    const flagged = new Map();
    for (const p of data.predictions) {
      for (const f of flagsOf(p)) {
        if (!flagged.has(f.sensor)) flagged.set(f.sensor, new Map());
        flagged.get(f.sensor).set(p.cycle, f.kind);
      }
    }
    for (const s of sensors) {
      const points = data.readings.filter((r) => Number.isFinite(r.values?.[s])).map((r) => [r.cycle, r.values[s]]);
      const range = ranges.get(s);
      const bands = [];
      if (range && Number.isFinite(range.train_min) && Number.isFinite(range.train_max) && points.length) {
        const first = points[0][0];
        const last = points[points.length - 1][0];
        bands.push({ lower: [[first, range.train_min], [last, range.train_min]], upper: [[first, range.train_max], [last, range.train_max]], class: 'training' });
      }
      const marks = [];
      const kinds = flagged.get(s) || new Map();
      for (const [cycle, value] of points) {
        if (kinds.has(cycle)) marks.push({ x: cycle, y: value, class: 'flagged', title: `cycle ${cycle}: ${kinds.get(cycle)}` });
      }
      inputs.append(el('figure', { class: 'multiple' + (marks.length ? ' has-flags' : '') },
        el('figcaption', {}, el('strong', { text: s + ' ' }), marks.length ? el('span', { class: 'badge flag', text: `${marks.length} flagged` }) : null),
        lineChart({ width: 300, height: 130, label: `${s} over cycles${range ? ' with its training range shaded' : ''}${marks.length ? `, ${marks.length} flagged readings` : ''}`, cls: 'small', bands, lines: [{ points, class: 'sensor' }], marks })));
    }
  }

  let resized = 0;
  const onResize = () => {
    if (!resized) resized = requestAnimationFrame(() => { resized = 0; if (data.engine) drawTrajectory(thresholdFor(data.engine, store.policy)); });
  };
  window.addEventListener('resize', onResize);
  loadStatic().then(load);
  return {
    refresh() {
      if (!gone) draw();
    },
    onEngine(body) {
      if (body.engine_id === id && !gone) load();
    },
    onAlert(body) {
      if (body.engine_id === id && !gone) load();
    },
    onDeleted(engineId) {
      if (engineId === id) {
        gone = true;
        message.textContent = 'This engine was deleted.';
      }
    },
    destroy() {
      gone = true;
      window.removeEventListener('resize', onResize);
    },
  };
}
