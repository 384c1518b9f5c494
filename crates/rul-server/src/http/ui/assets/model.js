// Model view: the loaded model's card (version, architecture, sensors, calibration, test metrics), its
// reliability diagram and interval coverage by RUL bucket, and the plots `rul evaluate --plots` drew.

import { getJson } from './api.js';
import { el, fmt, emptyState } from './dom.js';
import { reliabilityDiagram, coverageBars } from './charts.js';

// Metrics shown first, in this order, when the card has them.
const HEADLINE = ['test_rmse', 'test_rmse_capped', 'test_mae', 'test_score', 'interval_coverage', 'interval_mean_width', 'test_ece', 'val_rmse'];

export function modelView(main) {
  const box = el('div', { class: 'model' });
  main.append(el('h1', { text: 'Model' }), box);
  let closed = false;

  (async () => {
    let card;
    let evaluation = null;
    try {
      card = await getJson('/model');
      evaluation = await getJson('/model/evaluation').catch(() => null);
    } catch (e) {
      box.append(emptyState(e.status === 503 ? 'no model loaded yet' : `cannot load the model card: ${e.message}`));
      return;
    }
    if (closed) return;
    const fact = (k, v) => [el('dt', { text: k }), el('dd', { text: v })];
    box.append(el('dl', { class: 'facts' },
      ...fact('Version', card.version),
      ...fact('Subset', card.subset),
      ...fact('Architecture', card.architecture),
      ...fact('Window', `${card.window} cycles, ${card.n_features} features`),
      ...fact('Sensors', card.sensors.join(' ')),
      ...fact('Interval', `${fmt(card.calibration_level * 100)}% nominal coverage`),
      ...fact('Confidence', `P(|true − estimate| ≤ ${fmt(card.calibration_tolerance)} cycles)`),
      ...fact('Trained', card.created || '–')));

    box.append(el('h2', { text: 'Calibration' }));
    const charts = el('div', { class: 'pair' });
    if (evaluation && evaluation.reliability.length) {
      charts.append(el('figure', {}, reliabilityDiagram(evaluation.reliability, { label: 'Reliability diagram: stated confidence against observed frequency' }),
        el('figcaption', { text: 'Reliability of confidence (test set, last cycles): points on the diagonal are calibrated' })));
    }
    if (evaluation && evaluation.interval_buckets.length) {
      charts.append(el('figure', {}, coverageBars(evaluation.interval_buckets, card.calibration_level, { label: 'Interval coverage by true RUL bucket' }),
        el('figcaption', { text: 'Interval coverage by true RUL (test set)' })));
    }
    box.append(charts.hasChildNodes() ? charts : emptyState('the model directory has no evaluation tables (metrics.json)'));

    const metrics = card.metrics && typeof card.metrics === 'object' ? card.metrics : {};
    const names = [...HEADLINE.filter((k) => k in metrics), ...Object.keys(metrics).filter((k) => !HEADLINE.includes(k)).sort()];
    const coverage = metrics.interval_coverage;
    box.append(el('h2', { text: 'Test metrics' }));
    if (Number.isFinite(coverage)) {
      box.append(el('p', { class: 'coverage-note', text: `Interval coverage on the test set: ${fmt(coverage * 100, 1)}% (nominal ${fmt(card.calibration_level * 100)}%).` }));
    }
    box.append(names.length === 0 ? emptyState('the card records no metrics') : el('div', { class: 'table-wrap metrics-wrap' }, el('table', { class: 'metrics' },
      el('tbody', {}, names.map((k) => el('tr', { class: HEADLINE.includes(k) ? 'headline' : '' },
        el('th', { scope: 'row', text: k }), el('td', { text: typeof metrics[k] === 'number' ? fmt(metrics[k], 3) : JSON.stringify(metrics[k]) })))))));

    box.append(el('h2', { text: 'Evaluation plots' }));
    const plots = evaluation ? evaluation.plots : [];
    if (plots.length === 0) {
      box.append(emptyState('no evaluation plots next to the model — draw them with ', 'rul evaluate --model <dir> --plots <dir>'));
    } else {
      box.append(el('div', { class: 'plots' }, plots.map((name) =>
        el('figure', {}, el('img', { src: '/model/plots/' + encodeURIComponent(name), alt: `evaluation plot ${name}` }), el('figcaption', { text: name })))));
    }
    box.append(el('h2', { text: 'Model card' }), el('pre', { class: 'card', text: card.card }));
  })();

  return {
    destroy() {
      closed = true;
    },
  };
}
