// Row 13 — kill -9 under load, then restart (chaos scenario C9; issue 4 acceptance).
//
// SQLite: CLOVE_KILL9_ROUNDS (default 5) rounds on one data directory. Each round starts Clove on
// it (so each start after the first recovers from a crash), runs the mixed JSON/SSE load of
// tests/lib/usage.mjs at 64 connections with two keys, and SIGKILLs Clove at a random moment
// 1.5–4 s into the load (seed printed; CLOVE_KILL9_SEED repeats a run). A copy of the files the
// crash left (clove.db, -wal, -shm) must pass `PRAGMA integrity_check`. After the last round Clove
// is started once more, serves 20 requests and gets SIGTERM. Then, on the real database:
//   * PRAGMA integrity_check = ok;
//   * 0 duplicate request_ids;
//   * every request whose response completed more than 1 s before its round's kill has its row
//     (the measured loss window — newest lost completion before the kill — is printed; the goal
//     table's target is the 200 ms flush interval);
//   * rows without a client response ≤ the requests in flight at the kills;
//   * every request of the final (SIGTERM) run has its row;
//   * budgets recomputed from the rows equal the counters (C9): GET /admin/api/usage/summary
//     ?group_by=key and each key's `usage` in GET /admin/api/keys, read from one more start.
// PostgreSQL (CLOVE_SKIP_PG=1 skips it): one round the same way on a fresh database.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeDataDir } from '../lib/clove.mjs';
import {
  startUsageClove,
  startUsageLoad,
  loadSummary,
  usageRows,
  sqliteDb,
  sqliteIntegrity,
  copySqliteFiles,
  adminCounters,
  settle,
  usageFixture,
  oncePerBackend,
  forEachUsageBackend,
  assertNoDuplicateIds,
  assertCountersMatchRows,
} from '../lib/usage.mjs';
import { makeRow, sleep } from './_lib.mjs';

const row = makeRow('row 13 (kill -9 and restart)');
const ROUNDS = Number(process.env.CLOVE_KILL9_ROUNDS || 5);
const SEED = Number(process.env.CLOVE_KILL9_SEED || Date.now() % 2147483647);
const CONCURRENCY = 64;
const KILL_MIN_MS = 1500;
const KILL_SPREAD_MS = 2500;
const GRACE_MS = 1000; // a response completed more than this before the kill must have its row
const FINAL_REQUESTS = 20;
const fx = usageFixture();

/** mulberry32: a small seeded PRNG so a failing run can be repeated. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One round: start on dataDir/databaseUrl, load, SIGKILL after killAfterMs. */
async function killRound({ fake, k, dataDir, databaseUrl, killAfterMs, backend }) {
  fake.reset();
  const tStart = Date.now();
  const clove = await startUsageClove({ fakeUrl: fake.url, dataDir, databaseUrl });
  const startMs = Date.now() - tStart;
  try {
    const load = startUsageLoad(clove.url, { concurrency: CONCURRENCY, firstIndex: (k + 1) * 1_000_000 });
    await sleep(killAfterMs);
    const tKill = Date.now();
    process.kill(clove.pid, 'SIGKILL');
    load.stop();
    const exit = await clove.exited;
    const results = await load.done;
    let crashIntegrity = 'n/a';
    if (backend === 'sqlite') {
      const copyDir = fx.track(fs.mkdtempSync(path.join(os.tmpdir(), 'clove-kill9-copy-')));
      crashIntegrity = await sqliteIntegrity(copySqliteFiles(sqliteDb(dataDir).path, copyDir));
      removeDataDir(copyDir);
    }
    const s = loadSummary(results);
    const info = { k, backend, startMs, killAfterMs, ok: s.ok, inFlightOrFailed: s.failed, exit, crashIntegrity };
    console.log(`row 13 round ${JSON.stringify(info)}`);
    return { ...info, tKill, results };
  } finally {
    await clove.stop('SIGKILL', 2000);
  }
}

/** The final start: a few requests, then SIGTERM; then one more start to read the counters. */
async function finalRun({ fake, dataDir, databaseUrl }) {
  fake.reset();
  const clove = await startUsageClove({ fakeUrl: fake.url, dataDir, databaseUrl });
  let results;
  let exit;
  try {
    results = await startUsageLoad(clove.url, { total: FINAL_REQUESTS, concurrency: 4, firstIndex: 9_000_000 }).done;
    exit = await clove.stop('SIGTERM', 30000);
  } finally {
    await clove.stop('SIGKILL', 2000);
  }
  const verify = await startUsageClove({ fakeUrl: fake.url, dataDir, databaseUrl });
  try {
    const counters = await settle(adminCounters(verify.url));
    await verify.stop('SIGTERM', 30000);
    return { results, exit, counters };
  } finally {
    await verify.stop('SIGKILL', 2000);
  }
}

/** Loss analysis of one round against the rows' request ids. */
function roundLoss(round, ids) {
  const completed = round.results.filter((r) => r.ok);
  const lost = completed.filter((r) => !ids.has(r.rid));
  const lostOld = lost.filter((r) => r.tEnd < round.tKill - GRACE_MS);
  const newestLostBeforeKillMs = lost.length ? Math.max(...lost.map((r) => round.tKill - r.tEnd)) : 0;
  return { completed: completed.length, lost: lost.length, lostOld, lossWindowMs: newestLostBeforeKillMs };
}

async function scenario(backend) {
  const { fake, dataDir, databaseUrl, db } = await fx.prepare(backend, 'clove-kill9-');
  const rand = prng(SEED + (backend === 'pg' ? 1 : 0));
  const rounds = [];
  const n = backend === 'pg' ? 1 : ROUNDS;
  for (let k = 0; k < n; k++) {
    rounds.push(await killRound({ fake, k, dataDir, databaseUrl, killAfterMs: Math.round(KILL_MIN_MS + rand() * KILL_SPREAD_MS), backend }));
  }
  const final = await finalRun({ fake, dataDir, databaseUrl });
  const integrity = backend === 'sqlite' ? await sqliteIntegrity(db.path) : 'n/a';
  const rows = await usageRows(db);
  const ids = new Set(rows.map((r) => r.request_id));
  const losses = rounds.map((r) => roundLoss(r, ids));
  const known = new Set([...rounds.flatMap((r) => r.results), ...final.results].map((r) => r.rid).filter(Boolean));
  const extra = rows.filter((r) => !known.has(r.request_id));
  console.log(
    `row 13 [${backend}] seed ${SEED}: ${rows.length} rows; per round ${JSON.stringify(losses.map((l) => ({ completed: l.completed, lost: l.lost, lossWindowMs: l.lossWindowMs })))}; rows without a seen response: ${extra.length}`,
  );
  return { rounds, final, integrity, rows, losses, extra };
}

const runs = oncePerBackend(scenario);

forEachUsageBackend((backend, { name, opts }) => {
  const n = backend === 'pg' ? 1 : ROUNDS;

  for (let k = 0; k < n; k++) {
    row.check(name(`round ${k + 1}/${n}: SIGKILL under load at a random point; ${backend === 'sqlite' ? 'the crash image passes integrity_check, ' : ''}every response completed > ${GRACE_MS} ms before the kill has its row`), async () => {
      const r = await runs[backend]();
      const round = r.rounds[k];
      assert.ok(round.ok > 0, 'no request completed before the kill');
      assert.equal(round.exit.signal, 'SIGKILL', `Clove was not killed by the test: ${JSON.stringify(round.exit)}`);
      if (backend === 'sqlite') assert.equal(round.crashIntegrity, 'ok', 'PRAGMA integrity_check of the files the crash left');
      const l = r.losses[k];
      assert.equal(
        l.lostOld.length,
        0,
        `${l.lostOld.length} of ${l.completed} completed responses lost although they completed > ${GRACE_MS} ms before the kill (oldest ${Math.max(...l.lostOld.map((x) => round.tKill - x.tEnd))} ms before it), e.g. ${JSON.stringify(l.lostOld.slice(0, 3).map((x) => x.rid))}`,
      );
    }, opts);
  }

  if (backend === 'sqlite') {
    row.check(name('after the restarts: PRAGMA integrity_check = ok'), async () => {
      const r = await runs[backend]();
      assert.equal(r.integrity, 'ok');
    }, opts);
  }

  row.check(name('0 duplicate request_ids after the restarts'), async () => {
    const r = await runs[backend]();
    assertNoDuplicateIds(r.rows);
  }, opts);

  row.check(name('budgets recomputed from rows = the counters (usage summary by key, each key\'s usage)'), async () => {
    const r = await runs[backend]();
    assertCountersMatchRows(r.rows, r.final.counters);
  }, opts);

  row.check(name('rows without a seen response ≤ requests in flight at the kills'), async () => {
    const r = await runs[backend]();
    const inFlight = r.rounds.reduce((a, x) => a + x.inFlightOrFailed, 0);
    assert.ok(r.extra.length <= inFlight, `${r.extra.length} rows match no response the clients saw (in flight at the kills: ${inFlight}), e.g. ${JSON.stringify(r.extra.slice(0, 3))}`);
  }, opts);

  row.check(name(`restart after the crash(es) serves, and SIGTERM flushes: ${FINAL_REQUESTS}/${FINAL_REQUESTS} rows`), async () => {
    const r = await runs[backend]();
    const s = loadSummary(r.final.results);
    assert.equal(s.ok, FINAL_REQUESTS, `final run failures: ${JSON.stringify(s.byError)}`);
    assert.deepEqual(r.final.exit, { code: 0, signal: null });
    const ids = new Set(r.rows.map((x) => x.request_id));
    const missing = r.final.results.filter((x) => !ids.has(x.rid));
    assert.equal(missing.length, 0, `${missing.length} rows of the final run missing`);
  }, opts);
});
