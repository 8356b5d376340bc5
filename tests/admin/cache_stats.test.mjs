// Prompt-cache efficiency (docs/admin-api.md "Prompt cache"): GET /admin/api/cache per client
// key, per credential and per Claude Code session (x-claude-code-session-id), cache_read_share
// in the usage summaries, and the /metrics families clove_prompt_tokens_total,
// clove_cache_read_share, clove_credential_attempts_total and clove_credential_in_flight.
//
// Two client keys, two credentials of one upstream, two sessions: every number is checked exactly
// against the usage the fake upstream reported for the requests it received (fakeUsage() of
// tests/fake_upstream/server.mjs: cache reads FAKE_CACHE_READ, cache writes 5m + 1h, none with
// the no_cache scenario), matched to the credential through the key the fake saw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startFakeUpstream, fakeUsage, FAKE_CACHE_READ, FAKE_CACHE_CREATION_5M, FAKE_CACHE_CREATION_1H } from '../fake_upstream/server.mjs';
import { defaultConfig, fakeUpstreamEntry } from '../lib/clove.mjs';
import { forEachBackend, startEnv, get, call, describeRes, messageBody, waitUsage, isTime, sleep, CLIENT_KEY } from './_admin.mjs';

const BOB_KEY = 'ck-bob-4567890-cache';
const SESSION_HEADER = 'x-claude-code-session-id';
const hex = (n) => crypto.randomBytes(n).toString('hex');

const ROW_FIELDS = ['id', 'requests', 'input_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens', 'cache_read_share', 'last_seen_at'];

/** cache_read / (input + cache_read + cache_creation), 0 without any input. */
const share = (t) => {
  const all = t.input_tokens + t.cache_read_input_tokens + t.cache_creation_input_tokens;
  return all > 0 ? t.cache_read_input_tokens / all : 0;
};

/** Parses Prometheus text into Map("name{a=\"x\",b=\"y\"}" with labels sorted → number). */
function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]).sort((a, b) => a[0].localeCompare(b[0]));
    out.set(`${m[1]}{${labels.map(([k, v]) => `${k}="${v}"`).join(',')}}`, Number(m[3]));
  }
  return out;
}
const metricKey = (name, labels) =>
  `${name}{${Object.entries(labels)
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;

function emptyTotals() {
  return { requests: 0, input_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, first: Infinity, last: -Infinity };
}

forEachBackend('prompt-cache efficiency', (backend) => {
  test('GET /cache, usage summaries and /metrics match the upstream usage per key, credential and session', async (t) => {
    const fake = await startFakeUpstream();
    t.after(() => fake.close());
    // unique first/last 4 characters per key: the credential hint tells them apart
    const upstreamKeys = [`sk-c1-${hex(8)}-AAA1`, `sk-c2-${hex(8)}-BBB2`];
    const config = defaultConfig(fake.url, {
      clientKeys: [
        { name: 'alice', key: CLIENT_KEY },
        { name: 'bob', key: BOB_KEY },
      ],
    });
    config.upstream = [fakeUpstreamEntry(fake.url, { api_key: undefined, api_keys: upstreamKeys })];
    const env = await startEnv(t, backend, { fake, config });

    assert.deepEqual(await get(env, '/cache'), { keys: [], credentials: [], sessions: [] }, 'nothing before the first request');

    const keyIds = Object.fromEntries((await get(env, '/keys')).data.map((k) => [k.name, k.id]));
    assert.ok(keyIds.alice && keyIds.bob, JSON.stringify(keyIds));
    const up = (await get(env, '/upstreams')).data.find((u) => u.name === 'fake');
    const creds = (await get(env, `/upstreams/${up.id}/credentials`)).data;
    const credOf = new Map(
      upstreamKeys.map((k) => {
        const c = creds.filter((x) => String(x.hint).startsWith(k.slice(0, 4)) && String(x.hint).endsWith(k.slice(-4)));
        assert.equal(c.length, 1, `credential of ${k.slice(-4)}: ${JSON.stringify(creds)}`);
        return [k, c[0].id];
      }),
    );

    const s1 = `sess-${hex(6)}`;
    const s2 = `sess-${hex(6)}`;
    const plan = [
      { key: 'alice', session: s1 },
      { key: 'alice', session: s1, stream: true },
      { key: 'bob', session: s2, scenario: 'no_cache' },
      { key: 'bob', session: s2, stream: true, text: `a longer prompt ${'x'.repeat(300)}` },
      { key: 'alice' },
      { key: 'alice', session: s2, text: 'hello from alice in the second session' },
      { key: 'bob', session: s1, scenario: 'error:400', status: 400 }, // an error adds nothing
      { key: 'bob', stream: true, scenario: 'no_cache' },
      { key: 'bob', session: s1, text: 'bob joins the first session' },
    ];

    const byKey = { alice: emptyTotals(), bob: emptyTotals() };
    const byCred = new Map();
    const bySession = new Map();
    const attempts = new Map(); // credential id -> attempts the fake saw
    const add = (tot, u, t0, t1) => {
      tot.requests++;
      tot.input_tokens += u.input_tokens;
      tot.cache_read_input_tokens += u.cache_read_input_tokens;
      tot.cache_creation_input_tokens += u.cache_creation_input_tokens;
      tot.first = Math.min(tot.first, t0);
      tot.last = Math.max(tot.last, t0);
      tot.lastEnd = t1;
    };
    for (const p of plan) {
      const headers = { 'anthropic-version': '2023-06-01' };
      if (p.session) headers[SESSION_HEADER] = p.session;
      if (p.scenario) headers['x-fake-scenario'] = p.scenario;
      const t0 = Date.now();
      const r = await call(env.url, 'POST', '/v1/messages', messageBody({ stream: p.stream, text: p.text ?? `hi ${hex(3)}` }), {
        key: p.key === 'alice' ? CLIENT_KEY : BOB_KEY,
        headers,
      });
      const t1 = Date.now();
      assert.equal(r.status, p.status ?? 200, describeRes(r));
      const rec = fake.requestsTo('/v1/messages').at(-1);
      const credId = credOf.get(rec.apiKey);
      assert.ok(credId, `the fake saw an unknown key ${rec.apiKey}`);
      attempts.set(credId, (attempts.get(credId) ?? 0) + 1);
      if (r.status !== 200) continue;
      const u = fakeUsage(rec.scenario, rec.body);
      if (!p.stream) {
        assert.deepEqual(
          [r.json.usage.input_tokens, r.json.usage.cache_read_input_tokens, r.json.usage.cache_creation_input_tokens],
          [u.input_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens],
          'the client saw the usage the fake reported',
        );
      }
      assert.equal(u.cache_read_input_tokens, p.scenario === 'no_cache' ? 0 : FAKE_CACHE_READ);
      assert.equal(u.cache_creation_input_tokens, p.scenario === 'no_cache' ? 0 : FAKE_CACHE_CREATION_5M + FAKE_CACHE_CREATION_1H);
      add(byKey[p.key], u, t0, t1);
      if (!byCred.has(credId)) byCred.set(credId, emptyTotals());
      add(byCred.get(credId), u, t0, t1);
      if (p.session) {
        if (!bySession.has(p.session)) bySession.set(p.session, emptyTotals());
        const s = bySession.get(p.session);
        add(s, u, t0, t1);
        s.credential_id = credId;
      }
      await sleep(3); // distinct start times: last_seen_at tells the requests apart
    }
    const served = plan.filter((p) => (p.status ?? 200) === 200).length;
    assert.equal(byKey.alice.requests + byKey.bob.requests, served);
    assert.ok(byCred.size >= 1);

    // The stats are recorded when a request finishes: wait until all are in.
    let cache;
    const deadline = Date.now() + 5000;
    for (;;) {
      cache = await get(env, '/cache');
      const n = cache.keys.reduce((a, k) => a + k.requests, 0);
      if (n >= served || Date.now() > deadline) break;
      await sleep(50);
    }

    const problems = [];
    const check = (what, row, want, extra = {}) => {
      if (!row) return problems.push(`${what}: missing`);
      const fields = [...ROW_FIELDS, ...Object.keys(extra)].sort();
      if (JSON.stringify(Object.keys(row).sort()) !== JSON.stringify(fields)) problems.push(`${what}: fields ${Object.keys(row).sort()} != ${fields}`);
      for (const f of ['requests', 'input_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens']) {
        if (row[f] !== want[f]) problems.push(`${what}.${f} = ${row[f]}, expected ${want[f]}`);
      }
      if (typeof row.cache_read_share !== 'number' || Math.abs(row.cache_read_share - share(want)) > 1e-9) {
        problems.push(`${what}.cache_read_share = ${row.cache_read_share}, expected ${share(want)}`);
      }
      if (!isTime(row.last_seen_at)) problems.push(`${what}.last_seen_at = ${row.last_seen_at}`);
      else {
        const ms = Date.parse(row.last_seen_at);
        if (ms < want.last - 2 || ms > want.lastEnd + 2) problems.push(`${what}.last_seen_at ${row.last_seen_at} is not the start of its last request (${new Date(want.last).toISOString()})`);
      }
      for (const [k, v] of Object.entries(extra)) if (row[k] !== v) problems.push(`${what}.${k} = ${JSON.stringify(row[k])}, expected ${JSON.stringify(v)}`);
    };

    assert.equal(cache.keys.length, 2, JSON.stringify(cache.keys));
    for (const name of ['alice', 'bob']) check(`keys[${name}]`, cache.keys.find((k) => k.id === keyIds[name]), byKey[name], { name });
    assert.equal(cache.credentials.length, byCred.size, JSON.stringify(cache.credentials));
    for (const [id, want] of byCred) check(`credentials[${id}]`, cache.credentials.find((c) => c.id === id), want);
    assert.equal(cache.sessions.length, 2, JSON.stringify(cache.sessions));
    for (const [id, want] of bySession) check(`sessions[${id}]`, cache.sessions.find((s) => s.id === id), want, { credential_id: want.credential_id });
    assert.deepEqual(problems, [], `GET /admin/api/cache:\n${problems.join('\n')}\n${JSON.stringify(cache, null, 1)}`);
    // sessions: most recently seen first (s1 served the last request)
    assert.deepEqual(
      cache.sessions.map((s) => s.id),
      [s1, s2],
    );

    // Usage summaries: cache_read_share per group and in the totals (errors count as requests).
    await waitUsage(env, plan.length);
    const sum = await get(env, '/usage/summary?group_by=key');
    const sp = [];
    for (const name of ['alice', 'bob']) {
      const row = sum.data.find((g) => g.group === keyIds[name]);
      const want = byKey[name];
      if (!row) {
        sp.push(`summary group ${name} missing`);
        continue;
      }
      const wantRequests = plan.filter((p) => p.key === name).length;
      if (row.requests !== wantRequests) sp.push(`${name}.requests ${row.requests} != ${wantRequests}`);
      for (const f of ['input_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens']) if (row[f] !== want[f]) sp.push(`${name}.${f} ${row[f]} != ${want[f]}`);
      if (typeof row.cache_read_share !== 'number' || Math.abs(row.cache_read_share - share(want)) > 1e-9) sp.push(`${name}.cache_read_share ${row.cache_read_share} != ${share(want)}`);
    }
    const all = { input_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };
    for (const k of Object.values(byKey)) for (const f of Object.keys(all)) all[f] += k[f];
    if (Math.abs((sum.totals?.cache_read_share ?? NaN) - share(all)) > 1e-9) sp.push(`totals.cache_read_share ${sum.totals?.cache_read_share} != ${share(all)}`);
    const byCredSummary = await get(env, '/usage/summary?group_by=credential');
    for (const [id, want] of byCred) {
      const row = byCredSummary.data.find((g) => g.group === id);
      if (!row) sp.push(`credential group ${id} missing`);
      else if (Math.abs(row.cache_read_share - share(want)) > 1e-9) sp.push(`credential ${id} cache_read_share ${row.cache_read_share} != ${share(want)}`);
    }
    for (const g of ['upstream', 'model', 'hour', 'day']) {
      const s = await get(env, `/usage/summary?group_by=${g}`);
      for (const row of [...s.data, s.totals]) if (typeof row.cache_read_share !== 'number') sp.push(`group_by=${g}: no cache_read_share in ${JSON.stringify(row)}`);
    }
    assert.deepEqual(sp, [], `usage summaries:\n${sp.join('\n')}`);

    // /metrics
    const m = await env.raw('GET', '/metrics', undefined, { key: env.adminKey });
    assert.equal(m.status, 200, describeRes(m));
    const metrics = parseMetrics(m.text);
    const mp = [];
    const expectMetric = (name, labels, want, tol = 0) => {
      const k = metricKey(name, labels);
      const v = metrics.get(k);
      if (v === undefined) mp.push(`${k} missing`);
      else if (Math.abs(v - want) > tol) mp.push(`${k} = ${v}, expected ${want}`);
    };
    const kinds = { input: 'input_tokens', cache_read: 'cache_read_input_tokens', cache_creation: 'cache_creation_input_tokens' };
    for (const name of ['alice', 'bob']) {
      for (const [kind, f] of Object.entries(kinds)) expectMetric('clove_prompt_tokens_total', { key: name, kind }, byKey[name][f]);
      expectMetric('clove_cache_read_share', { key: name }, share(byKey[name]), 0.00005 + 1e-9);
    }
    for (const [id, want] of byCred) {
      for (const [kind, f] of Object.entries(kinds)) expectMetric('clove_prompt_tokens_total', { credential: id, kind }, want[f]);
      expectMetric('clove_cache_read_share', { credential: id }, share(want), 0.00005 + 1e-9);
    }
    for (const id of credOf.values()) {
      expectMetric('clove_credential_attempts_total', { upstream: 'fake', credential: id, result: 'success' }, attempts.get(id) ?? 0);
      expectMetric('clove_credential_attempts_total', { upstream: 'fake', credential: id, result: 'failure' }, 0);
      expectMetric('clove_credential_attempts_total', { upstream: 'fake', credential: id, result: 'rate_limited' }, 0);
      expectMetric('clove_credential_in_flight', { upstream: 'fake', credential: id }, 0);
    }
    for (const fam of ['clove_prompt_tokens_total', 'clove_cache_read_share', 'clove_credential_attempts_total', 'clove_credential_in_flight']) {
      if (!new RegExp(`^# TYPE ${fam} (counter|gauge)$`, 'm').test(m.text)) mp.push(`no # TYPE line for ${fam}`);
    }
    assert.deepEqual(mp, [], `/metrics:\n${mp.join('\n')}\n${m.text.split('\n').filter((l) => /prompt_tokens|cache_read_share|credential_/.test(l)).join('\n')}`);
  });
});

test('cache stats: a request without prompt-cache use counts with share 0; a failed request (relayed 529) adds nothing', async (t) => {
  const fake = await startFakeUpstream();
  t.after(() => fake.close());
  const env = await startEnv(t, 'sqlite', { fake });
  const session = `solo-${hex(4)}`;
  const headers = { 'anthropic-version': '2023-06-01', [SESSION_HEADER]: session, 'x-fake-scenario': 'no_cache' };
  const r = await call(env.url, 'POST', '/v1/messages', messageBody({}), { key: CLIENT_KEY, headers });
  assert.equal(r.status, 200, describeRes(r));
  const failed = await call(env.url, 'POST', '/v1/messages', messageBody({}), {
    key: CLIENT_KEY,
    headers: { ...headers, 'x-fake-scenario': 'error:529,retry_after:none' },
  });
  assert.equal(failed.status, 529, describeRes(failed));
  const u = fakeUsage(fake.requestsTo('/v1/messages')[0].scenario, fake.requestsTo('/v1/messages')[0].body);
  let cache;
  const deadline = Date.now() + 5000;
  do {
    cache = await get(env, '/cache');
    if (cache.keys.length) break;
    await sleep(50);
  } while (Date.now() < deadline);
  assert.equal(cache.keys.length, 1, JSON.stringify(cache));
  const k = cache.keys[0];
  assert.deepEqual(
    { name: k.name, requests: k.requests, input: k.input_tokens, read: k.cache_read_input_tokens, creation: k.cache_creation_input_tokens, share: k.cache_read_share },
    { name: 'alice', requests: 1, input: u.input_tokens, read: 0, creation: 0, share: 0 },
  );
  assert.equal(cache.sessions.length, 1);
  assert.equal(cache.sessions[0].id, session);
  assert.equal(cache.sessions[0].requests, 1);
});
