// Row 15 — config churn under load and the budget race (chaos scenarios C13, C14).
//
// C13: 64 closed-loop clients (1 in 8 streamed) send requests with one key for 10 s while the
//      test makes admin writes at 50/s (3 writers sharing one 20 ms schedule): PATCH a setting,
//      PATCH the upstream's weight, create client keys, change their limits, disable/enable and
//      delete them. Every ~0.7 s a revocation probe creates a key, uses it (200), disables it
//      and then sends requests with it until one is rejected. Pass lines: 0 failed data-plane
//      requests (status 200 and a complete body, for the load and for each probe's first
//      request); every admin write answered 2xx; every disabled key rejected (401) ≤ 1 s after
//      the admin call returned, and never accepted again; achieved admin rate reported (≥ 25/s
//      required so the churn is real).
// C14: 50 concurrent requests (half streamed) on a key whose daily_budget_usd fits 5 requests'
//      reservations (max_tokens at the model's output price + the body as input; prices from
//      GET /admin/api/prices; the fake's output equals max_tokens and it reports no cache):
//      admitted ≤ 5; the others 402 billing_error with x-clove-limit: daily_budget_usd; the
//      settled spend (usage records) ≤ budget + one request's max cost.

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, get, seededUpstream, describeRes } from '../admin/_admin.mjs';
import { CLIENT_KEY } from '../lib/clove.mjs';
import { createKey, messagesBody, pickPrice, budgetPlan, errorOf, sleep, now } from '../lib/routing.mjs';
import { makeRow, isAlive } from './_lib.mjs';

const row = makeRow('row 15 (config churn and budget race)');
const CLIENTS = 64;
const CHURN_MS = Number(process.env.CLOVE_CHURN_MS || 10000);
const ADMIN_RATE = 50; // writes per second
const REVOKE_WITHIN_MS = 1000;

// startEnv wants a test context for its cleanup; the scenarios run in before(), so collect them here
const cleanups = [];
const shim = { after: (fn) => cleanups.push(fn) };
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

function send(url, key, { stream = false, scenario, body } = {}) {
  const headers = { 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
  if (scenario) headers['x-fake-scenario'] = scenario;
  return callRaw(url, key, body ?? messagesBody({ stream }), headers).then((r) => ({ ...r, stream }));
}
let callRaw; // set in before() (the env's raw caller)

function complete(r) {
  if (r.error || r.status !== 200) return false;
  if (r.stream) return /event: message_stop\r?\n/.test(r.text);
  return r.json && r.json.type === 'message';
}

// ---------------------------------------------------------------------------------------------
// C13

let c13 = null;
let c13Error = null;
let c14 = null;
let c14Error = null;

async function runC13() {
  const env = await startEnv(shim, 'sqlite');
  callRaw = (url, key, body, headers) => env.raw('POST', '/v1/messages', body, { key, headers, timeoutMs: 30000 });
  const up = await seededUpstream(env);
  const seedKeys = []; // changed by the churn, never deleted
  for (let i = 0; i < 10; i++) seedKeys.push((await createKey(env, { name: `churn-seed-${i}` })).id);
  const churnKeys = []; // created by the churn, deleted again

  const tEnd = now() + CHURN_MS;
  // data plane
  const load = { ok: 0, failed: 0, failures: [] };
  async function client(c) {
    let n = 0;
    while (now() < tEnd) {
      const stream = (c + n++) % 8 === 0;
      let r;
      try {
        // ratelimit:none: the fake's anthropic-ratelimit-requests-remaining counts down from 4000
        // per response; at 0 Clove rightly treats the credential as rate-limited until the reset
        r = await send(env.url, CLIENT_KEY, { stream, scenario: 'ratelimit:none' });
      } catch (err) {
        r = { error: err, stream };
      }
      if (complete(r)) load.ok++;
      else {
        load.failed++;
        if (load.failures.length < 10) load.failures.push(`${r.status ?? r.error?.message} ${String(r.text ?? '').slice(0, 200)}`);
      }
    }
  }

  // admin churn: slot i due at t0 + i × 20 ms, 3 writers
  const adm = { ok: 0, failed: 0, failures: [], byOp: {} };
  let slot = 0;
  const t0 = now();
  const ops = [
    (i) => env.api('PATCH', '/settings', { usage_retention_days: 90 + (i % 2) }),
    (i) => env.api('PATCH', `/upstreams/${up.id}`, { weight: 1 + (i % 5) }),
    async (i) => {
      const r = await env.api('POST', '/keys', { name: `churn-${i}`, limits: { rpm: 100000 } });
      if (r.status === 201) churnKeys.push(r.json.id);
      return r;
    },
    (i) => env.api('PATCH', `/keys/${seedKeys[i % seedKeys.length]}`, { limits: { rpm: 1000 + i, concurrency: 10 + (i % 7) } }),
    (i) => env.api('PATCH', `/keys/${seedKeys[(i * 7) % seedKeys.length]}`, { enabled: i % 2 === 0 }),
    async () => {
      // delete the oldest key the churn created
      if (!churnKeys.length) return env.api('PATCH', '/settings', { usage_retention_days: 90 });
      return env.api('DELETE', `/keys/${churnKeys.shift()}`);
    },
  ];
  async function writer() {
    while (now() < tEnd) {
      const i = slot++;
      const due = t0 + i * (1000 / ADMIN_RATE) - now();
      if (due > 0) await sleep(due);
      if (now() >= tEnd) break;
      const op = i % ops.length;
      let r;
      try {
        r = await ops[op](i);
      } catch (err) {
        r = { status: null, text: String(err) };
      }
      adm.byOp[op] = (adm.byOp[op] || 0) + 1;
      if (r.status >= 200 && r.status < 300) adm.ok++;
      else {
        adm.failed++;
        if (adm.failures.length < 10) adm.failures.push(`op ${op}: ${r.status} ${String(r.text).slice(0, 200)}`);
      }
    }
  }

  // revocation probes
  const probes = [];
  async function revoker() {
    let n = 0;
    while (now() < tEnd - 1500) {
      const p = { n: n++, firstOk: null, rejectMs: null, acceptedAfterReject: 0, statuses: [] };
      probes.push(p);
      const k = await createKey(env, { name: `revoke-${p.n}` });
      const first = await send(env.url, k.key);
      p.firstOk = complete(first) ? true : `${first.status} ${String(first.text).slice(0, 200)}`;
      const d = await env.api('PATCH', `/keys/${k.id}`, { enabled: false });
      assert.equal(d.status, 200, describeRes(d));
      const tRet = now();
      let rejectedAt = null;
      while (now() - tRet < REVOKE_WITHIN_MS + 500) {
        const r = await send(env.url, k.key);
        p.statuses.push(r.status);
        if (r.status === 401) {
          if (rejectedAt === null) rejectedAt = now() - tRet;
          if (p.statuses.filter((s) => s === 401).length >= 3) break;
        } else if (rejectedAt !== null) p.acceptedAfterReject++;
      }
      p.rejectMs = rejectedAt;
      await sleep(500);
    }
  }

  const tStart = now();
  await Promise.all([
    ...Array.from({ length: CLIENTS }, (_, c) => client(c)),
    writer(),
    writer(),
    writer(),
    revoker(),
  ]);
  const elapsed = (now() - tStart) / 1000;
  const summary = {
    seconds: +elapsed.toFixed(1),
    dataPlane: { ok: load.ok, failed: load.failed, rps: Math.round((load.ok + load.failed) / elapsed) },
    admin: { ok: adm.ok, failed: adm.failed, ratePerS: +((adm.ok + adm.failed) / elapsed).toFixed(1), byOp: adm.byOp },
    revocations: probes.length,
    rejectMs: probes.map((p) => (p.rejectMs === null ? null : Math.round(p.rejectMs))),
  };
  console.log(`row 15 measurements: ${JSON.stringify(summary)}`);
  return { env, load, adm, probes, summary, elapsed };
}

// ---------------------------------------------------------------------------------------------
// C14

async function runC14() {
  const env = await startEnv(shim, 'sqlite');
  const prices = (await get(env, '/prices')).data;
  const price = pickPrice(prices, 'claude-sonnet-4-5');
  assert.ok(price, 'no price for claude-sonnet-4-5');
  const plan = budgetPlan(price, { fit: 5, maxTokens: 1000, text: 'budget race C14' });
  const k = await createKey(env, { name: 'race', limits: { daily_budget_usd: plan.budget } });
  const before = env.fake.requestsTo('/v1/messages').length;
  const rs = await Promise.all(
    Array.from({ length: 50 }, (_, i) => {
      const stream = i % 2 === 1;
      const headers = { 'anthropic-version': '2023-06-01', 'content-type': 'application/json', 'x-fake-scenario': `${plan.scenario},slow:200` };
      return env.raw('POST', '/v1/messages', plan.body(stream), { key: k.key, headers, timeoutMs: 30000 }).then((r) => ({ ...r, stream }));
    }),
  );
  const admitted = rs.filter((r) => r.status === 200);
  const rejected = rs.filter((r) => r.status === 402);
  const upstream = env.fake.requestsTo('/v1/messages').length - before;
  const deadlineAt = Date.now() + 5000;
  let recs = [];
  for (;;) {
    const r = await env.api('GET', `/usage/requests?limit=1000&key_id=${k.id}&status=200`);
    recs = r.json?.data ?? [];
    if (recs.length >= admitted.length || Date.now() > deadlineAt) break;
    await sleep(100);
  }
  const spend = recs.reduce((a, x) => a + x.cost_usd, 0);
  const summary = {
    budgetUsd: +plan.budget.toFixed(6),
    maxCostPerRequestUsd: +plan.maxCost.toFixed(6),
    admitted: admitted.length,
    admittedStreams: admitted.filter((r) => r.stream).length,
    rejected402: rejected.length,
    other: rs.length - admitted.length - rejected.length,
    upstreamRequests: upstream,
    usageRecords: recs.length,
    spendUsd: +spend.toFixed(6),
  };
  console.log(`row 15 measurements: ${JSON.stringify(summary)}`);
  return { env, plan, rs, admitted, rejected, upstream, recs, spend, summary };
}

before(async () => {
  try {
    c13 = await runC13();
  } catch (err) {
    c13Error = err;
  }
  try {
    c14 = await runC14();
  } catch (err) {
    c14Error = err;
  }
});

function need13() {
  if (c13Error) throw c13Error;
  assert.ok(c13, 'C13 did not run');
  return c13;
}
function need14() {
  if (c14Error) throw c14Error;
  assert.ok(c14, 'C14 did not run');
  return c14;
}

row.check(`C13: 0 failed data-plane requests from ${CLIENTS} clients during ${CHURN_MS / 1000} s of admin churn`, () => {
  const r = need13();
  assert.ok(r.load.ok > 0, 'no requests completed');
  assert.equal(r.load.failed, 0, `failed: ${r.load.failures.join(' | ')}`);
  const firstBad = r.probes.filter((p) => p.firstOk !== true).map((p) => `probe ${p.n}: ${p.firstOk}`);
  assert.deepEqual(firstBad, [], 'a key created during the churn works on its first request');
});

row.check(`C13: admin writes at ≈ ${ADMIN_RATE}/s all answered 2xx`, () => {
  const r = need13();
  assert.equal(r.adm.failed, 0, r.adm.failures.join(' | '));
  assert.ok(r.summary.admin.ratePerS >= 25, `achieved only ${r.summary.admin.ratePerS} admin writes/s`);
});

row.check(`C13: a disabled key is rejected ≤ ${REVOKE_WITHIN_MS} ms after the admin call returned, and stays rejected`, () => {
  const r = need13();
  assert.ok(r.probes.length >= Math.max(2, Math.floor(CHURN_MS / 2000)), `only ${r.probes.length} revocation probes`);
  const bad = r.probes
    .filter((p) => p.rejectMs === null || p.rejectMs > REVOKE_WITHIN_MS || p.acceptedAfterReject > 0)
    .map((p) => `probe ${p.n}: rejected after ${p.rejectMs} ms, statuses ${p.statuses.join(',')}`);
  assert.deepEqual(bad, []);
});

row.check('C13: Clove alive after the churn', () => {
  const r = need13();
  assert.ok(isAlive(r.env.clove.pid) && r.env.clove.exitInfo === null);
});

row.check('C14: 50 concurrent requests on a budget for 5 → admitted ≤ 5, the rest 402 billing_error (x-clove-limit: daily_budget_usd)', () => {
  const r = need14();
  assert.ok(r.admitted.length >= 1 && r.admitted.length <= 5, JSON.stringify(r.summary));
  assert.equal(r.admitted.length + r.rejected.length, 50, JSON.stringify(r.summary));
  assert.equal(r.upstream, r.admitted.length, 'only admitted requests reach the upstream');
  for (const a of r.admitted) assert.ok(complete(a), `admitted request incomplete: ${String(a.text).slice(0, 200)}`);
  const bad = r.rejected
    .filter((x) => errorOf(x)?.type !== 'billing_error' || x.headers['x-clove-limit'] !== 'daily_budget_usd')
    .map((x) => `${x.headers['x-clove-limit']} ${x.text}`);
  assert.deepEqual(bad.slice(0, 3), []);
});

row.check("C14: settled spend ≤ budget + one request's max cost", () => {
  const r = need14();
  assert.equal(r.recs.length, r.admitted.length, 'one usage record per admitted request');
  assert.ok(r.spend <= r.plan.budget + r.plan.maxCost + 1e-9, JSON.stringify(r.summary));
});
