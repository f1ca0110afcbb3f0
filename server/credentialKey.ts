/**
 * Where the credentials key comes from: the configuration (`CREDENTIALS_KEY`), else a key file.
 * A first start without either writes a fresh key file (mode 0600) so `npm start` works out of the
 * box, and says where it is: whoever copies the database must not copy that file with it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { ConfigError } from './config.ts';
import { CredentialCipher, CredentialKeyError } from './providers/credentials.ts';

export function loadCredentialCipher(config: Config, log: Logger): CredentialCipher {
  if (config.credentials.key) {
    try {
      return new CredentialCipher(CredentialCipher.parseKey(config.credentials.key));
    } catch (err) {
      if (err instanceof CredentialKeyError) throw new ConfigError([`CREDENTIALS_KEY: ${err.message}`]);
      throw err;
    }
  }
  // Without CREDENTIALS_KEY, every problem is the key file's: say so, naming it.
  const file = config.credentials.keyFile;
  try {
    if (!existsSync(file)) {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
      log.warn({ file }, 'generated a credentials key for provider passwords; keep it out of database backups, or set CREDENTIALS_KEY');
    }
    return new CredentialCipher(CredentialCipher.parseKey(readFileSync(file, 'utf8')));
  } catch (err) {
    throw new ConfigError([`CREDENTIALS_KEY_FILE: ${file}: ${(err as Error).message}`]);
  }
}
