// Admin API: usage records, summaries, cost from prices and the audit log's paging
// (docs/admin-api.md "Usage", "Prices", "Audit"), both backends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { fakeUsage, parseScenario } from '../fake_upstream/server.mjs';
import {
  forEachBackend,
  startEnv,
  create,
  get,
  seededUpstream,
  seededKey,
  describeRes,
  expect400s,
  waitUsage,
  isTime,
  sleep,
  MODEL,
} from './_admin.mjs';

const MARKER = 'PROMPT-CONTENT-MARKER-7f3a9c';
const COUNTERS = ['requests', 'errors', 'input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens', 'cost_usd'];
const RECORD_FIELDS = [
  'request_id',
  'time',
  'key_id',
  'key_name',
  'upstream_id',
  'upstream',
  'credential_id',
  'model',
  'upstream_model',
  'status',
  'error_type',
  'stream',
  'ttfb_ms',
  'duration_ms',
  'input_tokens',
  'output_tokens',
  'cache_creation_input_tokens',
  'cache_read_input_tokens',
  'cost_usd',
];

function globRe(glob) {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}
const wildcards = (g) => (g.match(/[*?]/g) || []).length;

/** The price rule of the contract: most specific matching pattern for the requested model, else the upstream model. */
export function pickPrice(prices, requested, upstreamModel) {
  const best = (model) =>
    prices
      .filter((p) => globRe(p.model).test(model))
      .sort((a, b) => b.model.length - a.model.length || wildcards(a.model) - wildcards(b.model))[0];
  return best(requested) ?? best(upstreamModel) ?? null;
}

export function costOf(p, u) {
  const c5 = u.cache_creation?.ephemeral_5m_input_tokens ?? u.cache_creation_input_tokens ?? 0;
  const c1 = u.cache_creation?.ephemeral_1h_input_tokens ?? 0;
  return (
    (u.input_tokens * p.input +
      u.output_tokens * p.output +
      c5 * p.cache_write_5m +
      c1 * p.cache_write_1h +
      (u.cache_read_input_tokens ?? 0) * p.cache_read) /
    1e6
  );
}

const near = (a, b) => Math.abs(a - b) <= 1e-9 + 1e-6 * Math.abs(b);

forEachBackend('usage', (backend) => {
  test('records, filters, paging, summaries and costs after proxied requests', async (t) => {
    const env = await startEnv(t, backend);
    const up = await seededUpstream(env);
    const cred = (await get(env, `/upstreams/${up.id}/credentials`)).data[0];
    const alice = await seededKey(env);
    const bob = await create(env, '/keys', { name: 'bob' });
    for (const [m, body] of [
      [MODEL, { input: 3, output: 15, cache_write_5m: 3.75, cache_write_1h: 6, cache_read: 0.3 }],
      ['claude-sonnet-4-5*', { input: 1, output: 2 }],
    ]) {
      const r = await env.api('PUT', `/prices/${encodeURIComponent(m)}`, body);
      assert.equal(r.status, 200, describeRes(r));
    }
    const prices = (await get(env, '/prices')).data;
    const t0 = Date.now();

    const plan = [
      { who: 'alice', key: undefined, model: MODEL, text: MARKER },
      { who: 'alice', key: undefined, model: MODEL, stream: true, text: MARKER },
      { who: 'bob', key: bob.key, model: 'claude-latest', upstreamModel: 'claude-sonnet-4-5' },
      { who: 'alice', key: undefined, model: MODEL, scenario: 'no_cache' },
      // last: the 429 (retry-after 7) puts the only credential in a cooldown
      { who: 'bob', key: bob.key, model: MODEL, scenario: 'error:429', status: 429, errorType: 'rate_limit_error' },
    ];
    const sent = [];
    for (const p of plan) {
      const o = { model: p.model, stream: p.stream, text: p.text ?? 'hi', scenario: p.scenario };
      if (p.key) o.key = p.key;
      const r = await env.messages(o);
      assert.equal(r.status, p.status ?? 200, describeRes(r));
      const rid = r.headers['x-clove-request-id'];
      assert.ok(rid, `no x-clove-request-id on ${describeRes(r)}`);
      sent.push({ ...p, rid, upstreamRec: env.fake.requestsTo('/v1/messages').at(-1) });
    }
    const records = await waitUsage(env, plan.length);
    assert.equal(records.length, plan.length, JSON.stringify(records, null, 1));

    // newest first, one per proxied request, no prompt or response content
    assert.deepEqual(
      records.map((r) => r.request_id),
      sent.map((s) => s.rid).reverse(),
      'records are the requests, newest first',
    );
    const allText = JSON.stringify(records);
    assert.ok(!allText.includes(MARKER), 'prompt content in usage records');
    assert.ok(!allText.includes('Hello part'), 'response content in usage records');

    for (const s of sent) {
      const rec = records.find((r) => r.request_id === s.rid);
      for (const f of RECORD_FIELDS) assert.ok(f in rec, `record lacks ${f}: ${JSON.stringify(rec)}`);
      assert.match(rec.request_id, /^req_/);
      assert.ok(isTime(rec.time) && Date.parse(rec.time) >= t0 - 2000 && Date.parse(rec.time) <= Date.now() + 2000, `time ${rec.time}`);
      const key = s.who === 'bob' ? bob : alice;
      assert.equal(rec.key_id, key.id);
      assert.equal(rec.key_name, key.name);
      assert.equal(rec.upstream_id, up.id);
      assert.equal(rec.upstream, 'fake');
      assert.equal(rec.credential_id, cred.id);
      assert.equal(rec.model, s.model);
      assert.equal(rec.upstream_model, s.upstreamModel ?? s.model);
      assert.equal(rec.status, s.status ?? 200);
      assert.equal(rec.error_type, s.errorType ?? null);
      assert.equal(rec.stream, !!s.stream);
      assert.equal(typeof rec.ttfb_ms, 'number');
      assert.equal(typeof rec.duration_ms, 'number');
      assert.ok(rec.ttfb_ms >= 0 && rec.duration_ms >= rec.ttfb_ms, `ttfb ${rec.ttfb_ms} duration ${rec.duration_ms}`);
      if (s.status) {
        for (const f of ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens']) assert.equal(rec[f], 0, `${f} of an error`);
        assert.equal(rec.cost_usd, 0);
        continue;
      }
      const u = fakeUsage(parseScenario(s.scenario), s.upstreamRec.body);
      assert.equal(rec.input_tokens, u.input_tokens, 'input_tokens');
      assert.equal(rec.output_tokens, u.output_tokens, 'output_tokens');
      assert.equal(rec.cache_creation_input_tokens, u.cache_creation_input_tokens, 'cache_creation_input_tokens');
      assert.equal(rec.cache_read_input_tokens, u.cache_read_input_tokens, 'cache_read_input_tokens');
      const price = pickPrice(prices, s.model, s.upstreamModel ?? s.model);
      assert.ok(price, `no price for ${s.model}`);
      const expected = costOf(price, u);
      assert.ok(near(rec.cost_usd, expected), `cost of ${s.model} (price ${JSON.stringify(price)}): ${rec.cost_usd}, expected ${expected}`);
    }

    // filters
    const q = async (query) => {
      const r = await env.api('GET', `/usage/requests?${query}`);
      assert.equal(r.status, 200, describeRes(r));
      return r.json.data.map((x) => x.request_id);
    };
    const ids = (pred) => sent.filter(pred).map((s) => s.rid).reverse();
    assert.deepEqual(await q(`key_id=${bob.id}`), ids((s) => s.who === 'bob'));
    assert.deepEqual(await q(`key_id=${alice.id}`), ids((s) => s.who === 'alice'));
    assert.deepEqual(await q(`upstream_id=${up.id}`), ids(() => true));
    assert.deepEqual(await q(`credential_id=${cred.id}`), ids(() => true));
    assert.deepEqual(await q('model=claude-latest'), ids((s) => s.model === 'claude-latest'));
    assert.deepEqual(await q('status=429'), ids((s) => s.status === 429));
    assert.deepEqual(await q('status=4xx'), ids((s) => s.status === 429));
    assert.deepEqual(await q('status=error'), ids((s) => s.status === 429));
    assert.deepEqual(await q('status=200'), ids((s) => !s.status));
    assert.deepEqual(await q('status=2xx'), ids((s) => !s.status));
    assert.deepEqual(await q('status=5xx'), []);
    assert.deepEqual(await q('key_id=key_doesnotexist'), []);
    assert.deepEqual(await q(`from=${Date.now() + 60000}`), []);
    assert.deepEqual(await q(`to=${encodeURIComponent(new Date(t0 - 60000).toISOString())}`), []);
    assert.deepEqual(await q(`from=${t0 - 1000}`), ids(() => true));
    assert.deepEqual(await q(`from=${encodeURIComponent(new Date(t0 - 1000).toISOString())}&to=${Date.now() + 60000}`), ids(() => true));
    assert.deepEqual(await q(`key_id=${bob.id}&status=error`), ids((s) => s.status === 429));

    // paging
    const seen = [];
    let cursor = null;
    for (let page = 0; page < 10; page++) {
      const r = await env.api('GET', `/usage/requests?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(r.status, 200, describeRes(r));
      assert.ok(r.json.data.length <= 2);
      assert.ok('next_cursor' in r.json, 'paged list without next_cursor');
      seen.push(...r.json.data.map((x) => x.request_id));
      cursor = r.json.next_cursor;
      if (cursor === null) break;
      assert.equal(typeof cursor, 'string');
    }
    assert.deepEqual(seen, ids(() => true), 'paging with limit=2 returns every record once, in order');
    const all = await env.api('GET', '/usage/requests?limit=1000');
    assert.equal(all.json.next_cursor, null);

    await expect400s(env, 'GET', '/usage/requests?limit=0', [['limit 0', undefined, 'limit']]);
    await expect400s(env, 'GET', '/usage/requests?limit=1001', [['limit 1001', undefined, 'limit']]);
    await expect400s(env, 'GET', '/usage/requests?limit=ten', [['limit ten', undefined, 'limit']]);
    await expect400s(env, 'GET', '/usage/requests?status=teapot', [['status teapot', undefined, 'status']]);
    await expect400s(env, 'GET', '/usage/requests?from=yesterday', [['from yesterday', undefined, 'from']]);
    await expect400s(env, 'GET', '/usage/requests?to=2026-13-45T99:00:00Z', [['to invalid', undefined, 'to']]);
    await expect400s(env, 'GET', '/usage/requests?cursor=not-a-cursor!!', [['bad cursor', undefined, 'cursor']]);

    // summaries
    const summary = async (query) => {
      const r = await env.api('GET', `/usage/summary?${query}`);
      assert.equal(r.status, 200, describeRes(r));
      assert.ok(Array.isArray(r.json.data) && r.json.totals, r.text);
      for (const g of r.json.data) for (const c of COUNTERS) assert.equal(typeof g[c], 'number', `${c} in ${JSON.stringify(g)}`);
      for (const c of COUNTERS) {
        const sum = r.json.data.reduce((a, g) => a + g[c], 0);
        assert.ok(near(r.json.totals[c], sum), `totals.${c} ${r.json.totals[c]} != sum of groups ${sum} (${query})`);
      }
      return r.json;
    };
    const totalsOf = (recs) => ({
      requests: recs.length,
      errors: recs.filter((r) => r.status >= 400).length,
      input_tokens: recs.reduce((a, r) => a + r.input_tokens, 0),
      output_tokens: recs.reduce((a, r) => a + r.output_tokens, 0),
      cache_creation_input_tokens: recs.reduce((a, r) => a + r.cache_creation_input_tokens, 0),
      cache_read_input_tokens: recs.reduce((a, r) => a + r.cache_read_input_tokens, 0),
      cost_usd: recs.reduce((a, r) => a + r.cost_usd, 0),
    });
    const assertCounters = (got, recs, what) => {
      const exp = totalsOf(recs);
      for (const c of COUNTERS) assert.ok(near(got[c], exp[c]), `${what}: ${c} = ${got[c]}, expected ${exp[c]}`);
    };

    const byKey = await summary('group_by=key');
    assert.deepEqual(byKey.data.map((g) => g.group).sort(), [alice.id, bob.id].sort());
    for (const k of [alice, bob]) {
      const g = byKey.data.find((x) => x.group === k.id);
      assert.equal(g.label, k.name);
      assertCounters(g, records.filter((r) => r.key_id === k.id), `key ${k.name}`);
    }
    assertCounters(byKey.totals, records, 'totals');
    assert.equal(byKey.totals.requests, 5);
    assert.equal(byKey.totals.errors, 1);

    const byUp = await summary('group_by=upstream');
    assert.equal(byUp.data.length, 1);
    assert.equal(byUp.data[0].group, up.id);
    assert.equal(byUp.data[0].label, 'fake');
    const byCred = await summary('group_by=credential');
    assert.equal(byCred.data.length, 1);
    assert.equal(byCred.data[0].group, cred.id);
    const byModel = await summary('group_by=model');
    assert.deepEqual(byModel.data.map((g) => g.group).sort(), ['claude-latest', MODEL].sort());
    assertCounters(byModel.data.find((g) => g.group === MODEL), records.filter((r) => r.model === MODEL), 'model');
    for (const [gb, re] of [
      ['hour', /T\d{2}:00:00(\.0+)?(Z|\+00:00)$/],
      ['day', /T00:00:00(\.0+)?(Z|\+00:00)$/],
    ]) {
      const s = await summary(`group_by=${gb}`);
      assert.ok(s.data.length >= 1 && s.data.length <= 2, JSON.stringify(s));
      for (const g of s.data) {
        assert.ok(isTime(g.group) && re.test(g.group), `${gb} bucket ${g.group}`);
        assert.ok(Date.parse(g.group) <= Date.now());
      }
      assertCounters(s.totals, records, gb);
    }
    const farFuture = await summary(`group_by=key&from=${Date.now() + 3 * 3600_000}`);
    assert.deepEqual(farFuture.data, [], 'a range hours in the future has no records');
    assert.equal(farFuture.totals.requests, 0);
    const ranged = await summary(`group_by=key&from=${encodeURIComponent(new Date(t0 - 1000).toISOString())}&to=${Date.now() + 60000}`);
    assert.equal(ranged.totals.requests, 5);
    await expect400s(env, 'GET', '/usage/summary?group_by=week', [['group_by week', undefined, 'group_by']]);
    await expect400s(env, 'GET', '/usage/summary?group_by=key&from=soon', [['from soon', undefined, 'from']]);

    // the key objects carry the same counters
    const deadline = Date.now() + 3000;
    let bobNow;
    do {
      bobNow = await get(env, `/keys/${bob.id}`);
      if (bobNow.usage.requests >= 2) break;
      await sleep(50);
    } while (Date.now() < deadline);
    assert.equal(bobNow.usage.requests, 2, JSON.stringify(bobNow.usage));
    const bobRecs = records.filter((r) => r.key_id === bob.id);
    assert.ok(near(bobNow.usage.cost_usd, totalsOf(bobRecs).cost_usd), JSON.stringify(bobNow.usage));
    assert.equal(bobNow.usage.input_tokens, totalsOf(bobRecs).input_tokens);

    // finer points, collected so that one does not hide the others
    const late = [];
    const future = await summary(`group_by=key&from=${Date.now() + 60000}`);
    if (future.data.length || future.totals.requests !== 0) {
      late.push(`summary with from=now+60s (Unix ms) counts ${future.totals.requests} requests made before it (from rounded to the hour?)`);
    }
    const toPast = await summary(`group_by=key&from=${t0 - 1000}&to=${t0 - 500}`);
    if (toPast.totals.requests !== 0) late.push(`summary with to=t0-500ms counts ${toPast.totals.requests} later requests`);
    const exact = await env.api('GET', '/usage/requests?limit=5');
    if (exact.json?.data?.length !== 5 || exact.json?.next_cursor !== null) {
      late.push(`limit=5 with exactly 5 records: ${exact.json?.data?.length} records, next_cursor ${JSON.stringify(exact.json?.next_cursor)} (expected null on the last page)`);
    }
    assert.deepEqual(late, []);
  });

  test('cost: most specific price pattern, fallback to the upstream model, cache writes without TTL split priced as 5-minute', async (t) => {
    const env = await startEnv(t, backend);
    // an upstream whose usage has cache_creation_input_tokens but no cache_creation TTL split
    const usage = { input_tokens: 1000, output_tokens: 100, cache_creation_input_tokens: 2000, cache_read_input_tokens: 3000 };
    const server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        let model = 'unknown';
        try {
          model = JSON.parse(Buffer.concat(chunks).toString('utf8')).model;
        } catch {
          /* keep */
        }
        const body = JSON.stringify({
          id: 'msg_nosplit',
          type: 'message',
          role: 'assistant',
          model,
          content: [{ type: 'text', text: 'ok' }],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage,
        });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'request-id': 'req_nosplit' });
        res.end(body);
      });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => new Promise((r) => server.close(() => r())));
    await create(env, '/upstreams', {
      name: 'nosplit',
      base_url: `http://127.0.0.1:${server.address().port}`,
      models: ['spec-*'],
      model_map: { 'alias-x': 'spec-model-1' },
      credentials: ['sk-nosplit-0001'],
    });
    // price k: input k, output 10k, 5-minute writes 100k, 1-hour writes 1000k, reads 0.5k
    const priceOf = (k) => ({ input: k, output: 10 * k, cache_write_5m: 100 * k, cache_write_1h: 1000 * k, cache_read: 0.5 * k });
    const patterns = { 'spec-*': 1, 'spec-model-*': 2, 'spec-model-1': 3, 'spec-?odel-1': 4 };
    for (const [m, k] of Object.entries(patterns)) {
      const r = await env.api('PUT', `/prices/${encodeURIComponent(m)}`, priceOf(k));
      assert.equal(r.status, 200, describeRes(r));
    }
    const expectCost = (k) => (usage.input_tokens * k + usage.output_tokens * 10 * k + usage.cache_creation_input_tokens * 100 * k + usage.cache_read_input_tokens * 0.5 * k) / 1e6;
    const cases = [
      ['spec-model-1', 3, 'exact pattern (as long as spec-?odel-1, fewer wildcards) wins'],
      ['spec-model-2', 2, 'spec-model-* (longer) wins over spec-*'],
      ['spec-other', 1, 'only spec-* matches'],
      ['alias-x', 3, 'no pattern matches the requested model: priced as the upstream model spec-model-1'],
    ];
    const sent = [];
    for (const [model] of cases) {
      const r = await env.messages({ model });
      assert.equal(r.status, 200, describeRes(r));
      sent.push(r.headers['x-clove-request-id']);
    }
    const records = await waitUsage(env, cases.length, 'upstream_id=' + (await get(env, '/upstreams')).data.find((u) => u.name === 'nosplit').id);
    const problems = [];
    cases.forEach(([model, k, why], i) => {
      const rec = records.find((r) => r.request_id === sent[i]);
      if (!rec) return problems.push(`${model}: no usage record`);
      if (rec.cache_creation_input_tokens !== usage.cache_creation_input_tokens) problems.push(`${model}: cache_creation_input_tokens ${rec.cache_creation_input_tokens}`);
      if (!near(rec.cost_usd, expectCost(k))) {
        problems.push(`${model}: cost ${rec.cost_usd}, expected ${expectCost(k)} (${why}; unsplit cache writes at the 5-minute price)`);
      }
    });
    assert.deepEqual(problems, []);
  });

  test('audit log: newest first, paged with next_cursor, actor names the admin key without revealing it', async (t) => {
    const env = await startEnv(t, backend);
    const created = [];
    for (let i = 0; i < 5; i++) created.push((await create(env, '/keys', { name: `audit-${i}` })).id);
    const first = await get(env, '/audit?limit=50');
    assert.ok(Array.isArray(first.data));
    for (const id of created) {
      assert.ok(
        first.data.some((e) => e.resource_id === id && /create/i.test(String(e.action))),
        `no create entry for ${id}: ${JSON.stringify(first.data).slice(0, 1500)}`,
      );
    }
    const times = first.data.map((e) => Date.parse(e.time));
    for (let i = 1; i < times.length; i++) assert.ok(times[i - 1] >= times[i], 'audit entries are newest first');
    for (const e of first.data) assert.ok(!JSON.stringify(e).includes(env.adminKey), `audit entry reveals the admin key: ${JSON.stringify(e)}`);
    for (const e of first.data.filter((x) => created.includes(x.resource_id))) assert.match(String(e.actor), /admin/i, `actor ${e.actor}`);
    // paging
    const seen = [];
    let cursor = null;
    for (let page = 0; page < 50; page++) {
      const r = await env.api('GET', `/audit?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(r.status, 200, describeRes(r));
      assert.ok(r.json.data.length <= 2);
      seen.push(...r.json.data.map((e) => e.id));
      cursor = r.json.next_cursor;
      if (cursor === null) break;
    }
    assert.equal(cursor, null, 'paging did not end');
    assert.deepEqual(seen, first.data.map((e) => e.id), 'paged audit = the full list');
    assert.equal(new Set(seen).size, seen.length);
    await expect400s(env, 'GET', '/audit?limit=0', [['limit 0', undefined, 'limit']]);
  });
});
