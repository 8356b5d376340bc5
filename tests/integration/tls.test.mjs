// HTTPS upstreams: peer verification against the CA store, host-name verification, SNI, keep-alive
// reuse, large bodies both ways, streaming, and a verification failure answered in the Anthropic
// error shape without the request reaching anyone.
//
// A throw-away CA and server certificates are made with the openssl command line per run; Clove
// trusts the CA through SSL_CERT_FILE (OpenSSL's default verify paths honour it), so the system
// store plays no part. The fake upstream listens on 127.0.0.1 and is addressed as `localhost`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { startFakeUpstream, expectedText } from '../fake_upstream/server.mjs';
import { startClove, stopCloveChecked, defaultConfig, clientHeaders, anthropicErrorProblems, CLIENT_KEY, UPSTREAM_KEY } from '../lib/clove.mjs';
import { request, waitFor } from '../lib/http.mjs';
import { grammarProblems, parseSse } from '../lib/sse.mjs';

const MODEL = 'claude-sonnet-5-5';
let dir;
const pem = {};

function openssl(...args) {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA (name) and a server certificate (name) for the given subjectAltName, signed by that CA. */
function makeCa(name) {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`,
    '-out', `${name}.pem`, '-days', '30', '-subj', `/CN=Clove test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}
function makeServer(name, ca, san) {
  fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`,
    '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-out', `${name}.pem`, '-days', '30', '-extfile', `${name}.ext`);
  pem[name] = { key: fs.readFileSync(path.join(dir, `${name}.key`)), cert: fs.readFileSync(path.join(dir, `${name}.pem`)) };
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clove-tls-'));
  makeCa('ca');
  makeCa('otherca');
  makeServer('good', 'ca', 'DNS:localhost,IP:127.0.0.1');
  makeServer('wrongname', 'ca', 'DNS:other.invalid');
  makeServer('untrusted', 'otherca', 'DNS:localhost,IP:127.0.0.1');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A TLS fake with the given certificate and a Clove trusting only `ca` routed to it. */
async function setup(t, certName, upstream = {}) {
  const fake = await startFakeUpstream({ tls: pem[certName] });
  t.after(() => fake.close());
  const clove = await startClove({
    config: defaultConfig(fake.url, { server: { workers: 1 }, upstream }), // one worker: one pool
    env: { SSL_CERT_FILE: path.join(dir, 'ca.pem'), SSL_CERT_DIR: dir },
  });
  t.after(() => stopCloveChecked(clove));
  return { fake, clove };
}

const body = (extra = {}) => JSON.stringify({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'hi over tls' }], ...extra });

test('a verified HTTPS upstream serves JSON and streams, over one reused connection', async (t) => {
  const { fake, clove } = await setup(t, 'good');
  const client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: clove.url, maxRetries: 0 });
  const msg = await client.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'one' }] });
  assert.equal(msg.type, 'message');
  const stream = client.messages.stream({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'two' }] },
    { headers: { 'x-fake-scenario': 'deltas:40' } });
  let text = '';
  stream.on('text', (d) => (text += d));
  const final = await stream.finalMessage();
  assert.equal(final.stop_reason, 'end_turn');
  assert.equal(text, expectedText({ deltas: '40' }, fake.requests[1].body));
  assert.equal(fake.requests.length, 2);
  for (const r of fake.requests) assert.equal(r.apiKey, UPSTREAM_KEY, 'the upstream credential, not the client key');
  assert.equal(fake.stats.connections.opened, 1, 'the second request reused the pooled TLS connection');
  assert.equal(fake.stats.tls_errors, 0);
});

test('large bodies both ways cross TLS intact (many records, partial writes)', async (t) => {
  const { fake, clove } = await setup(t, 'good');
  // ~3 MiB of request: many 16 KiB TLS records and socket writes that do not complete at once
  const big = 'x'.repeat(3 * 1024 * 1024);
  const b = body({ system: big });
  const r = await request(`${clove.url}/v1/messages`, { headers: clientHeaders(), body: b });
  assert.equal(r.status, 200, r.text);
  assert.equal(fake.requests[0].body.toString('utf8'), b, 'the upstream received the body byte for byte');
  // a long stream: thousands of events split across records
  const s = await request(`${clove.url}/v1/messages`, { headers: clientHeaders({ 'x-fake-scenario': 'deltas:3000' }), body: body({ stream: true }) });
  assert.equal(s.status, 200);
  assert.deepEqual(grammarProblems(parseSse(s.text)), []);
  assert.match(s.text, /event: message_stop/);
  const deltas = s.text.split('\n').filter((l) => l.startsWith('data: ') && l.includes('"text_delta"'));
  assert.equal(deltas.length, 3000);
});

for (const [certName, why] of [
  ['wrongname', 'a certificate for another host name'],
  ['untrusted', 'a certificate from a CA outside the store'],
]) {
  test(`${why}: the handshake fails, nothing is sent, the client gets an Anthropic error`, async (t) => {
    const { fake, clove } = await setup(t, certName);
    const started = Date.now();
    const r = await request(`${clove.url}/v1/messages`, { headers: clientHeaders(), body: body() });
    assert.equal(r.status, 502, r.text);
    assert.deepEqual(anthropicErrorProblems(r, 502, 'api_error'), []);
    assert.ok(!r.text.includes(UPSTREAM_KEY));
    assert.equal(fake.requests.length, 0, 'no request reached an unverified peer');
    // Node reports the failed handshake when the alert arrives, which can be after Clove's 502.
    await waitFor(() => fake.stats.tls_errors >= 1, { timeoutMs: 2000, what: 'the fake to see the handshake fail' });
    assert.ok(Date.now() - started < 5000);
    const why = certName === 'wrongname' ? /hostname mismatch/i : /unable to get local issuer certificate/i;
    assert.match(r.json().error.message, why, 'the error names the verification failure');
  });
}

test('an IP-literal base URL is verified against the IP address SAN', async (t) => {
  const { fake, clove } = await setup(t, 'good');
  const ipClove = await startClove({
    config: defaultConfig(fake.url.replace('localhost', '127.0.0.1'), { server: { workers: 1 } }),
    env: { SSL_CERT_FILE: path.join(dir, 'ca.pem'), SSL_CERT_DIR: dir },
  });
  t.after(() => stopCloveChecked(ipClove));
  const r = await request(`${ipClove.url}/v1/messages`, { headers: clientHeaders(), body: body() });
  assert.equal(r.status, 200, r.text);
  assert.equal(fake.requests.length, 1);
  void clove;
});

test('a peer that accepts TCP but never answers the handshake fails within connect_timeout_ms', async (t) => {
  const sockets = new Set();
  const silent = net.createServer((s) => sockets.add(s));
  await new Promise((r) => silent.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const clove = await startClove({
    config: defaultConfig(`https://localhost:${silent.address().port}`, { server: { workers: 1 }, upstream: { connect_timeout_ms: 400 } }),
    env: { SSL_CERT_FILE: path.join(dir, 'ca.pem'), SSL_CERT_DIR: dir },
  });
  t.after(() => stopCloveChecked(clove));
  const started = Date.now();
  const r = await request(`${clove.url}/v1/messages`, { headers: clientHeaders(), body: body() });
  const took = Date.now() - started;
  assert.equal(r.status, 504, r.text);
  assert.deepEqual(anthropicErrorProblems(r, 504, 'timeout_error'), []);
  assert.ok(sockets.size >= 1, 'Clove connected');
  assert.ok(took >= 350 && took < 2500, `answered after ${took} ms`);
});
