// settings.outbound_proxy: upstream connections (and the credential test) go through an HTTP
// CONNECT tunnel to the proxy; null goes direct again; a proxy that refuses the tunnel gives the
// client a 502 before any byte. Backend-independent, so SQLite only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startEnv, seededUpstream, describeRes } from './_admin.mjs';

/** A minimal CONNECT proxy on loopback that records every tunnel target. `refuse` answers 403. */
async function startConnectProxy({ refuse = false } = {}) {
  const tunnels = [];
  const sockets = new Set();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {}); // Clove may reset a refused tunnel
    let head = '';
    const onData = (d) => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      const m = /^CONNECT ([^ ]+) HTTP\/1\.[01]\r\n/.exec(head);
      if (!m) return client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      tunnels.push(m[1]);
      if (refuse) return client.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      const [host, port] = [m[1].slice(0, m[1].lastIndexOf(':')), Number(m[1].slice(m[1].lastIndexOf(':') + 1))];
      const up = net.connect(port, host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        const rest = Buffer.from(head.slice(end + 4), 'latin1');
        if (rest.length) up.write(rest);
        client.pipe(up);
        up.pipe(client);
      });
      sockets.add(up);
      up.on('close', () => sockets.delete(up));
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
    };
    client.on('data', onData);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    tunnels,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(r);
      }),
  };
}

test('outbound_proxy routes upstream traffic through a CONNECT tunnel, and null goes direct', async (t) => {
  const proxy = await startConnectProxy();
  t.after(() => proxy.close());
  const env = await startEnv(t, 'sqlite');
  const fakeAuthority = new URL(env.fake.url).host;

  assert.equal((await env.messages()).status, 200);
  assert.equal(proxy.tunnels.length, 0, 'direct before the setting');

  const set = await env.api('PATCH', '/settings', { outbound_proxy: proxy.url });
  assert.equal(set.status, 200, describeRes(set));
  assert.equal(set.json.outbound_proxy, proxy.url);
  const viaProxy = await env.messages({ stream: true });
  assert.equal(viaProxy.status, 200, describeRes(viaProxy));
  assert.ok(proxy.tunnels.includes(fakeAuthority), `tunnels: ${JSON.stringify(proxy.tunnels)}`);
  assert.equal(env.fake.requests.at(-1).headers['x-api-key'], 'sk-upstream-secret', 'the upstream key travels inside the tunnel');

  // The credential test uses the proxy too.
  const up = await seededUpstream(env);
  const creds = (await env.api('GET', `/upstreams/${up.id}/credentials`)).json.data;
  const before = proxy.tunnels.length;
  const tested = await env.api('POST', `/credentials/${creds[0].id}/test`);
  assert.equal(tested.status, 200, describeRes(tested));
  assert.equal(proxy.tunnels.length, before + 1, 'credential test through the proxy');

  const cleared = await env.api('PATCH', '/settings', { outbound_proxy: null });
  assert.equal(cleared.status, 200, describeRes(cleared));
  const n = proxy.tunnels.length;
  assert.equal((await env.messages()).status, 200);
  assert.equal(proxy.tunnels.length, n, 'direct again after outbound_proxy = null');
});

test('a proxy that refuses the tunnel gives a 502 Anthropic error, not a hang', async (t) => {
  const proxy = await startConnectProxy({ refuse: true });
  t.after(() => proxy.close());
  const env = await startEnv(t, 'sqlite');
  assert.equal((await env.api('PATCH', '/settings', { outbound_proxy: proxy.url })).status, 200);
  const r = await env.messages();
  assert.equal(r.status, 502, describeRes(r));
  assert.equal(r.json?.type, 'error');
  assert.equal(proxy.tunnels.length, 1);
  for (const bad of ['https://127.0.0.1:3128', 'http://127.0.0.1:3128/path', 'socks4://127.0.0.1:1080', 'not a url']) {
    const rejected = await env.api('PATCH', '/settings', { outbound_proxy: bad });
    assert.equal(rejected.status, 400, `${bad}: ${describeRes(rejected)}`);
    assert.equal(rejected.json?.error?.field, 'outbound_proxy');
  }
});
