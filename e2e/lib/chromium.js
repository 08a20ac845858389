// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core.
// Playwright never downloads a browser here: executablePath points at the
// system one, and a missing browser is an error, not a skip (CI installs it).
//
//   const b = await launchChromium();
//   const p = await b.open(url);   // page + console errors + CSP violations
//   await b.close();
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { E2E_DIR } from './bridge.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const OUTPUT_DIR = path.join(E2E_DIR, 'test-output');
export const VIEWPORT = { width: 1280, height: 800 };

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Throws a message that says what to install when the browser is missing. */
export function requireChromium() {
  try {
    fs.accessSync(CHROMIUM_PATH, fs.constants.X_OK);
  } catch {
    throw new Error(
      `headless Chromium is required for the page tests but ${CHROMIUM_PATH} is missing or not executable: ` +
        'install it with `apt-get install -y chromium` (.ci/run does this), or set CHROMIUM_PATH',
    );
  }
}

// Collected before any page script could run (init scripts are exempt
// from the page's CSP), so nothing a page does can hide a violation.
function recordViolations() {
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`);
  });
}

/**
 * Launches Chromium with a fresh profile in a temp dir (removed on close).
 * @param {{colorScheme?: 'light'|'dark'}} [o]
 */
export async function launchChromium({ colorScheme = 'light' } = {}) {
  requireChromium();
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sentinelx-chromium-'));
  let context;
  try {
    // launchPersistentContext is how Playwright takes a --user-data-dir.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ARGS,
      viewport: VIEWPORT,
      colorScheme,
      timeout: 60_000,
    });
  } catch (err) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw new Error(`could not start ${CHROMIUM_PATH}: ${err.message}`);
  }
  await context.addInitScript(recordViolations);

  /**
   * Opens url in a new tab and records what went wrong there: console
   * errors, uncaught exceptions, browser log errors (CDP Log domain: failed
   * loads, blocked resources) and CSP violations.
   */
  async function open(url, { accept } = {}) {
    const page = await context.newPage();
    const problems = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    const cdp = await context.newCDPSession(page);
    cdp.on('Log.entryAdded', ({ entry }) => {
      if (entry.level === 'error') problems.push(`log ${entry.source}: ${entry.text} ${entry.url || ''}`.trim());
    });
    await cdp.send('Log.enable');
    if (accept) await page.setExtraHTTPHeaders({ accept });
    const response = await page.goto(url, { waitUntil: 'load', timeout: 20_000 });
    async function check() {
      const csp = await page.evaluate(() => window.__cspViolations ?? ['init script did not run']);
      return [...problems, ...csp.map((v) => `CSP violation: ${v}`)];
    }
    return { page, response, problems: check };
  }

  async function close() {
    try { await context.close(); } finally { fs.rmSync(userDataDir, { recursive: true, force: true }); }
  }
  return { context, open, close };
}

/** Saves a viewport screenshot as e2e/test-output/<name>.png (and in dir, if given). */
export async function screenshot(page, name, { dir } = {}) {
  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  const file = path.join(OUTPUT_DIR, `${name}.png`);
  await page.screenshot({ path: file });
  if (dir) {
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(file, path.join(dir, `${name}.png`));
  }
  return file;
}
