/**
 * The repository's TypeScript programs: the server's (tsconfig.json) must not contain the
 * sandbox's API declarations, whose globals (`call`, `dial`, `store`, `console`...) would
 * otherwise type-check server code that calls them by mistake.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

const repo = path.resolve(import.meta.dirname, '../..');

function programFiles(configFile: string): string[] {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(repo, configFile),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(String(d.messageText)) },
  );
  assert.ok(parsed, configFile);
  assert.deepEqual(parsed.errors, [], configFile);
  return parsed.fileNames;
}

test('no TypeScript program of the server declares the sandbox globals', () => {
  const files = programFiles('tsconfig.json');
  assert.ok(
    files.some((f) => f.endsWith('/contract/calls.ts')),
    'the contract module is part of the program',
  );
  const declaringSandbox = files.filter((f) => /^declare function dial\(/m.test(readFileSync(f, 'utf8')));
  assert.deepEqual(declaringSandbox, []);
});
