// Drives /dashboard in headless Chromium (Debian's, through playwright-core) as a person would, and writes what it saw
// as JSON for Ledger.Dashboard.Tests to judge: the charts' data, the page's texts, and every console message, page
// error, failed request and error response. It asserts nothing itself; the test does.
//
//   node check-dashboard.mjs <result.json>
//   environment: DASHBOARD_URL, REPORTING_KEY, LINE_KEY, SCREENSHOT, CHROMIUM (default /usr/bin/chromium)
// Keys travel in the environment, not on the command line, where other users of the machine could read them.
import { chromium } from 'playwright-core';
import { writeFile } from 'node:fs/promises';

const [resultPath] = process.argv.slice(2);
const { DASHBOARD_URL: url, REPORTING_KEY: reportingKey, LINE_KEY: lineKey, SCREENSHOT: screenshot } = process.env;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!resultPath || !url || !reportingKey || !lineKey || !screenshot) {
  console.error('usage: DASHBOARD_URL=... REPORTING_KEY=... LINE_KEY=... SCREENSHOT=... node check-dashboard.mjs <result.json>');
  process.exit(2);
}

const timeout = 90_000;
const browser = await chromium.launch({ executablePath, headless: true });
const result = { browser: browser.version() };
try {
  result.errors = await errorPaths();
  result.happy = await happyPath();
} finally {
  await browser.close();
}
await writeFile(resultPath, JSON.stringify(result, null, 2));

/** A fresh context (its own session storage) and a log of everything that went wrong in it. */
async function open() {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const log = { console: [], pageErrors: [], failedRequests: [], errorResponses: [], requestsWithKey: [] };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') log.console.push({ type: m.type(), text: m.text(), url: m.location().url });
  });
  page.on('pageerror', (e) => log.pageErrors.push(String(e)));
  page.on('requestfailed', (r) => log.failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) log.errorResponses.push(`${r.status()} ${r.request().method()} ${r.url()}`); });
  page.on('request', (r) => {
    if ([reportingKey, lineKey].some((k) => r.url().includes(k) || r.url().includes(encodeURIComponent(k)))) log.requestsWithKey.push(r.url());
  });
  return { context, page, log };
}

async function waitForState(page, ...states) {
  await page.waitForFunction((wanted) => wanted.includes(document.body.dataset.state), states, { timeout });
  return page.evaluate(() => document.body.dataset.state);
}

async function submitKey(page, key) {
  await page.fill('#api-key', key);
  await page.click('#key-form button[type="submit"]');
}

function errorText(page) {
  return page.evaluate(() => (document.querySelector('#error').hidden ? null : document.querySelector('#error').textContent));
}

function storedKey(page) {
  return page.evaluate(() => sessionStorage.getItem('ledger.dashboard.apiKey'));
}

/**
 * A missing, a wrong and an under-privileged key, and a ledger that cannot be reached: each must say what to do. Then
 * two refused reads, which must leave the rest of the page drawn.
 */
async function errorPaths() {
  const { context, page, log } = await open();
  const seen = {};
  await page.goto(new URL('dashboard', url).href);
  seen.initialState = await waitForState(page, 'signed-out');
  seen.formVisible = await page.isVisible('#key-form');

  await page.click('#key-form button[type="submit"]');
  seen.emptyKey = await errorText(page);

  await submitKey(page, 'ldg_0123456789abcdef0123456789abcdef_not-a-key-the-ledger-ever-gave-out-000000');
  seen.unknownKeyState = await waitForState(page, 'error');
  seen.unknownKey = await errorText(page);
  seen.unknownKeyStored = await storedKey(page);
  seen.unknownKeyFormVisible = await page.isVisible('#key-form');

  await submitKey(page, lineKey);
  seen.lineKeyState = await waitForState(page, 'error');
  seen.lineKey = await errorText(page);
  seen.lineKeyStored = await storedKey(page);

  await page.route('**/api/v1/**', (route) => route.abort('internetdisconnected'));
  await submitKey(page, reportingKey);
  seen.networkState = await waitForState(page, 'error');
  seen.network = await errorText(page);
  await page.unrouteAll();

  // A read the ledger refuses spoils only its own part of the page. The answers are the ledger's own problem shapes:
  // a factory whose production starts after the ledger's today (from > to), and a deployments read that failed.
  await page.route('**/api/v1/factories/lathrop/throughput*', (route) => route.fulfill({
    status: 400, contentType: 'application/problem+json',
    body: JSON.stringify({
      type: 'https://ledger.example/problems/validation-failed', title: 'The request is not valid.', status: 400,
      detail: 'Fix the query parameters named in errors.', errors: { from: ['Must not be after to.'] },
    }),
  }));
  await page.route('**/api/v1/deployments*', (route) => route.fulfill({
    status: 500, contentType: 'application/problem+json',
    body: JSON.stringify({ type: 'https://ledger.example/problems/internal-error', title: 'An error occurred.', status: 500 }),
  }));
  await submitKey(page, reportingKey);
  seen.partialState = await waitForState(page, 'ready', 'error');
  seen.partial = await page.evaluate(() => ({
    factories: Object.fromEntries([...document.querySelectorAll('#factories article')].map((a) => [
      a.dataset.factory, { facts: a.querySelector('.factory-facts').textContent, charts: a.querySelectorAll('[data-chart]').length }])),
    deployments: document.querySelector('#chart-deployments-units').textContent,
    inTransit: document.querySelector('#chart-in-transit').textContent,
    drawn: window.ledgerDashboard.charts().filter((c) => c.series).map((c) => c.id),
  }));
  await page.unrouteAll();

  await context.close();
  return { ...seen, log };
}

/** A reporting key, every chart drawn; then a reload (the key stays for the tab) and the ramp per day. */
async function happyPath() {
  const { context, page, log } = await open();
  const seen = {};
  await page.goto(new URL('dashboard', url).href);
  await waitForState(page, 'signed-out');
  await submitKey(page, reportingKey);
  seen.state = await waitForState(page, 'ready', 'error');
  seen.error = await errorText(page);
  seen.url = page.url();
  seen.charts = await page.evaluate(() => window.ledgerDashboard.charts());
  seen.texts = await page.evaluate(() => ({
    status: document.querySelector('#status').textContent,
    keyName: document.querySelector('#key-name').textContent,
    keyRole: document.querySelector('#key-role').textContent,
    factories: [...document.querySelectorAll('#factories article')].map((a) => ({
      id: a.dataset.factory, heading: a.querySelector('h3').textContent, facts: a.querySelector('.factory-facts').textContent,
      charts: a.querySelectorAll('[data-chart]').length,
    })),
    notProducing: document.querySelector('#not-producing').textContent,
    transitTotal: document.querySelector('#transit-total').textContent,
    healthSummary: document.querySelector('#health-summary').textContent,
    milestoneRows: [...document.querySelectorAll('#milestones-table tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent)),
    unlabelledCharts: [...document.querySelectorAll('[data-chart]')].filter((e) => !e.getAttribute('aria-label')).map((e) => e.id),
  }));
  seen.storage = await page.evaluate(() => ({
    session: sessionStorage.getItem('ledger.dashboard.apiKey'), localKeys: Object.keys(localStorage), cookie: document.cookie,
  }));
  await page.screenshot({ path: screenshot, fullPage: true });

  await page.reload();
  seen.afterReload = await waitForState(page, 'ready', 'error');

  await page.check('input[name="bucket"][value="day"]');
  seen.dayState = await waitForState(page, 'ready', 'error');
  seen.dayCharts = await page.evaluate(() => window.ledgerDashboard.charts().filter((c) => c.kind === 'ramp'));

  await context.close();
  return { ...seen, log };
}
