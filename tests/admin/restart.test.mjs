// The database is the source of truth after the first start: a restart (same data dir / same
// PostgreSQL database) keeps everything and does not re-apply the config file; --apply-config
// does. The generated admin key is printed exactly once. Both backends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import {
  defaultConfig,
  adminKeyFrom,
  adminKeyLines,
  waitForAdminKey,
  runCloveExpectingExit,
  makeDataDir,
  removeDataDir,
  UPSTREAM_KEY,
  CLIENT_KEY,
} from '../lib/clove.mjs';
import {
  forEachBackend,
  startEnv,
  create,
  get,
  seededUpstream,
  seededKey,
  describeRes,
  assertNames,
  waitUsage,
  randomKey,
  sleep,
  MODEL,
  ADMIN_KEY,
} from './_admin.mjs';
import { ensurePg, freshDatabase, psql } from '../lib/pg.mjs';

/** A config that differs from the seed in every entry (to see whether a restart re-applies it). */
const changedConfig = (fakeUrl) =>
  defaultConfig(fakeUrl, {
    upstream: { name: 'fake-renamed', api_key: 'sk-changed-upstream-key-0001', models: ['claude-*', 'changed-*'] },
    clientKeys: [{ name: 'carol', key: 'ck-carol-999-000' }],
  });

// last_used_at and usage counters may legitimately be flushed later than the snapshot
const stable = (list, drop = ['last_used_at', 'usage']) =>
  list.map((x) => Object.fromEntries(Object.entries(x).filter(([k]) => !drop.includes(k))));

forEachBackend('restart', (backend) => {
  test('everything persists across a restart; the config file is not re-applied', async (t) => {
    const env = await startEnv(t, backend);
    const seeded = await seededUpstream(env);
    const k1 = randomKey('sk-added-');
    assert.equal((await env.api('POST', `/upstreams/${seeded.id}/credentials`, { key: k1, label: 'added' })).status, 201);
    const k2 = randomKey('sk-second-');
    const second = await create(env, '/upstreams', { name: 'second', base_url: env.fake.url, models: ['gpt-test-*'], credentials: [k2], priority: 3 });
    const bob = await create(env, '/keys', { name: 'bob', allowed_models: ['claude-*', 'gpt-*'], limits: { rpm: 1000, budget_period: 'daily' } });
    assert.equal((await env.api('PUT', '/prices/claude-persist-%2A', { input: 1, output: 2 })).status, 200);
    assert.equal((await env.api('PATCH', '/settings', { log_level: 'warn', usage_retention_days: 7 })).status, 200);
    const alice = await seededKey(env);
    assert.equal((await env.api('PATCH', `/keys/${alice.id}`, { enabled: false })).status, 200);

    assert.equal((await env.messages({ key: bob.key })).status, 200);
    assert.equal((await env.messages({ key: bob.key, model: 'gpt-test-1' })).status, 200);
    assert.equal(env.fake.requestsTo('/v1/messages').at(-1).headers['x-api-key'], k2);
    const usageBefore = await waitUsage(env, 2);

    const snap = async () => ({
      upstreams: stable((await get(env, '/upstreams')).data),
      // counters and in_flight are live (per process); last_used_at is when it was last picked
      creds: stable((await get(env, `/upstreams/${seeded.id}/credentials`)).data).map(({ counters, in_flight, ...c }) => c),
      keys: stable((await get(env, '/keys')).data),
      settings: await get(env, '/settings'),
      prices: (await get(env, '/prices')).data,
      audit: (await get(env, '/audit?limit=1000')).data.map((e) => e.id),
    });
    const before = await snap();

    // restart with a different config file
    await env.restart({ config: changedConfig(env.fake.url) });
    const after = await snap();
    assert.deepEqual(after.upstreams, before.upstreams, 'upstreams changed across the restart');
    assert.deepEqual(after.creds, before.creds, 'credentials changed across the restart');
    assert.deepEqual(after.keys, before.keys, 'client keys changed across the restart (config re-applied?)');
    assert.deepEqual(after.settings, before.settings, 'settings changed across the restart');
    assert.deepEqual(after.prices, before.prices, 'prices changed across the restart');
    for (const id of before.audit) assert.ok(after.audit.includes(id), `audit entry ${id} lost`);

    // usage records survive
    const usageAfter = await waitUsage(env, 2);
    for (const r of usageBefore) assert.ok(usageAfter.some((x) => x.request_id === r.request_id), `usage record ${r.request_id} lost`);

    // proxying uses the stored state: bob works, alice stays disabled, carol does not exist
    env.fake.reset();
    const rb = await env.messages({ key: bob.key });
    assert.equal(rb.status, 200, describeRes(rb));
    assert.ok([UPSTREAM_KEY, k1].includes(env.fake.requestsTo('/v1/messages').at(-1).headers['x-api-key']), 'the stored credentials are used');
    const rg = await env.messages({ key: bob.key, model: 'gpt-test-2' });
    assert.equal(rg.status, 200, describeRes(rg));
    assert.equal(env.fake.requestsTo('/v1/messages').at(-1).headers['x-api-key'], k2, 'a credential added via the API works after a restart (decrypted)');
    assert.equal((await env.messages({ key: CLIENT_KEY })).status, 401, 'alice was disabled via the API');
    assert.equal((await env.messages({ key: 'ck-carol-999-000' })).status, 401, 'the changed config file was applied');
    assert.ok(!env.fake.requests.some((r) => r.headers['x-api-key'] === 'sk-changed-upstream-key-0001'));
    const cr = await env.messages({ key: bob.key, model: 'changed-1' });
    assert.ok(cr.status >= 400, `model glob from the changed config routed: ${describeRes(cr)}`);
    assert.ok((await get(env, '/upstreams')).data.some((u) => u.id === second.id));

    // a third start with --apply-config applies the file
    await env.restart({ config: changedConfig(env.fake.url), args: ['--apply-config'] });
    const names = (await get(env, '/upstreams')).data.map((u) => u.name);
    assert.ok(names.includes('fake-renamed'), `--apply-config did not add the upstream: ${names}`);
    assert.ok((await get(env, '/keys')).data.some((k) => k.name === 'carol'), '--apply-config did not add the client key');
    const rc = await env.messages({ key: 'ck-carol-999-000' });
    assert.equal(rc.status, 200, `carol after --apply-config: ${describeRes(rc)}`);
    assert.equal((await env.messages({ key: bob.key })).status, 200, 'keys created via the API survive --apply-config');
  });

  test('things deleted via the API stay deleted after a restart', async (t) => {
    const env = await startEnv(t, backend);
    const seeded = await seededUpstream(env);
    const alice = await seededKey(env);
    assert.equal((await env.api('DELETE', `/upstreams/${seeded.id}`)).status, 204);
    assert.equal((await env.api('DELETE', `/keys/${alice.id}`)).status, 204);
    const bob = await create(env, '/keys', { name: 'bob' });
    await env.restart();
    assert.deepEqual((await get(env, '/upstreams')).data, [], 'the seeded upstream came back');
    await assertNames(env, '/keys', ['bob'], 'the seeded client key came back');
    assert.equal((await env.messages({ key: CLIENT_KEY })).status, 401);
    const r = await env.messages({ key: bob.key });
    assert.ok(r.status >= 400, `no upstream left: ${describeRes(r)}`);
  });

  test('generated admin key: printed exactly once at first start, works, not printed again', async (t) => {
    const env = await startEnv(t, backend, { adminKeys: null });
    const key = await waitForAdminKey(env.clove);
    assert.match(key, /^clv_admin_[A-Za-z0-9_-]{20,}$/, `admin key format: ${key}`);
    assert.equal(adminKeyLines(env.clove).length, 1, `admin key lines:\n${adminKeyLines(env.clove).join('\n')}`);
    assert.ok(
      env.clove.stdoutLines.some((l) => l.includes(`admin key (shown once, store it now): ${key}`)),
      'the admin key line goes to stdout',
    );
    assert.ok(!env.clove.stderrLines.some((l) => l.includes(key)), 'the admin key appears in the log (stderr)');
    env.adminKey = key;
    assert.equal((await env.api('GET', '/status')).status, 200);
    assert.equal((await env.api('GET', '/status', undefined, { bearer: true })).status, 200);
    assert.equal((await env.api('GET', '/status', undefined, { key: ADMIN_KEY })).status, 401, 'ADMIN_API_KEYS is unset here');
    const audit = await env.api('GET', '/audit?limit=1000');
    assert.ok(!audit.text.includes(key), 'the admin key appears in the audit log');

    await env.restart({ adminKeys: null });
    await sleep(500);
    assert.equal(adminKeyFrom(env.clove), null, `a second start printed an admin key:\n${env.clove.stdoutLines.join('\n')}`);
    assert.deepEqual(adminKeyLines(env.clove), []);
    assert.equal((await env.api('GET', '/status')).status, 200, 'the printed key works after a restart');
    assert.ok(!env.clove.stderrLines.some((l) => l.includes(key)));
  });

  test('ADMIN_API_KEYS set at first start: no key is generated or printed', async (t) => {
    const env = await startEnv(t, backend);
    await sleep(300);
    assert.equal(adminKeyFrom(env.clove), null, `an admin key was printed although ADMIN_API_KEYS is set:\n${env.clove.stdoutLines.join('\n')}`);
    assert.equal((await env.api('GET', '/status')).status, 200);
    assert.ok(!env.clove.stdoutLines.concat(env.clove.stderrLines).some((l) => l.includes(ADMIN_KEY)), 'ADMIN_API_KEYS value logged');
  });

  test('an ADMIN_API_KEYS entry shorter than 16 characters is refused at start', async (t) => {
    const dataDir = makeDataDir('clove-admin-');
    t.after(() => removeDataDir(dataDir));
    const env = { ADMIN_API_KEYS: `${ADMIN_KEY},short-key-15chr` };
    if (backend === 'postgres') env.DATABASE_URL = await freshDatabase(await ensurePg());
    const r = await runCloveExpectingExit(defaultConfig('http://127.0.0.1:9'), { env, dataDir });
    assert.equal(r.listening, false, `started with a 15-character admin key:\n${r.stderr}`);
    assert.notEqual(r.code, 0);
    assert.ok(!r.stderr.includes('short-key-15chr'), 'the refused key is echoed in the error');
  });

  if (backend === 'sqlite') {
    test('SQLite layout: DIR/clove.db and DIR/secret.key (0600)', async (t) => {
      const env = await startEnv(t, backend);
      assert.ok(fs.statSync(path.join(env.dataDir, 'clove.db')).isFile(), 'no clove.db in the data dir');
      const st = fs.statSync(path.join(env.dataDir, 'secret.key'));
      assert.equal(st.mode & 0o777, 0o600, `secret.key mode ${(st.mode & 0o777).toString(8)}`);
    });
  }

  if (backend === 'postgres') {
    test('PostgreSQL: CLOVE_SECRET_KEY lets a new data dir read the stored credentials', async (t) => {
      const secret = crypto.randomBytes(32).toString('hex');
      const env = await startEnv(t, backend, { env: { CLOVE_SECRET_KEY: secret } });
      const up = await seededUpstream(env);
      const k = randomKey('sk-pg-secret-');
      assert.equal((await env.api('POST', `/upstreams/${up.id}/credentials`, { key: k })).status, 201);
      // the tables live in the database, not in the data dir
      const tables = await psql(env.dbUrl, "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog','information_schema')");
      assert.ok(Number(tables.trim()) > 0, 'no tables in the PostgreSQL database');
      assert.ok(!fs.existsSync(path.join(env.dataDir, 'clove.db')), 'clove.db created although DATABASE_URL is set');
      await env.stop();
      // same database, an empty data dir, the same secret from the environment
      const fresh = makeDataDir('clove-admin-');
      t.after(() => removeDataDir(fresh));
      const { startClove } = await import('../lib/clove.mjs');
      const c = await startClove({ config: defaultConfig(env.fake.url), dataDir: fresh, env: { DATABASE_URL: env.dbUrl, ADMIN_API_KEYS: ADMIN_KEY, CLOVE_SECRET_KEY: secret } });
      t.after(() => c.stop('SIGKILL', 2000));
      env.clove = c;
      env.url = c.url;
      const seen = new Set();
      for (let i = 0; i < 8; i++) {
        const r = await env.messages({ model: MODEL });
        assert.equal(r.status, 200, describeRes(r));
        seen.add(env.fake.requestsTo('/v1/messages').at(-1).headers['x-api-key']);
      }
      for (const s of seen) assert.ok([UPSTREAM_KEY, k].includes(s), `unexpected upstream key ${s}`);
      env.clove = null;
      const info = await c.stop('SIGTERM', 9000);
      assert.equal(info.code, 0);
    });
  }
});
