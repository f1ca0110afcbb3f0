/**
 * Debian's Chromium for browser tests, as the project runs it (never a downloaded browser):
 * headless, no sandbox (tests run as root), and nothing that reaches the network on its own.
 */
import { chromium, type Browser } from 'playwright-core';
import { skipWithout } from '../interop/tools.ts';

const QUIET = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];

/** The skip reason for a suite without Chromium (false when it is installed). */
export const noChromium = skipWithout('chromium', 'chromium');

/** A headless Chromium; `args` adds to the quiet defaults (fake media devices, …). */
export function launchChromium(args: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...QUIET, ...args] });
}
