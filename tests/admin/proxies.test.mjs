// Outbound proxies (docs/admin-api.md "Settings" and "Upstreams", docs/configuration.md):
// the global setting `outbound_proxy` and the per-upstream `proxy_url` accept
// http://[user:pass@]host:port (CONNECT, Proxy-Authorization: Basic), socks5:// and socks5h://
// [user:pass@]host:port (RFC 1928 with RFC 1929 username/password; the upstream's host name goes
// to the proxy as a domain name unless it is an IP literal). `proxy_url` null = the global
// setting, "direct" = no proxy. Answers mask the password (`user:***@`); it never appears in an
// admin answer or in Clove's output. A proxy that fails (wrong password, refusal, silence) makes
// the attempt fail like an unreachable upstream: failover, else a prompt 502/504 Anthropic error.
//
// The proxies are tests/lib/socks5_proxy.mjs and tests/lib/connect_proxy.mjs on 127.0.0.1. The
// proxy behaviour does not depend on the database, so most tests run on SQLite only; the
// persistence of proxy_url runs on every backend of CLOVE_TEST_BACKENDS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startFakeUpstream } from '../fake_upstream/server.mjs';
import { defaultConfig, fakeUpstreamEntry, anthropicErrorProblems, runCloveExpectingExit, UPSTREAM_KEY } from '../lib/clove.mjs';
import { startSocks5Proxy } from '../lib/socks5_proxy.mjs';
import { startConnectProxy } from '../lib/connect_proxy.mjs';
import { forEachBackend, startEnv, get, create, seededUpstream, describeRes, expect400s } from './_admin.mjs';

/** A host name only the test proxies know (mapped to 127.0.0.1): Clove cannot resolve it itself. */
const PROXY_ONLY_HOST = 'fake-upstream.clove-proxy.test';

const hex = (n) => crypto.randomBytes(n).toString('hex');

async function socks(t, opts) {
  const p = await startSocks5Proxy(opts);
  t.after(() => p.close());
  return p;
}

async function connectProxy(t, opts) {
  const p = await startConnectProxy(opts);
  t.after(() => p.close());
  return p;
}

async function fakeUpstream(t) {
  const f = await startFakeUpstream();
  t.after(() => f.close());
  return f;
}

/** `url` with its password replaced the way the admin API masks it. */
const masked = (url) => url.replace(/^([a-z0-9]+:\/\/[^:@/]+:)[^@]*@/, '$1***@');

async function setGlobal(env, url) {
  const r = await env.api('PATCH', '/settings', { outbound_proxy: url });
  assert.equal(r.status, 200, describeRes(r));
  assert.equal(r.json.outbound_proxy, url === null ? null : masked(url), `PATCH answer: ${describeRes(r)}`);
  return r.json;
}

async function patchUpstream(env, id, body) {
  const r = await env.api('PATCH', `/upstreams/${id}`, body);
  assert.equal(r.status, 200, describeRes(r));
  return r.json;
}

function assertOk(r, what = '') {
  assert.equal(r.status, 200, `${what} ${describeRes(r)}`);
}

/** A Clove error of its own: Anthropic shape, status, type; answered promptly. */
function assertGatewayError(r, status, type, messageRe, maxMs = 5000) {
  const p = anthropicErrorProblems(r, status, type);
  assert.deepEqual(p, [], `${describeRes(r)}: ${p.join('; ')}`);
  if (messageRe) assert.match(r.json.error.message, messageRe, describeRes(r));
  assert.ok(r.ms < maxMs, `answered after ${r.ms} ms (a failing proxy must not stall the request)`);
}

/** Config with two upstreams on two fakes: "proxied" (priority 10) and "direct" (priority 0). */
function twoUpstreams(fakeA, fakeB, a = {}, b = {}) {
  const config = defaultConfig(fakeA.url);
  config.upstream = [
    fakeUpstreamEntry(fakeA.url, { name: 'proxied', priority: 10, ...a }),
    fakeUpstreamEntry(fakeB.url, { name: 'direct', priority: 0, api_key: `${UPSTREAM_KEY}-b`, ...b }),
  ];
  return config;
}

async function upstreamByName(env, name) {
  const u = (await get(env, '/upstreams')).data.find((x) => x.name === name);
  assert.ok(u, `upstream ${name} missing`);
  return u;
}

async function firstCredential(env, upstreamId) {
  const list = await get(env, `/upstreams/${upstreamId}/credentials`);
  assert.ok(list.data.length > 0, JSON.stringify(list));
  return list.data[0];
}

// ---------------------------------------------------------------------------------------------

test('socks5 without authentication: domain names go to the proxy as ATYP 3, IP literals as ATYP 1 and 4', async (t) => {
  const fake = await fakeUpstream(t);
  const port = Number(new URL(fake.url).port);
  const proxy = await socks(t, { hosts: { [PROXY_ONLY_HOST]: '127.0.0.1', '::1': '127.0.0.1' } });
  const env = await startEnv(t, 'sqlite', { fake, configOpts: { upstream: { base_url: `http://${PROXY_ONLY_HOST}:${port}` } } });

  await setGlobal(env, proxy.url);
  assert.equal((await get(env, '/settings')).outbound_proxy, proxy.url);
  assertOk(await env.messages(), 'JSON through socks5');
  assertOk(await env.messages({ stream: true }), 'stream through socks5');
  assert.equal(proxy.httpRequests('/v1/messages').length, 2, 'both requests inside the SOCKS tunnel(s)');
  assert.ok(proxy.tunnels.length >= 1, `no SOCKS CONNECT: ${JSON.stringify(proxy.requests)}`);
  for (const r of proxy.requests) assert.deepEqual({ atyp: r.atyp, host: r.host, port: r.port, result: r.result }, { atyp: 3, host: PROXY_ONLY_HOST, port, result: 'ok' });
  assert.deepEqual(proxy.greetings[0].methods, [0], 'a URL without credentials offers only "no authentication"');
  assert.equal(proxy.auths.length, 0);
  assert.equal(fake.requestsTo('/v1/messages').length, 2);
  assert.equal(fake.requestsTo('/v1/messages').at(-1).apiKey, UPSTREAM_KEY, 'the upstream key travels inside the tunnel');

  // socks5h:// is the same protocol; an IPv4 literal goes as ATYP 1, an IPv6 literal as ATYP 4.
  await setGlobal(env, proxy.url.replace('socks5://', 'socks5h://'));
  const up = await seededUpstream(env);
  for (const [base, atyp, host] of [
    [`http://127.0.0.1:${port}`, 1, '127.0.0.1'],
    [`http://[::1]:${port}`, 4, '::1'],
  ]) {
    await patchUpstream(env, up.id, { base_url: base });
    const before = proxy.requests.length;
    assertOk(await env.messages(), `via ${base}`);
    const mine = proxy.requests.slice(before);
    assert.equal(mine.length, 1, `one new SOCKS connection for ${base}: ${JSON.stringify(mine)}`);
    assert.deepEqual({ atyp: mine[0].atyp, host: mine[0].host, port: mine[0].port, result: mine[0].result }, { atyp, host, port, result: 'ok' });
  }
  assert.equal(fake.requestsTo('/v1/messages').length, 4);
  assert.equal(proxy.httpRequests('/v1/messages').length, 4);
});

test('socks5 with username/password (RFC 1929); percent-encoded credentials are decoded; GET masks the password', async (t) => {
  const fake = await fakeUpstream(t);
  const user = 'clove user@corp';
  const pass = `p@ss:w/rd%${hex(6)}`;
  const proxy = await socks(t, { auth: { user, pass } });
  const env = await startEnv(t, 'sqlite', { fake });

  const url = proxy.urlWith(user, pass, 'socks5h');
  assert.ok(!url.includes(pass), 'the test URL percent-encodes the password');
  const set = await setGlobal(env, url);
  assert.equal(set.outbound_proxy, `socks5h://${encodeURIComponent(user)}:***@127.0.0.1:${proxy.port}`);
  assert.equal((await get(env, '/settings')).outbound_proxy, set.outbound_proxy);

  assertOk(await env.messages(), 'through an authenticating socks5 proxy');
  assertOk(await env.messages({ stream: true }), 'stream through an authenticating socks5 proxy');
  assert.ok(proxy.greetings[0].methods.includes(2), `username/password offered: ${JSON.stringify(proxy.greetings)}`);
  assert.ok(proxy.auths.length >= 1);
  for (const a of proxy.auths) assert.deepEqual(a, { user, pass, ok: true });
  assert.equal(proxy.tunnels.length, proxy.auths.length);
  assert.equal(proxy.httpRequests('/v1/messages').length, 2);
  assert.equal(fake.requestsTo('/v1/messages').length, 2);
});

test('a wrong socks5 password fails over to the next upstream; alone it is a prompt 502, and a fixed password applies at once', async (t) => {
  const [fakeA, fakeB] = [await fakeUpstream(t), await fakeUpstream(t)];
  const user = 'proxy-user';
  const pass = `right-${hex(8)}`;
  const wrong = `wrong-${hex(8)}`;
  const proxy = await socks(t, { auth: { user, pass } });
  const env = await startEnv(t, 'sqlite', { fake: fakeA, config: twoUpstreams(fakeA, fakeB, { proxy_url: proxy.urlWith(user, wrong) }) });

  const r1 = await env.messages();
  assertOk(r1, 'failover past the proxied upstream whose proxy refused the password');
  assert.equal(fakeA.requestsTo('/v1/messages').length, 0);
  assert.equal(fakeB.requestsTo('/v1/messages').length, 1, 'served by the direct upstream');
  assert.deepEqual(proxy.auths, [{ user, pass: wrong, ok: false }]);
  assert.equal(proxy.requests.length, 0, 'no CONNECT after a refused authentication');

  const direct = await upstreamByName(env, 'direct');
  await patchUpstream(env, direct.id, { enabled: false });
  const r2 = await env.messages({ stream: true });
  assertGatewayError(r2, 502, 'api_error', /upstream "proxied" is unreachable/);
  assert.ok(!r2.text.includes(wrong), 'the proxy password is not in the error');
  assert.equal(proxy.auths.length, 2);

  const proxied = await upstreamByName(env, 'proxied');
  assert.equal(proxied.proxy_url, `socks5://${user}:***@127.0.0.1:${proxy.port}`);
  const cred = await firstCredential(env, proxied.id);
  assert.match(String(cred.last_error), /unreachable/, `last_error: ${JSON.stringify(cred)}`);
  assert.ok(!String(cred.last_error).includes(wrong));

  // The right password: the next request goes through the proxy, no restart.
  await patchUpstream(env, proxied.id, { proxy_url: proxy.urlWith(user, pass) });
  assertOk(await env.messages(), 'after fixing the password');
  assert.equal(fakeA.requestsTo('/v1/messages').length, 1);
  assert.deepEqual(proxy.auths.at(-1), { user, pass, ok: true });
  assert.equal(proxy.tunnels.length, 1);
});

test('socks5 refusals, a proxy that wants a password it was not given, and a silent proxy: 502/504, never a hang', async (t) => {
  const fake = await fakeUpstream(t);
  const refusing = await socks(t, { refuse: 2 });
  const wantsAuth = await socks(t, { auth: { user: 'u', pass: 'p' } });
  const unreachableHost = await socks(t, {}); // a domain name it cannot resolve: reply 4
  const silent = await socks(t, { silent: true });
  const env = await startEnv(t, 'sqlite', { fake, configOpts: { upstream: { connect_timeout_ms: 1000 } } });

  await setGlobal(env, refusing.url);
  assertGatewayError(await env.messages(), 502, 'api_error', /upstream "fake" is unreachable/);
  assert.equal(refusing.requests.length, 1);

  await setGlobal(env, wantsAuth.url);
  assertGatewayError(await env.messages(), 502, 'api_error', /upstream "fake" is unreachable/);
  assert.deepEqual(wantsAuth.greetings, [{ methods: [0] }]);

  const up = await seededUpstream(env);
  await patchUpstream(env, up.id, { base_url: `http://${PROXY_ONLY_HOST}:${new URL(fake.url).port}` });
  await setGlobal(env, unreachableHost.url);
  assertGatewayError(await env.messages(), 502, 'api_error', /upstream "fake" is unreachable/);
  assert.equal(unreachableHost.requests[0]?.result, 4);

  await setGlobal(env, silent.url);
  const r = await env.messages({ stream: true });
  assertGatewayError(r, 504, 'timeout_error', /connect timed out/, 4000);
  assert.ok(silent.connections >= 1);
  assert.equal(fake.requestsTo('/v1/messages').length, 0);
});

test('http proxy with Basic authentication (Proxy-Authorization); wrong or missing credentials give a 502', async (t) => {
  const fake = await fakeUpstream(t);
  const user = 'proxy-user';
  const pass = `pa:ss@${hex(6)}`;
  const proxy = await connectProxy(t, { auth: { user, pass } });
  const env = await startEnv(t, 'sqlite', { fake });
  const authority = new URL(fake.url).host;

  const url = proxy.urlWith(user, pass);
  const set = await setGlobal(env, url);
  assert.equal(set.outbound_proxy, `http://${user}:***@127.0.0.1:${proxy.port}`);
  assertOk(await env.messages(), 'through an authenticating http proxy');
  assertOk(await env.messages({ stream: true }), 'stream through an authenticating http proxy');
  assert.ok(proxy.tunnels.length >= 1);
  const basic = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  for (const r of proxy.requests) assert.deepEqual({ target: r.target, authorization: r.authorization, status: r.status }, { target: authority, authorization: basic, status: 200 });

  assert.equal(proxy.httpRequests('/v1/messages').length, 2);

  // Only the password changes: the pool key stays the same, so close the pooled tunnels first
  // (a pooled connection was authenticated with the old password).
  await setGlobal(env, proxy.urlWith(user, `not-${pass}`));
  proxy.dropTunnels();
  assertGatewayError(await env.messages(), 502, 'api_error', /upstream "fake" is unreachable/);
  assert.equal(proxy.requests.at(-1).status, 407);

  await setGlobal(env, proxy.url);
  assertGatewayError(await env.messages(), 502, 'api_error', /upstream "fake" is unreachable/);
  assert.deepEqual({ authorization: proxy.requests.at(-1).authorization, status: proxy.requests.at(-1).status }, { authorization: null, status: 407 }, 'no credentials in the URL: no Proxy-Authorization');
  assert.equal(fake.requestsTo('/v1/messages').length, 2);
});

test('per-upstream proxy_url overrides the global proxy, "direct" bypasses it, null follows it; each change applies to the next request', async (t) => {
  const fake = await fakeUpstream(t);
  const globalProxy = await connectProxy(t);
  const own = await socks(t);
  const other = await socks(t);
  const env = await startEnv(t, 'sqlite', { fake });
  const up = await seededUpstream(env);
  assert.equal(up.proxy_url, null, 'proxy_url defaults to null');
  await setGlobal(env, globalProxy.url);

  // HTTP requests seen inside each proxy's tunnels: pooled tunnels count too.
  const through = (p) => p.httpRequests('/v1/messages').length;
  const count = () => ({ global: through(globalProxy), own: through(own), other: through(other), fake: fake.requestsTo('/v1/messages').length });
  const step = async (label, want) => {
    assertOk(await env.messages(), label);
    assert.deepEqual(count(), want, label);
  };

  await step('global proxy', { global: 1, own: 0, other: 0, fake: 1 });
  assert.equal((await patchUpstream(env, up.id, { proxy_url: own.url })).proxy_url, own.url);
  await step('own socks5 proxy instead of the global one', { global: 1, own: 1, other: 0, fake: 2 });
  assert.equal((await patchUpstream(env, up.id, { proxy_url: 'direct' })).proxy_url, 'direct');
  assert.equal((await get(env, `/upstreams/${up.id}`)).proxy_url, 'direct');
  await step('"direct" despite the global proxy', { global: 1, own: 1, other: 0, fake: 3 });
  await patchUpstream(env, up.id, { proxy_url: other.url });
  await step('another own proxy', { global: 1, own: 1, other: 1, fake: 4 });
  await patchUpstream(env, up.id, { name: 'fake', weight: 2 });
  assert.equal((await get(env, `/upstreams/${up.id}`)).proxy_url, other.url, 'a PATCH without proxy_url keeps it');
  assert.equal((await patchUpstream(env, up.id, { proxy_url: null })).proxy_url, null);
  await step('null: the global proxy again', { global: 2, own: 1, other: 1, fake: 5 });
  await setGlobal(env, null);
  await step('no proxy at all', { global: 2, own: 1, other: 1, fake: 6 });
  await setGlobal(env, other.url);
  await step('a new global proxy', { global: 2, own: 1, other: 2, fake: 7 });
});

test("the credential test goes through the upstream's own proxy (or direct, or the global one)", async (t) => {
  const fake = await fakeUpstream(t);
  const user = 'tester';
  const pass = `cred-test-${hex(8)}`;
  const own = await socks(t, { auth: { user, pass } });
  const refusingGlobal = await connectProxy(t, { refuse: true });
  const env = await startEnv(t, 'sqlite', { fake });
  const up = await seededUpstream(env);
  const cred = await firstCredential(env, up.id);
  await setGlobal(env, refusingGlobal.url);

  const testCred = async () => {
    const r = await env.api('POST', `/credentials/${cred.id}/test`);
    assert.equal(r.status, 200, describeRes(r));
    assert.ok(!r.text.includes(pass), `the proxy password in the test answer: ${r.text}`);
    return r.json;
  };

  await patchUpstream(env, up.id, { proxy_url: own.urlWith(user, pass) });
  const ok = await testCred();
  assert.equal(ok.ok, true, JSON.stringify(ok));
  assert.equal(own.tunnels.length, 1, 'the test went through the upstream\'s socks5 proxy');
  assert.deepEqual(own.auths, [{ user, pass, ok: true }]);
  assert.equal(refusingGlobal.requests.length, 0);
  assert.equal(fake.requestsTo('/v1/models').length, 1);
  assert.equal(fake.requestsTo('/v1/models')[0].apiKey, UPSTREAM_KEY);
  assert.equal(own.httpRequests('/v1/models').length, 1);

  await patchUpstream(env, up.id, { proxy_url: 'direct' });
  assert.equal((await testCred()).ok, true);
  assert.equal(own.connections, 1);
  assert.equal(refusingGlobal.requests.length, 0, '"direct": not through the global proxy');
  assert.equal(fake.requestsTo('/v1/models').length, 2);

  await patchUpstream(env, up.id, { proxy_url: null });
  const viaGlobal = await testCred();
  assert.equal(viaGlobal.ok, false, `the global proxy refuses: ${JSON.stringify(viaGlobal)}`);
  assert.equal(refusingGlobal.requests.length, 1);

  await patchUpstream(env, up.id, { proxy_url: own.urlWith(user, `x${pass}`) });
  const wrong = await testCred();
  assert.equal(wrong.ok, false, JSON.stringify(wrong));
  assert.equal(own.auths.at(-1).ok, false);
  assert.equal(fake.requestsTo('/v1/models').length, 2);
});

test('proxy URLs are validated: 400 with error.field for the setting, the upstream field and on create', async (t) => {
  const fake = await fakeUpstream(t);
  const env = await startEnv(t, 'sqlite', { fake });
  const up = await seededUpstream(env);
  const bad = [
    ['https scheme', 'https://127.0.0.1:3128'],
    ['socks4', 'socks4://127.0.0.1:1080'],
    ['ftp', 'ftp://127.0.0.1:21'],
    ['path', 'http://127.0.0.1:3128/path'],
    ['no host', 'socks5://'],
    ['no host after credentials', 'socks5://user:pass@'],
    ['empty user', 'socks5://:pass@127.0.0.1:1080'],
    ['port 0', 'socks5://127.0.0.1:0'],
    ['port too big', 'http://127.0.0.1:65536'],
    ['query', 'socks5://127.0.0.1:1080?x=1'],
    ['not a url', 'not a url'],
    ['empty string', ''],
    ['number', 1080],
    ['object', { url: 'socks5://127.0.0.1:1080' }],
  ];
  await expect400s(
    env,
    'PATCH',
    '/settings',
    [...bad, ['"direct" is only for an upstream', 'direct']].map(([label, v]) => [label, { outbound_proxy: v }, 'outbound_proxy']),
  );
  await expect400s(
    env,
    'PATCH',
    `/upstreams/${up.id}`,
    bad.map(([label, v]) => [label, { proxy_url: v }, 'proxy_url']),
  );
  await expect400s(
    env,
    'POST',
    '/upstreams',
    bad.map(([label, v]) => [label, { name: `bad-proxy-${hex(3)}`, base_url: fake.url, proxy_url: v }, 'proxy_url']),
  );
  assert.equal((await get(env, '/settings')).outbound_proxy, null, 'rejected PATCHes change nothing');
  assert.equal((await get(env, `/upstreams/${up.id}`)).proxy_url, null);
  assert.deepEqual(
    (await get(env, '/upstreams')).data.map((u) => u.name),
    ['fake'],
    'no upstream created by a rejected POST',
  );

  const good = [
    'http://127.0.0.1:3128',
    'http://proxy.example:8080',
    'http://user:pass@127.0.0.1:3128',
    'socks5://127.0.0.1:1080',
    'socks5://127.0.0.1',
    'socks5h://127.0.0.1:1080',
    'socks5://user:pass@127.0.0.1:1080',
    'socks5h://user@proxy.example:1080',
    'socks5://[::1]:1080',
  ];
  for (const v of good) {
    const s = await env.api('PATCH', '/settings', { outbound_proxy: v });
    assert.equal(s.status, 200, `${v}: ${describeRes(s)}`);
    assert.equal(s.json.outbound_proxy, masked(v), v);
    const u = await env.api('PATCH', `/upstreams/${up.id}`, { proxy_url: v });
    assert.equal(u.status, 200, `${v}: ${describeRes(u)}`);
    assert.equal(u.json.proxy_url, masked(v), v);
  }
  const created = await create(env, '/upstreams', { name: 'with-proxy', base_url: fake.url, proxy_url: 'socks5://u:secret-x@127.0.0.1:1080' });
  assert.equal(created.proxy_url, 'socks5://u:***@127.0.0.1:1080');
  const createdDirect = await create(env, '/upstreams', { name: 'direct-one', base_url: fake.url, proxy_url: 'direct' });
  assert.equal(createdDirect.proxy_url, 'direct');
  const createdNull = await create(env, '/upstreams', { name: 'default-one', base_url: fake.url, proxy_url: null });
  assert.equal(createdNull.proxy_url, null);
});

test('the proxy password never appears in admin answers, the audit log or Clove output (trace level, failures included)', async (t) => {
  const fake = await fakeUpstream(t);
  const user = 'masked-user';
  const secret = `Sekr3t${hex(10)}`;
  const secret2 = `Other${hex(10)}`;
  const httpProxy = await connectProxy(t, { auth: { user, pass: secret } });
  const socksProxy = await socks(t, { auth: { user, pass: secret } });
  const env = await startEnv(t, 'sqlite', { fake, env: { LOG_LEVEL: 'trace' }, configOpts: { log: { level: 'trace' } } });
  assert.equal((await env.api('PATCH', '/settings', { log_level: 'trace' })).status, 200);

  const answers = [];
  const keep = (r) => {
    answers.push(r);
    return r;
  };
  keep(await env.api('PATCH', '/settings', { outbound_proxy: httpProxy.urlWith(user, secret) }));
  assertOk(keep(await env.messages()), 'via the http proxy');
  assert.equal(httpProxy.tunnels.length, 1);

  const created = keep(
    await env.api('POST', '/upstreams', {
      name: 'socks-up',
      base_url: fake.url,
      priority: 10,
      proxy_url: socksProxy.urlWith(user, secret, 'socks5h'),
      credentials: [UPSTREAM_KEY],
    }),
  );
  assert.equal(created.status, 201, describeRes(created));
  assert.equal(created.json.proxy_url, `socks5h://${user}:***@127.0.0.1:${socksProxy.port}`);
  assertOk(keep(await env.messages({ stream: true })), 'via the socks5 proxy');
  assert.equal(socksProxy.tunnels.length, 1);
  const cred = await firstCredential(env, created.json.id);
  keep(await env.api('POST', `/credentials/${cred.id}/test`));

  // failures: a wrong password on both proxies
  keep(await env.api('PATCH', `/upstreams/${created.json.id}`, { proxy_url: socksProxy.urlWith(user, secret2) }));
  keep(await env.api('PATCH', '/settings', { outbound_proxy: httpProxy.urlWith(user, secret2) }));
  socksProxy.dropTunnels(); // pooled tunnels were authenticated with the old password
  httpProxy.dropTunnels();
  const failed = keep(await env.messages());
  assert.equal(failed.status, 502, describeRes(failed));
  keep(await env.api('POST', `/credentials/${cred.id}/test`));

  for (const p of ['/settings', '/upstreams', `/upstreams/${created.json.id}`, `/upstreams/${created.json.id}/credentials`, '/audit?limit=200', '/usage/requests?limit=100', '/status', '/cache']) {
    keep(await env.api('GET', p));
  }
  keep(await env.raw('GET', '/metrics', undefined, { key: env.adminKey }));

  const audit = answers.find((r) => r.path === '/admin/api/audit?limit=200');
  assert.ok(
    audit.json.data.some((e) => JSON.stringify(e.detail ?? {}).includes(`${user}:***@`)),
    `the audit log records the masked proxy URL: ${audit.text.slice(0, 800)}`,
  );

  const forms = (s) => [s, encodeURIComponent(s), Buffer.from(`${user}:${s}`).toString('base64')];
  const leaks = [];
  for (const s of [secret, secret2]) {
    for (const f of forms(s)) {
      for (const r of answers) if (String(r.text).includes(f) || JSON.stringify(r.headers).includes(f)) leaks.push(`${r.method} ${r.path}: ${f}`);
      for (const line of [...env.clove.stdoutLines, ...env.clove.stderrLines]) if (line.includes(f)) leaks.push(`output: ${line.slice(0, 300)}`);
    }
  }
  assert.deepEqual(leaks, [], 'the proxy password leaked');
});

test('a masked proxy URL sent back unchanged (GET, then PUT/PATCH of that answer) keeps the stored password', async (t) => {
  const fake = await fakeUpstream(t);
  const user = 'roundtrip';
  const pass = `rt-${hex(8)}`;
  const globalProxy = await socks(t, { auth: { user, pass } });
  const own = await socks(t, { auth: { user, pass } });
  const env = await startEnv(t, 'sqlite', { fake });
  const up = await seededUpstream(env);

  // Settings: what a UI does to change one field (GET the whole object, PUT it back).
  await setGlobal(env, globalProxy.urlWith(user, pass));
  const settings = await get(env, '/settings');
  const put = await env.api('PUT', '/settings', { ...settings, log_level: 'info' });
  assert.equal(put.status, 200, describeRes(put));
  assert.equal(put.json.outbound_proxy, settings.outbound_proxy);
  globalProxy.dropTunnels();
  const viaGlobal = await env.messages();
  assert.deepEqual(globalProxy.auths.at(-1), { user, pass, ok: true }, `the stored password became the mask: ${JSON.stringify(globalProxy.auths)}`);
  assertOk(viaGlobal, 'after the settings round trip');

  // Upstream: PATCH back the proxy_url the GET answered.
  await patchUpstream(env, up.id, { proxy_url: own.urlWith(user, pass) });
  const shown = (await get(env, `/upstreams/${up.id}`)).proxy_url;
  assert.equal((await patchUpstream(env, up.id, { proxy_url: shown, weight: 3 })).proxy_url, shown);
  own.dropTunnels();
  const viaOwn = await env.messages();
  assert.deepEqual(own.auths.at(-1), { user, pass, ok: true }, `the stored password became the mask: ${JSON.stringify(own.auths)}`);
  assertOk(viaOwn, 'after the upstream round trip');
});

forEachBackend('proxy_url and outbound_proxy persistence', (backend) => {
  test('survive a restart with the real password (not the masked one)', async (t) => {
    const fake = await fakeUpstream(t);
    const user = 'persist';
    const pass = `keep-${hex(8)}`;
    const proxy = await socks(t, { auth: { user, pass } });
    const globalProxy = await connectProxy(t, { auth: { user, pass } });
    const env = await startEnv(t, backend, { fake });
    const up = await seededUpstream(env);

    await setGlobal(env, globalProxy.urlWith(user, pass));
    const other = await create(env, '/upstreams', { name: 'other', base_url: fake.url, proxy_url: 'direct', priority: -5 });
    await patchUpstream(env, up.id, { proxy_url: proxy.urlWith(user, pass, 'socks5h') });
    await env.restart();

    assert.equal((await get(env, '/settings')).outbound_proxy, `http://${user}:***@127.0.0.1:${globalProxy.port}`);
    assert.equal((await get(env, `/upstreams/${up.id}`)).proxy_url, `socks5h://${user}:***@127.0.0.1:${proxy.port}`);
    assert.equal((await get(env, `/upstreams/${other.id}`)).proxy_url, 'direct');
    assertOk(await env.messages(), 'after the restart, through the upstream\'s own proxy');
    assert.deepEqual(proxy.auths, [{ user, pass, ok: true }], 'the stored password is the real one');
    assert.equal(globalProxy.requests.length, 0);

    await patchUpstream(env, up.id, { proxy_url: null });
    await env.restart();
    assert.equal((await get(env, `/upstreams/${up.id}`)).proxy_url, null);
    assertOk(await env.messages(), 'after the restart, through the global proxy');
    assert.equal(globalProxy.tunnels.length, 1);
    assert.equal(globalProxy.requests[0].authorization, `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`);
  });
});

test('PROXY_URL seeds outbound_proxy at the first start only; [[upstream]] proxy_url seeds the upstream', async (t) => {
  const fake = await fakeUpstream(t);
  const fakeB = await fakeUpstream(t);
  const user = 'seed';
  const pass = `seed-${hex(8)}`;
  const seededProxy = await socks(t, { auth: { user, pass } });
  const laterProxy = await socks(t);
  const upstreamProxy = await socks(t);
  const config = twoUpstreams(fake, fakeB, { proxy_url: upstreamProxy.url }, { proxy_url: 'direct' });
  config.upstream.push(fakeUpstreamEntry(fake.url, { name: 'global', priority: -10, api_key: `${UPSTREAM_KEY}-g` }));
  const env = await startEnv(t, 'sqlite', { fake, config, env: { PROXY_URL: seededProxy.urlWith(user, pass) } });

  assert.equal((await get(env, '/settings')).outbound_proxy, `socks5://${user}:***@127.0.0.1:${seededProxy.port}`);
  assert.equal((await upstreamByName(env, 'proxied')).proxy_url, upstreamProxy.url);
  assert.equal((await upstreamByName(env, 'direct')).proxy_url, 'direct');
  assert.equal((await upstreamByName(env, 'global')).proxy_url, null);

  assertOk(await env.messages(), '[[upstream]] proxy_url');
  assert.equal(upstreamProxy.tunnels.length, 1);
  await patchUpstream(env, (await upstreamByName(env, 'proxied')).id, { enabled: false });
  assertOk(await env.messages(), '[[upstream]] proxy_url = "direct"');
  assert.equal(fakeB.requestsTo('/v1/messages').length, 1);
  assert.equal(seededProxy.connections, 0);
  await patchUpstream(env, (await upstreamByName(env, 'direct')).id, { enabled: false });
  assertOk(await env.messages(), 'the seeded global proxy');
  assert.deepEqual(seededProxy.auths, [{ user, pass, ok: true }]);
  assert.equal(seededProxy.tunnels.length, 1);

  // Later starts do not overwrite the setting from PROXY_URL.
  await env.restart({ env: { PROXY_URL: laterProxy.url } });
  assert.equal((await get(env, '/settings')).outbound_proxy, `socks5://${user}:***@127.0.0.1:${seededProxy.port}`);
  assertOk(await env.messages(), 'after a restart with another PROXY_URL');
  assert.equal(seededProxy.tunnels.length, 2);
  assert.equal(laterProxy.connections, 0);
});

test('an invalid PROXY_URL or [[upstream]] proxy_url stops Clove at start, without echoing the password', async () => {
  const base = defaultConfig('http://127.0.0.1:9');
  const secret = `hidden${hex(6)}`;
  const env = { ADMIN_API_KEYS: 'adm-test-key-0123456789abcdef-0001' };
  const r1 = await runCloveExpectingExit(base, { env: { ...env, PROXY_URL: `socks4://u:${secret}@127.0.0.1:1080` } });
  assert.equal(r1.listening, false, r1.stderr);
  assert.notEqual(r1.code, 0, r1.stderr);
  assert.match(r1.stderr, /PROXY_URL/);
  assert.ok(!r1.stderr.includes(secret), `the password is echoed: ${r1.stderr}`);

  const bad = defaultConfig('http://127.0.0.1:9', { upstream: { proxy_url: `ftp://u:${secret}@127.0.0.1:21` } });
  const r2 = await runCloveExpectingExit(bad, { env });
  assert.equal(r2.listening, false, r2.stderr);
  assert.notEqual(r2.code, 0, r2.stderr);
  assert.match(r2.stderr, /upstream\[0\]\.proxy_url/);
  assert.ok(!r2.stderr.includes(secret), `the password is echoed: ${r2.stderr}`);
});
