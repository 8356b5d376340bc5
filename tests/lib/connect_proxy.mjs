// A small HTTP CONNECT proxy on 127.0.0.1 for the outbound-proxy tests, with optional Basic
// authentication (Proxy-Authorization). It records every CONNECT it is asked for.
//
//   const proxy = await startConnectProxy({ auth: { user: 'u', pass: 'p' } });
//   proxy.url                 // http://127.0.0.1:PORT
//   proxy.urlWith('u', 'p')   // http://u:p@127.0.0.1:PORT (percent-encoded)
//   proxy.connections         // TCP connections accepted
//   proxy.requests            // [{target, authorization, status}] every CONNECT (status: what it answered)
//   proxy.httpRequests(path)  // HTTP requests sent through the tunnels (plain http:// upstreams),
//                             // pooled tunnels included: [{method, target}]
//   proxy.dropTunnels()       // closes every open tunnel
//
// Options: auth {user, pass} (missing or wrong credentials: 407 with Proxy-Authenticate);
// hosts {name: ip} (where a requested host really is; names not in it are connected to as they
// are, loopback only); refuse (answer every CONNECT 403).

import net from 'node:net';
import { httpRequestsIn } from './socks5_proxy.mjs';
import { spliceTunnel } from './tunnel.mjs';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export async function startConnectProxy({ auth = null, hosts = {}, refuse = false } = {}) {
  const requests = [];
  const sockets = new Set();
  const stats = { connections: 0 };
  const tunnelTexts = [];
  const tunnelSockets = new Set();
  const track = (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  };
  const expected = auth ? `Basic ${Buffer.from(`${auth.user}:${auth.pass}`, 'utf8').toString('base64')}` : null;

  const server = net.createServer((client) => {
    stats.connections++;
    track(client);
    let head = Buffer.alloc(0);
    const onData = (d) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 65536) client.destroy();
        return;
      }
      client.pause();
      client.off('data', onData);
      const text = head.subarray(0, end).toString('latin1');
      const rest = head.subarray(end + 4);
      const [line, ...fields] = text.split('\r\n');
      const headers = {};
      for (const f of fields) {
        const i = f.indexOf(':');
        if (i > 0) headers[f.slice(0, i).trim().toLowerCase()] = f.slice(i + 1).trim();
      }
      const m = /^CONNECT (\S+) HTTP\/1\.[01]$/.exec(line);
      const rec = { target: m ? m[1] : null, line, authorization: headers['proxy-authorization'] ?? null, status: null };
      requests.push(rec);
      const answer = (status, text, extra = '') => {
        rec.status = status;
        client.end(`HTTP/1.1 ${status} ${text}\r\n${extra}content-length: 0\r\nconnection: close\r\n\r\n`);
      };
      if (!m) return answer(400, 'Bad Request');
      if (refuse) return answer(403, 'Forbidden');
      if (expected && rec.authorization !== expected) return answer(407, 'Proxy Authentication Required', 'proxy-authenticate: Basic realm="clove-test"\r\n');
      const colon = m[1].lastIndexOf(':');
      let host = m[1].slice(0, colon);
      if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
      const port = Number(m[1].slice(colon + 1));
      const target = hosts[host] ?? host;
      if (!LOOPBACK.has(target)) return answer(403, 'Forbidden');
      const up = net.connect({ host: target, port });
      track(up);
      up.once('error', () => {
        if (rec.status === null) answer(502, 'Bad Gateway');
        else client.destroy();
      });
      up.once('connect', () => {
        rec.status = 200;
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        spliceTunnel(client, up, rest, tunnelTexts, tunnelSockets);
      });
    };
    client.on('data', onData);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const enc = encodeURIComponent;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    urlWith(user, pass) {
      return `http://${enc(user)}${pass === undefined ? '' : `:${enc(pass)}`}@127.0.0.1:${port}`;
    },
    get connections() {
      return stats.connections;
    },
    requests,
    /** CONNECTs that were let through. */
    get tunnels() {
      return requests.filter((r) => r.status === 200);
    },
    httpRequests: (path) => httpRequestsIn(tunnelTexts, path),
    dropTunnels() {
      for (const s of tunnelSockets) s.destroy();
    },
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
