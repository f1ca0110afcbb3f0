/**
 * Media ports for test switches: each switch gets a block of its own in 61000–65499, above Linux's
 * ephemeral ports (32768–60999) and the ports freeUdpTcpPort hands out (the media tests use
 * 31000–32767), picked from the test process's id and a counter, so switches started side by side
 * by parallel test files rarely share ports (and when they do, the relay skips a port another
 * holds). A block of 500 ports holds 125 relayed calls (two legs, RTP and RTCP each): the load
 * tests hold 40 at once. Tests use the embedded relay unless they ask for another engine.
 */
const FIRST = 61000;
const BLOCK = 500;
const BLOCKS = 9;

/** Every port a test switch's relay may use. */
export const TEST_MEDIA_PORTS = { min: FIRST, max: FIRST + BLOCK * BLOCKS - 1 };
let started = 0;

export function testMediaEnv(): Record<string, string> {
  const block = (process.pid * 7 + started++) % BLOCKS;
  const min = FIRST + block * BLOCK;
  return { MEDIA_ENGINE: 'embedded', MEDIA_PORT_MIN: String(min), MEDIA_PORT_MAX: String(min + BLOCK - 1) };
}
