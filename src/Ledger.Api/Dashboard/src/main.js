// The /dashboard page: asks for an API key, reads the reporting endpoints with it, and draws the charts.
// The page itself holds no data; everything shown comes from the API with the key the person entered.
import { getJson, LedgerError } from './api.js';
import {
  deploymentsOption, disposeAll, draw, drawnSeries, formatGwh, formatInteger, inTransitOption, milestonesOption, ordinal, projectionsOption,
  rampOption, resizeAll, runRateOption, stateOf,
} from './charts.js';

const storageKey = 'ledger.dashboard.apiKey';
const $ = (selector) => document.querySelector(selector);

const page = {
  form: $('#key-form'), input: $('#api-key'), session: $('#session'), keyName: $('#key-name'), keyRole: $('#key-role'),
  status: $('#status'), error: $('#error'), dashboard: $('#dashboard'), factories: $('#factories'),
  notProducing: $('#not-producing'), stage: $('#stage'),
};

/** What the last load read, so switching day/week or stage redraws without asking for everything again. */
let current = null;
let loading = null;

function setState(state) {
  document.body.dataset.state = state;
}

function storedKey() {
  return sessionStorage.getItem(storageKey);
}

function showError(message, correlationId) {
  page.error.replaceChildren(document.createTextNode(message));
  if (correlationId) {
    const small = document.createElement('small');
    small.textContent = ` Correlation id: ${correlationId}.`;
    page.error.append(small);
  }
  page.error.hidden = false;
}

function clearError() {
  page.error.hidden = true;
  page.error.replaceChildren();
}

function signOut(message) {
  sessionStorage.removeItem(storageKey);
  current = null;
  page.session.hidden = true;
  page.dashboard.hidden = true;
  page.form.hidden = false;
  page.status.textContent = message ?? '';
  setState('signed-out');
  page.input.focus();
}

page.form.addEventListener('submit', (event) => {
  event.preventDefault();
  const key = page.input.value.trim();
  if (!key) {
    showError('Enter an API key: the ledger answers reports only to a key with the reporting, auditor or admin role.');
    page.input.focus();
    return;
  }
  page.input.value = '';
  sessionStorage.setItem(storageKey, key);
  void load();
});

$('#refresh').addEventListener('click', () => void load());
$('#forget').addEventListener('click', () => signOut('The key was forgotten. Enter a key to see the dashboard again.'));

for (const radio of document.querySelectorAll('input[name="bucket"]')) {
  radio.addEventListener('change', () => void reloadRamp(radio.value));
}
page.stage.addEventListener('change', () => current && drawDeployments(current.deployments));
window.addEventListener('resize', () => resizeAll(document.querySelectorAll('[data-chart]')));

/** Reads everything the page shows with the stored key, then draws it. One load at a time; a new one cancels the old. */
async function load() {
  const key = storedKey();
  if (!key) {
    signOut();
    return;
  }

  loading?.abort();
  const controller = new AbortController();
  loading = controller;
  const get = (path) => getJson(key, path, controller.signal);
  setState('loading');
  clearError();
  page.status.textContent = 'Reading the ledger…';

  try {
    const me = (await get('api/v1/whoami')).body;
    page.form.hidden = true;
    page.session.hidden = false;
    page.keyName.textContent = me.name;
    page.keyRole.textContent = me.role;

    const factories = (await get('api/v1/factories')).body;
    const producing = factories.filter((f) => f.productionStarted);
    const bucket = document.querySelector('input[name="bucket"]:checked').value;
    const earliest = producing.map((f) => f.productionStarted).sort()[0];
    const deploymentsFrom = earliest ? `&from=${quarterStart(earliest)}` : '';

    const [perFactory, deployments, health] = await Promise.all([
      Promise.all(producing.map((factory) => readFactory(get, factory, bucket))),
      section(get(`api/v1/deployments?groupBy=region&bucket=quarter${deploymentsFrom}`)),
      section(get('api/v1/projections/health')),
    ]);

    if (controller.signal.aborted) return;
    current = { bucket, perFactory, deployments, health, notProducing: factories.filter((f) => !f.productionStarted) };
    page.dashboard.hidden = false;
    drawAll();
    page.status.textContent = `Read at ${new Date().toLocaleTimeString()}`
      + (health.reply ? ` with the feed's head at position ${formatInteger(health.reply.body.headPosition)}.` : '.');
    setState('ready');
  } catch (error) {
    if (controller.signal.aborted || error?.name === 'AbortError') return;
    fail(error);
  } finally {
    if (loading === controller) loading = null;
  }
}

/** A factory's daily and per-bucket throughput and its milestones, or `{ factory, error }` if the ledger refused them. */
async function readFactory(get, factory, bucket) {
  const id = encodeURIComponent(factory.id);
  const { reply, error } = await section(Promise.all([
    get(`api/v1/factories/${id}/throughput?bucket=day`),
    bucket === 'day' ? null : get(`api/v1/factories/${id}/throughput?bucket=${bucket}`),
    get(`api/v1/factories/${id}/milestones`),
  ]));
  if (error) return { factory, error };
  const [daily, ramp, milestones] = reply;
  return { factory, daily: daily.body.buckets, ramp: (ramp ?? daily).body.buckets, milestones: milestones.body };
}

/**
 * One part of the page's reads: `{ reply }`, or `{ error }` when the ledger refused just this read, so the rest of the
 * page still shows. A key it does not accept, or no ledger at all, fails the whole load.
 */
function section(promise) {
  return promise.then((reply) => ({ reply }), (error) => {
    if (error instanceof LedgerError && error.kind === 'failed') return { error };
    throw error;
  });
}

function fail(error) {
  if (error instanceof LedgerError && (error.kind === 'unauthorized' || error.kind === 'forbidden')) {
    signOut();
    showError(error.message, error.correlationId);
    setState('error');
    return;
  }

  page.status.textContent = '';
  showError(error instanceof LedgerError ? error.message : `The dashboard failed: ${error}`, error?.correlationId);
  setState('error');
}

/** Redraws the ramp charts per day or per week; the daily figures (run rate) are already there. */
async function reloadRamp(bucket) {
  const key = storedKey();
  if (!current || !key) return;
  try {
    setState('loading');
    for (const entry of current.perFactory.filter((e) => !e.error)) {
      entry.ramp = bucket === 'day'
        ? entry.daily
        : (await getJson(key, `api/v1/factories/${encodeURIComponent(entry.factory.id)}/throughput?bucket=${bucket}`)).body.buckets;
    }
    current.bucket = bucket;
    drawFactories();
    setState('ready');
  } catch (error) {
    fail(error);
  }
}

function drawAll() {
  drawFactories();
  drawMilestones();
  drawDeployments(current.deployments);
  drawInTransit(current.deployments);
  drawProjections(current.health);
  page.notProducing.textContent = current.notProducing.length === 0 ? ''
    : `Not producing yet: ${current.notProducing.map((f) => `${f.name} (${f.status.replace(/-/g, ' ')})`).join(', ')}.`;
}

function drawFactories() {
  const template = $('#factory-template');
  const articles = current.perFactory.map(({ factory, daily, ramp, milestones, error }) => {
    const article = template.content.firstElementChild.cloneNode(true);
    article.dataset.factory = factory.id;
    article.querySelector('h3').textContent = `${factory.name} · ${factory.location}`;
    const built = daily?.at(-1)?.cumulativeUnitsBuilt ?? 0;
    const facts = article.querySelector('.factory-facts');
    if (error || built === 0) {
      facts.textContent = error ? factoryProblem(factory, error) : `No units recorded yet (production started ${factory.productionStarted}).`;
      article.querySelector('.pair').remove();
      return article;
    }

    const last = daily.at(-1);
    facts.textContent = `${formatInteger(built)} units built since ${factory.productionStarted}; run rate `
      + `${formatInteger(Number(last.runRateUnitsPerYear))} / year as of ${last.lastDay}`
      + (factory.nameplateUnitsPerYear ? ` against a nameplate of ${formatInteger(factory.nameplateUnitsPerYear)} / year.` : '.');
    article.querySelector('.bucket-name').textContent = current.bucket;
    const [rampChart, runRateChart] = article.querySelectorAll('[data-chart]');
    rampChart.id = `chart-ramp-${factory.id}`;
    runRateChart.id = `chart-run-rate-${factory.id}`;
    article.charts = () => {
      draw(rampChart, rampOption(factory, ramp, current.bucket, milestones.units));
      draw(runRateChart, runRateOption(factory, daily));
    };
    return article;
  });

  disposeAll(page.factories.querySelectorAll('[data-chart]'));
  page.factories.replaceChildren(...articles);
  // Charts are drawn once their elements are in the page, so ECharts can measure them.
  for (const article of articles) article.charts?.();
}

/** Why a factory has no figures: not started yet (its start is after the ledger's today), or what the ledger said. */
function factoryProblem(factory, error) {
  return error.status === 400 && error.problem?.errors?.from
    ? `No figures yet: production starts ${factory.productionStarted}.`
    : `Could not read this factory's figures: ${error.message}`;
}

function drawMilestones() {
  const byFactory = current.perFactory
    .filter(({ milestones }) => milestones?.units.length > 0)
    .map(({ factory, milestones }) => ({ factory, units: milestones.units }));
  const element = $('#chart-milestones');
  const rows = byFactory.flatMap(({ factory, units }) => units.map((m) => [factory.name, `${ordinal(m.nth)} unit`, m.serial, m.localDate]));
  fillTable('#milestones-table', rows);
  if (byFactory.length === 0) {
    placeholder(element, 'No milestones yet: no factory has built a unit.');
    return;
  }

  const from = byFactory.map(({ factory }) => factory.productionStarted).sort()[0];
  const today = current.perFactory.map(({ daily }) => daily?.at(-1)?.lastDay).filter(Boolean).sort().at(-1);
  draw(element, milestonesOption(byFactory, from, today));
}

function drawDeployments({ reply, error }) {
  const stage = page.stage.value;
  const units = $('#chart-deployments-units');
  const gwh = $('#chart-deployments-gwh');
  if (error) {
    placeholder(units, `Could not read deployments: ${error.message}`);
    placeholder(gwh, `Could not read deployments: ${error.message}`);
    return;
  }

  const deployments = reply.body;
  if (deployments.buckets.length === 0) {
    placeholder(units, 'Nothing shipped yet.');
    placeholder(gwh, 'Nothing shipped yet.');
  } else {
    draw(units, deploymentsOption(deployments.buckets, stage, 'units'));
    draw(gwh, deploymentsOption(deployments.buckets, stage, 'gwh'));
  }

  freshness('deployments', reply);
}

function drawInTransit({ reply, error }) {
  const element = $('#chart-in-transit');
  if (error) {
    $('#transit-total').textContent = '';
    placeholder(element, `Could not read units in transit: ${error.message}`);
    return;
  }

  const rows = reply.body.inTransit;
  const units = rows.reduce((sum, r) => sum + r.units, 0);
  const mwh = rows.reduce((sum, r) => sum + Number(r.mwh), 0);
  $('#transit-total').textContent = `${formatInteger(units)} units (${formatGwh(mwh)}) shipped and not yet delivered.`;
  if (rows.length === 0) {
    placeholder(element, 'Nothing is in transit.');
    return;
  }

  draw(element, inTransitOption(rows));
}

function drawProjections({ reply, error }) {
  if (error) {
    $('#health-summary').textContent = '';
    fillTable('#projections-table', []);
    placeholder($('#chart-projections'), `Could not read projection health: ${error.message}`);
    return;
  }

  const health = reply.body;
  const states = health.projections.map(stateOf);
  const failed = states.filter((s) => s === 'failed').length;
  const behind = health.projections.filter((p) => p.lagEvents > 0).length;
  $('#health-summary').textContent = failed > 0 ? `${failed} of ${states.length} read models have failed: reports from them are stale.`
    : behind > 0 ? `${behind} of ${states.length} read models are catching up.`
      : `All ${states.length} read models are up to date.`;
  $('#health-summary').dataset.severity = failed > 0 ? 'failed' : behind > 0 ? 'behind' : 'ok';
  fillTable('#projections-table', health.projections.map((p, i) =>
    [p.name, states[i], formatInteger(p.position), formatInteger(p.lagEvents), String(p.lagSeconds)]));
  draw($('#chart-projections'), projectionsOption(health));
}

function freshness(name, reply) {
  const element = document.querySelector(`[data-freshness="${name}"]`);
  element.textContent = reply.lagEvents > 0
    ? `As of feed position ${formatInteger(reply.position)}; ${formatInteger(reply.lagEvents)} newer events are not in these figures yet.`
    : `As of feed position ${formatInteger(reply.position ?? 0)}.`;
}

function placeholder(element, text) {
  disposeAll([element]);
  element.replaceChildren();
  const p = document.createElement('p');
  p.className = 'placeholder';
  p.textContent = text;
  element.append(p);
}

function fillTable(selector, rows) {
  const body = document.querySelector(`${selector} tbody`);
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement('tr');
    for (const cell of cells) {
      const td = document.createElement('td');
      td.textContent = cell;
      tr.append(td);
    }
    return tr;
  }));
}

/** "2025-02-11" → "2025-01-01": deployments are bucketed by quarter, so start at the first quarter with production. */
function quarterStart(date) {
  const [year, month] = date.split('-').map(Number);
  return `${year}-${String(Math.floor((month - 1) / 3) * 3 + 1).padStart(2, '0')}-01`;
}

// For people in the browser console and for the browser test: the data each chart on the page is drawing.
window.ledgerDashboard = {
  charts: () => [...document.querySelectorAll('[data-chart]')].map((element) => ({
    id: element.id, kind: element.dataset.chart, series: drawnSeries(element),
  })),
};

if (storedKey()) void load();
else signOut();
