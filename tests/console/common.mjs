// What the console's browser tests share: Debian's headless chromium
// through puppeteer-core (which downloads no browser), and the "ok <check>"
// lines (a failed check throws: the test exits non-zero on the first).
import puppeteer from 'puppeteer-core';

export function launch() {
  return puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: 'new',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

export function check(cond, what) {
  if (!cond) throw new Error('FAILED: ' + what);
  console.log('ok ' + what);
}
