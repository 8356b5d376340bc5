// Admin API: upstreams (docs/admin-api.md "Upstreams"), both database backends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UPSTREAM_KEY } from '../lib/clove.mjs';
import {
  forEachBackend,
  startEnv,
  create,
  get,
  seededUpstream,
  assertError,
  describeRes,
  expect400s,
  expectRejectedPatches,
  expect404s,
  assertNames,
  waitAudit,
  auditFor,
  assertAuditShape,
  isTime,
  randomKey,
  stripSlash,
} from './_admin.mjs';

const UPSTREAM_FIELDS = [
  'id',
  'name',
  'kind',
  'base_url',
  'auth',
  'models',
  'model_map',
  'priority',
  'weight',
  'enabled',
  'connect_timeout_ms',
  'first_byte_timeout_ms',
  'stream_idle_timeout_ms',
  'credentials',
  'created_at',
  'updated_at',
];

function assertUpstreamShape(u) {
  for (const f of UPSTREAM_FIELDS) assert.ok(f in u, `upstream lacks "${f}": ${JSON.stringify(u)}`);
  assert.match(u.id, /^up_[A-Za-z0-9_-]+$/, 'id');
  assert.ok(isTime(u.created_at), `created_at ${u.created_at}`);
  assert.ok(isTime(u.updated_at), `updated_at ${u.updated_at}`);
  assert.ok(Number.isInteger(u.credentials.total) && Number.isInteger(u.credentials.enabled), JSON.stringify(u.credentials));
  assert.ok(!('api_key' in u) && !('key' in u) && !('keys' in u), `secret-bearing field in ${JSON.stringify(u)}`);
}

/** Asserts each field of `want` on the upstream u (base_url compared without trailing slashes). */
function assertUpstreamFields(u, want) {
  for (const [k, v] of Object.entries(want)) {
    const msg = `${k}: ${JSON.stringify(u[k])}, want ${JSON.stringify(v)}`;
    if (k === 'base_url') assert.equal(stripSlash(u[k]), v, msg);
    else assert.deepEqual(u[k], v, msg);
  }
}

forEachBackend('upstreams', (backend) => {
  test('the config file seeded one upstream with one credential', async (t) => {
    const env = await startEnv(t, backend);
    const list = await get(env, '/upstreams');
    assert.ok(Array.isArray(list.data), JSON.stringify(list));
    assert.equal(list.data.length, 1, JSON.stringify(list));
    const u = list.data[0];
    assertUpstreamShape(u);
    assertUpstreamFields(u, {
      name: 'fake',
      kind: 'anthropic',
      base_url: stripSlash(env.fake.url),
      auth: 'key',
      models: ['claude-*'],
      model_map: { 'claude-latest': 'claude-sonnet-4-5' },
      priority: 0,
      weight: 1,
      enabled: true,
      connect_timeout_ms: 5000,
      first_byte_timeout_ms: 600000,
      stream_idle_timeout_ms: 300000,
      credentials: { total: 1, enabled: 1 },
    });
    assert.ok(!JSON.stringify(list).includes(UPSTREAM_KEY), 'upstream key in the list response');
    assert.deepEqual(await get(env, `/upstreams/${u.id}`), u);
  });

  test('create with defaults, get, list order, patch, delete (+ audit)', async (t) => {
    const env = await startEnv(t, backend);
    const before = Date.now();
    const created = await create(env, '/upstreams', { name: 'mini', base_url: 'http://127.0.0.1:9' });
    assertUpstreamShape(created);
    assertUpstreamFields(created, {
      name: 'mini',
      kind: 'anthropic',
      base_url: 'http://127.0.0.1:9',
      auth: 'key',
      models: ['claude-*'],
      model_map: {},
      priority: 0,
      weight: 1,
      enabled: true,
      // timeouts default to the settings' defaults
      connect_timeout_ms: 10000,
      first_byte_timeout_ms: 600000,
      stream_idle_timeout_ms: 300000,
      credentials: { total: 0, enabled: 0 },
    });
    assert.ok(Date.parse(created.created_at) >= before - 5000 && Date.parse(created.created_at) <= Date.now() + 5000, created.created_at);
    assert.deepEqual(await get(env, `/upstreams/${created.id}`), created);

    // ordered by priority desc, then name
    await create(env, '/upstreams', { name: 'b-high', base_url: 'http://127.0.0.1:9', priority: 5 });
    await create(env, '/upstreams', { name: 'a-high', base_url: 'http://127.0.0.1:9', priority: 5 });
    await create(env, '/upstreams', { name: 'z-low', base_url: 'http://127.0.0.1:9', priority: -3 });
    await assertNames(env, '/upstreams', ['a-high', 'b-high', 'fake', 'mini', 'z-low']);

    const auditCreate = await waitAudit(env, auditFor('create', created.id, /upstream/), 'upstream create');
    assertAuditShape(auditCreate);

    // PATCH a subset: the rest is unchanged
    const patch = {
      priority: 7,
      weight: 3,
      models: ['gpt-x-*', 'claude-?-test'],
      model_map: { alias: 'claude-opus-4-1' },
      enabled: false,
      connect_timeout_ms: 1,
      first_byte_timeout_ms: 3600000,
      base_url: 'https://example.invalid/prefix',
    };
    const r = await env.api('PATCH', `/upstreams/${created.id}`, patch);
    assert.equal(r.status, 200, describeRes(r));
    const patched = r.json;
    assertUpstreamShape(patched);
    assertUpstreamFields(patched, patch);
    for (const k of ['id', 'name', 'kind', 'auth', 'stream_idle_timeout_ms', 'created_at', 'credentials']) {
      assert.deepEqual(patched[k], created[k], `${k} must not change`);
    }
    assert.ok(Date.parse(patched.updated_at) >= Date.parse(created.updated_at), 'updated_at moves forward');
    assert.deepEqual(await get(env, `/upstreams/${created.id}`), patched);
    await waitAudit(env, auditFor('update', created.id, /upstream/), 'upstream update');

    // rename
    const renamed = await env.api('PATCH', `/upstreams/${created.id}`, { name: 'mini.renamed_2-x' });
    assert.equal(renamed.status, 200, describeRes(renamed));
    assert.equal(renamed.json.name, 'mini.renamed_2-x');

    // DELETE → 204, then 404 everywhere
    const del = await env.api('DELETE', `/upstreams/${created.id}`);
    assert.equal(del.status, 204, describeRes(del));
    assert.equal(del.text, '', '204 has no body');
    await expect404s(env, [
      ['GET', `/upstreams/${created.id}`],
      ['PATCH', `/upstreams/${created.id}`, { priority: 1 }],
      ['DELETE', `/upstreams/${created.id}`],
      ['GET', `/upstreams/${created.id}/credentials`],
    ]);
    assert.ok(!(await get(env, '/upstreams')).data.some((u) => u.id === created.id));
    const auditDel = await waitAudit(env, auditFor('delete', created.id, /upstream/), 'upstream delete');
    assertAuditShape(auditDel);
  });

  test('create with credentials; deleting the upstream deletes them; secrets never returned', async (t) => {
    const env = await startEnv(t, backend);
    const k1 = randomKey('sk-ant-api03-one-');
    const k2 = randomKey('sk-ant-api03-two-');
    const r = await env.api('POST', '/upstreams', {
      name: 'with-creds',
      kind: 'anthropic',
      base_url: env.fake.url,
      auth: 'key',
      models: ['claude-opus-*'],
      model_map: {},
      priority: 1000,
      weight: 1000,
      enabled: true,
      connect_timeout_ms: 3600000,
      first_byte_timeout_ms: 1,
      stream_idle_timeout_ms: 12345,
      credentials: [k1, k2],
    });
    assert.equal(r.status, 201, describeRes(r));
    assert.deepEqual(r.json.credentials, { total: 2, enabled: 2 });
    assert.equal(r.json.priority, 1000);
    assert.equal(r.json.weight, 1000);
    for (const k of [k1, k2]) assert.ok(!r.text.includes(k), 'key echoed in the create response');
    const creds = await get(env, `/upstreams/${r.json.id}/credentials`);
    assert.equal(creds.data.length, 2, JSON.stringify(creds));
    for (const c of creds.data) {
      assert.equal(c.upstream_id, r.json.id);
      assert.match(c.id, /^cred_/);
    }
    for (const k of [k1, k2]) assert.ok(!JSON.stringify(creds).includes(k), 'key in the credential list');
    const audit = await waitAudit(env, auditFor('create', r.json.id, /upstream/), 'upstream create');
    for (const k of [k1, k2]) assert.ok(!JSON.stringify(audit).includes(k), `key in the audit entry: ${JSON.stringify(audit)}`);

    const del = await env.api('DELETE', `/upstreams/${r.json.id}`);
    assert.equal(del.status, 204, describeRes(del));
    await expect404s(env, creds.data.map((c) => ['GET', `/credentials/${c.id}`]));
  });

  test('names are unique (409), also on rename', async (t) => {
    const env = await startEnv(t, backend);
    const dup = await env.api('POST', '/upstreams', { name: 'fake', base_url: 'http://127.0.0.1:9' });
    assertError(dup, 409, 'invalid_request_error');
    const other = await create(env, '/upstreams', { name: 'other', base_url: 'http://127.0.0.1:9' });
    assertError(await env.api('PATCH', `/upstreams/${other.id}`, { name: 'fake' }), 409, 'invalid_request_error');
    assert.equal((await get(env, `/upstreams/${other.id}`)).name, 'other');
    assert.equal((await get(env, '/upstreams')).data.length, 2);
  });

  test('validation: 400 invalid_request_error with error.field; nothing is stored', async (t) => {
    const env = await startEnv(t, backend);
    const ok = { name: 'v-up', base_url: 'http://127.0.0.1:9' };
    const w = (extra) => ({ ...ok, ...extra });
    await expect400s(env, 'POST', '/upstreams', [
      ['missing name', { base_url: 'http://127.0.0.1:9' }, 'name'],
      ['empty name', w({ name: '' }), 'name'],
      ['65-char name', w({ name: 'n'.repeat(65) }), 'name'],
      ['name with a space', w({ name: 'has space' }), 'name'],
      ['name with a slash', w({ name: 'a/b' }), 'name'],
      ['non-ASCII name', w({ name: 'naïve' }), 'name'],
      ['numeric name', w({ name: 42 }), 'name'],
      ['openai options on an anthropic upstream', w({ openai: { tools: false } }), 'openai'],
      ['openai max_stop 99', w({ kind: 'openai', openai: { max_stop: 99 } }), 'openai.max_stop'],
      ['openai unknown option', w({ kind: 'openai', openai: { bogus: 1 } }), 'openai.bogus'],
      ['openai reasoning_control', w({ kind: 'openai', openai: { reasoning_control: 'think' } }), 'openai.reasoning_control'],
      ['openai tool_emulation with native tools', w({ kind: 'openai', openai: { tool_emulation: true } }), 'openai.tool_emulation'],
      ['kind bedrock', w({ kind: 'bedrock' }), 'kind'],
      ['kind vertex', w({ kind: 'vertex' }), 'kind'],
      ['unknown kind', w({ kind: 'nope' }), 'kind'],
      ['missing base_url', { name: 'v-up' }, 'base_url'],
      ['ftp base_url', w({ base_url: 'ftp://127.0.0.1/' }), 'base_url'],
      ['base_url without scheme', w({ base_url: '127.0.0.1:9' }), 'base_url'],
      ['base_url with a query', w({ base_url: 'http://127.0.0.1:9/?a=1' }), 'base_url'],
      ['base_url with a fragment', w({ base_url: 'http://127.0.0.1:9/#x' }), 'base_url'],
      ['empty base_url', w({ base_url: '' }), 'base_url'],
      ['unknown auth', w({ auth: 'oauth' }), 'auth'],
      ['empty models', w({ models: [] }), 'models'],
      ['models not an array', w({ models: 'claude-*' }), 'models'],
      ['empty glob', w({ models: ['claude-*', ''] }), 'models[1]'],
      ['non-string glob', w({ models: [7] }), 'models[0]'],
      ['model_map an array', w({ model_map: ['a'] }), 'model_map'],
      ['model_map value not a string', w({ model_map: { a: 5 } }), /^model_map/],
      ['priority 1001', w({ priority: 1001 }), 'priority'],
      ['priority -1001', w({ priority: -1001 }), 'priority'],
      ['priority 1.5', w({ priority: 1.5 }), 'priority'],
      ['priority as string', w({ priority: '1' }), 'priority'],
      ['weight 0', w({ weight: 0 }), 'weight'],
      ['weight 1001', w({ weight: 1001 }), 'weight'],
      ['enabled as string', w({ enabled: 'true' }), 'enabled'],
      ['connect_timeout_ms 0', w({ connect_timeout_ms: 0 }), 'connect_timeout_ms'],
      ['connect_timeout_ms 3600001', w({ connect_timeout_ms: 3600001 }), 'connect_timeout_ms'],
      ['first_byte_timeout_ms -1', w({ first_byte_timeout_ms: -1 }), 'first_byte_timeout_ms'],
      ['stream_idle_timeout_ms as string', w({ stream_idle_timeout_ms: '5' }), 'stream_idle_timeout_ms'],
      ['credentials not an array', w({ credentials: 'sk-not-an-array-123' }), 'credentials'],
      ['unknown field', w({ bogus: 1 }), 'bogus'],
      ['malformed JSON', '{"name": "x", ', undefined],
      ['JSON array body', '[]', undefined],
      ['JSON null body', 'null', undefined],
      ['empty body', '', undefined],
    ]);
    await assertNames(env, '/upstreams', ['fake'], 'an invalid request stored something');

    // PATCH validation leaves the upstream unchanged
    const up = await seededUpstream(env);
    await expectRejectedPatches(env, `/upstreams/${up.id}`, up, [
      ['empty name', { name: '' }, 'name'],
      ['priority 5000', { priority: 5000 }, 'priority'],
      ['empty models', { models: [] }, 'models'],
      ['openai options on an anthropic upstream', { openai: { images: false } }, 'openai'],
      ['credentials (create only)', { credentials: ['sk-create-only-123'] }, 'credentials'],
      ['unknown field', { bogus: true }, 'bogus'],
      ['base_url ftp', { base_url: 'ftp://x/' }, 'base_url'],
      ['malformed JSON', '{', undefined],
    ], 'a rejected PATCH changed the upstream');
  });

  test('boundary values are accepted', async (t) => {
    const env = await startEnv(t, backend);
    const cases = [
      { name: 'A'.repeat(64), base_url: 'http://127.0.0.1:9' },
      { name: 'Az09._-', base_url: 'https://example.invalid/some/prefix' },
      { name: 'p-min', base_url: 'http://127.0.0.1:9', priority: -1000, weight: 1 },
      { name: 'p-max', base_url: 'http://127.0.0.1:9', priority: 1000, weight: 1000 },
      { name: 't-min', base_url: 'http://127.0.0.1:9', connect_timeout_ms: 1, first_byte_timeout_ms: 1, stream_idle_timeout_ms: 1 },
      {
        name: 't-max',
        base_url: 'http://127.0.0.1:9',
        connect_timeout_ms: 3600000,
        first_byte_timeout_ms: 3600000,
        stream_idle_timeout_ms: 3600000,
      },
      { name: 'globs', base_url: 'http://127.0.0.1:9', models: ['*'], model_map: {} },
      { name: 'pass', base_url: 'http://127.0.0.1:9', auth: 'passthrough', models: ['claude-?aiku-*'] },
    ];
    for (const body of cases) {
      const r = await env.api('POST', '/upstreams', body);
      assert.equal(r.status, 201, `${JSON.stringify(body)}: ${describeRes(r)}`);
      assertUpstreamFields(r.json, body);
    }
    // An OpenAI-compatible upstream: models default to every name, capability flags stored and
    // returned with their defaults, editable one by one.
    const oai = await env.api('POST', '/upstreams', {
      name: 'oai',
      kind: 'openai',
      base_url: 'http://127.0.0.1:9/v1',
      openai: { tools: false, tool_emulation: true, max_stop: 0, token_factor: 1.2 },
    });
    assert.equal(oai.status, 201, describeRes(oai));
    assert.equal(oai.json.kind, 'openai');
    assert.deepEqual(oai.json.models, ['*']);
    assert.deepEqual(oai.json.openai, {
      tools: false, tool_emulation: true, images: true, reasoning_field: 'auto', reasoning_control: 'none',
      replay_reasoning: false, max_stop: 0, max_tokens_field: 'max_tokens', send_top_k: false, tokenize: '',
      system_anywhere: false, stream_usage: true, token_factor: 1.2, think_tags: true,
      continue_final_message: false,
    });
    const patched = await env.api('PATCH', `/upstreams/${oai.json.id}`, { openai: { reasoning_control: 'reasoning_effort' } });
    assert.equal(patched.status, 200, describeRes(patched));
    assert.equal(patched.json.openai.reasoning_control, 'reasoning_effort');
    assert.equal(patched.json.openai.tool_emulation, true, 'fields not sent are kept');
    const again = await env.api('GET', `/upstreams/${oai.json.id}`);
    assert.deepEqual(again.json.openai, patched.json.openai, 'stored in the database');
  });

  test('unknown ids and routes → 404 not_found_error', async (t) => {
    const env = await startEnv(t, backend);
    await expect404s(env, [
      ['GET', '/upstreams/up_doesnotexist'],
      ['PATCH', '/upstreams/up_doesnotexist', { priority: 1 }],
      ['DELETE', '/upstreams/up_doesnotexist'],
      ['GET', '/upstreams/up_doesnotexist/credentials'],
      ['POST', '/upstreams/up_doesnotexist/credentials', { key: 'sk-some-valid-key-1' }],
      ['GET', '/upstreams/cred_wrongprefix'],
      ['GET', '/nope'],
      ['GET', '/upstreams/x/y/z'],
    ]);
  });
});
