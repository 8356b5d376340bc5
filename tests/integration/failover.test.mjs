// Routing and failover (issue 5): several fake upstreams, several credentials, the real binary.
//
// Each test starts its own fake upstreams and its own Clove (credential state, cooldowns and
// sticky entries must not leak between tests). Credentials come from the toml `api_keys = [...]`
// list of each [[upstream]]; the settings are changed through PATCH /admin/api/settings; the
// fakes are scripted per credential with rules (tests/fake_upstream/server.mjs, RULES), so the
// test can tell which credential served what through the `apiKey` each fake records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import Anthropic from '@anthropic-ai/sdk';
import { startFakeUpstream, expectedText } from '../fake_upstream/server.mjs';
import {
  startClove,
  stopCloveChecked,
  defaultConfig,
  fakeUpstreamEntry,
  clientHeaders,
  anthropicErrorProblems,
  CLIENT_KEY,
} from '../lib/clove.mjs';
import { request, sleep, waitFor } from '../lib/http.mjs';
import { grammarProblems } from '../lib/sse.mjs';

const ADMIN_KEY = 'adm-failover-test-0123456789abcdef';
const MODEL = 'claude-sonnet-5-5';
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const KEEPALIVE = ': keepalive\n\n';

const hex = (n) => crypto.randomBytes(n).toString('hex');

/**
 * Starts one fake per upstream and a Clove routing to them. upstreams: [{name, keys (count),
 * priority, fields (more [[upstream]] fields)}]; settings: PATCHed through the admin API.
 * Credentials come from the toml `api_keys` list, or with viaApi the first from `api_key` and
 * the others through POST /admin/api/upstreams/{id}/credentials.
 * Returns g = {clove, up: {name: {fake, id, keys, credIds}}, api(), cred(key), credId(key),
 * send(), seen()}.
 */
async function gateway(t, { upstreams, settings, viaApi = false } = {}) {
  const ups = {};
  for (const u of upstreams) {
    const fake = await startFakeUpstream();
    t.after(() => fake.close());
    // unique last 4 characters per key: the admin API shows first and last 4 as the hint
    const keys = Array.from({ length: u.keys ?? 1 }, (_, i) => `sk-failover-${hex(8)}-${u.name}${i}`);
    ups[u.name] = { fake, keys, priority: u.priority, fields: u.fields ?? {} };
  }
  const config = defaultConfig(Object.values(ups)[0].fake.url);
  config.upstream = Object.entries(ups).map(([name, u]) =>
    fakeUpstreamEntry(u.fake.url, {
      name,
      ...(viaApi ? { api_key: u.keys[0] } : { api_key: undefined, api_keys: u.keys }),
      priority: u.priority,
      ...u.fields,
    }),
  );
  const clove = await startClove({ config, env: { ADMIN_API_KEYS: ADMIN_KEY } });
  t.after(() => stopCloveChecked(clove));

  const api = async (method, path, body) => {
    const r = await request(`${clove.url}/admin/api${path}`, {
      method,
      headers: { 'x-api-key': ADMIN_KEY, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      timeoutMs: 10000,
    });
    let json;
    try {
      json = JSON.parse(r.text);
    } catch {
      json = undefined;
    }
    return { status: r.status, text: r.text, json, headers: r.headers };
  };

  if (settings) {
    const r = await api('PATCH', '/settings', settings);
    assert.equal(r.status, 200, `PATCH /admin/api/settings ${JSON.stringify(settings)} → ${r.status} ${r.text}`);
    for (const [k, v] of Object.entries(settings)) assert.equal(r.json[k], v, `setting ${k} not applied: ${r.text}`);
  }

  // credential ids by key (matched through the hint: first and last 4 characters)
  const list = await api('GET', '/upstreams');
  assert.equal(list.status, 200, list.text);
  const credIdOf = new Map();
  for (const [name, u] of Object.entries(ups)) {
    const row = list.json.data.find((x) => x.name === name);
    assert.ok(row, `upstream ${name} missing from GET /admin/api/upstreams: ${list.text}`);
    u.id = row.id;
    if (viaApi && u.keys.length > 1) {
      const add = await api('POST', `/upstreams/${row.id}/credentials`, { keys: u.keys.slice(1) });
      assert.equal(add.status, 201, add.text);
      assert.ok(
        add.json.data.every((x) => x.ok),
        add.text,
      );
    }
    const creds = await api('GET', `/upstreams/${row.id}/credentials`);
    assert.equal(creds.status, 200, creds.text);
    assert.equal(creds.json.data.length, u.keys.length, `credentials of ${name} from api_keys: ${creds.text}`);
    for (const key of u.keys) {
      const c = creds.json.data.filter((x) => String(x.hint).startsWith(key.slice(0, 4)) && String(x.hint).endsWith(key.slice(-4)));
      assert.equal(c.length, 1, `no unique credential with the hint of ${key.slice(0, 4)}…${key.slice(-4)}: ${creds.text}`);
      credIdOf.set(key, c[0].id);
    }
    u.credIds = u.keys.map((k) => credIdOf.get(k));
  }

  const g = {
    clove,
    up: ups,
    api,
    /** The admin API's view of the credential of `key`. */
    async cred(key) {
      const r = await api('GET', `/credentials/${credIdOf.get(key)}`);
      assert.equal(r.status, 200, r.text);
      return r.json;
    },
    credId: (key) => credIdOf.get(key),
    /** POST /v1/messages. o: {stream, scenario, headers, body (object), text, timeoutMs}. */
    send(o = {}) {
      const body = o.body ?? {
        model: MODEL,
        max_tokens: 32,
        ...(o.stream ? { stream: true } : {}),
        messages: [{ role: 'user', content: o.text ?? `hi ${hex(4)}` }],
      };
      const headers = clientHeaders({ ...(o.scenario ? { 'x-fake-scenario': o.scenario } : {}), ...(o.headers ?? {}) });
      return request(`${clove.url}/v1/messages`, { headers, body: JSON.stringify(body), timeoutMs: o.timeoutMs ?? 20000 });
    },
    /** Every /v1/messages request any fake received, in arrival order: [{name, key, rec}]. */
    seen() {
      const all = [];
      for (const [name, u] of Object.entries(ups)) for (const rec of u.fake.requestsTo('/v1/messages')) all.push({ name, key: rec.apiKey, rec });
      return all.sort((a, b) => a.rec.receivedAt - b.rec.receivedAt);
    },
  };
  return g;
}

const describe = (r) => `${r.status} ${String(r.text).slice(0, 400)}`;

/** A successful answer: JSON with the expected text, or a complete stream. */
function assertServed(r, stream, what = '') {
  assert.equal(r.status, 200, `${what}: ${describe(r)}`);
  if (stream) {
    assert.match(r.headers['content-type'] ?? '', /^text\/event-stream/, what);
    assert.deepEqual(grammarProblems(r.events), [], `${what}: ${r.text.slice(0, 600)}`);
    assert.equal(r.events.at(-1).event, 'message_stop', what);
  } else {
    assert.equal(r.json().content[0].text, expectedText({}), what);
  }
}

// ---------------------------------------------------------------------------------------------

test('429 with retry-after: 2 moves traffic to the other credential; the first cools down 2 s and comes back by itself', async (t) => {
  const g = await gateway(t, { upstreams: [{ name: 'a', keys: 2 }] });
  const { fake, keys } = g.up.a;
  const [k1, k2] = keys;
  fake.setRules([{ key: k1, path: '/v1/messages', scenario: 'error:429,retry_after:2' }]);

  // least recently used first: k1 is tried within two requests; every client gets a 200
  let hit;
  for (let i = 0; i < 3 && !hit; i++) {
    assertServed(await g.send(), false, `request ${i}`);
    hit = fake.requestsTo('/v1/messages').find((x) => x.apiKey === k1);
  }
  assert.ok(hit, `k1 was never tried: ${fake.keysSeen()}`);
  assert.equal(hit.responseStatus, 429);
  assert.deepEqual(fake.keysSeen().slice(-2), [k1, k2], 'the request that met the 429 went on to the other credential');
  const t429 = hit.receivedAt;

  const c1 = await g.cred(k1);
  assert.equal(c1.state, 'cooling_down', JSON.stringify(c1));
  assert.ok(RFC3339.test(String(c1.cooldown_until)), `cooldown_until ${c1.cooldown_until}`);
  const until = Date.parse(c1.cooldown_until);
  assert.ok(Math.abs(until - (t429 + 2000)) <= 1100, `cooldown_until ${c1.cooldown_until} is not ~2 s after the 429 (${new Date(t429).toISOString()})`);
  if (c1.counters) assert.ok(c1.counters.rate_limited >= 1, `counters ${JSON.stringify(c1.counters)}`);
  const c2 = await g.cred(k2);
  assert.equal(c2.state, 'valid', JSON.stringify(c2));
  assert.equal(c2.cooldown_until ?? null, null);

  // while k1 cools down every request goes to k2, even with the 429 rule gone
  fake.clearRules();
  const n0 = fake.requestsTo('/v1/messages').length;
  for (let i = 0; i < 3; i++) assertServed(await g.send(), false, `request ${i} during the cooldown`);
  assert.ok(Date.now() < until, 'the requests during the cooldown took too long to prove anything');
  assert.deepEqual(fake.keysSeen().slice(n0), [k2, k2, k2], 'a cooling credential received traffic');

  // back to valid by itself: no request in between
  const nQuiet = fake.requests.length;
  await sleep(Math.max(0, until - Date.now()) + 400);
  const back = await g.cred(k1);
  assert.equal(back.state, 'valid', `2 s after the 429: ${JSON.stringify(back)}`);
  assert.equal(fake.requests.length, nQuiet, 'recovery needed an upstream request');

  // and it receives traffic again (it is the least recently used one)
  const n1 = fake.requestsTo('/v1/messages').length;
  for (let i = 0; i < 2; i++) assertServed(await g.send(), false, `request ${i} after the cooldown`);
  assert.ok(fake.keysSeen().slice(n1).includes(k1), `k1 got no traffic after its cooldown: ${fake.keysSeen().slice(n1)}`);
});

test('a 529 storm on one upstream fails over to the other with no client error (JSON and streaming)', async (t) => {
  const g = await gateway(t, { upstreams: [{ name: 'a', priority: 10, keys: 2 }, { name: 'b', priority: 0 }] });
  const { a, b } = g.up;
  a.fake.setRules([{ path: '/v1/messages', scenario: 'error:529' }]);
  const plan = [false, true, false, true, true, false];
  const perRequest = [];
  for (const [i, stream] of plan.entries()) {
    const n0 = g.seen().length;
    assertServed(await g.send({ stream }), stream, `request ${i} (${stream ? 'stream' : 'JSON'})`);
    perRequest.push(g.seen().slice(n0).map((x) => x.name).join(''));
  }
  const aReqs = a.fake.requestsTo('/v1/messages');
  assert.ok(aReqs.length >= 1, 'the higher-priority upstream was never tried');
  assert.ok(aReqs.every((x) => x.responseStatus === 529));
  assert.equal(perRequest[0], 'ab', 'the first request: the priority-10 upstream, then the other');
  // a 529 skips the upstream's other credential for that request: at most one attempt on a
  for (const [i, p] of perRequest.entries()) assert.match(p, /^a?b$/, `request ${i}: attempts ${p} (a = the 529 upstream)`);
});

test('a hung upstream (no first byte) fails over after its first-byte timeout', async (t) => {
  const g = await gateway(t, {
    upstreams: [
      { name: 'a', priority: 10, fields: { first_byte_timeout_ms: 1000 } },
      { name: 'b', priority: 0 },
    ],
  });
  const { a, b } = g.up;
  a.fake.setRules([{ path: '/v1/messages', scenario: 'hang' }]);
  for (const stream of [false, true]) {
    const t0 = Date.now();
    const r = await g.send({ stream });
    const ms = Date.now() - t0;
    assertServed(r, stream, stream ? 'stream' : 'JSON');
    assert.ok(ms >= 900 && ms < 5000, `${stream ? 'stream' : 'JSON'}: answered after ${ms} ms (first-byte timeout 1000 ms)`);
  }
  assert.equal(a.fake.requestsTo('/v1/messages').length, 2);
  assert.equal(b.fake.requestsTo('/v1/messages').length, 2);
  // Clove gave up on the hung requests
  await waitFor(() => a.fake.requestsTo('/v1/messages').every((x) => x.aborted), { timeoutMs: 3000, what: 'hung upstream requests closed by Clove' });
});

test('a drop after the first byte ends the stream with event: error, no retry', async (t) => {
  const g = await gateway(t, { upstreams: [{ name: 'a', priority: 10, keys: 2 }, { name: 'b', priority: 0 }] });
  const { a, b } = g.up;
  a.fake.setRules([{ path: '/v1/messages', scenario: 'drop_after:4' }]);
  const r = await g.send({ stream: true });
  assert.equal(r.status, 200, describe(r));
  const up = a.fake.requestsTo('/v1/messages');
  assert.equal(up.length, 1, 'the dropped request was sent again on the same upstream');
  assert.deepEqual(
    r.events.slice(0, 4).map((e) => `${e.raw}\n\n`),
    up[0].sentFrames,
    'the events before the drop arrive unchanged',
  );
  const names = r.events.map((e) => e.event);
  assert.equal(names.length, 5, `events: ${names}`);
  assert.equal(names[4], 'error', `events: ${names}`);
  assert.equal(r.events[4].json?.type, 'error');
  assert.equal(r.events[4].json?.error?.type, 'api_error', r.events[4].data);
  assert.ok(!names.includes('message_stop'));
  await sleep(300);
  assert.equal(b.fake.requests.length, 0, 'the other upstream received a retry after bytes had reached the client');
  assert.equal(a.fake.requestsTo('/v1/messages').length, 1, 'retried on another credential after bytes had reached the client');
});

for (const status of [401, 403]) {
  test(`${status} marks a credential invalid with its reason; traffic avoids it; re-enabling restores it`, async (t) => {
    const g = await gateway(t, { upstreams: [{ name: 'a', keys: 2 }], viaApi: true });
    const { fake, keys } = g.up.a;
    const [k1, k2] = keys;
    fake.setRules([{ key: k1, path: '/v1/messages', scenario: `error:${status}` }]);
    let hit;
    for (let i = 0; i < 3 && !hit; i++) {
      assertServed(await g.send(), false, `request ${i}`);
      hit = fake.requestsTo('/v1/messages').find((x) => x.apiKey === k1);
    }
    assert.ok(hit, `k1 never tried: ${fake.keysSeen()}`);
    assert.deepEqual(fake.keysSeen().slice(-2), [k1, k2], `the ${status} went on to the other credential`);

    const c1 = await g.cred(k1);
    assert.equal(c1.state, 'invalid', JSON.stringify(c1));
    assert.equal(c1.enabled, true, 'invalid is not disabled');
    assert.equal(typeof c1.last_error, 'string', JSON.stringify(c1));
    assert.match(c1.last_error, new RegExp(`\\b${status}\\b`), `last_error ${c1.last_error}`);
    assert.match(c1.last_error, status === 401 ? /authentication_error/ : /permission_error/, `last_error ${c1.last_error}`);
    assert.ok(!c1.last_error.includes(k1), 'last_error shows the key');
    assert.equal((await g.cred(k2)).state, 'valid');

    // later traffic avoids it (the rule stays: a request to k1 would fail again)
    const n0 = fake.requestsTo('/v1/messages').length;
    for (let i = 0; i < 4; i++) assertServed(await g.send({ stream: i % 2 === 1 }), i % 2 === 1, `request ${i} after the ${status}`);
    assert.deepEqual(fake.keysSeen().slice(n0), [k2, k2, k2, k2], 'an invalid credential received traffic');

    // the operator re-enables it: valid, and it serves again
    fake.clearRules();
    const p = await g.api('PATCH', `/credentials/${g.credId(k1)}`, { enabled: true });
    assert.equal(p.status, 200, p.text);
    assert.equal(p.json.state, 'valid', p.text);
    assert.equal((await g.cred(k1)).state, 'valid');
    const n1 = fake.requestsTo('/v1/messages').length;
    for (let i = 0; i < 2; i++) assertServed(await g.send(), false, `request ${i} after re-enabling`);
    assert.ok(fake.keysSeen().slice(n1).includes(k1), `k1 got no traffic after re-enabling: ${fake.keysSeen().slice(n1)}`);
  });
}

test('sticky routing: the same cached prefix, and the same x-claude-code-session-id, stay on one credential', async (t) => {
  const g = await gateway(t, { upstreams: [{ name: 'a', keys: 3 }], viaApi: true });
  const { fake } = g.up.a;
  const keyOfLast = () => fake.requestsTo('/v1/messages').at(-1).apiKey;

  // control: without affinity, consecutive requests spread over the credentials
  const plainKeys = [];
  for (let i = 0; i < 6; i++) {
    assertServed(await g.send(), false, `plain ${i}`);
    plainKeys.push(keyOfLast());
  }
  assert.ok(new Set(plainKeys).size >= 2, `plain requests all used one credential (${plainKeys}); the test proves nothing`);

  // the same system prompt with a cache_control breakpoint, different questions after it,
  // interleaved with plain requests
  const system = [{ type: 'text', text: `You are a careful assistant. ${'Context. '.repeat(200)} ${hex(8)}`, cache_control: { type: 'ephemeral' } }];
  const cachedKeys = [];
  const otherKeys = [];
  for (let i = 0; i < 6; i++) {
    const stream = i % 2 === 1;
    const body = { model: MODEL, max_tokens: 32, ...(stream ? { stream: true } : {}), system, messages: [{ role: 'user', content: `question ${i} ${hex(4)}` }] };
    assertServed(await g.send({ body }), stream, `cached prefix ${i}`);
    cachedKeys.push(keyOfLast());
    assertServed(await g.send(), false, `plain between ${i}`);
    otherKeys.push(keyOfLast());
  }
  assert.equal(new Set(cachedKeys).size, 1, `one cached prefix went to several credentials: ${cachedKeys}`);
  assert.ok(new Set([...cachedKeys, ...otherKeys]).size >= 2, 'the other requests did not use the other credentials');

  // the same Claude Code session id, no cache_control, interleaved with plain requests
  const session = crypto.randomUUID();
  const sessionKeys = [];
  for (let i = 0; i < 6; i++) {
    const stream = i % 2 === 1;
    assertServed(await g.send({ stream, headers: { 'x-claude-code-session-id': session } }), stream, `session ${i}`);
    sessionKeys.push(keyOfLast());
    assertServed(await g.send(), false, `plain between ${i}`);
  }
  assert.equal(new Set(sessionKeys).size, 1, `one session went to several credentials: ${sessionKeys}`);
  assert.ok(
    fake.requestsTo('/v1/messages').every((x) => x.headers['x-claude-code-session-id'] === undefined || x.headers['x-claude-code-session-id'] === session),
    'session header changed',
  );
});

test('every candidate cooling down: 429 rate_limit_error with retry-after and the reset time (RFC 3339)', async (t) => {
  const g = await gateway(t, { upstreams: [{ name: 'a', keys: 2 }] });
  const { fake, keys } = g.up.a;
  const [k1, k2] = keys;
  fake.setRules([
    { key: k1, path: '/v1/messages', scenario: 'error:429,retry_after:3' },
    { key: k2, path: '/v1/messages', scenario: 'error:429,retry_after:5' },
  ]);
  // both credentials meet a 429: the last upstream 429 is relayed as it is
  const first = await g.send();
  const tried = fake.requestsTo('/v1/messages');
  assert.deepEqual([...fake.keysSeen()].sort(), [k1, k2].sort(), 'both credentials were tried');
  assert.equal(first.status, 429, describe(first));
  assert.equal(first.text, tried.at(-1).responseBody, 'the last upstream 429 is relayed byte for byte');
  assert.equal(first.headers['request-id'], tried.at(-1).requestId);
  assert.equal(first.headers['retry-after'], tried.at(-1).responseHeaders['retry-after']);
  const earliest = Math.min(...tried.map((x) => x.receivedAt + 1000 * Number(x.responseHeaders['retry-after'])));

  // now nothing is available: Clove's own 429, without an upstream request
  for (const stream of [false, true]) {
    const n0 = fake.requests.length;
    const r = await g.send({ stream });
    const now = Date.now();
    assert.deepEqual(anthropicErrorProblems(r, 429, 'rate_limit_error'), [], describe(r));
    assert.equal(fake.requests.length, n0, 'a cooling credential was tried');
    const ra = r.headers['retry-after'];
    assert.match(String(ra), /^\d+$/, `retry-after ${ra}`);
    assert.ok(Number(ra) >= 1 && Number(ra) <= 4, `retry-after ${ra}, the earliest reset is ~${((earliest - now) / 1000).toFixed(1)} s away`);
    const msg = r.json().error.message;
    assert.match(msg, new RegExp(`all 2 credentials for model "${MODEL}" are rate-limited until `), msg);
    const m = /rate-limited until (\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d))/.exec(msg);
    assert.ok(m && RFC3339.test(m[1]), `no RFC 3339 time at the end of: ${msg}`);
    const at = Date.parse(m[1]);
    assert.ok(Math.abs(at - earliest) <= 1100, `reset ${m[1]} is not the earliest reset ${new Date(earliest).toISOString()}`);
    assert.ok(Math.abs(now + 1000 * Number(ra) - at) <= 1100, `retry-after ${ra} does not match the reset ${m[1]}`);
  }
  for (const k of keys) assert.equal((await g.cred(k)).state, 'cooling_down');
});

test('a 400 (404, 413) from the upstream is relayed and not retried', async (t) => {
  const g = await gateway(t, { upstreams: [{ name: 'a', priority: 10, keys: 2 }, { name: 'b', priority: 0, keys: 2 }] });
  for (const [status, stream] of [
    [400, false],
    [400, true],
    [404, false],
    [413, false],
  ]) {
    const n0 = g.seen().length;
    const r = await g.send({ stream, scenario: `error:${status}` });
    const attempts = g.seen().slice(n0);
    assert.equal(attempts.length, 1, `${status}: ${attempts.length} upstream attempts (${attempts.map((x) => `${x.name}:${x.rec.responseStatus}`)})`);
    assert.equal(r.status, status, describe(r));
    assert.equal(r.text, attempts[0].rec.responseBody, `${status}: body relayed byte for byte`);
    assert.equal(r.headers['request-id'], attempts[0].rec.requestId);
  }
  for (const name of ['a', 'b']) {
    for (const k of g.up[name].keys) assert.equal((await g.cred(k)).state, 'valid', 'a client error changed a credential state');
  }
});

test('one credential: a 529 is relayed faithfully (status, type, retry-after) after exactly one upstream attempt', async (t) => {
  const g = await gateway(t, { upstreams: [{ name: 'a', keys: 1 }] });
  const { fake, keys } = g.up.a;
  // several in a row: the credential cools down after the first ones but stays the last resort
  for (const [i, stream] of [false, true, false, true].entries()) {
    const n0 = fake.requests.length;
    const r = await g.send({ stream, scenario: 'error:529' });
    const attempts = fake.requests.slice(n0);
    assert.equal(attempts.length, 1, `request ${i}: ${attempts.length} upstream attempts`);
    assert.equal(r.status, 529, describe(r));
    assert.equal(r.text, attempts[0].responseBody, 'body relayed byte for byte');
    assert.equal(r.json().error.type, 'overloaded_error');
    assert.equal(r.headers['retry-after'], '7');
    assert.equal(r.headers['request-id'], attempts[0].requestId);
    assert.match(r.headers['content-type'] ?? '', /^application\/json/);
  }
  const c = await g.cred(keys[0]);
  assert.equal(c.state, 'cooling_down', `after 4 consecutive 529: ${JSON.stringify(c)}`);
  // the storm is over: the last-resort credential still serves
  assertServed(await g.send(), false, 'after the storm');
});

test('a late first byte: keepalive comments before the events; the official SDK parses the stream', async (t) => {
  const g = await gateway(t, { upstreams: [{ name: 'a' }], settings: { first_byte_keepalive_ms: 300 } });
  const { fake } = g.up.a;

  const raw = g.send({ stream: true, scenario: 'slow:1300', text: 'raw' });
  const sdk = new Anthropic({ baseURL: g.clove.url, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 20000 });
  const viaSdk = sdk.messages.stream({ model: MODEL, max_tokens: 32, messages: [{ role: 'user', content: 'sdk' }] }, { headers: { 'x-fake-scenario': 'slow:1300' } }).finalMessage();
  const viaSdkIter = (async () => {
    const s = await sdk.messages.create(
      { model: MODEL, max_tokens: 32, stream: true, messages: [{ role: 'user', content: 'sdk iter' }] },
      { headers: { 'x-fake-scenario': 'slow:1300' } },
    );
    const types = [];
    for await (const ev of s) types.push(ev.type);
    return types;
  })();
  const [r, msg, types] = await Promise.all([raw, viaSdk, viaSdkIter]);

  assert.equal(r.status, 200, describe(r));
  assert.match(r.headers['content-type'] ?? '', /^text\/event-stream/);
  assert.ok(r.headersAt < 1100, `the head came after ${r.headersAt} ms; the upstream answered at 1300 ms, keepalive every 300 ms`);
  assert.ok(r.text.startsWith(KEEPALIVE), `the body starts with ${JSON.stringify(r.text.slice(0, 40))}`);
  const firstEvent = r.text.indexOf('event: ');
  const before = r.text.slice(0, firstEvent);
  const n = before.split(KEEPALIVE).length - 1;
  assert.equal(before, KEEPALIVE.repeat(n), `before the first event: ${JSON.stringify(before)}`);
  assert.ok(n >= 2, `${n} keepalive comments during 1300 ms at 300 ms`);
  const up = fake.requestsTo('/v1/messages').find((x) => x.json?.messages?.[0]?.content === 'raw');
  assert.equal(r.text.slice(firstEvent), up.sentFrames.join(''), 'the upstream events follow unchanged');
  assert.deepEqual(grammarProblems(r.events), []);

  assert.equal(msg.content[0].text, expectedText({}), 'SDK stream().finalMessage()');
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(types[0], 'message_start');
  assert.equal(types.at(-1), 'message_stop');

  // a JSON request with the same late upstream is answered as JSON, no keepalive bytes
  const j = await g.send({ scenario: 'slow:800' });
  assert.equal(j.status, 200, describe(j));
  assert.match(j.headers['content-type'] ?? '', /^application\/json/);
  assert.equal(j.json().content[0].text, expectedText({}));
});

test('mid-stream silence: keepalive comments between events; the official SDK parses the stream', async (t) => {
  const g = await gateway(t, { upstreams: [{ name: 'a' }], settings: { keepalive_interval_ms: 300 } });
  const { fake } = g.up.a;
  const scenario = 'interval:700,deltas:1';
  const raw = g.send({ stream: true, scenario, text: 'raw' });
  const sdk = new Anthropic({ baseURL: g.clove.url, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 20000 });
  const texts = [];
  const stream = sdk.messages.stream({ model: MODEL, max_tokens: 32, messages: [{ role: 'user', content: 'sdk' }] }, { headers: { 'x-fake-scenario': scenario } });
  stream.on('text', (x) => texts.push(x));
  const [r, msg] = await Promise.all([raw, stream.finalMessage()]);

  assert.equal(r.status, 200, describe(r));
  assert.deepEqual(grammarProblems(r.events), []);
  // the body is events and keepalive comments, each a whole block (at event boundaries)
  const blocks = r.text.split('\n\n');
  assert.equal(blocks.pop(), '', 'the body ends with a complete block');
  const kinds = blocks.map((b) => (b === ': keepalive' ? 'k' : b.startsWith('event: ') ? 'e' : `?${b}`));
  assert.deepEqual(
    kinds.filter((k) => k.startsWith('?')),
    [],
    'blocks that are neither events nor keepalive comments (a comment inside an event?)',
  );
  const gaps = kinds.join('').replace(/^k+/, '').split('e').slice(1, -1);
  assert.equal(gaps.length, r.events.length - 1);
  assert.ok(
    gaps.every((x) => x.length >= 1),
    `700 ms silences without a keepalive (every 300 ms): ${kinds.join('')}`,
  );
  const up = fake.requestsTo('/v1/messages').find((x) => x.json?.messages?.[0]?.content === 'raw');
  assert.equal(r.text.split(KEEPALIVE).join(''), up.sentFrames.join(''), 'without the comments the body is the upstream stream');

  assert.equal(msg.content[0].text, expectedText({ deltas: '1' }));
  assert.deepEqual(texts, [expectedText({ deltas: '1' })]);
});

test('health checks: a probe answered 401 marks a credential invalid without client traffic; a later success revives it', async (t) => {
  const g = await gateway(t, {
    upstreams: [{ name: 'a', keys: 2, fields: { health_check: 'models', health_check_interval_ms: 1000 } }],
  });
  const { fake, keys } = g.up.a;
  const [k0, k1] = keys;
  fake.setRules([{ key: k0, path: '/v1/models', scenario: 'error:401' }]);
  await waitFor(async () => (await g.cred(k0)).state === 'invalid', { timeoutMs: 5000, what: 'k0 invalid by probe' });
  const c0 = await g.cred(k0);
  assert.match(c0.last_error ?? '', /health check: HTTP 401/, JSON.stringify(c0));
  assert.equal((await g.cred(k1)).state, 'valid');
  // the probes used the models list (free), and nobody sent a message
  assert.ok(fake.requests.some((r) => r.path.startsWith('/v1/models') && r.apiKey === k0));
  assert.equal(fake.requests.filter((r) => r.path === '/v1/messages').length, 0);
  // traffic avoids the invalid credential
  for (let i = 0; i < 4; i++) assert.equal((await g.send()).status, 200);
  assert.deepEqual([...new Set(fake.requests.filter((r) => r.path === '/v1/messages').map((r) => r.apiKey))], [k1]);
  // the key works again (re-issued upstream): the next probe revives it
  fake.clearRules();
  await waitFor(async () => (await g.cred(k0)).state === 'valid', { timeoutMs: 5000, what: 'k0 valid again by probe' });
  // 'message' probes spend one token on the first concrete model
  const r = await g.api('PATCH', `/upstreams/${g.up.a.id}`, { health_check: 'message', health_check_interval_ms: 1000 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.health_check, 'message');
  await waitFor(() => fake.requests.some((x) => x.path === '/v1/messages' && x.json?.max_tokens === 1), {
    timeoutMs: 5000,
    what: 'a 1-token message probe',
  });
  const bad = await g.api('PATCH', `/upstreams/${g.up.a.id}`, { health_check: 'sometimes' });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(JSON.parse(bad.text).error.field, 'health_check');
});

test('queueing (opt-in): with every credential cooling, a request waits for the reset instead of failing; bounded', async (t) => {
  const g = await gateway(t, { upstreams: [{ name: 'a', keys: 1 }], settings: { queue_timeout_ms: 3000 } });
  const { fake, keys } = g.up.a;
  fake.setRules([{ key: keys[0], path: '/v1/messages', scenario: 'error:429,retry_after:1', times: 1 }]);
  const first = await g.send();
  assert.equal(first.status, 429, first.text);  // the upstream's own 429, relayed (nothing else to try)
  assert.equal((await g.cred(keys[0])).state, 'cooling_down');
  const t0 = Date.now();
  const queued = await g.send({ stream: true });
  const waited = Date.now() - t0;
  assert.equal(queued.status, 200, queued.text);
  assert.ok(waited >= 700 && waited < 2500, `waited ${waited} ms for a 1 s cooldown`);
  // a cooldown longer than the queue bound answers 429 after the bound, not later
  fake.setRules([{ key: keys[0], path: '/v1/messages', scenario: 'error:429,retry_after:30', times: 1 }]);
  assert.equal((await g.send()).status, 429);
  const t1 = Date.now();
  const late = await g.send();
  const waited2 = Date.now() - t1;
  assert.equal(late.status, 429, late.text);
  assert.equal(JSON.parse(late.text).error.type, 'rate_limit_error');
  assert.ok(waited2 >= 2800 && waited2 < 4500, `answered after ${waited2} ms with queue_timeout_ms 3000`);
  // off: at once
  assert.equal((await g.api('PATCH', '/settings', { queue_timeout_ms: 0 })).status, 200);
  const t2 = Date.now();
  assert.equal((await g.send()).status, 429);
  assert.ok(Date.now() - t2 < 500);
});

test('queueing: a stream waiting in the queue gets keepalive comments, then its events (or an error event at the bound)', async (t) => {
  const g = await gateway(t, {
    upstreams: [{ name: 'a', keys: 1 }],
    settings: { queue_timeout_ms: 2500, first_byte_keepalive_ms: 300 },
  });
  const { fake, keys } = g.up.a;
  fake.setRules([{ key: keys[0], path: '/v1/messages', scenario: 'error:429,retry_after:2', times: 1 }]);
  assert.equal((await g.send()).status, 429);
  const r = await g.send({ stream: true });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.text.startsWith(': keepalive\n\n'), r.text.slice(0, 80));
  assert.ok(r.text.includes('event: message_stop'), 'the stream completed after the queue');
  // a cooldown beyond the bound: the head already went out, so the 429 becomes an error event
  fake.setRules([{ key: keys[0], path: '/v1/messages', scenario: 'error:429,retry_after:30', times: 1 }]);
  assert.equal((await g.send()).status, 429);
  const late = await g.send({ stream: true });
  assert.equal(late.status, 200);
  assert.ok(late.text.includes(': keepalive'), late.text.slice(0, 120));
  assert.match(late.text, /event: error\ndata: \{"type":"error","error":\{"type":"rate_limit_error"/);
  assert.ok(!late.text.includes('message_stop'));
});
