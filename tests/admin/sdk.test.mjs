// The official @anthropic-ai/sdk works with a client key created through the admin API, and stops
// working the moment the key is disabled or deleted. Both backends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { expectedText, countTokensFor } from '../fake_upstream/server.mjs';
import { UPSTREAM_KEY } from '../lib/clove.mjs';
import { forEachBackend, startEnv, create, MODEL } from './_admin.mjs';

forEachBackend('SDK with an API-created key', (backend) => {
  test('messages, streaming, count_tokens and models; disable/delete → AuthenticationError', async (t) => {
    const env = await startEnv(t, backend);
    const k = await create(env, '/keys', { name: 'sdk-user' });
    const client = new Anthropic({ baseURL: env.url, apiKey: k.key, maxRetries: 0, timeout: 20000 });

    const msg = await client.messages.create({ model: MODEL, max_tokens: 32, messages: [{ role: 'user', content: 'Say hello.' }] });
    assert.equal(msg.type, 'message');
    assert.equal(msg.content[0].text, expectedText());
    const up = env.fake.requestsTo('/v1/messages').at(-1);
    assert.equal(up.headers['x-api-key'], UPSTREAM_KEY);
    assert.ok(!JSON.stringify(up.rawHeaders).includes(k.key), 'the client key reached the upstream');

    const stream = client.messages.stream({ model: MODEL, max_tokens: 32, messages: [{ role: 'user', content: 'Stream please.' }] });
    let text = '';
    stream.on('text', (d) => (text += d));
    const final = await stream.finalMessage();
    assert.equal(text, expectedText());
    assert.equal(final.stop_reason, 'end_turn');

    const ct = await client.messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'count me' }] });
    assert.equal(ct.input_tokens, countTokensFor(env.fake.requestsTo('/v1/messages/count_tokens').at(-1).body));

    const models = [];
    for await (const m of client.models.list({ limit: 3 })) models.push(m.id);
    assert.ok(models.length >= 3, `models: ${models}`);

    // a client using Bearer (authToken) works too
    const bearer = new Anthropic({ baseURL: env.url, authToken: k.key, apiKey: null, maxRetries: 0, timeout: 20000 });
    const m2 = await bearer.messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(m2.content[0].text, expectedText());

    const isAuthError = (err) => {
      assert.ok(err instanceof Anthropic.AuthenticationError, `got ${err && err.constructor.name}: ${err && err.message}`);
      assert.equal(err.status, 401);
      return true;
    };
    assert.equal((await env.api('PATCH', `/keys/${k.id}`, { enabled: false })).status, 200);
    await assert.rejects(client.messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }), isAuthError);
    assert.equal((await env.api('PATCH', `/keys/${k.id}`, { enabled: true })).status, 200);
    const again = await client.messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(again.content[0].text, expectedText());
    assert.equal((await env.api('DELETE', `/keys/${k.id}`)).status, 204);
    await assert.rejects(
      client.messages.stream({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }).finalMessage(),
      isAuthError,
    );
  });
});
