// Admin API: status, settings, metrics and admin authentication basics (docs/admin-api.md),
// both backends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACCESS_MARK } from '../lib/clove.mjs';
import {
  forEachBackend,
  startEnv,
  create,
  get,
  assertError,
  describeRes,
  expect400s,
  waitAudit,
  assertAuditShape,
  isTime,
  sleep,
  ADMIN_KEY,
} from './_admin.mjs';

const DEFAULT_SETTINGS = {
  log_level: 'info',
  outbound_proxy: null,
  connect_timeout_ms: 10000,
  first_byte_timeout_ms: 600000,
  stream_idle_timeout_ms: 300000,
  usage_retention_days: 90,
  max_attempts: 3,
  failover_deadline_ms: 60000,
  cooldown_fallback_ms: 60000,
  failure_threshold: 3,
  failure_cooldown_ms: 30000,
  sticky_ttl_ms: 300000,
  first_byte_keepalive_ms: 5000,
  keepalive_interval_ms: 15000,
  queue_timeout_ms: 0,
  default_limits: { rpm: null, tpm: null, input_tpm: null, output_tpm: null, daily_budget_usd: null, monthly_budget_usd: null, concurrency: null, budget_usd: null, budget_period: 'total' },
};

forEachBackend('status, settings, metrics', (backend) => {
  test('GET /status', async (t) => {
    const env = await startEnv(t, backend);
    const s = await get(env, '/status');
    assert.match(String(s.version), /^\d+\.\d+\.\d+/, JSON.stringify(s));
    assert.ok(isTime(s.started_at), `started_at ${s.started_at}`);
    assert.ok(Math.abs(Date.parse(s.started_at) - Date.now()) < 60000, `started_at ${s.started_at}`);
    assert.equal(typeof s.uptime_s, 'number');
    assert.ok(s.uptime_s >= 0 && s.uptime_s < 120, `uptime_s ${s.uptime_s}`);
    if (backend === 'sqlite') assert.equal(s.database, 'sqlite');
    else assert.match(String(s.database), /^postgres(ql)?$/, `database ${s.database}`);
    for (const f of ['in_flight', 'usage_queue_depth', 'usage_spooled', 'usage_written']) {
      assert.ok(Number.isInteger(s[f]) && s[f] >= 0, `${f} = ${s[f]}`);
    }
    // in_flight counts a running proxied request; usage_written grows
    const slow = env.messages({ scenario: 'slow:1200' });
    await sleep(400);
    const during = await get(env, '/status');
    assert.ok(during.in_flight >= 1, `in_flight during a request: ${during.in_flight}`);
    assert.equal((await slow).status, 200);
    await env.messages();
    const deadline = Date.now() + 5000;
    let after;
    do {
      after = await get(env, '/status');
      if (after.usage_written >= s.usage_written + 2) break;
      await sleep(50);
    } while (Date.now() < deadline);
    assert.ok(after.usage_written >= s.usage_written + 2, `usage_written ${s.usage_written} → ${after.usage_written}`);
    assert.equal(after.in_flight, 0);
    assert.ok(after.uptime_s >= s.uptime_s);
  });

  test('GET/PATCH /settings (+ audit); timeouts are the defaults for new upstreams', async (t) => {
    const env = await startEnv(t, backend);
    assert.deepEqual(await get(env, '/settings'), DEFAULT_SETTINGS);

    let r = await env.api('PATCH', '/settings', { log_level: 'debug', usage_retention_days: 30 });
    assert.equal(r.status, 200, describeRes(r));
    assert.deepEqual(r.json, { ...DEFAULT_SETTINGS, log_level: 'debug', usage_retention_days: 30 });
    assert.deepEqual(await get(env, '/settings'), r.json);
    const a = await waitAudit(env, (e) => /setting/i.test(String(e.resource)), 'settings change');
    assertAuditShape(a);

    r = await env.api('PATCH', '/settings', {
      connect_timeout_ms: 1234,
      first_byte_timeout_ms: 5678,
      stream_idle_timeout_ms: 91011,
      outbound_proxy: 'http://127.0.0.1:3128',
      default_limits: { rpm: 100, tpm: 200000, concurrency: 3, budget_usd: 50, budget_period: 'daily' },
    });
    assert.equal(r.status, 200, describeRes(r));
    assert.equal(r.json.connect_timeout_ms, 1234);
    assert.equal(r.json.outbound_proxy, 'http://127.0.0.1:3128');
    assert.deepEqual(r.json.default_limits, { rpm: 100, tpm: 200000, input_tpm: null, output_tpm: null, daily_budget_usd: null, monthly_budget_usd: null, concurrency: 3, budget_usd: 50, budget_period: 'daily' });
    assert.equal(r.json.log_level, 'debug', 'earlier change kept');
    r = await env.api('PATCH', '/settings', { outbound_proxy: null });
    assert.equal(r.status, 200, describeRes(r));
    assert.equal(r.json.outbound_proxy, null);

    const up = await create(env, '/upstreams', { name: 'new-defaults', base_url: 'http://127.0.0.1:9' });
    assert.equal(up.connect_timeout_ms, 1234);
    assert.equal(up.first_byte_timeout_ms, 5678);
    assert.equal(up.stream_idle_timeout_ms, 91011);
    const seeded = (await get(env, '/upstreams')).data.find((u) => u.name === 'fake');
    assert.equal(seeded.connect_timeout_ms, 5000, 'existing upstreams keep their timeouts');
    assert.equal((await env.messages()).status, 200, 'proxying works after the settings changes');
  });

  test('settings validation: 400 with error.field; settings unchanged', async (t) => {
    const env = await startEnv(t, backend);
    const before = await get(env, '/settings');
    await expect400s(env, 'PATCH', '/settings', [
      ['unknown log level', { log_level: 'verbose' }, 'log_level'],
      ['log level not a string', { log_level: 3 }, 'log_level'],
      ['socks4 proxy', { outbound_proxy: 'socks4://127.0.0.1:1080' }, 'outbound_proxy'],
      ['proxy not a URL', { outbound_proxy: 'proxy please' }, 'outbound_proxy'],
      ['retention 0', { usage_retention_days: 0 }, 'usage_retention_days'],
      ['retention 3651', { usage_retention_days: 3651 }, 'usage_retention_days'],
      ['retention 1.5', { usage_retention_days: 1.5 }, 'usage_retention_days'],
      ['connect timeout 0', { connect_timeout_ms: 0 }, 'connect_timeout_ms'],
      ['first byte timeout 3600001', { first_byte_timeout_ms: 3600001 }, 'first_byte_timeout_ms'],
      ['default_limits.rpm 0', { default_limits: { rpm: 0 } }, 'default_limits.rpm'],
      ['default_limits.budget_period', { default_limits: { budget_period: 'hourly' } }, 'default_limits.budget_period'],
      ['unknown field', { bogus: true }, 'bogus'],
      ['malformed JSON', '{"log_level":', undefined],
      ['array body', '[]', undefined],
    ]);
    assert.deepEqual(await get(env, '/settings'), before);
    // boundaries
    for (const body of [{ usage_retention_days: 1 }, { usage_retention_days: 3650 }, { connect_timeout_ms: 1 }, { log_level: 'off' }, { log_level: 'trace' }]) {
      const r = await env.api('PATCH', '/settings', body);
      assert.equal(r.status, 200, `${JSON.stringify(body)}: ${describeRes(r)}`);
    }
  });

  test('log_level applies at once: off silences the access log, info brings it back', async (t) => {
    const env = await startEnv(t, backend);
    const accessCount = () => env.clove.stderrLines.filter((l) => l.includes(ACCESS_MARK)).length;
    assert.equal((await env.messages()).status, 200);
    await env.clove.waitForAccessLog((l) => l.path === '/v1/messages');
    assert.equal((await env.api('PATCH', '/settings', { log_level: 'off' })).status, 200);
    await sleep(200);
    const n = accessCount();
    const lines = env.clove.stderrLines.length;
    for (let i = 0; i < 3; i++) assert.equal((await env.messages()).status, 200);
    await sleep(300);
    assert.equal(accessCount(), n, 'access lines were logged at log_level off');
    assert.equal(env.clove.stderrLines.length, lines, `lines logged at log_level off:\n${env.clove.stderrLines.slice(lines).join('\n')}`);
    assert.equal((await env.api('PATCH', '/settings', { log_level: 'info' })).status, 200);
    assert.equal((await env.messages()).status, 200);
    const deadline = Date.now() + 3000;
    while (accessCount() === n && Date.now() < deadline) await sleep(20);
    assert.ok(accessCount() > n, 'no access line after switching back to info');
  });

  test('GET /metrics: Prometheus text with the documented series; admin key only', async (t) => {
    const env = await startEnv(t, backend);
    assert.equal((await env.messages()).status, 200);
    assert.equal((await env.messages({ stream: true })).status, 200);
    assert.equal((await env.messages({ scenario: 'error:529' })).status, 529);
    assert.equal((await env.messages({ key: 'ck-wrong-key-xyz' })).status, 401);
    await sleep(300);
    const r = await env.raw('GET', '/metrics', undefined, { key: env.adminKey });
    assert.equal(r.status, 200, describeRes(r));
    assert.match(String(r.headers['content-type']), /^text\/plain/, r.headers['content-type']);
    const series = [
      'clove_requests_total',
      'clove_request_errors_total',
      'clove_ttfb_seconds_bucket',
      'clove_request_duration_seconds_bucket',
      'clove_tokens_total',
      'clove_cost_usd_total',
      'clove_in_flight_requests',
      'clove_usage_queue_depth',
      'clove_usage_spooled_records',
      'clove_credentials',
    ];
    const names = new Set(
      r.text
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(l)?.[1]),
    );
    for (const s of series) assert.ok(names.has(s), `metric ${s} missing; have: ${[...names].join(', ')}`);
    // every sample line is well-formed: name{labels} value
    for (const l of r.text.split('\n')) {
      if (!l || l.startsWith('#')) continue;
      assert.match(l, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)( \d+)?$/, `bad line: ${l}`);
    }
    const req = r.text.split('\n').filter((l) => l.startsWith('clove_requests_total{'));
    assert.ok(req.some((l) => /route="/.test(l) && /model="/.test(l) && /upstream="/.test(l) && /status="/.test(l)), req.join('\n'));
    assert.ok(req.some((l) => /status="529"/.test(l)), `no status="529" series:\n${req.join('\n')}`);
    // The 529 carried retry-after: 7, so the only credential is cooling down (live state).
    assert.ok(/clove_credentials\{[^}]*state="cooling_down"[^}]*\} 1(\.0)?$/m.test(r.text), 'clove_credentials{state="cooling_down"} 1');
    assert.ok(/clove_credentials\{[^}]*state="valid"[^}]*\} 0(\.0)?$/m.test(r.text), 'clove_credentials{state="valid"} 0');

    assertError(await env.raw('GET', '/metrics'), 401, 'authentication_error');
    assertError(await env.raw('GET', '/metrics', undefined, { key: 'wrong-admin-key-0000000' }), 401, 'authentication_error');
    const ck = await create(env, '/keys', { name: 'metrics-client' });
    assertError(await env.raw('GET', '/metrics', undefined, { key: ck.key }), 403, 'permission_error');
    const b = await env.raw('GET', '/metrics', undefined, { key: env.adminKey, bearer: true });
    assert.equal(b.status, 200, describeRes(b));
  });

  test('admin auth: x-api-key and Bearer; several ADMIN_API_KEYS; none/wrong → 401', async (t) => {
    const second = 'second-admin-key-ABCDEFGHIJKLMNOP';
    const env = await startEnv(t, backend, { adminKeys: `${ADMIN_KEY},${second}` });
    for (const key of [ADMIN_KEY, second]) {
      for (const bearer of [false, true]) {
        const r = await env.api('GET', '/status', undefined, { key, bearer });
        assert.equal(r.status, 200, `${bearer ? 'Bearer' : 'x-api-key'}: ${describeRes(r)}`);
      }
    }
    assertError(await env.api('GET', '/status', undefined, { key: null }), 401, 'authentication_error');
    assertError(await env.api('GET', '/upstreams', undefined, { key: `${ADMIN_KEY}x` }), 401, 'authentication_error');
    assertError(await env.api('GET', '/upstreams', undefined, { key: ADMIN_KEY.slice(0, -1) }), 401, 'authentication_error');
  });
});
