// Row 14 (PostgreSQL half) — the database goes away under load (chaos scenario C10).
//
// Clove runs on a private PostgreSQL cluster (tests/lib/pg.mjs startPg(), never a shared one)
// with the mixed JSON/SSE load of tests/lib/usage.mjs (16 connections, two keys). Two outages of
// CLOVE_PG_OUTAGE_MS (default 8000 ms), one after the other on the same Clove:
//   1. `pg_ctl stop -m fast` (sessions cut, connections refused), then `pg_ctl start`;
//   2. SIGSTOP of the postmaster and each of its children (backends, checkpointer, ...: the server
//      hangs, TCP connects still complete into the backlog), then SIGCONT.
// Pass line for each:
//   * data plane: ≥ 99 % of the requests with known keys succeed, during the outage and overall;
//   * admin API: GET /admin/api/usage/requests and POST /admin/api/keys answer 503 api_error, and
//     GET /admin/api/status answers (200 or 503), each within 2.5 s — never a hang;
//   * after recovery the admin API answers 200 again within 10 s, and every request has exactly one
//     usage row (spooled records replayed) within 15 s: row count exact, 0 duplicates, 0 missing;
//   * the counters (usage summary by key, each key's usage) then equal the sums of the rows;
//   * while it is down, records reach DIR/usage-spool.* (a non-empty file is seen before the
//     database comes back), not only memory.
// The admin API must answer 200 before the outages; GET /admin/api/status while down is printed.
// Finally SIGTERM: exit 0 and the row set is still exact.

import { after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startFakeUpstream } from '../fake_upstream/server.mjs';
import { makeDataDir, removeDataDir } from '../lib/clove.mjs';
import {
  startUsageClove,
  startUsageLoad,
  loadSummary,
  usageRows,
  usageCount,
  pgDb,
  admin,
  keyIdsByName,
  adminCounters,
  settle,
  usageSkipReason,
  assertNoDuplicateIds,
  assertCountersMatchRows,
} from '../lib/usage.mjs';
import { makeRow, sleep, waitFor, signalProcessTree, signalPids } from './_lib.mjs';

const row = makeRow('row 14 (Postgres down)');
// long enough for a writer that needs a few seconds (e.g. a 5 s connect timeout) to notice a hang
const OUTAGE_MS = Number(process.env.CLOVE_PG_OUTAGE_MS || 8000);
const CONCURRENCY = 16;
const ADMIN_DEADLINE_MS = 2500;
const PROBE_TIMEOUT_MS = 5000; // an admin call still unanswered then counts as a hang
const ADMIN_BACK_MS = 10000;
const REPLAY_MS = 15000;
const MIN_SUCCESS = 0.99;
const SKIP = usageSkipReason('pg');

let fake = null;
let pg = null;
let clove = null;
let dataDir = null;
let stoppedPids = null; // SIGSTOPped postmaster + backends, continued on any exit path
const cont = () => {
  if (stoppedPids) {
    signalPids(stoppedPids, 'SIGCONT');
    stoppedPids = null;
  }
};
process.on('exit', cont);

after(async () => {
  cont();
  if (clove) await clove.stop('SIGKILL', 2000);
  if (fake) await fake.close();
  if (pg) await pg.stop();
  removeDataDir(dataDir);
});

/** Non-empty DIR/usage-spool.* files. */
function spoolFiles() {
  try {
    return fs.readdirSync(dataDir).filter((f) => f.startsWith('usage-spool') && fs.statSync(`${dataDir}/${f}`).size > 0);
  } catch {
    return [];
  }
}

/**
 * While the database is down: a batch of admin probes every second (not awaited, so a hanging
 * call neither delays the next batch nor the recovery; no batch starts later than
 * ADMIN_DEADLINE_MS before untilMs, so each probe's deadline lies inside the outage), and the
 * data directory sampled every 100 ms for a non-empty usage-spool.* file. Resolves at untilMs to
 * {probes: Promise of the probe results, spool: [file names], firstSpoolMs (after the call)}.
 */
async function probeWhileDown(untilMs, kind) {
  const pending = [];
  const spool = new Set();
  const t0 = Date.now();
  let firstSpoolMs = null;
  const sampler = setInterval(() => {
    const files = spoolFiles();
    if (files.length && firstSpoolMs === null) firstSpoolMs = Date.now() - t0;
    for (const f of files) spool.add(f);
  }, 100);
  for (let n = 1; Date.now() < untilMs - ADMIN_DEADLINE_MS - 100; n++) {
    const o = { timeoutMs: PROBE_TIMEOUT_MS };
    pending.push(
      admin(clove.url, 'GET', '/admin/api/usage/requests?limit=1', o).then((r) => ({ what: 'GET usage/requests', ...r })),
      admin(clove.url, 'POST', '/admin/api/keys', { ...o, body: { name: `outage-${kind}-${n}` } }).then((r) => ({ what: 'POST keys', ...r })),
      admin(clove.url, 'GET', '/admin/api/status', o).then((r) => ({ what: 'GET status', ...r })),
    );
    await sleep(1000);
  }
  await sleep(Math.max(0, untilMs - Date.now()));
  clearInterval(sampler);
  return { probes: Promise.all(pending), spool: [...spool], firstSpoolMs };
}

async function outage(kind, phase, expectedIds) {
  const db = pgDb(clove.databaseUrl);
  fake.reset(); // the fake keeps every request it saw; only counts matter here
  const load = startUsageLoad(clove.url, { concurrency: CONCURRENCY, paceMs: 2, firstIndex: (phase + 1) * 1_000_000 });
  await sleep(1000);
  const tDown = Date.now();
  let stoppedCount = 0;
  if (kind === 'stop') {
    const { pgCtl } = await import('../lib/pg.mjs');
    await pgCtl(pg, 'stop', { mode: 'fast' });
  } else {
    stoppedPids = signalProcessTree(pg.pid, 'SIGSTOP');
    stoppedCount = stoppedPids.length;
  }
  const tDownDone = Date.now();
  let probe;
  try {
    await sleep(300);
    probe = await probeWhileDown(tDown + OUTAGE_MS, kind);
    probe.firstSpoolMs = probe.firstSpoolMs === null ? null : probe.firstSpoolMs + 300 + (tDownDone - tDown);
  } finally {
    if (kind === 'stop') {
      const { pgCtl } = await import('../lib/pg.mjs');
      await pgCtl(pg, 'start');
    } else cont();
  }
  const tUp = Date.now();
  // polled from the moment the database is back, while the load goes on
  const backP = waitFor(
    async () => {
      const r = await admin(clove.url, 'GET', '/admin/api/usage/requests?limit=1', { timeoutMs: 3000 });
      return r.status === 200 ? { ms: Date.now() - tUp } : null;
    },
    ADMIN_BACK_MS,
    200,
  );
  probe.probes = await probe.probes;
  probe.seenStatus = probe.probes.filter((p) => p.what === 'GET status' && p.json).map((p) => p.json);
  await sleep(Math.max(0, tUp + 1500 - Date.now()));
  load.stop();
  const results = await load.done;

  const adminBackMs = (await backP)?.ms ?? null;

  for (const r of results) if (r.rid) expectedIds.add(r.rid);
  let lastCount = null;
  const replayed = await waitFor(async () => {
    lastCount = await usageCount(db).catch(() => null);
    return lastCount !== null && lastCount >= expectedIds.size;
  }, Math.max(tUp + REPLAY_MS - Date.now(), 2000), 250);
  const replayMs = replayed ? Date.now() - tUp : null;
  await sleep(500); // a late duplicate would show up now
  const rows = await usageRows(db);
  const status = await admin(clove.url, 'GET', '/admin/api/status');
  const counters = await settle(adminCounters(clove.url));

  const during = results.filter((r) => r.tStart >= tDown && r.tStart <= tUp);
  const summary = {
    kind,
    outageMs: tUp - tDown,
    stopTookMs: tDownDone - tDown,
    stoppedProcesses: kind === 'sigstop' ? stoppedCount : undefined,
    load: loadSummary(results),
    duringOutage: loadSummary(during),
    probes: probe.probes.map((p) => `${p.what}: ${p.status ?? p.error} in ${p.ms} ms`),
    statusWhileDown: probe.seenStatus.slice(-1)[0] ?? null,
    spoolFilesSeen: probe.spool,
    spoolAfterMs: probe.firstSpoolMs,
    adminBackMs,
    replayMs,
    rows: rows.length,
    expected: expectedIds.size,
    statusAfter: status.json,
  };
  console.log(`row 14 [${kind}] ${JSON.stringify(summary)}`);
  return { kind, results, during, probe, adminBackMs, replayMs, rows, lastCount, counters, expected: new Set(expectedIds), summary };
}

async function scenario() {
  const pgLib = await import('../lib/pg.mjs');
  fake = await startFakeUpstream();
  pg = await pgLib.startPg({ prefix: 'clove-pg-outage-' });
  const databaseUrl = await pgLib.freshDatabase(pg);
  dataDir = makeDataDir('clove-pg-outage-');
  clove = await startUsageClove({ fakeUrl: fake.url, dataDir, databaseUrl });
  clove.databaseUrl = databaseUrl;
  const keysAtStart = await settle(keyIdsByName(clove.url)); // the admin API works before the outage
  const expectedIds = new Set();
  const warm = await startUsageLoad(clove.url, { total: 50, concurrency: 4 }).done;
  for (const r of warm) if (r.rid) expectedIds.add(r.rid);
  const phases = [];
  phases.push(await outage('stop', 0, expectedIds));
  phases.push(await outage('sigstop', 1, expectedIds));
  const exit = await clove.stop('SIGTERM', 30000);
  const finalRows = await usageRows(pgDb(databaseUrl));
  return { warm, keysAtStart, phases, exit, finalRows, expectedIds };
}

row.check('admin API answers 200 before the outages (GET /admin/api/keys)', async () => {
  const r = await run();
  assert.ok(!r.keysAtStart.error, r.keysAtStart.error);
}, SKIP ? { skip: SKIP } : {});

let runP = null;
const run = () => (runP ||= scenario());
const opts = SKIP ? { skip: SKIP } : {};

for (const [phase, label] of [
  [0, 'pg_ctl stop -m fast'],
  [1, 'SIGSTOP of postmaster and backends'],
]) {
  const name = (s) => `[${label}] ${s}`;

  row.check(name(`data plane ≥ ${MIN_SUCCESS * 100} % success during the ${OUTAGE_MS} ms outage and overall`), async () => {
    const p = (await run()).phases[phase];
    const all = loadSummary(p.results);
    const during = loadSummary(p.during);
    assert.ok(during.total > 0, 'no request was sent during the outage');
    assert.ok(during.ok / during.total >= MIN_SUCCESS, `during the outage ${during.ok}/${during.total} succeeded: ${JSON.stringify(during.byError)}`);
    assert.ok(all.ok / all.total >= MIN_SUCCESS, `overall ${all.ok}/${all.total} succeeded: ${JSON.stringify(all.byError)}`);
  }, opts);

  row.check(name(`admin API answers within ${ADMIN_DEADLINE_MS} ms while the database is down (no hang)`), async () => {
    const p = (await run()).phases[phase];
    assert.ok(p.probe.probes.length > 0, 'no probe ran');
    const slow = p.probe.probes.filter((x) => x.status === null || x.ms > ADMIN_DEADLINE_MS);
    assert.equal(slow.length, 0, `slow or unanswered: ${slow.map((x) => `${x.what}: ${x.status ?? x.error} in ${x.ms} ms`).join('; ')}`);
  }, opts);

  row.check(name('usage read and key creation answer 503 api_error while the database is down'), async () => {
    const p = (await run()).phases[phase];
    const bad = p.probe.probes
      .filter((x) => x.what !== 'GET status')
      .filter((x) => x.status !== 503 || x.json?.type !== 'error' || x.json?.error?.type !== 'api_error');
    assert.equal(bad.length, 0, `not 503 api_error: ${bad.map((x) => `${x.what}: ${x.status ?? x.error} ${x.text.slice(0, 160)}`).join('; ')}`);
  }, opts);

  row.check(name('records reach the spool (DIR/usage-spool.*) while the database is down'), async () => {
    const p = (await run()).phases[phase];
    assert.ok(p.probe.spool.length > 0, `no non-empty usage-spool.* file in the data directory during the outage (records only in memory?); last status: ${JSON.stringify(p.summary.statusWhileDown)}`);
  }, opts);

  row.check(name(`admin API answers 200 again within ${ADMIN_BACK_MS} ms of recovery`), async () => {
    const p = (await run()).phases[phase];
    assert.ok(p.adminBackMs !== null, `GET /admin/api/usage/requests still not 200 ${ADMIN_BACK_MS} ms after the database came back`);
  }, opts);

  row.check(name(`all records replayed within ${REPLAY_MS} ms: row count exact, 0 duplicates, 0 missing`), async () => {
    const p = (await run()).phases[phase];
    const ids = new Set(p.rows.map((r) => r.request_id));
    const missing = [...p.expected].filter((id) => !ids.has(id));
    const extra = p.rows.filter((r) => !p.expected.has(r.request_id));
    assertNoDuplicateIds(p.rows);
    assert.equal(missing.length, 0, `${missing.length} of ${p.expected.size} requests have no row (count ${p.lastCount}), e.g. ${missing.slice(0, 3)}`);
    assert.equal(extra.length, 0, `${extra.length} rows match no response, e.g. ${JSON.stringify(extra.slice(0, 3))}`);
    assert.ok(p.replayMs !== null, 'replay did not complete in time');
  }, opts);

  row.check(name('after the replay: usage summary by key and each key\'s usage = Σ rows (no double count)'), async () => {
    const p = (await run()).phases[phase];
    assertCountersMatchRows(p.rows, p.counters);
  }, opts);
}

row.check('SIGTERM after both outages: exit 0, and the row set is exact', async () => {
  const r = await run();
  assert.deepEqual(r.exit, { code: 0, signal: null });
  assertNoDuplicateIds(r.finalRows);
  assert.equal(r.finalRows.length, r.expectedIds.size, `rows ${r.finalRows.length}, responses ${r.expectedIds.size}`);
}, opts);
