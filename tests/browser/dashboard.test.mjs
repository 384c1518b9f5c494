// End-to-end test of the fleet dashboard in Debian's Chromium, driven by playwright-core (no browser
// download). Run by crates/rul-cli/tests/dashboard_browser.rs against a real `rul serve`; it feeds the server
// with `rul replay` itself so that the page is open while the fleet fills up.
//
// Environment: RUL_BASE (http://127.0.0.1:PORT), RUL_BIN (the rul binary), CMAPSS_DIR, RUL_ADMIN_TOKEN,
// RUL_SCREENSHOTS (folder for the three views' PNGs), CHROMIUM (default /usr/bin/chromium),
// RUL_EXPECT_PLOTS=1 when the model directory holds evaluation plots.
// Waits have a timeout only as a guard against hanging; nothing is asserted on timing.

import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = need('RUL_BASE');
const rulBin = need('RUL_BIN');
const dataDir = need('CMAPSS_DIR');
const token = need('RUL_ADMIN_TOKEN');
const shots = need('RUL_SCREENSHOTS');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const GUARD = { timeout: 120_000 };

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return v;
}

function check(condition, message) {
  if (!condition) throw new Error('check failed: ' + message);
  console.log('ok -', message);
}

async function api(path, init) {
  const response = await fetch(base + path, init);
  const text = await response.text();
  if (!response.ok) throw new Error(`${init?.method || 'GET'} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const enginePath = (id, rest = '') => '/engines/' + encodeURIComponent(id) + rest;

function replay() {
  return new Promise((resolve, reject) => {
    const child = spawn(rulBin, ['replay', '--subset', 'FD001', '--split', 'test', '--to', 'rest', '--http', base, '--data-dir', dataDir, '--json'], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`rul replay exited with ${code}`))));
  });
}

async function nextReading(id) {
  const engine = await api(enginePath(id));
  const last = engine.last_cycle;
  const { readings } = await api(enginePath(id, `/readings?from_cycle=${last}&limit=1`));
  return { cycle: last + 1, values: readings[0].values };
}

async function post(id, readings) {
  return api(enginePath(id, '/readings'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ readings: readings.map((r) => ({ cycle: r.cycle, ...r.values })) }),
  });
}

mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const outside = [];
  const errors = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(base + '/')) outside.push(r.url());
  });
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));

  // Empty fleet: the page says what to do.
  await page.goto(base + '/');
  await page.waitForSelector('#live[data-state="live"]', GUARD);
  await page.waitForSelector('main p.empty', GUARD);
  const empty = await page.textContent('main p.empty');
  check(empty.includes('no engines yet') && empty.includes('rul replay'), `empty state says "${empty}"`);
  await page.evaluate(() => {
    window.__sameDocument = true;
  });

  // The fleet fills up while the page is open (live events, no reload).
  await replay();
  const expected = (await api('/engines?limit=1000')).engines;
  check(expected.length === 100 && expected.every((e) => e.engine_id.startsWith('FD001-test-')), 'the server holds 100 FD001 test engines');
  const ids = expected.map((e) => e.engine_id);
  await page.waitForFunction((want) => {
    const rows = [...document.querySelectorAll('table.fleet tbody tr')];
    return rows.length === want.length && rows.every((r, i) => r.dataset.engineId === want[i]);
  }, ids, GUARD);
  const lowers = await page.$$eval('table.fleet tbody tr', (rows) => rows.map((r) => Number(r.dataset.lower)));
  check(lowers.length === 100 && lowers.every((v, i) => i === 0 || lowers[i - 1] <= v), 'the fleet view lists 100 engines in lower-bound order (as GET /engines does)');
  check(await page.evaluate(() => window.__sameDocument === true), 'the page filled up without a reload');

  // One more reading appears without a reload.
  const target = ids[50];
  const next = await nextReading(target);
  await post(target, [next]);
  await page.waitForFunction(([id, cycle]) => {
    const row = [...document.querySelectorAll('table.fleet tbody tr')].find((r) => r.dataset.engineId === id);
    return row && row.querySelector('.last-cycle').textContent === String(cycle);
  }, [target, next.cycle], GUARD);
  check(await page.evaluate(() => window.__sameDocument === true && performance.getEntriesByType('navigation').length === 1), `new reading of ${target} (cycle ${next.cycle}) shown without a reload`);
  await page.screenshot({ path: join(shots, 'fleet.png') });

  // Keyboard: Tab reaches an engine link, Enter opens it.
  await page.evaluate(() => document.activeElement?.blur());
  let reached = false;
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => !!document.activeElement?.closest('table.fleet tbody a'));
  }
  check(reached, 'Tab reaches the engine links');
  const focusedId = await page.evaluate(() => document.activeElement.textContent);
  await page.keyboard.press('Enter');
  await page.waitForFunction((id) => document.querySelector('h1.engine-id')?.textContent === id, focusedId, GUARD);
  check(true, `Enter opens the engine view of ${focusedId}`);

  // Engine view: trajectory with its band, then acknowledge an open alert.
  const open = (await api('/alerts?state=open&limit=1000')).alerts;
  check(open.length > 0, `FD001 replay raised open alerts (${open.length})`);
  const alert = open[0];
  await page.evaluate((h) => {
    location.hash = h;
  }, '#/engine/' + encodeURIComponent(alert.engine_id));
  await page.waitForFunction((id) => document.querySelector('h1.engine-id')?.textContent === id, alert.engine_id, GUARD);
  await page.waitForSelector('svg.trajectory path.band.tracked', GUARD);
  const band = await page.$eval('svg.trajectory path.band.tracked', (p) => p.getAttribute('d'));
  const line = await page.$eval('svg.trajectory path.line.tracked', (p) => p.getAttribute('d'));
  const cycles = (await api(enginePath(alert.engine_id))).readings;
  check(band.endsWith('Z') && (line.match(/L/g) || []).length === cycles - 1, `engine view draws the trajectory (${cycles} cycles) with its interval band`);
  // A horizontal line has no height: Playwright calls it hidden, so wait for it to be in the document.
  await page.waitForSelector('svg.trajectory line.hline.threshold', { ...GUARD, state: 'attached' });
  check((await page.$$('svg.trajectory line.hline.threshold')).length === 1, 'engine view draws the alert threshold');
  const sensors = (await api('/model')).sensors.length;
  await page.waitForFunction((n) => document.querySelectorAll('.multiples figure svg').length === n, sensors, GUARD);
  check(true, `engine view draws ${sensors} model inputs as small multiples`);
  await page.screenshot({ path: join(shots, 'engine.png') });

  const row = `tr[data-alert-id="${alert.alert_id}"]`;
  await page.click(`${row} button.ack`);
  await page.fill('#ack-token', token);
  await page.fill('#ack-who', 'planner');
  await page.fill('#ack-note', 'borescope inspection booked');
  await page.click('form.ack-form button[type="submit"]');
  await page.waitForFunction((sel) => document.querySelector(sel + ' .state')?.textContent === 'acked', row, GUARD);
  const after = (await api('/alerts?limit=1000&engine_id=' + encodeURIComponent(alert.engine_id))).alerts.find((a) => a.alert_id === alert.alert_id);
  check(after.state === 'acked' && after.acked_by === 'planner', `ack of ${alert.alert_id} changed its state to acked`);
  check(await page.evaluate(() => localStorage.length === 0 && sessionStorage.length === 0 && document.cookie === ''), 'the admin token is not stored by the page');

  // An engine id and a tag that look like HTML render as text.
  const evil = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';
  await api(enginePath(evil), { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ tags: ['<b>bold</b>'] }) });
  const seed = await nextReading(ids[0]);
  await post(evil, [{ cycle: 1, values: seed.values }]);
  await page.evaluate(() => {
    location.hash = '#/';
  });
  await page.fill('#search', '<script>');
  await page.waitForFunction((id) => [...document.querySelectorAll('table.fleet tbody tr')].some((r) => r.dataset.engineId === id), evil, GUARD);
  const shown = await page.evaluate((id) => {
    const r = [...document.querySelectorAll('table.fleet tbody tr')].find((x) => x.dataset.engineId === id);
    return { link: r.querySelector('a').textContent, tag: r.querySelector('.tag').textContent, injected: document.querySelectorAll('main script, main img, main b').length, pwned: window.__pwned };
  }, evil);
  check(shown.link === evil && shown.tag === '<b>bold</b>' && shown.injected === 0 && shown.pwned === undefined, 'an engine id containing <script> renders as text');
  await page.click('table.fleet tbody a');
  await page.waitForFunction((id) => document.querySelector('h1.engine-id')?.textContent === id, evil, GUARD);
  check(await page.evaluate(() => window.__pwned === undefined && document.querySelectorAll('main script').length === 0), 'its engine view shows the id as text');

  // Model view: card, reliability diagram, coverage, the evaluation plots when present.
  await page.evaluate(() => {
    location.hash = '#/model';
  });
  await page.waitForSelector('svg.reliability circle', GUARD);
  await page.waitForSelector('svg.coverage rect', GUARD);
  const version = (await api('/model')).version;
  check((await page.textContent('main dl.facts')).includes(version), `model view shows the card of ${version}`);
  if (process.env.RUL_EXPECT_PLOTS === '1') {
    await page.waitForFunction(() => {
      const imgs = [...document.querySelectorAll('.plots img')];
      return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
    }, null, GUARD);
    check(true, `model view shows ${await page.$$eval('.plots img', (i) => i.length)} evaluation plots`);
  }
  await page.screenshot({ path: join(shots, 'model.png') });

  // 360 px: nothing overflows the page; the tables scroll inside their boxes.
  await page.setViewportSize({ width: 360, height: 780 });
  await page.evaluate(() => {
    location.hash = '#/';
  });
  await page.fill('#search', '');
  await page.waitForFunction(() => document.querySelectorAll('table.fleet tbody tr').length === 101, null, GUARD);
  check(await page.evaluate(() => document.documentElement.scrollWidth <= 360), 'the fleet view fits 360 px');
  await page.screenshot({ path: join(shots, 'fleet-360.png') });
  await page.evaluate((h) => {
    location.hash = h;
  }, '#/engine/' + encodeURIComponent(ids[0]));
  await page.waitForSelector('svg.trajectory path.band.tracked', GUARD);
  check(await page.evaluate(() => document.documentElement.scrollWidth <= 360), 'the engine view fits 360 px');

  check(outside.length === 0, `no request outside the server${outside.length ? ': ' + outside.join(', ') : ''}`);
  check(errors.length === 0, `no console error${errors.length ? ': ' + errors.join(' | ') : ''}`);
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
