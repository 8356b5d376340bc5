// A throwaway PostgreSQL for tests (Debian's `postgresql` package, binaries in
// /usr/lib/postgresql/<version>/bin).
//
//   const pg = await ensurePg();            // {url, port, host, user, pid, external, stop()}
//   const url = await freshDatabase(pg);    // postgres://postgres@127.0.0.1:PORT/<new empty db>
//
// ensurePg() reuses the server named by env CLOVE_TEST_PG_URL (tests/pg/cluster.sh starts one for a
// whole run) or else starts one for this process, stopped and deleted when the process exits.
// startPg() always starts a private cluster: tests that stop or kill Postgres mid-load use that one
// (pgCtl(pg, 'stop'|'start'|'restart'), pgStop(pg), pgKill(pg)) so they never disturb a shared server.
//
// initdb/postgres refuse to run as root; when the tests run as root every Postgres binary runs as
// the `postgres` OS user (runuser -u postgres --) in a temporary directory owned by it. The server
// listens on 127.0.0.1 only (trust authentication, user postgres), its unix socket lives in that
// directory, and durability is traded for speed (fsync=off, synchronous_commit=off).

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const HOST = '127.0.0.1';
const USER = 'postgres';

/** Directory of the Postgres server binaries: $CLOVE_TEST_PG_BIN or the newest /usr/lib/postgresql/N/bin. */
export function pgBinDir() {
  if (process.env.CLOVE_TEST_PG_BIN) return process.env.CLOVE_TEST_PG_BIN;
  const root = '/usr/lib/postgresql';
  let versions = [];
  try {
    versions = fs
      .readdirSync(root)
      .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  } catch {
    return null;
  }
  return versions.length ? path.join(root, versions[0], 'bin') : null;
}

/**
 * Whether tests can get a Postgres at all (a shared one via CLOVE_TEST_PG_URL, or the binaries).
 * CLOVE_SKIP_PG=1 says no.
 */
export function pgAvailable() {
  if (process.env.CLOVE_SKIP_PG === '1') return false;
  return Boolean(process.env.CLOVE_TEST_PG_URL) || Boolean(pgBinDir());
}

function bin(name) {
  const dir = pgBinDir();
  if (dir && fs.existsSync(path.join(dir, name))) return path.join(dir, name);
  return name; // psql, pg_isready, pg_dump are also on PATH (Debian wrappers)
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function postgresIds() {
  const u = spawnSync('id', ['-u', USER], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', USER], { encoding: 'utf8' });
  if (u.status !== 0 || g.status !== 0) throw new Error(`no "${USER}" OS user (install the postgresql package)`);
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** [command, args] running cmd as the postgres OS user when we are root. */
function asPostgres(cmd, args) {
  return isRoot ? ['runuser', ['-u', USER, '--', cmd, ...args]] : [cmd, args];
}

/** Environment for libpq tools without anything inherited that could redirect them. */
function pgEnv() {
  const env = { ...process.env, LC_ALL: 'C', PGCONNECT_TIMEOUT: '5' };
  for (const k of Object.keys(env)) if (/^PG/.test(k) && k !== 'PGCONNECT_TIMEOUT') delete env[k];
  return env;
}

/** Runs a command; resolves {code, stdout, stderr}; rejects (with the output) on a non-zero exit. */
function run(cmd, args, { cwd, timeoutMs = 60000, allowFail = false, input } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, env: pgEnv(), stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8');
    p.stderr.setEncoding('utf8');
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    if (input !== undefined) p.stdin.end(input);
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const r = { code, signal, stdout, stderr };
      if ((code !== 0 || signal) && !allowFail) {
        reject(new Error(`${cmd} ${args.join(' ')} failed (code ${code}, signal ${signal}):\n${stderr}${stdout}`));
      } else resolve(r);
    });
  });
}

function runAsPostgres(cmd, args, opts) {
  const [c, a] = asPostgres(cmd, args);
  return run(c, a, opts);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits until pg_isready answers for host:port (default 30 s). */
export async function waitPgReady(port, { timeoutMs = 30000, host = HOST } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await run(bin('pg_isready'), ['-h', host, '-p', String(port), '-U', USER, '-d', 'postgres', '-t', '2'], {
      allowFail: true,
      timeoutMs: 5000,
    }).catch((err) => ({ code: -1, stdout: '', stderr: String(err) }));
    if (r.code === 0) return;
    if (Date.now() > deadline) throw new Error(`Postgres on ${host}:${port} not ready within ${timeoutMs} ms: ${r.stdout}${r.stderr}`);
    await sleep(100);
  }
}

function readPostmasterPid(dataDir) {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** [state, pgrp] of a process from /proc, or null when it does not exist. */
function procStat(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0], pgrp: Number(rest[2]) };
  } catch {
    return null;
  }
}

/** A live (not zombie) process. */
function alive(pid) {
  if (!pid) return false;
  const st = procStat(pid);
  if (st) return st.state !== 'Z' && st.state !== 'X';
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Whether any live (not zombie) process is left in process group pgid. */
function groupAlive(pgid) {
  let entries;
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return false;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const st = procStat(e);
    if (st && st.pgrp === pgid && st.state !== 'Z' && st.state !== 'X') return true;
  }
  return false;
}

/**
 * After a crash the postmaster can linger as a zombie until PID 1 reaps it; Postgres would take
 * its lock file for a running server (kill(pid, 0) succeeds on zombies). Remove the lock file of
 * a postmaster that is dead or a zombie.
 */
function removeStaleLock(pg) {
  const pid = readPostmasterPid(pg.dataDir);
  if (pid && !alive(pid) && !groupAlive(pid)) {
    for (const f of [path.join(pg.dataDir, 'postmaster.pid'), path.join(pg.socketDir, `.s.PGSQL.${pg.port}.lock`)]) {
      try {
        fs.rmSync(f, { force: true });
      } catch {
        /* ignore */
      }
    }
  }
}

const serverOptions = (pg) =>
  [
    `-c listen_addresses=${HOST}`,
    `-c port=${pg.port}`,
    `-c unix_socket_directories=${pg.socketDir}`,
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
    '-c shared_buffers=32MB',
    '-c log_min_messages=warning',
  ].join(' ');

/**
 * Controls a cluster started by startPg()/ensurePg() (not one reused from CLOVE_TEST_PG_URL):
 * 'stop' (fast shutdown: sessions are disconnected), 'start' (same port and data; waits until it
 * accepts connections) or 'restart'. Updates pg.pid (null while stopped).
 */
export async function pgCtl(pg, action, { mode = 'fast', timeoutMs = 60000 } = {}) {
  if (pg.external || !pg.dataDir) throw new Error('pgCtl needs a cluster started by this process (use startPg())');
  const pgctl = bin('pg_ctl');
  if (action === 'restart') {
    await pgCtl(pg, 'stop', { mode, timeoutMs });
    return pgCtl(pg, 'start', { timeoutMs });
  }
  if (action === 'stop') {
    if (!pg.pid || !alive(pg.pid)) {
      pg.pid = null;
      return pg;
    }
    await runAsPostgres(pgctl, ['-D', pg.dataDir, '-m', mode, '-w', '-t', String(Math.ceil(timeoutMs / 1000)), 'stop'], {
      cwd: pg.base,
      timeoutMs: timeoutMs + 5000,
    });
    pg.pid = null;
    return pg;
  }
  if (action === 'start') {
    if (pg.pid && alive(pg.pid)) return pg;
    removeStaleLock(pg);
    await runAsPostgres(
      pgctl,
      ['-D', pg.dataDir, '-l', pg.logFile, '-w', '-t', String(Math.ceil(timeoutMs / 1000)), '-o', serverOptions(pg), 'start'],
      { cwd: pg.base, timeoutMs: timeoutMs + 5000 },
    ).catch((err) => {
      let log = '';
      try {
        log = fs.readFileSync(pg.logFile, 'utf8').split('\n').slice(-30).join('\n');
      } catch {
        /* no log */
      }
      err.message += `\n--- postgres log ---\n${log}`;
      throw err;
    });
    await waitPgReady(pg.port, { timeoutMs });
    pg.pid = readPostmasterPid(pg.dataDir);
    return pg;
  }
  throw new Error(`pgCtl: unknown action ${action}`);
}

/** Fast shutdown (pg_ctl stop -m fast). */
export function pgStop(pg, opts) {
  return pgCtl(pg, 'stop', opts);
}

/** Starts a stopped (or killed) private cluster again on the same port. */
export function pgStart(pg, opts) {
  return pgCtl(pg, 'start', opts);
}

/**
 * Kills the postmaster and all its backends at once (default SIGKILL: a crash, no shutdown
 * protocol, connections reset), then waits until they are gone. pgStart() brings it back.
 */
export async function pgKill(pg, signal = 'SIGKILL', { timeoutMs = 10000 } = {}) {
  if (pg.external) throw new Error('pgKill needs a cluster started by this process (use startPg())');
  const pid = pg.pid ?? readPostmasterPid(pg.dataDir);
  if (!pid) return pg;
  // pg_ctl starts the postmaster in its own session, so its pid is also its process group
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + timeoutMs;
  while ((alive(pid) || groupAlive(pid)) && Date.now() < deadline) await sleep(20);
  if (signal === 'SIGKILL' || signal === 9) {
    if (alive(pid) || groupAlive(pid)) throw new Error(`postmaster ${pid} still alive after ${signal}`);
  }
  pg.pid = null;
  return pg;
}

const privateClusters = new Set();

function cleanupSync(pg) {
  privateClusters.delete(pg);
  if (!pg.dataDir) return;
  const pid = pg.pid ?? readPostmasterPid(pg.dataDir);
  if (pid && alive(pid)) {
    const [c, a] = asPostgres(bin('pg_ctl'), ['-D', pg.dataDir, '-m', 'immediate', '-w', '-t', '10', 'stop']);
    spawnSync(c, a, { cwd: pg.base, env: pgEnv(), stdio: 'ignore', timeout: 15000 });
    if (alive(pid)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  }
  pg.pid = null;
  try {
    fs.rmSync(pg.base, { recursive: true, force: true });
  } catch {
    /* ignore */
  }
}

process.on('exit', () => {
  for (const pg of [...privateClusters]) cleanupSync(pg);
});

/**
 * Starts a private PostgreSQL cluster (initdb in a fresh temporary directory, 127.0.0.1 only, a
 * free port). Resolves {url, port, host, user, pid, dataDir, base, logFile, socketDir,
 * external: false, stop()}. Stopped and deleted by stop() or at process exit.
 */
export async function startPg({ prefix = 'clove-pg-' } = {}) {
  const pgBin = pgBinDir();
  if (!pgBin) throw new Error('PostgreSQL server binaries not found (apt-get install postgresql, or set CLOVE_TEST_PG_BIN)');
  const base = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(base, 0o700);
  if (isRoot) {
    const { uid, gid } = postgresIds();
    fs.chownSync(base, uid, gid);
  }
  const pg = {
    host: HOST,
    user: USER,
    port: 0,
    url: null,
    pid: null,
    base,
    dataDir: path.join(base, 'data'),
    logFile: path.join(base, 'postgres.log'),
    socketDir: base,
    external: false,
    async stop() {
      cleanupSync(pg);
    },
  };
  privateClusters.add(pg);
  try {
    await runAsPostgres(
      path.join(pgBin, 'initdb'),
      ['-D', pg.dataDir, '-U', USER, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'],
      { cwd: base, timeoutMs: 120000 },
    );
    // a port taken between freePort() and the bind makes the start fail: try a few
    let lastErr;
    for (let attempt = 0; attempt < 4; attempt++) {
      pg.port = await freePort();
      pg.url = `postgres://${USER}@${HOST}:${pg.port}/postgres`;
      try {
        await pgCtl(pg, 'start');
        lastErr = null;
        break;
      } catch (err) {
        lastErr = err;
        const pid = readPostmasterPid(pg.dataDir);
        if (pid && alive(pid)) throw err; // it runs but is not ready: not a port clash
      }
    }
    if (lastErr) throw lastErr;
  } catch (err) {
    cleanupSync(pg);
    throw err;
  }
  return pg;
}

/** The server named by CLOVE_TEST_PG_URL, as a pg object (stop() does nothing). */
function externalPg(urlText) {
  const u = new URL(urlText);
  const port = Number(u.port || 5432);
  const host = u.hostname;
  const user = decodeURIComponent(u.username || USER);
  return {
    host,
    user,
    port,
    url: urlText,
    pid: null,
    external: true,
    dataDir: null,
    async stop() {},
  };
}

let shared = null;

/**
 * The Postgres for this process: the one in CLOVE_TEST_PG_URL when set (checked with pg_isready),
 * else a private cluster started on first use and stopped at process exit.
 */
export function ensurePg() {
  if (!shared) {
    shared = (async () => {
      if (process.env.CLOVE_TEST_PG_URL) {
        const pg = externalPg(process.env.CLOVE_TEST_PG_URL);
        await waitPgReady(pg.port, { host: pg.host, timeoutMs: 15000 });
        return pg;
      }
      return startPg();
    })();
    shared.catch(() => {
      shared = null;
    });
  }
  return shared;
}

function urlFor(pg, database) {
  return `postgres://${encodeURIComponent(pg.user)}@${pg.host}:${pg.port}/${database}`;
}

/** Runs SQL through psql against a database URL (or pg, then database `postgres`); resolves stdout. */
export async function psql(target, sql, { timeoutMs = 30000 } = {}) {
  const url = typeof target === 'string' ? target : urlFor(target, 'postgres');
  const r = await run(bin('psql'), [url, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { timeoutMs });
  return r.stdout;
}

let dbSeq = 0;

/** Creates a new empty database with a unique name; resolves its postgres:// URL. */
export async function freshDatabase(pg, { prefix = 'clove_test' } = {}) {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${++dbSeq}_${Math.random().toString(36).slice(2, 8)}`
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_');
  await psql(pg, `CREATE DATABASE "${name}"`);
  return urlFor(pg, name);
}

/** Drops a database made by freshDatabase (terminating its sessions first). */
export async function dropDatabase(pg, url) {
  const name = new URL(url).pathname.slice(1);
  await psql(pg, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name.replace(/'/g, "''")}'`);
  await psql(pg, `DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}"`);
}

/** pg_dump of one database (plain SQL with data), e.g. to scan it for secrets. */
export async function pgDump(url, { timeoutMs = 60000 } = {}) {
  const r = await run(bin('pg_dump'), ['--no-owner', '--no-privileges', url], { timeoutMs });
  return r.stdout;
}
