import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Where Debian's chromium package (or ORDO_CHROMIUM_PATH) puts the browser. */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/**
 * Starts the system's headless Chromium. Nothing here downloads a browser:
 * when none is installed the test fails and says how to install one.
 */
export async function launchChromium(): Promise<Browser> {
  const configured = process.env['ORDO_CHROMIUM_PATH'];
  const path = configured ?? CANDIDATES.find((p) => existsSync(p));
  if (path === undefined || !existsSync(path)) {
    throw new Error(
      `Chromium not found (looked for ${configured ?? CANDIDATES.join(', ')}): install Debian's package with \`apt-get install -y chromium\`, or set ORDO_CHROMIUM_PATH`,
    );
  }
  // Running as root (CI) needs --no-sandbox; the page is local and trusted.
  return chromium.launch({
    executablePath: path,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}
