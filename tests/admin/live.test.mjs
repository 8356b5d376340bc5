// Changes made through the admin API take effect on the next proxied request, without a restart;
// requests in flight keep the configuration they started with (docs/admin-api.md intro).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream, expectedText } from '../fake_upstream/server.mjs';
import { UPSTREAM_KEY } from '../lib/clove.mjs';
import { request } from '../lib/http.mjs';
import { forEachBackend, startEnv, create, seededUpstream, describeRes, randomKey, MODEL, CLIENT_KEY } from './_admin.mjs';

async function extraFake(t) {
  const f = await startFakeUpstream();
  t.after(() => f.close());
  return f;
}

const modelsSeen = (fake) => fake.requestsTo('/v1/messages').map((r) => JSON.parse(r.body.toString('utf8')).model);

forEachBackend('live changes', (backend) => {
  test('a new upstream with a model glob is routable at once; disable/delete apply at once', async (t) => {
    const env = await startEnv(t, backend);
    const fake2 = await extraFake(t);
    const before = await env.messages({ model: 'gpt-live-1' });
    assert.ok(before.status >= 400 && before.status < 500, `no upstream serves gpt-live-1 yet: ${describeRes(before)}`);
    assert.equal(fake2.requests.length, 0);

    const k2 = randomKey('sk-second-');
    const up = await create(env, '/upstreams', { name: 'second', base_url: fake2.url, models: ['gpt-live-*'], credentials: [k2] });
    const r = await env.messages({ model: 'gpt-live-1' });
    assert.equal(r.status, 200, describeRes(r));
    assert.equal(fake2.requestsTo('/v1/messages').length, 1);
    assert.equal(fake2.requestsTo('/v1/messages')[0].headers['x-api-key'], k2);
    assert.deepEqual(modelsSeen(fake2), ['gpt-live-1']);
    assert.equal(env.fake.requestsTo('/v1/messages').length, 0, 'the seeded upstream got the gpt request');
    // claude models still go to the seeded upstream
    assert.equal((await env.messages({ model: MODEL })).status, 200);
    assert.equal(env.fake.requestsTo('/v1/messages').length, 1);

    assert.equal((await env.api('PATCH', `/upstreams/${up.id}`, { enabled: false })).status, 200);
    const off = await env.messages({ model: 'gpt-live-2' });
    assert.ok(off.status >= 400, `disabled upstream still serves: ${describeRes(off)}`);
    assert.equal(fake2.requestsTo('/v1/messages').length, 1);
    assert.equal((await env.api('PATCH', `/upstreams/${up.id}`, { enabled: true })).status, 200);
    assert.equal((await env.messages({ model: 'gpt-live-3' })).status, 200);
    assert.equal(fake2.requestsTo('/v1/messages').length, 2);

    assert.equal((await env.api('PATCH', `/upstreams/${up.id}`, { models: ['gpt-other-*'] })).status, 200);
    const moved = await env.messages({ model: 'gpt-live-4' });
    assert.ok(moved.status >= 400, `old glob still routed: ${describeRes(moved)}`);
    assert.equal((await env.messages({ model: 'gpt-other-1' })).status, 200);
    assert.equal(fake2.requestsTo('/v1/messages').length, 3);

    assert.equal((await env.api('DELETE', `/upstreams/${up.id}`)).status, 204);
    const gone = await env.messages({ model: 'gpt-other-2' });
    assert.ok(gone.status >= 400, `deleted upstream still serves: ${describeRes(gone)}`);
    assert.equal(fake2.requestsTo('/v1/messages').length, 3);
  });

  test('model_map changes: the upstream receives the new model name at once', async (t) => {
    const env = await startEnv(t, backend);
    const up = await seededUpstream(env);
    assert.equal((await env.messages({ model: 'claude-latest' })).status, 200);
    assert.deepEqual(modelsSeen(env.fake), ['claude-sonnet-4-5']);

    let p = await env.api('PATCH', `/upstreams/${up.id}`, { model_map: { 'claude-latest': 'claude-opus-4-1', 'my-alias': 'claude-haiku-4-5' } });
    assert.equal(p.status, 200, describeRes(p));
    assert.equal((await env.messages({ model: 'claude-latest' })).status, 200);
    // a mapped name is served even if no glob matches it
    const alias = await env.messages({ model: 'my-alias' });
    assert.equal(alias.status, 200, describeRes(alias));
    assert.deepEqual(modelsSeen(env.fake), ['claude-sonnet-4-5', 'claude-opus-4-1', 'claude-haiku-4-5']);

    p = await env.api('PATCH', `/upstreams/${up.id}`, { model_map: {} });
    assert.equal(p.status, 200, describeRes(p));
    assert.equal((await env.messages({ model: 'claude-latest' })).status, 200);
    assert.equal(modelsSeen(env.fake).at(-1), 'claude-latest', 'an emptied model_map still renames');
    const noAlias = await env.messages({ model: 'my-alias' });
    assert.ok(noAlias.status >= 400, `alias still routed: ${describeRes(noAlias)}`);
  });

  test('priority and base_url changes reroute the next request', async (t) => {
    const env = await startEnv(t, backend);
    const fake3 = await extraFake(t);
    const seeded = await seededUpstream(env);
    const k3 = randomKey('sk-third-');
    const third = await create(env, '/upstreams', { name: 'third', base_url: fake3.url, models: ['claude-*'], priority: 10, credentials: [k3] });
    for (let i = 0; i < 4; i++) assert.equal((await env.messages()).status, 200);
    assert.equal(fake3.requestsTo('/v1/messages').length, 4, 'the higher-priority upstream serves');
    assert.equal(env.fake.requestsTo('/v1/messages').length, 0);
    assert.ok(fake3.requestsTo('/v1/messages').every((r) => r.headers['x-api-key'] === k3));

    assert.equal((await env.api('PATCH', `/upstreams/${third.id}`, { priority: -10 })).status, 200);
    for (let i = 0; i < 4; i++) assert.equal((await env.messages()).status, 200);
    assert.equal(env.fake.requestsTo('/v1/messages').length, 4, 'priority change did not apply');
    assert.equal(fake3.requestsTo('/v1/messages').length, 4);

    // move the seeded upstream to fake3's address: its own credential goes there
    assert.equal((await env.api('PATCH', `/upstreams/${seeded.id}`, { base_url: fake3.url })).status, 200);
    assert.equal((await env.messages()).status, 200);
    assert.equal(fake3.requestsTo('/v1/messages').length, 5);
    assert.equal(fake3.requestsTo('/v1/messages').at(-1).headers['x-api-key'], UPSTREAM_KEY);
  });

  test('a stream in flight keeps the configuration it started with', async (t) => {
    const env = await startEnv(t, backend);
    const fake3 = await extraFake(t);
    const seeded = await seededUpstream(env);
    const scenario = 'deltas:6,interval:250';
    const streaming = request(`${env.url}/v1/messages`, {
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': CLIENT_KEY, 'x-fake-scenario': scenario },
      body: JSON.stringify({ model: MODEL, max_tokens: 32, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      timeoutMs: 20000,
    });
    // wait until the stream is running, then move the upstream and disable the key
    const deadline = Date.now() + 5000;
    while (env.fake.requestsTo('/v1/messages').length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal((await env.api('PATCH', `/upstreams/${seeded.id}`, { base_url: fake3.url })).status, 200);
    const s = await streaming;
    assert.equal(s.status, 200);
    assert.ok(s.complete, `stream did not complete: ${s.error}`);
    const text = s.events
      .filter((e) => e.event === 'content_block_delta')
      .map((e) => JSON.parse(e.data).delta.text ?? '')
      .join('');
    assert.equal(text, expectedText({ deltas: 6 }));
    assert.ok(s.events.some((e) => e.event === 'message_stop'));
    assert.equal(fake3.requests.length, 0, 'the running stream was moved');
    assert.equal((await env.messages()).status, 200);
    assert.equal(fake3.requestsTo('/v1/messages').length, 1, 'the next request did not see the change');
  });
});
