// The embedded web admin UI (src/clove/webui/static_files.hpp): `/` and client-side routes get
// index.html (no-cache), hashed assets under /assets/ are immutable for a year, gzip when the
// client accepts it, ETag / If-None-Match revalidation, HEAD, a strict Content-Security-Policy on
// the HTML, and API paths (/v1/*, /admin/api/*, /metrics, /health) are never shadowed. The UI
// itself needs no key and carries no secret.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import { startFakeUpstream } from '../fake_upstream/server.mjs';
import {
  startClove,
  stopCloveChecked,
  waitForAdminKey,
  anthropicErrorProblems,
  CLIENT_KEY,
  UPSTREAM_KEY,
} from '../lib/clove.mjs';

const ADMIN_KEY = 'adm-webui-test-key-0123456789abcdef';
const CSP_DIRECTIVES = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
  'frame-ancestors': ["'none'"],
};
const IMMUTABLE = 'public, max-age=31536000, immutable';
const TYPES = {
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  html: 'text/html; charset=utf-8',
  svg: 'image/svg+xml',
};
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

let fake;
let clove;

before(async () => {
  fake = await startFakeUpstream();
  clove = await startClove({ fakeUrl: fake.url, env: { ADMIN_API_KEYS: ADMIN_KEY } });
});

after(async () => {
  try {
    if (clove) await stopCloveChecked(clove);
  } finally {
    if (fake) await fake.close();
  }
});

/** One request without any decoding: {status, headers, rawHeaders, body (Buffer), text, localPort, reused}. */
function get(path, { method = 'GET', headers = {}, agent, body, base } = {}) {
  const u = new URL(path, base ?? clove.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent: agent ?? false },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          resolve({
            status: res.statusCode,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: buf,
            text: buf.toString('utf8'),
            localPort: res.socket?.localPort,
            reused: req.reusedSocket,
            method,
            path,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const show = (r) => `${r.method} ${r.path} → ${r.status} ${JSON.stringify(r.headers)} ${r.text.slice(0, 300)}`;

/** The same-origin URLs index.html references (script src, link href). */
function referencedUrls(html) {
  const urls = new Set();
  for (const m of html.matchAll(/<(script|link)\b[^>]*?\b(src|href)\s*=\s*["']([^"']+)["']/gi)) {
    if (m[3].startsWith('/') && !m[3].startsWith('//')) urls.add(m[3]);
  }
  return [...urls];
}

/** Lazily loaded chunks a JS asset imports ("./x-hash.js" or "assets/x-hash.js"), as /assets/ URLs. */
function chunkUrls(js) {
  const out = new Set();
  for (const m of js.matchAll(/["'`](?:\.\/|\/?assets\/)([A-Za-z0-9_.-]+\.(?:js|css))["'`]/g)) out.add(`/assets/${m[1]}`);
  return [...out];
}

const ext = (p) => (/\.([a-z0-9]+)$/i.exec(p) ?? [])[1]?.toLowerCase();

function parseCsp(v) {
  const out = {};
  for (const part of String(v).split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out[name.toLowerCase()] = values;
  }
  return out;
}

/** Every asset the UI loads: index.html's references and the chunks they import (transitively). */
async function allAssetUrls() {
  const index = await get('/');
  assert.equal(index.status, 200, show(index));
  const seen = new Set();
  const queue = referencedUrls(index.text);
  while (queue.length) {
    const u = queue.shift();
    if (seen.has(u)) continue;
    seen.add(u);
    if (ext(u) === 'js') {
      const r = await get(u);
      if (r.status === 200) for (const c of chunkUrls(r.text)) if (!seen.has(c)) queue.push(c);
    }
  }
  return [...seen];
}

function assertHtmlHeaders(r, what) {
  assert.equal(r.status, 200, `${what}: ${show(r)}`);
  assert.equal(r.headers['content-type'], 'text/html; charset=utf-8', what);
  assert.equal(r.headers['cache-control'], 'no-cache', `${what}: index.html must be revalidated`);
  assert.match(String(r.headers.etag), /^"[^"]+"$/, `${what}: strong etag`);
  assert.equal(r.headers['x-frame-options'], 'DENY', what);
  assert.equal(r.headers['x-content-type-options'], 'nosniff', what);
  assert.equal(r.headers['referrer-policy'], 'no-referrer', what);
  const csp = r.headers['content-security-policy'];
  assert.ok(csp, `${what}: no content-security-policy`);
  assert.match(csp, /^default-src 'self'; script-src 'self'/, `${what}: CSP ${csp}`);
  const d = parseCsp(csp);
  for (const [name, values] of Object.entries(CSP_DIRECTIVES)) assert.deepEqual(d[name], values, `${what}: CSP ${name} in ${csp}`);
  assert.ok(!d['script-src'].includes("'unsafe-inline'") && !d['script-src'].includes("'unsafe-eval'"), `${what}: script-src ${csp}`);
}

// ---------------------------------------------------------------------------------------------

test('GET / → index.html: headers, CSP, the root element and its /assets/ scripts and styles', async () => {
  const r = await get('/', { headers: { accept: BROWSER_ACCEPT } });
  assertHtmlHeaders(r, 'GET /');
  assert.equal(r.headers['content-encoding'], undefined, 'no accept-encoding: identity');
  assert.equal(Number(r.headers['content-length']), r.body.length);
  assert.match(r.text, /^<!doctype html>/i);
  assert.match(r.text, /<div id="root"><\/div>/);
  assert.match(r.text, /<script\b[^>]*\bsrc="\/assets\/[^"]+\.js"/, 'a script from /assets/');
  assert.match(r.text, /<link\b[^>]*\bhref="\/assets\/[^"]+\.css"/, 'a stylesheet from /assets/');
  // the CSP forbids inline scripts: every script must have a src
  const inline = [...r.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)].filter((m) => !/\bsrc\s*=/.test(m[1]) || m[2].trim());
  assert.deepEqual(inline.map((m) => m[0].slice(0, 120)), [], 'inline scripts would be blocked by script-src \'self\'');
  // /index.html is the same document
  const idx = await get('/index.html');
  assertHtmlHeaders(idx, 'GET /index.html');
  assert.equal(idx.text, r.text);
  assert.equal(idx.headers.etag, r.headers.etag);
});

test('every asset index.html loads (and the chunks they import) answers 200 with its type; /assets/ is immutable', async () => {
  const urls = await allAssetUrls();
  assert.ok(urls.some((u) => u.startsWith('/assets/') && ext(u) === 'js'), `no /assets/*.js: ${urls}`);
  assert.ok(urls.some((u) => u.startsWith('/assets/') && ext(u) === 'css'), `no /assets/*.css: ${urls}`);
  const problems = [];
  for (const u of urls) {
    const r = await get(u);
    const want = TYPES[ext(u)];
    if (r.status !== 200) {
      problems.push(`${u}: status ${r.status}`);
      continue;
    }
    if (want && r.headers['content-type'] !== want) problems.push(`${u}: content-type ${r.headers['content-type']}, expected ${want}`);
    if (!r.body.length) problems.push(`${u}: empty body`);
    if (Number(r.headers['content-length']) !== r.body.length) problems.push(`${u}: content-length ${r.headers['content-length']} vs ${r.body.length} bytes`);
    if (!/^"[^"]+"$/.test(String(r.headers.etag))) problems.push(`${u}: etag ${r.headers.etag}`);
    if (r.headers['x-content-type-options'] !== 'nosniff') problems.push(`${u}: x-content-type-options ${r.headers['x-content-type-options']}`);
    const cc = r.headers['cache-control'];
    if (u.startsWith('/assets/')) {
      if (cc !== IMMUTABLE) problems.push(`${u}: cache-control ${cc}, expected ${IMMUTABLE}`);
    } else if (cc !== 'no-cache') problems.push(`${u}: cache-control ${cc} (not a hashed asset: no-cache)`);
  }
  assert.deepEqual(problems, [], `assets:\n${problems.join('\n')}`);
});

test('gzip: accepted → content-encoding gzip + vary, gunzips to the identity body; otherwise identity', async () => {
  const urls = ['/', ...(await allAssetUrls()).filter((u) => u.startsWith('/assets/'))];
  const mainJs = urls.find((u) => u.startsWith('/assets/') && ext(u) === 'js');
  let gzipped = 0;
  for (const u of urls) {
    const plain = await get(u);
    assert.equal(plain.status, 200, show(plain));
    assert.equal(plain.headers['content-encoding'], undefined, `${u} without accept-encoding`);
    const gz = await get(u, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
    assert.equal(gz.status, 200, show(gz));
    if (u === '/' || u === mainJs) assert.equal(gz.headers['content-encoding'], 'gzip', `${u} is worth compressing: ${show(gz)}`);
    if (gz.headers['content-encoding'] !== 'gzip') {
      assert.deepEqual(gz.body, plain.body, `${u}: identity when not compressed`);
      continue;
    }
    gzipped++;
    assert.match(String(gz.headers.vary), /accept-encoding/i, `${u}: vary`);
    assert.match(String(plain.headers.vary), /accept-encoding/i, `${u}: vary on the identity response too`);
    assert.equal(Number(gz.headers['content-length']), gz.body.length, `${u}: content-length of the gzip body`);
    assert.ok(gz.body.length < plain.body.length, `${u}: gzip is not smaller`);
    assert.deepEqual(zlib.gunzipSync(gz.body), plain.body, `${u}: gunzip(body) is not the identity body`);
    assert.equal(gz.headers['content-type'], plain.headers['content-type']);
    assert.equal(gz.headers['cache-control'], plain.headers['cache-control']);
    assert.notEqual(gz.headers.etag, plain.headers.etag, `${u}: the gzip and identity representations share a strong etag`);
    // q-values
    for (const [ae, enc] of [
      ['gzip;q=0', undefined],
      ['gzip; q=0.000, identity', undefined],
      ['br', undefined],
      ['identity', undefined],
      ['deflate, gzip;q=0.5', 'gzip'],
      ['GZIP', 'gzip'],
    ]) {
      const r = await get(u, { headers: { 'accept-encoding': ae } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-encoding'], enc, `${u} with accept-encoding "${ae}"`);
      assert.deepEqual(enc ? zlib.gunzipSync(r.body) : r.body, plain.body, `${u} with accept-encoding "${ae}"`);
    }
  }
  assert.ok(gzipped >= 2, 'index.html and the main script at least are served gzipped');
});

test('revalidation: If-None-Match → 304 without a body; a wrong etag → 200; HEAD → GET headers, no body', async () => {
  for (const u of ['/', (await allAssetUrls()).find((x) => x.startsWith('/assets/'))]) {
    const g = await get(u);
    assert.equal(g.status, 200);
    const etag = g.headers.etag;
    for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, '*']) {
      const r = await get(u, { headers: { 'if-none-match': inm } });
      assert.equal(r.status, 304, `${u} If-None-Match ${inm}: ${show(r)}`);
      assert.equal(r.body.length, 0, `${u}: 304 with a body`);
      assert.equal(r.headers.etag, etag, `${u}: the 304 carries the same etag`);
      assert.equal(r.headers['cache-control'], g.headers['cache-control'], `${u}: cache-control of the 304`);
    }
    for (const inm of ['"nope"', `"${etag.slice(1, -2)}"`, 'W/"x"']) {
      const r = await get(u, { headers: { 'if-none-match': inm } });
      assert.equal(r.status, 200, `${u} If-None-Match ${inm}: ${show(r)}`);
      assert.deepEqual(r.body, g.body);
    }
    // the gzip representation revalidates with its own etag
    const gz = await get(u, { headers: { 'accept-encoding': 'gzip' } });
    if (gz.headers['content-encoding'] === 'gzip') {
      const r = await get(u, { headers: { 'accept-encoding': 'gzip', 'if-none-match': gz.headers.etag } });
      assert.equal(r.status, 304, `${u} gzip etag: ${show(r)}`);
      assert.equal(r.headers.etag, gz.headers.etag);
      assert.equal(r.body.length, 0);
    }
    // HEAD
    const h = await get(u, { method: 'HEAD' });
    assert.equal(h.status, 200, show(h));
    assert.equal(h.body.length, 0, `HEAD ${u} has a body`);
    const strip = (hd) => Object.fromEntries(Object.entries(hd).filter(([k]) => !['date', 'connection', 'keep-alive'].includes(k)));
    assert.deepEqual(strip(h.headers), strip(g.headers), `HEAD ${u}: headers differ from GET`);
    assert.equal(Number(h.headers['content-length']), g.body.length);
  }
});

test('HEAD and 304 write no body bytes on the wire (the connection stays in sync)', async () => {
  const g = await get('/');
  const sock = net.connect(clove.port, '127.0.0.1');
  await new Promise((res, rej) => sock.once('connect', res).once('error', rej));
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
  });
  const exchange = async (req, { quietMs = 300, until } = {}) => {
    buf = Buffer.alloc(0);
    sock.write(req);
    const deadline = Date.now() + 5000;
    while (!(until ? until(buf) : buf.includes('\r\n\r\n')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, quietMs)); // stray body bytes would arrive meanwhile
    return buf.toString('latin1');
  };
  try {
    const head = await exchange('HEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 200 /, head);
    assert.ok(head.endsWith('\r\n\r\n'), `bytes after the HEAD response head: ${JSON.stringify(head.slice(head.indexOf('\r\n\r\n') + 4, 200))}`);
    const nm = await exchange(`GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${g.headers.etag}\r\n\r\n`);
    assert.match(nm, /^HTTP\/1\.1 304 /, nm);
    assert.ok(nm.endsWith('\r\n\r\n'), `bytes after the 304 head: ${JSON.stringify(nm.slice(nm.indexOf('\r\n\r\n') + 4, 200))}`);
    const full = await exchange('GET / HTTP/1.1\r\nHost: x\r\n\r\n', {
      quietMs: 50,
      until: (b) => b.includes('</html>'),
    });
    assert.match(full, /^HTTP\/1\.1 200 /, `the connection is out of sync: ${full.slice(0, 200)}`);
    assert.ok(full.endsWith(g.text), 'the GET after HEAD/304 on the same connection returns index.html');
  } finally {
    sock.destroy();
  }
});

test('SPA fallback: client-side routes get index.html only when the client asks for HTML', async () => {
  const index = await get('/');
  for (const [p, accept] of [
    ['/keys', 'text/html'],
    ['/upstreams/up_123', BROWSER_ACCEPT],
    ['/usage', 'TEXT/HTML'],
    ['/keys?tab=limits', BROWSER_ACCEPT],
    ['/settings/', BROWSER_ACCEPT],
  ]) {
    const r = await get(p, { headers: { accept } });
    assertHtmlHeaders(r, `GET ${p} (accept ${accept})`);
    assert.equal(r.text, index.text, `${p}: not index.html`);
    assert.equal(r.headers.etag, index.headers.etag);
    const h = await get(p, { method: 'HEAD', headers: { accept } });
    assert.equal(h.status, 200, `HEAD ${p}`);
    assert.equal(h.body.length, 0);
  }
  // without text/html in accept, or a file name: the gateway's 404 (Anthropic-shaped JSON)
  for (const [p, headers] of [
    ['/keys', {}],
    ['/keys', { accept: 'application/json' }],
    ['/upstreams/up_123', { accept: '*/*' }],
    ['/assets/missing-abc.js', {}],
    ['/assets/missing-abc.js', { accept: BROWSER_ACCEPT }],
    ['/assets/missing-abc.css', { accept: 'text/css,*/*;q=0.1' }],
    ['/keys.json', { accept: BROWSER_ACCEPT }],
    ['/favicon.ico', { accept: BROWSER_ACCEPT }],
  ]) {
    const r = await get(p, { headers });
    assert.deepEqual(anthropicErrorProblems(r, 404, 'not_found_error'), [], `${p} ${JSON.stringify(headers)}: ${show(r)}`);
    assert.ok(!/<html/i.test(r.text), `${p}: HTML in a 404`);
  }
});

test('API paths are never shadowed by the UI, even for a browser', async () => {
  const v1 = await get('/v1/unknown', { headers: { accept: BROWSER_ACCEPT } });
  assert.deepEqual(anthropicErrorProblems(v1, 404, 'not_found_error'), [], show(v1));
  const v1root = await get('/v1', { headers: { accept: BROWSER_ACCEPT } });
  assert.ok(!/<html/i.test(v1root.text) && /^application\/json/.test(String(v1root.headers['content-type'])), `GET /v1: ${show(v1root)}`);
  const health = await get('/health', { headers: { accept: BROWSER_ACCEPT } });
  assert.equal(health.status, 200, show(health));
  assert.match(String(health.headers['content-type']), /^application\/json/);
  assert.equal(JSON.parse(health.text).status, 'ok');
  for (const p of ['/admin/api/status', '/admin/api', '/admin/api/nothing', '/metrics']) {
    const r = await get(p, { headers: { accept: BROWSER_ACCEPT } });
    assert.equal(r.status, 401, `${p} without a key: ${show(r)}`);
    assert.match(String(r.headers['content-type']), /^application\/json/, `${p}: ${show(r)}`);
    assert.equal(JSON.parse(r.text).error.type, 'authentication_error');
  }
  const st = await get('/admin/api/status', { headers: { accept: BROWSER_ACCEPT, 'x-api-key': ADMIN_KEY } });
  assert.equal(st.status, 200, show(st));
  assert.equal(typeof JSON.parse(st.text).version, 'string');
  // the gateway still works next to the UI
  const m = await get('/v1/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': CLIENT_KEY, accept: BROWSER_ACCEPT },
    body: JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(m.status, 200, show(m));
  assert.equal(JSON.parse(m.text).type, 'message');
});

test('only GET and HEAD reach the UI: POST / and PUT /keys get a JSON error, never HTML', async () => {
  for (const [method, p] of [
    ['POST', '/'],
    ['PUT', '/keys'],
    ['DELETE', '/index.html'],
    ['POST', '/assets/whatever.js'],
  ]) {
    const r = await get(p, { method, headers: { accept: BROWSER_ACCEPT, 'content-type': 'application/json' }, body: '{}' });
    assert.ok([404, 405].includes(r.status), `${method} ${p}: ${show(r)}`);
    const type = r.status === 405 ? 'invalid_request_error' : 'not_found_error';
    assert.deepEqual(anthropicErrorProblems(r, r.status, type), [], `${method} ${p}: ${show(r)}`);
    assert.ok(!/<html/i.test(r.text));
  }
});

test('keep-alive: several UI requests on one connection', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await get('/', { agent });
    const asset = referencedUrls(first.text).find((u) => u.startsWith('/assets/'));
    const seq = [
      ['/', {}],
      [asset, { 'accept-encoding': 'gzip' }],
      ['/', { 'if-none-match': first.headers.etag }],
      ['/keys', { accept: 'text/html' }],
      ['/assets/missing-abc.js', {}],
      [asset, {}],
      ['/health', {}],
      ['/', {}],
    ];
    const ports = new Set([first.localPort]);
    const reused = [];
    for (const [p, headers] of seq) {
      const r = await get(p, { agent, headers });
      assert.ok([200, 304, 404].includes(r.status), show(r));
      ports.add(r.localPort);
      reused.push(r.reused);
    }
    // a HEAD on the same connection too
    const h = await get('/', { agent, method: 'HEAD' });
    assert.equal(h.status, 200);
    ports.add(h.localPort);
    assert.equal(ports.size, 1, `the requests used ${ports.size} connections`);
    assert.ok(reused.every(Boolean), `a request did not reuse the connection: ${reused}`);
    const last = await get('/', { agent });
    assert.deepEqual(last.body, first.body);
  } finally {
    agent.destroy();
  }
});

test('the UI needs no key and contains no secret', async () => {
  const urls = ['/', ...(await allAssetUrls())];
  const secrets = [ADMIN_KEY, CLIENT_KEY, UPSTREAM_KEY];
  for (const u of urls) {
    for (const headers of [{}, { 'x-api-key': 'wrong-admin-key-0123456789' }, { authorization: 'Bearer nope-nope-nope-nope' }]) {
      const r = await get(u, { headers });
      assert.equal(r.status, 200, `${u} ${JSON.stringify(headers)}: ${show(r)}`);
    }
    const r = await get(u);
    for (const s of secrets) assert.ok(!r.text.includes(s), `${u} contains a secret (${s.slice(0, 6)}…)`);
    assert.ok(!/sk-ant-[A-Za-z0-9_-]{20,}|clv_admin_[A-Za-z0-9_-]{20,}/.test(r.text), `${u}: looks like it embeds a real key`);
  }
  // wrong keys on UI requests did not lock the address out of the admin API
  const st = await get('/admin/api/status', { headers: { 'x-api-key': ADMIN_KEY } });
  assert.equal(st.status, 200, show(st));

  // a Clove that generated its admin key at first start: that key is in no UI file either
  const own = await startClove({ fakeUrl: fake.url });
  try {
    const gen = await waitForAdminKey(own);
    const r = await get('/', { base: own.url });
    assert.equal(r.status, 200, show(r));
    for (const u of referencedUrls(r.text)) {
      const a = await get(u, { base: own.url });
      assert.equal(a.status, 200, `${u}: ${show(a)}`);
      assert.ok(!a.text.includes(gen), `${u} contains the generated admin key`);
    }
    assert.ok(!r.text.includes(gen), 'index.html contains the generated admin key');
  } finally {
    await stopCloveChecked(own);
  }
});
