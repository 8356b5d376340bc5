// Admin API: prices (docs/admin-api.md "Prices"), both backends. Cost computation from prices is
// checked in usage.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachBackend, startEnv, get, assertError, describeRes, expect400s, waitAudit } from './_admin.mjs';

const close = (a, b) => Math.abs(a - b) <= 1e-9 + 1e-9 * Math.abs(b);

function assertPriceShape(p) {
  assert.equal(typeof p.model, 'string', JSON.stringify(p));
  assert.ok(p.model.length > 0);
  for (const f of ['input', 'output', 'cache_write_5m', 'cache_write_1h', 'cache_read']) {
    assert.equal(typeof p[f], 'number', `${f} in ${JSON.stringify(p)}`);
    assert.ok(p[f] >= 0, `${f} in ${JSON.stringify(p)}`);
  }
  assert.ok(['builtin', 'custom'].includes(p.source), `source in ${JSON.stringify(p)}`);
}

const enc = (m) => encodeURIComponent(m);

forEachBackend('prices', (backend) => {
  test('built-in prices are listed', async (t) => {
    const env = await startEnv(t, backend);
    const list = await get(env, '/prices');
    assert.ok(Array.isArray(list.data) && list.data.length > 0, JSON.stringify(list));
    for (const p of list.data) {
      assertPriceShape(p);
      assert.equal(p.source, 'builtin');
    }
    assert.ok(list.data.some((p) => /sonnet/.test(p.model)), 'no Sonnet price');
    assert.ok(list.data.some((p) => /opus/.test(p.model)), 'no Opus price');
    assert.ok(list.data.some((p) => /haiku/.test(p.model)), 'no Haiku price');
    assert.equal(new Set(list.data.map((p) => p.model)).size, list.data.length, 'a model pattern is listed twice');
  });

  test('PUT with derived cache prices, replace, DELETE (+ audit)', async (t) => {
    const env = await startEnv(t, backend);
    const model = 'claude-test-*';
    let r = await env.api('PUT', `/prices/${enc(model)}`, { input: 2, output: 10 });
    assert.equal(r.status, 200, describeRes(r));
    assertPriceShape(r.json);
    assert.equal(r.json.model, model);
    assert.equal(r.json.source, 'custom');
    assert.ok(close(r.json.input, 2) && close(r.json.output, 10), r.text);
    assert.ok(close(r.json.cache_write_5m, 2.5), `cache_write_5m = 1.25 × input: ${r.text}`);
    assert.ok(close(r.json.cache_write_1h, 4), `cache_write_1h = 2 × input: ${r.text}`);
    assert.ok(close(r.json.cache_read, 0.2), `cache_read = 0.1 × input: ${r.text}`);
    let listed = (await get(env, '/prices')).data.filter((p) => p.model === model);
    assert.deepEqual(listed, [r.json]);
    await waitAudit(env, (e) => /price/i.test(String(e.resource)) && JSON.stringify(e).includes('claude-test-'), 'price put');

    const full = { input: 0.5, output: 1.5, cache_write_5m: 0.7, cache_write_1h: 0.9, cache_read: 0 };
    r = await env.api('PUT', `/prices/${enc(model)}`, full);
    assert.equal(r.status, 200, describeRes(r));
    for (const [k, v] of Object.entries(full)) assert.ok(close(r.json[k], v), `${k}: ${r.text}`);
    listed = (await get(env, '/prices')).data.filter((p) => p.model === model);
    assert.equal(listed.length, 1, 'PUT twice must replace, not add');

    // zero prices are valid
    r = await env.api('PUT', `/prices/${enc('free-model')}`, { input: 0, output: 0 });
    assert.equal(r.status, 200, describeRes(r));
    assert.equal(r.json.cache_write_5m, 0);

    const d = await env.api('DELETE', `/prices/${enc(model)}`);
    assert.equal(d.status, 204, describeRes(d));
    assert.ok(!(await get(env, '/prices')).data.some((p) => p.model === model));
    assertError(await env.api('DELETE', `/prices/${enc(model)}`), 404, 'not_found_error');
    assertError(await env.api('DELETE', `/prices/${enc('never-priced-model')}`), 404, 'not_found_error');
    await waitAudit(env, (e) => /price/i.test(String(e.resource)) && /delete|remove/i.test(String(e.action)), 'price delete');
  });

  test('overriding a built-in price and falling back to it', async (t) => {
    const env = await startEnv(t, backend);
    const builtins = (await get(env, '/prices')).data;
    const b = builtins.find((p) => /sonnet/.test(p.model)) ?? builtins[0];
    const r = await env.api('PUT', `/prices/${enc(b.model)}`, { input: b.input + 1, output: b.output + 2 });
    assert.equal(r.status, 200, describeRes(r));
    assert.equal(r.json.source, 'custom');
    let entries = (await get(env, '/prices')).data.filter((p) => p.model === b.model);
    assert.equal(entries.length, 1, `one entry per pattern: ${JSON.stringify(entries)}`);
    assert.equal(entries[0].source, 'custom');
    assert.ok(close(entries[0].input, b.input + 1));
    const d = await env.api('DELETE', `/prices/${enc(b.model)}`);
    assert.equal(d.status, 204, describeRes(d));
    entries = (await get(env, '/prices')).data.filter((p) => p.model === b.model);
    assert.deepEqual(entries, [b], 'the built-in default is back after DELETE');
  });

  test('the model in the path is URL-decoded', async (t) => {
    const env = await startEnv(t, backend);
    const model = 'claude-enc?-*';
    const r = await env.api('PUT', `/prices/${enc(model)}`, { input: 1, output: 1 });
    assert.equal(r.status, 200, describeRes(r));
    assert.equal(r.json.model, model);
    assert.ok((await get(env, '/prices')).data.some((p) => p.model === model));
    const d = await env.api('DELETE', `/prices/${enc(model)}`);
    assert.equal(d.status, 204, describeRes(d));
    // %2A and * name the same pattern
    const r2 = await env.api('PUT', '/prices/claude-star-%2A', { input: 1, output: 1 });
    assert.equal(r2.status, 200, describeRes(r2));
    assert.equal(r2.json.model, 'claude-star-*');
    assert.equal((await env.api('DELETE', '/prices/claude-star-*')).status, 204);
  });

  test('validation: 400 with error.field', async (t) => {
    const env = await startEnv(t, backend);
    const path = `/prices/${enc('claude-val-*')}`;
    await expect400s(env, 'PUT', path, [
      ['no prices', {}, 'input'],
      ['no output', { input: 1 }, 'output'],
      ['no input', { output: 1 }, 'input'],
      ['negative input', { input: -1, output: 1 }, 'input'],
      ['negative output', { input: 1, output: -0.5 }, 'output'],
      ['input as string', { input: '1', output: 1 }, 'input'],
      ['input null', { input: null, output: 1 }, 'input'],
      ['negative cache_read', { input: 1, output: 1, cache_read: -1 }, 'cache_read'],
      ['cache_write_5m as string', { input: 1, output: 1, cache_write_5m: 'x' }, 'cache_write_5m'],
      ['cache_write_1h negative', { input: 1, output: 1, cache_write_1h: -2 }, 'cache_write_1h'],
      ['unknown field', { input: 1, output: 1, bogus: 1 }, 'bogus'],
      ['source is read-only', { input: 1, output: 1, source: 'builtin' }, 'source'],
      ['malformed JSON', '{"input": 1,', undefined],
    ]);
    assert.ok(!(await get(env, '/prices')).data.some((p) => p.model === 'claude-val-*'), 'an invalid PUT stored a price');
  });
});
