/**
 * The worker thread behind passwordStrength.ts: zxcvbn scores one password at a time. Only the
 * first STRENGTH_CHECKED_CHARS characters are looked at (zxcvbn's `maxLength`), which bounds the
 * work per check; a longer password is as strong as its beginning, or stronger.
 */
import { parentPort } from 'node:worker_threads';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import { READY, STRENGTH_CHECKED_CHARS, type StrengthReply, type StrengthRequest } from './passwordStrength.ts';

const zxcvbn = new ZxcvbnFactory({ dictionary: { ...common.dictionary }, graphs: common.adjacencyGraphs, maxLength: STRENGTH_CHECKED_CHARS });

parentPort!.on('message', (m: StrengthRequest) => {
  const reply: StrengthReply = { id: m.id, score: zxcvbn.check(m.password, m.context).score };
  parentPort!.postMessage(reply);
});
parentPort!.postMessage(READY);
