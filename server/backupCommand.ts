/**
 * `npm run backup -- <target> [--run]`: backs up the database the configuration names (the same
 * environment / CONFIG_FILE as `npm start`). SQLite: an online backup into <target>, safe while the
 * switch runs, checked with PRAGMA integrity_check. MySQL/MariaDB: prints the consistent-dump
 * recipe (without the password); with --run, runs it into <target>. Either way it reminds that the
 * credentials key is backed up separately, and says whether call records or registration changes
 * wait in the spool.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DRAINING_FILE, SPOOL_FILE } from './cdr/spool.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { BackupError, backupSqlite, mysqlDumpRecipe, runMysqlDump } from './store/backup.ts';
import { countLines } from './store/durableFile.ts';
import { LOCATION_JOURNAL_FILE } from './store/locationJournal.ts';

const USAGE = 'usage: npm run backup -- <target file> [--run]   (--run: MySQL only, runs the dump instead of printing it)';

function credentialsNote(config: Config): string {
  const where = config.credentials.key ? 'CREDENTIALS_KEY (in the environment or CONFIG_FILE)' : `the key file ${config.credentials.keyFile}`;
  return [
    `Provider passwords in this backup are sealed with the credentials key: ${where}.`,
    'Back that key up separately and never store it with the backup: without it the provider passwords',
    'cannot be restored; with it, anyone holding the backup can read them.',
  ].join('\n');
}

/**
 * What waits in the spool for the database (server/cdr/spool.ts, server/store/locationJournal.ts):
 * not in this backup.
 */
async function spoolNote(config: Config): Promise<string | null> {
  const dir = path.join(config.dataDir, 'spool');
  // A spool that cannot be read says nothing here; the backup itself does not depend on it.
  const lines = (file: string) =>
    countLines(path.join(dir, file)).then(
      (c) => c.lines,
      () => 0,
    );
  const records = (await lines(SPOOL_FILE)) + (await lines(DRAINING_FILE));
  const registrations = await lines(LOCATION_JOURNAL_FILE);
  const waiting = [records && `${records} call records`, registrations && `${registrations} registration changes`].filter(Boolean);
  return waiting.length
    ? `Note: ${waiting.join(' and ')} wait in the spool (${dir}) for the database and are not in this backup; the switch writes them when it reaches the database.`
    : null;
}

async function main(argv: string[]): Promise<number> {
  let target: string;
  let run: boolean;
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { run: { type: 'boolean', default: false } }, allowPositionals: true });
    if (positionals.length !== 1) throw new Error('give one target file');
    target = path.resolve(positionals[0]!);
    run = values.run;
  } catch (err) {
    console.error(`backup: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const config = loadConfig();
  if (config.databaseUrl.startsWith('sqlite://')) {
    const file = config.databaseUrl.slice('sqlite://'.length);
    const r = await backupSqlite(file, target);
    console.log(`backed up SQLite ${file}`);
    console.log(`  to ${r.target}: ${r.bytes} bytes, ${r.pages} pages, integrity_check: ${r.integrity}`);
    console.log(
      `  rows: ${Object.entries(r.rows)
        .map(([t, n]) => `${t} ${n}`)
        .join(', ')}`,
    );
    console.log('Restore: stop the switch, move switch.sqlite and its -wal/-shm files away, copy the backup to');
    console.log(`  ${file}, start the switch.`);
  } else {
    const recipe = mysqlDumpRecipe(config.databaseUrl, target);
    if (run) {
      const r = await runMysqlDump(config.databaseUrl, target);
      console.log(`dumped MySQL database ${recipe.database} to ${r.target}: ${r.bytes} bytes, ${r.tables} tables`);
    } else {
      console.log("A consistent dump of the switch's MySQL/MariaDB database (one snapshot, no table locks):");
      console.log(`  ${recipe.display}`);
      if (recipe.display.includes(' -p ')) console.log('  (-p asks for the password of DATABASE_URL; it is never printed)');
      console.log(recipe.tool ? 'Add --run to run it now.' : 'Neither mariadb-dump nor mysqldump is on PATH here: run it where one is.');
    }
    console.log(`Restore: create an empty database, then  mariadb <database> < ${path.basename(target)}  and point DATABASE_URL at it.`);
  }
  console.log(credentialsNote(config));
  const spooled = await spoolNote(config);
  if (spooled) console.log(spooled);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError || err instanceof BackupError) console.error(`backup: ${err.message}`);
    else console.error('backup failed:', err);
    process.exit(1);
  },
);
