/**
 * Media ports for test switches: each switch gets a block of its own in 30000–30999 (the media
 * tests use 31000–32767), picked from the test process's id and a counter, so switches started
 * side by side by parallel test files rarely share ports (and when they do, the relay skips a port
 * another holds). Tests use the embedded relay unless they ask for another engine.
 */
const FIRST = 30000;
const BLOCK = 50;
const BLOCKS = 20;
let started = 0;

export function testMediaEnv(): Record<string, string> {
  const block = (process.pid * 7 + started++) % BLOCKS;
  const min = FIRST + block * BLOCK;
  return { MEDIA_ENGINE: 'embedded', MEDIA_PORT_MIN: String(min), MEDIA_PORT_MAX: String(min + BLOCK - 1) };
}
