// PostgreSQL unreachable: the admin API answers 503 api_error within about 2 s (never a hang),
// proxying goes on from the in-memory snapshot, and everything recovers when the database is back
// (docs/admin-api.md "Conventions"). Runs on a private cluster (tests/lib/pg.mjs startPg()) that it
// stops and starts, never on a shared one.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { pgAvailable, startPg, freshDatabase, pgCtl } from '../lib/pg.mjs';
import { startEnv, get, create, describeRes, waitUsage, sleep, BACKENDS } from './_admin.mjs';

const skip = !BACKENDS.includes('postgres')
  ? 'CLOVE_TEST_BACKENDS excludes postgres'
  : !pgAvailable()
    ? 'no PostgreSQL'
    : false;

describe('database outage [postgres]', { skip }, () => {
  test('503 api_error within ~2 s while PostgreSQL is down; proxying continues; recovery', async (t) => {
    const pg = await startPg({ prefix: 'clove-pg-admin-outage-' });
    t.after(() => pg.stop());
    const env = await startEnv(t, 'postgres', { dbUrl: await freshDatabase(pg) });
    assert.equal((await env.messages()).status, 200);
    const before = (await waitUsage(env, 1)).length;

    await pgCtl(pg, 'stop', { mode: 'fast' });
    const problems = [];
    for (const [m, p, b] of [
      ['GET', '/upstreams'],
      ['GET', '/keys'],
      ['POST', '/keys', { name: 'during-outage' }],
      ['PATCH', '/settings', { log_level: 'debug' }],
      ['GET', '/usage/requests'],
      ['GET', '/audit'],
    ]) {
      const r = await env.api(m, p, b, { timeoutMs: 15000 }).catch((err) => ({ status: 'error', text: err.message, ms: NaN, method: m, path: p }));
      if (r.status !== 503 || r.json?.error?.type !== 'api_error') problems.push(`${m} ${p} with the database down: ${describeRes(r)}`);
      if (!(r.ms <= 3000)) problems.push(`${m} ${p} took ${r.ms} ms (about 2 s allowed)`);
    }
    // the gateway keeps serving from its snapshot
    const during = await env.messages();
    if (during.status !== 200) problems.push(`proxying during the outage: ${describeRes(during)}`);
    await sleep(200);

    await pgCtl(pg, 'start');
    const deadline = Date.now() + 15000;
    let ok = null;
    while (Date.now() < deadline) {
      const r = await env.api('GET', '/upstreams', undefined, { timeoutMs: 5000 }).catch(() => null);
      if (r && r.status === 200) {
        ok = r;
        break;
      }
      await sleep(200);
    }
    if (!ok) problems.push('the admin API did not recover within 15 s of PostgreSQL coming back');
    else {
      const k = await create(env, '/keys', { name: 'after-outage' });
      assert.equal((await env.messages({ key: k.key })).status, 200);
      // the request made during the outage is not lost
      await waitUsage(env, before + 2, '', { timeoutMs: 20000 }).catch((err) => problems.push(`usage after recovery: ${err.message}`));
      assert.ok(!(await get(env, '/keys')).data.some((x) => x.name === 'during-outage'), 'a write refused with 503 was applied later');
    }
    assert.deepEqual(problems, [], problems.join('\n'));
  });
});
