// Drives the web console in Debian's headless chromium through
// puppeteer-core (which downloads no browser).  Called by
// tests/integration/test_console.py against a server holding a known tree:
//   node console_test.mjs BASE_URL SHOT_DIR SESSION_HEX
// Prints "ok <check>" per check; exits non-zero on the first failure.
import path from 'node:path';

import {check, launch} from './common.mjs';

const [base, shots, sessionHex] = process.argv.slice(2);
const browser = await launch();

async function text(page, sel) {
  return page.$eval(sel, (e) => e.innerText);
}

async function waitText(page, sel, needle, timeout = 10000) {
  await page.waitForFunction((s, n) => {
    const e = document.querySelector(s);
    return e && e.innerText.includes(n);
  }, {timeout}, sel, needle);
}

async function shot(page, name) {
  await page.screenshot({path: path.join(shots, 'console-' + name + '.png')});
}

try {
  const page = await browser.newPage();
  await page.setViewport({width: 1280, height: 800});
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });

  // The first page shows the root's children at once.
  await page.goto(base + '/', {waitUntil: 'networkidle0'});
  await waitText(page, '#tree', 'app');
  const rootKids = await page.$$eval('#tree > li > .name', (n) => n.map((e) => e.textContent));
  check(['app', 'secret', 'services', 'zookeeper'].every((k) => rootKids.includes(k)),
        'root children listed on the first page: ' + rootKids.join(','));
  await waitText(page, '#summary', 'znodes');
  check((await text(page, '#summary')).includes('standalone'), 'summary line shows the server state');

  // Lazy tree: open /app, inspect /app/config.
  await page.click('#tree li[data-path="/app"] > .tw');
  await waitText(page, '#tree li[data-path="/app"]', 'config');
  await page.click('#tree li[data-path="/app/config"] > .name');
  await waitText(page, '#node-data', 'db1');
  check((await text(page, '#node-path')) === '/app/config', 'node path shown');
  await page.click('.tabs button[data-view="json"]');
  // (the text view already holds '"port": 5432': wait for the indentation)
  await waitText(page, '#node-data', '{\n  "db": {\n    "host": "db1",');
  check((await text(page, '#node-data')).includes('"features": [\n'), 'data as pretty JSON');
  await page.click('.tabs button[data-view="hex"]');
  await waitText(page, '#node-data', '7b 22 64 62');
  check(true, 'data as hexdump');
  const stat = await text(page, '#node-stat');
  check(/version\s+1/.test(stat) && /dataLength\s+\d+/.test(stat), 'stat shown');
  const acl = await text(page, '#node-acl');
  check(acl.includes('world') && acl.includes('anyone') && acl.includes('rwcda'), 'ACL shown');
  await page.click('.tabs button[data-view="text"]');
  await shot(page, 'tree');

  // Binary data.
  await page.click('#tree li[data-path="/app/bin"] > .name');
  await page.click('.tabs button[data-view="hex"]');
  await waitText(page, '#node-data', '00 01 02 03');
  check(true, 'binary data as hexdump');

  // A node whose ACL refuses this client is refused, not shown.
  await page.click('#tree li[data-path="/secret"] > .name');
  await waitText(page, '#node-detail', 'does not grant READ');
  check(!(await text(page, '#node-detail')).includes('hidden'), 'ACL-protected data not shown');

  // Services.
  await page.goto(base + '/#services', {waitUntil: 'networkidle0'});
  await waitText(page, '#services', 'payment-service');
  const svc = await text(page, '#services');
  check(svc.includes('127.0.0.1:8081') && svc.includes('127.0.0.1:8082'), 'instances with address:port');
  check(svc.includes('v1, eu'), 'tags');
  check(svc.includes('passing') && svc.includes('critical'), 'health');
  check(svc.includes('payment-http: critical — HTTP 500'), "the checks' output");
  check(svc.includes('1/2 passing'), 'passing count');
  await shot(page, 'services');

  // Sessions and connections.
  await page.goto(base + '/#sessions', {waitUntil: 'networkidle0'});
  await waitText(page, '#connections', sessionHex);
  // The ephemerals table is filled by a second request after the
  // connections table: wait for it rather than read it at once.
  await waitText(page, '#ephemerals', '/services/payment-service/i1').catch(() => {});
  check((await text(page, '#ephemerals')).includes('/services/payment-service/i1'), 'ephemerals by session');
  await shot(page, 'sessions');

  // Ensemble.
  await page.goto(base + '/#ensemble', {waitUntil: 'networkidle0'});
  await waitText(page, '#members', 'standalone');
  check((await text(page, '#member-figures')).includes('znode_count'), 'member figures');
  await shot(page, 'ensemble');

  // Live charts: samples accumulate without a reload.
  await page.goto(base + '/#charts', {waitUntil: 'networkidle0'});
  // CHART_SAMPLES (make console-screenshots: 20) waits for a fuller chart.
  const want = Number(process.env.CHART_SAMPLES || 4);
  await page.waitForFunction((n) => Number(document.getElementById('page-charts').dataset.samples || 0) >= n,
                             {timeout: 30000 + want * 2500}, want);
  const inked = await page.$$eval('canvas', (cs) => cs.map((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  }));
  check(inked.every((n) => n > 500), 'every chart drawn: ' + inked.join(','));
  await shot(page, 'charts');

  check(errors.length === 0, 'no script errors: ' + errors.join('; '));
  check(external.length === 0, 'no request leaves the server: ' + external.join(' '));
} finally {
  await browser.close();
}
