// The console's ensemble page on a 3-member ensemble, in Debian's headless
// chromium through puppeteer-core.  Called by
// tests/integration/test_console.py while one follower is stopped:
//   node ensemble_test.mjs LEADER_URL FOLLOWER_URL STOPPED_ID RUNNING_ID MIN_LAG SHOT_DIR
// Prints "ok <check>" per check; exits non-zero on the first failure.
import path from 'node:path';

import {check, launch} from './common.mjs';

const [leaderUrl, followerUrl, stoppedId, runningId, minLag, shots] = process.argv.slice(2);
const browser = await launch();

// The members table as {id: {role, lag, acked}} once it lists every member.
async function members(page) {
  await page.waitForFunction(() => document.querySelectorAll('#members tr').length >= 4, {timeout: 15000});
  return page.$$eval('#members tr', (trs) => {
    const head = [...trs[0].querySelectorAll('th')].map((th) => th.innerText);
    const out = {head};
    for (const tr of trs.slice(1)) {
      const c = [...tr.querySelectorAll('td')].map((td) => td.innerText);
      out[c[0]] = {role: c[3], lag: c[4], acked: c[5]};
    }
    return out;
  });
}

try {
  const page = await browser.newPage();
  await page.setViewport({width: 1280, height: 800});
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto(leaderUrl + '/#ensemble', {waitUntil: 'networkidle0'});
  const m = await members(page);
  check(m.head.includes('lag (zxids)') && m.head.includes('acked zxid'), 'lag columns');
  check(Number(m[stoppedId].lag) >= Number(minLag), 'stopped follower lags: ' + m[stoppedId].lag);
  check(m[runningId].lag === '0', 'running follower at lag 0');
  check(/^0x[0-9a-f]+$/.test(m[runningId].acked), 'acked zxid in hex: ' + m[runningId].acked);
  const leaderRow = Object.entries(m).find(([k, v]) => k !== 'head' && v.role === 'leader');
  check(leaderRow && leaderRow[1].lag === '-', 'the leader has no lag of its own');
  await page.screenshot({path: path.join(shots, 'console-ensemble3.png')});

  await page.goto(followerUrl + '/#ensemble', {waitUntil: 'networkidle0'});
  const f = await members(page);
  check(f[stoppedId].lag === '(on the leader)', 'a follower points to the leader for lag');
  check(errors.length === 0, 'no page errors: ' + errors.join('; '));
} finally {
  await browser.close();
}
