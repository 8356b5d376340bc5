// Row 6 — upstream error storm (chaos scenario C1).
//
// A failing upstream (tests/lib/routing.mjs startErrorUpstream: every request answered with 429 +
// retry-after, 529 or 500 in Anthropic error JSON, each answer remembered by its request-id) and
// a healthy one (the in-process fake upstream). The x-fake-scenario header reaches every
// upstream, so the failing one is a separate little server rather than a fake scenario.
// Pass lines:
//   * with a healthy 2nd upstream (the failing one preferred: priority 10 vs 0), storms of 429
//     (retry-after: 1), 529 and 500 — 200 requests each, 1 in 4 streamed, paced at one per 15 ms
//     (≈ 3 s) with at most 16 in flight: ≥ 99.5 % client success and upstream attempts (both
//     upstreams) ≤ 1.2 × client requests;
//   * the failing upstream is in cooldown after ≤ 1 error for a 429 with retry-after (state
//     cooling_down until ≈ now + retry-after, valid again by itself afterwards), and after
//     failure_threshold (3) consecutive 529s;
//   * single upstream: 100 requests per storm (concurrency 8). 529 / 500: every client gets the
//     upstream's status, error type, body (byte for byte) and request-id; exactly one upstream
//     attempt per client request. 429 with retry-after: 7: the first answers are the upstream's
//     own (body byte-faithful, retry-after 7); once the credential cools, Clove answers 429
//     rate_limit_error itself with a retry-after (1..7 s); upstream attempts ≤ 1.2 × requests.

import assert from 'node:assert/strict';
import { startEnv, get } from '../admin/_admin.mjs';
import { defaultConfig, UPSTREAM_KEY } from '../lib/clove.mjs';
import { startErrorUpstream, runPool, messagesBody, errorOf, sleep, now } from '../lib/routing.mjs';
import { makeRow, isAlive } from './_lib.mjs';

const row = makeRow('row 6 (upstream error storm)');
const STORM_REQUESTS = Number(process.env.CLOVE_STORM_REQUESTS || 200);
const STORM_CONCURRENCY = 16;
const STORM_INTERVAL_MS = 15;
const SINGLE_REQUESTS = 100;
const MIN_SUCCESS = 0.995;
const MAX_AMPLIFICATION = 1.2;

function send(env, i, { stream = false } = {}) {
  const headers = { 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
  const t0 = now();
  return env
    .raw('POST', '/v1/messages', messagesBody({ stream, text: `storm ${i}` }), { key: 'ck-alice-123', headers, timeoutMs: 30000 })
    .then((r) => ({ ...r, stream, latency: now() - t0 }));
}

/** A 200 whose body is complete (JSON message, or SSE ending in message_stop). */
function succeeded(r) {
  if (r.error || r.status !== 200) return false;
  if (r.stream) return /event: message_stop\r?\n/.test(r.text) && !/event: error\r?\n/.test(r.text);
  return r.json && r.json.type === 'message';
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]) : null;
};

/** Env whose seeded upstream "flaky" is `failing` (priority 10), plus "healthy" (the fake, priority 0). */
async function twoUpstreams(t, failing) {
  const env = await startEnv(t, 'sqlite', { config: defaultConfig(failing.url, { upstream: { name: 'flaky' } }) });
  const ups = (await get(env, '/upstreams')).data;
  const flaky = ups.find((u) => u.name === 'flaky');
  assert.ok(flaky, JSON.stringify(ups));
  const p = await env.api('PATCH', `/upstreams/${flaky.id}`, { priority: 10 });
  assert.equal(p.status, 200, p.text);
  const h = await env.api('POST', '/upstreams', {
    name: 'healthy',
    base_url: env.fake.url,
    models: ['claude-*'],
    priority: 0,
    credentials: [UPSTREAM_KEY],
  });
  assert.equal(h.status, 201, h.text);
  return { env, flaky, healthy: h.json };
}

async function credentialsOf(env, upstreamId) {
  return (await get(env, `/upstreams/${upstreamId}/credentials`)).data;
}

// ---------------------------------------------------------------------------------------------
// Storms with failover.

for (const [label, mode] of [
  ['429 retry-after: 1', { status: 429, retryAfter: '1' }],
  ['529', { status: 529 }],
  ['500', { status: 500 }],
]) {
  row.check(`failover, ${label} storm: ≥ 99.5 % success over ${STORM_REQUESTS} requests, attempts ≤ ${MAX_AMPLIFICATION} × requests`, async (t) => {
    const failing = await startErrorUpstream(mode);
    t.after(() => failing.close());
    const { env } = await twoUpstreams(t, failing);
    const healthyBefore = env.fake.requestsTo('/v1/messages').length;
    const t0 = now();
    const rs = await runPool(STORM_REQUESTS, STORM_CONCURRENCY, (i) => send(env, i, { stream: i % 4 === 3 }), {
      intervalMs: STORM_INTERVAL_MS,
    });
    const wall = now() - t0;
    const ok = rs.filter(succeeded);
    const attempts = failing.messagesHits + env.fake.requestsTo('/v1/messages').length - healthyBefore;
    const statuses = rs.reduce((m, r) => ((m[r.status ?? String(r.error)] = (m[r.status ?? String(r.error)] || 0) + 1), m), {});
    const m = {
      storm: label,
      requests: STORM_REQUESTS,
      success: ok.length,
      successRate: +(ok.length / STORM_REQUESTS).toFixed(4),
      statuses,
      attempts,
      failingAttempts: failing.messagesHits,
      amplification: +(attempts / STORM_REQUESTS).toFixed(3),
      latencyMs: { p50: pct(rs.map((r) => r.latency ?? 0), 0.5), p99: pct(rs.map((r) => r.latency ?? 0), 0.99) },
      wallMs: Math.round(wall),
    };
    console.log(`row 6 measurements: ${JSON.stringify(m)}`);
    const bad = rs.filter((r) => !succeeded(r)).slice(0, 3).map((r) => `${r.status} ${String(r.text ?? r.error).slice(0, 200)}`);
    assert.ok(ok.length / STORM_REQUESTS >= MIN_SUCCESS, `success ${ok.length}/${STORM_REQUESTS}: ${bad.join(' | ')}`);
    assert.ok(attempts <= MAX_AMPLIFICATION * STORM_REQUESTS, `upstream attempts ${attempts} > ${MAX_AMPLIFICATION} × ${STORM_REQUESTS}`);
    assert.ok(isAlive(env.clove.pid), 'Clove alive');
  });
}

row.check('429 with retry-after: 2 → the failing credential cools after 1 error, until ≈ retry-after, then is valid again by itself', async (t) => {
  const failing = await startErrorUpstream({ status: 429, retryAfter: '2' });
  t.after(() => failing.close());
  const { env, flaky } = await twoUpstreams(t, failing);
  const tFirst = Date.now();
  for (let i = 0; i < 10; i++) {
    const r = await send(env, i);
    assert.ok(succeeded(r), `request ${i}: ${r.status} ${r.text}`);
  }
  assert.equal(failing.messagesHits, 1, `the cooling credential was tried ${failing.messagesHits} times in 10 requests`);
  const [cred] = await credentialsOf(env, flaky.id);
  assert.equal(cred.state, 'cooling_down', JSON.stringify(cred));
  const until = Date.parse(cred.cooldown_until);
  assert.ok(until >= tFirst + 1000 && until <= Date.now() + 2500, `cooldown_until ${cred.cooldown_until} not ≈ now + 2 s`);
  await sleep(Math.max(0, until - Date.now()) + 400);
  const [again] = await credentialsOf(env, flaky.id);
  assert.equal(again.state, 'valid', `back to valid by itself after the retry-after: ${JSON.stringify(again)}`);
  const r = await send(env, 99);
  assert.ok(succeeded(r));
  assert.equal(failing.messagesHits, 2, 'the preferred upstream is tried again after its cooldown');
});

row.check('529 × failure_threshold (3) consecutive → the failing credential cools; the next requests skip it', async (t) => {
  const failing = await startErrorUpstream({ status: 529 });
  t.after(() => failing.close());
  const { env, flaky } = await twoUpstreams(t, failing);
  for (let i = 0; i < 10; i++) {
    const r = await send(env, i);
    assert.ok(succeeded(r), `request ${i}: ${r.status} ${r.text}`);
  }
  assert.equal(failing.messagesHits, 3, `attempts on the failing upstream in 10 sequential requests: ${failing.messagesHits}`);
  const [cred] = await credentialsOf(env, flaky.id);
  assert.equal(cred.state, 'cooling_down', JSON.stringify(cred));
  assert.ok(cred.counters && cred.counters.failures >= 3, `counters: ${JSON.stringify(cred.counters)}`);
});

// ---------------------------------------------------------------------------------------------
// Single upstream: faithful relay.

for (const [label, mode] of [
  ['529', { status: 529 }],
  ['500', { status: 500 }],
]) {
  row.check(`single upstream, ${label} storm: status, type, body and request-id faithful; one attempt per request`, async (t) => {
    const failing = await startErrorUpstream(mode);
    t.after(() => failing.close());
    const env = await startEnv(t, 'sqlite', { config: defaultConfig(failing.url) });
    const rs = await runPool(SINGLE_REQUESTS, 8, (i) => send(env, i, { stream: i % 4 === 3 }), { intervalMs: 5 });
    const problems = [];
    for (const r of rs) {
      const sent = failing.responses.get(r.headers?.['request-id']);
      if (!sent) problems.push(`${r.status}: request-id ${r.headers?.['request-id']} is not one the upstream sent: ${String(r.text).slice(0, 200)}`);
      else {
        if (r.status !== sent.status) problems.push(`status ${r.status}, upstream ${sent.status}`);
        if (r.text !== sent.body) problems.push(`body differs: ${r.text} vs ${sent.body}`);
        if (!/^application\/json/.test(r.headers['content-type'] ?? '')) problems.push(`content-type ${r.headers['content-type']}`);
      }
    }
    const m = { storm: `single ${label}`, requests: SINGLE_REQUESTS, upstreamAttempts: failing.messagesHits, faithful: SINGLE_REQUESTS - problems.length };
    console.log(`row 6 measurements: ${JSON.stringify(m)}`);
    assert.deepEqual(problems.slice(0, 5), [], `${problems.length} unfaithful answers`);
    assert.equal(failing.messagesHits, SINGLE_REQUESTS, 'exactly one upstream attempt per client request');
  });
}

row.check('single upstream, 429 (retry-after: 7) storm: every answer 429 rate_limit_error with retry-after; upstream ones byte-faithful', async (t) => {
  const failing = await startErrorUpstream({ status: 429, retryAfter: '7' });
  t.after(() => failing.close());
  const env = await startEnv(t, 'sqlite', { config: defaultConfig(failing.url) });
  const rs = await runPool(SINGLE_REQUESTS, 8, (i) => send(env, i, { stream: i % 4 === 3 }), { intervalMs: 5 });
  const problems = [];
  let relayed = 0;
  let own = 0;
  for (const r of rs) {
    const e = errorOf(r);
    if (r.status !== 429 || !e || e.type !== 'rate_limit_error') {
      problems.push(`status ${r.status} ${String(r.text).slice(0, 200)}`);
      continue;
    }
    const ra = r.headers['retry-after'];
    const sent = failing.responses.get(r.headers['request-id']);
    if (sent) {
      relayed++;
      if (r.text !== sent.body) problems.push(`relayed body differs: ${r.text} vs ${sent.body}`);
      if (ra !== '7') problems.push(`relayed retry-after ${ra}, upstream 7`);
    } else {
      own++;
      if (!/^\d+$/.test(String(ra ?? '')) || Number(ra) < 1 || Number(ra) > 7) problems.push(`Clove's own 429: retry-after ${ra}`);
    }
  }
  console.log(`row 6 measurements: ${JSON.stringify({ storm: 'single 429', requests: SINGLE_REQUESTS, relayed, cloveOwn: own, upstreamAttempts: failing.messagesHits })}`);
  assert.deepEqual(problems.slice(0, 5), [], `${problems.length} problems`);
  assert.ok(relayed >= 1, 'the first 429 is the upstream’s own');
  assert.ok(failing.messagesHits <= MAX_AMPLIFICATION * SINGLE_REQUESTS, `upstream attempts ${failing.messagesHits}`);
});
