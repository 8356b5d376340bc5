// Per-client-key limits (issue 5): rpm, concurrency, tpm / input_tpm / output_tpm, daily and
// monthly budgets and budget_usd, the anthropic-ratelimit-* headers of a limited key, and that
// allowed_models / expiry / disabled keys keep answering 403 / 401 on a key that has limits.
//
// Real binary + in-process fake upstream; keys are created through the admin API with a `limits`
// object (each test its own Clove on a fresh SQLite data dir, tests/admin/_admin.mjs startEnv).
// Rate windows are whole minutes of Clove's clock: window-sensitive tests first make sure the
// current window has >= 12 s left (tests/lib/routing.mjs ensureWindowLeft) and group results by
// the window's reset header so a boundary can never make them flaky.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, get, describeRes } from '../admin/_admin.mjs';
import { anthropicErrorProblems } from '../lib/clove.mjs';
import { request, headerLines } from '../lib/http.mjs';
import {
  createKey,
  messagesBody,
  errorOf,
  ensureWindowLeft,
  windowId,
  resetInMs,
  pickPrice,
  budgetPlan,
  sleep,
} from '../lib/routing.mjs';

const MODEL = 'claude-sonnet-4-5';
const BACKEND = 'sqlite';

/** One data-plane request with a client key. o: {model, stream, scenario, text, maxTokens, body, timeoutMs}. */
function send(env, key, o = {}) {
  const headers = { 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
  if (o.scenario) headers['x-fake-scenario'] = o.scenario;
  const body = o.body ?? messagesBody({ model: o.model ?? MODEL, stream: o.stream, text: o.text, maxTokens: o.maxTokens });
  return env.raw('POST', '/v1/messages', body, { key, headers, timeoutMs: o.timeoutMs ?? 20000 });
}

/** Raw request (lib/http.mjs request: rawHeaders, SSE events, onEvent) with a client key. */
function sendRaw(env, key, o = {}) {
  const headers = { 'anthropic-version': '2023-06-01', 'content-type': 'application/json', 'x-api-key': key };
  if (o.scenario) headers['x-fake-scenario'] = o.scenario;
  return request(`${env.url}/v1/messages`, {
    headers,
    body: messagesBody({ model: o.model ?? MODEL, stream: o.stream, text: o.text, maxTokens: o.maxTokens }),
    onEvent: o.onEvent,
    timeoutMs: o.timeoutMs ?? 20000,
  });
}

const tally = (rs) => rs.reduce((m, r) => ((m[r.status] = (m[r.status] || 0) + 1), m), {});

/** Problems of a limit rejection: status, Anthropic shape, x-clove-limit, retry-after, message. */
function limitProblems(r, { status = 429, type = 'rate_limit_error', limit, messageRe, retryAfter = true, retryMax = 60 }) {
  const p = anthropicErrorProblems(r, status, type);
  if (r.headers['x-clove-limit'] !== limit) p.push(`x-clove-limit ${JSON.stringify(r.headers['x-clove-limit'])}, expected ${limit}`);
  if (retryAfter) {
    const ra = r.headers['retry-after'];
    if (!/^\d+$/.test(String(ra ?? '')) || Number(ra) < 1 || Number(ra) > retryMax) p.push(`retry-after ${JSON.stringify(ra)} (want an integer 1..${retryMax})`);
  }
  const e = errorOf(r);
  if (messageRe && !(e && messageRe.test(e.message))) p.push(`message ${JSON.stringify(e && e.message)} does not match ${messageRe}`);
  return p;
}

async function probeKey(env) {
  return createKey(env, { name: `probe-${Math.random().toString(36).slice(2, 8)}`, limits: { rpm: 100000 } });
}

test('rpm 20, 50 parallel clients: exactly 20 successes per window; the rest 429 rpm with retry-after', async (t) => {
  const env = await startEnv(t, BACKEND);
  const probe = await probeKey(env);
  const k = await createKey(env, { name: 'rpm20', limits: { rpm: 20 } });
  assert.equal(k.limits.rpm, 20, JSON.stringify(k.limits));
  await ensureWindowLeft(env, probe, 12000);
  const before = env.fake.requestsTo('/v1/messages').length;
  const rs = await Promise.all(Array.from({ length: 50 }, () => send(env, k.key)));
  const counts = tally(rs);
  const ok = rs.filter((r) => r.status === 200);
  const limited = rs.filter((r) => r.status === 429);
  assert.equal(ok.length + limited.length, 50, `only 200 and 429 expected: ${JSON.stringify(counts)}`);
  // successes per window (the reset header of each success names its window)
  const perWindow = {};
  for (const r of ok) {
    const w = windowId(r.headers) ?? 'unknown';
    perWindow[w] = (perWindow[w] || 0) + 1;
  }
  for (const [w, n] of Object.entries(perWindow)) assert.ok(n <= 20, `window ${w}: ${n} successes > rpm 20 (${JSON.stringify(perWindow)})`);
  if (Object.keys(perWindow).length === 1) assert.equal(ok.length, 20, `one window: exactly 20 admitted, got ${JSON.stringify(counts)}`);
  assert.equal(env.fake.requestsTo('/v1/messages').length - before, ok.length, 'rejected requests never reach the upstream');
  const problems = [];
  for (const r of limited) {
    const p = limitProblems(r, { limit: 'rpm', messageRe: /\brpm\b/ });
    if (p.length) problems.push(`${p.join('; ')} — ${describeRes(r)}`);
  }
  assert.deepEqual(problems, [], `429s not as specified:\n${problems.slice(0, 5).join('\n')}`);
  // retry-after: seconds until the window resets, consistent with the success's reset header
  const left = resetInMs(ok[0].headers);
  if (left !== null) {
    const ra = Number(limited[0].headers['retry-after']);
    assert.ok(Math.abs(ra * 1000 - left) <= 2500, `retry-after ${ra} s vs window reset in ${left} ms`);
  }
  t.diagnostic(`rpm 20: ${JSON.stringify(counts)}, windows ${JSON.stringify(perWindow)}, retry-after ${limited[0]?.headers['retry-after']}`);
});

test('a key with rpm gets anthropic-ratelimit-requests-* of its own limit (JSON and SSE); a key without limits gets the upstream ones', async (t) => {
  const env = await startEnv(t, BACKEND);
  const probe = await probeKey(env);
  const k = await createKey(env, { name: 'rpm5', limits: { rpm: 5 } });
  await ensureWindowLeft(env, probe, 12000);
  const seen = [];
  for (const stream of [false, true, false]) {
    const r = await sendRaw(env, k.key, { stream });
    assert.equal(r.status, 200, r.text);
    const one = (name) => {
      const lines = headerLines(r.rawHeaders, name);
      assert.equal(lines.length, 1, `${name}: exactly one line expected (stream ${stream}), got ${JSON.stringify(lines)}`);
      return lines[0];
    };
    assert.equal(one('anthropic-ratelimit-requests-limit'), '5', `stream ${stream}: the key's rpm replaces the upstream's 4000`);
    const remaining = Number(one('anthropic-ratelimit-requests-remaining'));
    const reset = one('anthropic-ratelimit-requests-reset');
    const left = resetInMs({ 'anthropic-ratelimit-requests-reset': reset });
    assert.ok(left !== null && left > 0 && left <= 61000, `reset ${reset}: ${left} ms ahead`);
    seen.push(remaining);
  }
  assert.deepEqual(seen, [4, 3, 2], `remaining after 1, 2, 3 requests of 5 (same window): ${JSON.stringify(seen)}`);

  // a key without limits: the upstream's headers are relayed as they are
  const plain = await createKey(env, { name: 'nolimits' });
  const r = await sendRaw(env, plain.key);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(headerLines(r.rawHeaders, 'anthropic-ratelimit-requests-limit'), ['4000']);
});

test('concurrency 3, 10 parallel slow requests: exactly 3 admitted at once, 7 × 429 concurrency (retry-after 1)', async (t) => {
  const env = await startEnv(t, BACKEND);
  const k = await createKey(env, { name: 'conc3', limits: { concurrency: 3 } });
  env.fake.reset();
  const rs = await Promise.all(Array.from({ length: 10 }, () => send(env, k.key, { scenario: 'slow:500' })));
  const counts = tally(rs);
  assert.equal(counts[200], 3, `admitted: ${JSON.stringify(counts)}`);
  assert.equal(counts[429], 7, `rejected: ${JSON.stringify(counts)}`);
  assert.ok(env.fake.stats.max_inflight <= 3, `upstream saw ${env.fake.stats.max_inflight} in flight`);
  assert.equal(env.fake.requestsTo('/v1/messages').length, 3);
  const problems = rs
    .filter((r) => r.status === 429)
    .map((r) => limitProblems(r, { limit: 'concurrency', messageRe: /concurrency/, retryMax: 1 }))
    .filter((p) => p.length);
  assert.deepEqual(problems, [], JSON.stringify(problems.slice(0, 3)));
  // the slots are free again
  const again = await Promise.all(Array.from({ length: 3 }, () => send(env, k.key)));
  assert.deepEqual(tally(again), { 200: 3 }, 'after the slow requests ended, 3 slots are free');
});

test('concurrency: a stream holds its slot until its end; a client that goes away frees it', async (t) => {
  const env = await startEnv(t, BACKEND);
  const k = await createKey(env, { name: 'conc2', limits: { concurrency: 2 } });
  // two ~2.4 s streams
  let heads = 0;
  let signal;
  const gotHeads = new Promise((r) => (signal = r));
  const streams = [0, 1].map(() =>
    sendRaw(env, k.key, {
      stream: true,
      scenario: 'deltas:4,interval:400',
      onEvent: (ev) => {
        if (ev.event === 'message_start' && ++heads === 2) signal();
      },
    }),
  );
  await gotHeads;
  const third = await send(env, k.key);
  assert.deepEqual(limitProblems(third, { limit: 'concurrency', retryMax: 1 }), [], describeRes(third));
  const done = await Promise.all(streams);
  for (const s of done) {
    assert.equal(s.status, 200);
    assert.equal(s.events.at(-1)?.event, 'message_stop', 'stream completed');
  }
  const after = await send(env, k.key);
  assert.equal(after.status, 200, `slot free after the streams ended: ${describeRes(after)}`);

  // a client that cuts its stream releases the slot (concurrency 1 for this part)
  const p = await env.api('PATCH', `/keys/${k.id}`, { limits: { concurrency: 1 } });
  assert.equal(p.status, 200, describeRes(p));
  const cut = await sendRaw(env, k.key, {
    stream: true,
    scenario: 'deltas:100,interval:200',
    onEvent: (ev, req) => ev.event === 'content_block_delta' && req.destroy(),
  }).catch((e) => ({ error: e }));
  assert.ok(cut.error || !cut.complete, 'the client cut its stream');
  const t0 = Date.now();
  let last;
  for (;;) {
    last = await send(env, k.key);
    if (last.status === 200 || Date.now() - t0 > 3000) break;
    await sleep(100);
  }
  assert.equal(last.status, 200, `slot not released within 3 s of the client going away: ${describeRes(last)}`);
  t.diagnostic(`slot free ${Date.now() - t0} ms after the cut`);
});

for (const [limit, value, opts, family] of [
  // ~2 KiB of text: input ≈ 520 tokens (tests/fake_upstream fakeUsage: body bytes / 4)
  ['tpm', 300, { text: 'x'.repeat(2000), scenario: 'no_cache' }, 'tokens'],
  ['input_tpm', 300, { text: 'x'.repeat(2000), scenario: 'no_cache' }, null],
  // deltas:10 → 37 output tokens; streamed, so the count comes from the SSE usage
  ['output_tpm', 20, { stream: true, scenario: 'deltas:10,no_cache' }, null],
]) {
  test(`${limit} ${value}: after a response whose usage exceeds it, the next request in the minute gets 429 ${limit}`, async (t) => {
    const env = await startEnv(t, BACKEND);
    const probe = await probeKey(env);
    const k = await createKey(env, { name: `k-${limit}`, limits: { [limit]: value } });
    assert.equal(k.limits[limit], value, JSON.stringify(k.limits));
    await ensureWindowLeft(env, probe, 12000);
    const upBefore = env.fake.requestsTo('/v1/messages').length;
    const first = await send(env, k.key, opts);
    assert.equal(first.status, 200, describeRes(first));
    if (family) assert.equal(first.headers[`anthropic-ratelimit-${family}-limit`], String(value), `anthropic-ratelimit-${family}-limit`);
    if (opts.stream) await sleep(100); // the stream's usage is counted when it ends
    const second = await send(env, k.key, opts);
    const p = limitProblems(second, { limit, messageRe: new RegExp(`\\b${limit}\\b`) });
    assert.deepEqual(p, [], describeRes(second));
    assert.equal(env.fake.requestsTo('/v1/messages').length - upBefore, 1, 'the refused request never reached the upstream');
    // other keys are not affected
    assert.equal((await send(env, probe.key)).status, 200);
  });
}

test('daily_budget_usd for ~5 requests, 50 concurrent: ≤ 5 admitted, 402 billing_error daily_budget_usd, spend ≤ budget + one request', async (t) => {
  const env = await startEnv(t, BACKEND);
  const prices = (await get(env, '/prices')).data;
  const price = pickPrice(prices, MODEL);
  assert.ok(price, `no price for ${MODEL}`);
  const plan = budgetPlan(price, { fit: 5, maxTokens: 1000 });
  const k = await createKey(env, { name: 'budget5', limits: { daily_budget_usd: plan.budget } });
  assert.ok(Math.abs(k.limits.daily_budget_usd - plan.budget) < 1e-12, JSON.stringify(k.limits));
  const before = env.fake.requestsTo('/v1/messages').length;
  const rs = await Promise.all(
    Array.from({ length: 50 }, () => send(env, k.key, { body: plan.body(false), scenario: `${plan.scenario},slow:200` })),
  );
  const counts = tally(rs);
  const admitted = rs.filter((r) => r.status === 200);
  assert.equal(admitted.length + (counts[402] || 0), 50, `only 200 and 402 expected: ${JSON.stringify(counts)}`);
  assert.ok(admitted.length >= 1 && admitted.length <= 5, `admitted ${admitted.length} (budget fits 5 reservations)`);
  for (const r of admitted) assert.equal(r.json.usage.output_tokens, plan.realOutput);
  const problems = rs
    .filter((r) => r.status === 402)
    .map((r) => limitProblems(r, { status: 402, type: 'billing_error', limit: 'daily_budget_usd', messageRe: /daily/i, retryAfter: false }))
    .filter((p) => p.length);
  assert.deepEqual(problems, [], JSON.stringify(problems.slice(0, 3)));
  assert.equal(env.fake.requestsTo('/v1/messages').length - before, admitted.length, 'rejected requests never reach the upstream');

  // the settled spend (usage records of the admitted requests)
  const deadline = Date.now() + 5000;
  let recs = [];
  for (;;) {
    const r = await env.api('GET', `/usage/requests?limit=1000&key_id=${k.id}&status=200`);
    recs = r.json?.data ?? [];
    if (recs.length >= admitted.length || Date.now() > deadline) break;
    await sleep(100);
  }
  assert.equal(recs.length, admitted.length, 'one usage record per admitted request');
  const spend = recs.reduce((a, x) => a + x.cost_usd, 0);
  assert.ok(spend <= plan.budget + plan.maxCost + 1e-9, `spend ${spend} > budget ${plan.budget} + one request's max cost ${plan.maxCost}`);
  // the budget stays exhausted
  const more = await send(env, k.key, { body: plan.body(false), scenario: plan.scenario });
  assert.deepEqual(limitProblems(more, { status: 402, type: 'billing_error', limit: 'daily_budget_usd', retryAfter: false }), [], describeRes(more));
  t.diagnostic(`budget ${plan.budget.toFixed(6)} USD (max cost/request ${plan.maxCost.toFixed(6)}): ${JSON.stringify(counts)}, spend ${spend.toFixed(6)}`);
});

test('monthly_budget_usd and budget_usd (total) are named in x-clove-limit when a request does not fit', async (t) => {
  const env = await startEnv(t, BACKEND);
  for (const [name, limits] of [
    ['monthly_budget_usd', { monthly_budget_usd: 0.000001 }],
    ['budget_usd', { budget_usd: 0.000001, budget_period: 'total' }],
  ]) {
    const k = await createKey(env, { name: `tiny-${name}`, limits });
    const r = await send(env, k.key, { maxTokens: 1000 });
    const re = name === 'monthly_budget_usd' ? /monthly/i : /budget/i;
    assert.deepEqual(limitProblems(r, { status: 402, type: 'billing_error', limit: name, messageRe: re, retryAfter: false }), [], describeRes(r));
  }
  assert.equal(env.fake.requestsTo('/v1/messages').length, 0, 'nothing reached the upstream');
});

test('a key with limits: other models still 403, expired and disabled still 401, and those do not use up its rpm', async (t) => {
  const env = await startEnv(t, BACKEND);
  const probe = await probeKey(env);
  await ensureWindowLeft(env, probe, 12000);
  const k = await createKey(env, { name: 'haiku-rpm2', allowed_models: ['claude-haiku-*'], limits: { rpm: 2, concurrency: 1 } });
  for (let i = 0; i < 3; i++) {
    const r = await send(env, k.key, { model: 'claude-sonnet-4-5' });
    assert.deepEqual(anthropicErrorProblems(r, 403, 'permission_error'), [], `disallowed model #${i + 1}: ${describeRes(r)}`);
  }
  for (let i = 0; i < 2; i++) assert.equal((await send(env, k.key, { model: 'claude-haiku-4-5' })).status, 200, `allowed model #${i + 1}`);
  const third = await send(env, k.key, { model: 'claude-haiku-4-5' });
  assert.deepEqual(limitProblems(third, { limit: 'rpm' }), [], describeRes(third));

  const past = new Date(Date.now() - 3600_000).toISOString();
  const exp = await createKey(env, { name: 'expired-limited', expires_at: past, limits: { rpm: 1, daily_budget_usd: 1 } });
  for (let i = 0; i < 2; i++) assert.deepEqual(anthropicErrorProblems(await send(env, exp.key), 401, 'authentication_error'), []);
  const off = await createKey(env, { name: 'disabled-limited', enabled: false, limits: { concurrency: 1 } });
  assert.deepEqual(anthropicErrorProblems(await send(env, off.key), 401, 'authentication_error'), []);
  // re-enabled: its limit starts unused
  assert.equal((await env.api('PATCH', `/keys/${off.id}`, { enabled: true })).status, 200);
  assert.equal((await send(env, off.key)).status, 200);
});
