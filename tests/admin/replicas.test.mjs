// Several replicas on one PostgreSQL database (docs/admin-api.md "Conventions"): a change made
// through one replica's admin API reaches the others within about 2 s, so a client key created on
// A works on B, and a client or admin key deleted on A stops working on B. PostgreSQL only (two
// processes on one SQLite file are not a supported deployment).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startClove } from '../lib/clove.mjs';
import { pgAvailable } from '../lib/pg.mjs';
import { startEnv, call, create, describeRes, sleep, CLIENT_KEY, BACKENDS } from './_admin.mjs';

const skip = !BACKENDS.includes('postgres') ? 'postgres not selected (CLOVE_TEST_BACKENDS)' : !pgAvailable() ? 'no PostgreSQL' : false;

/** Polls fn until it returns true; resolves the milliseconds it took. */
async function within(ms, what, fn) {
  const t0 = Date.now();
  for (;;) {
    if (await fn()) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

describe('replicas on one PostgreSQL database [postgres]', { skip }, () => {
  test('client keys, upstream changes and admin keys made on one replica apply on the other within ~2 s', async (t) => {
    const a = await startEnv(t, 'postgres');
    // Replica B: same database, same data dir (the secret key that opens stored credentials).
    const b = await startClove({ config: a.configFor(), dataDir: a.dataDir, env: a.envFor() });
    t.after(() => b.stop('SIGKILL', 2000));
    // Each admin-key probe from its own loopback address: B's failed-login limit (10 per address
    // per minute) would otherwise answer 429 to the probes made before the key arrives.
    let probe = 0;
    const onB = (method, path, body, key = a.adminKey) =>
      call(b.url, method, `/admin/api${path}`, body, { key, localAddress: `127.0.${1 + (probe >> 8)}.${probe++ & 255}` });
    const messagesOnB = (key) =>
      call(b.url, 'POST', '/v1/messages', { model: 'claude-sonnet-5-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }, {
        key,
        headers: { 'anthropic-version': '2023-06-01' },
      });

    // Both serve the seeded client key.
    assert.equal((await messagesOnB(CLIENT_KEY)).status, 200);

    // A client key created on A works on B.
    const k = await create(a, '/keys', { name: 'replica-key' });
    const tookKey = await within(5000, 'new key on B', async () => (await messagesOnB(k.key)).status === 200);

    // Disabled on A: refused on B.
    assert.equal((await a.api('PATCH', `/keys/${k.id}`, { enabled: false })).status, 200);
    const tookDisable = await within(5000, 'disabled key refused on B', async () => (await messagesOnB(k.key)).status === 401);

    // An upstream change on A (its model globs) shows in B's routing: the model stops being served.
    const up = (await a.api('GET', '/upstreams')).json.data[0];
    assert.equal((await a.api('PATCH', `/upstreams/${up.id}`, { models: ['claude-opus-*'] })).status, 200);
    await within(5000, 'model no longer served on B', async () => (await messagesOnB(CLIENT_KEY)).status === 404);
    assert.equal((await a.api('PATCH', `/upstreams/${up.id}`, { models: ['claude-*'] })).status, 200);
    await within(5000, 'model served again on B', async () => (await messagesOnB(CLIENT_KEY)).status === 200);

    // An admin key created on A opens B's admin API; deleted on A, B refuses it.
    const adm = await create(a, '/admin-keys', { name: 'replica-admin' });
    const tookAdmin = await within(5000, 'new admin key on B', async () => (await onB('GET', '/status', undefined, adm.key)).status === 200);
    const del = await a.api('DELETE', `/admin-keys/${adm.id}`);
    assert.equal(del.status, 204, describeRes(del));
    const tookRevoke = await within(5000, 'deleted admin key refused on B', async () => (await onB('GET', '/status', undefined, adm.key)).status === 401);

    // And the other way round: B's change reaches A.
    const k2 = (await onB('POST', '/keys', { name: 'from-b' })).json;
    assert.ok(k2?.key, 'key created on B');
    const tookBack = await within(5000, 'key from B on A', async () => (await a.messages({ key: k2.key })).status === 200);
    console.log(`# replica propagation ms: key ${tookKey}, disable ${tookDisable}, admin key ${tookAdmin}, revoke ${tookRevoke}, B->A ${tookBack}`);
    for (const ms of [tookKey, tookDisable, tookAdmin, tookRevoke, tookBack]) assert.ok(ms < 3500, `propagation took ${ms} ms`);
    assert.ok(b.stderrLines.some((l) => /configuration reloaded: changed by another replica/.test(l)), 'B logs the reload');
  });
});
