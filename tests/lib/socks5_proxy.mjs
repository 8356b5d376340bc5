// A small SOCKS5 proxy (RFC 1928, CONNECT only) on 127.0.0.1 for the outbound-proxy tests, with
// optional username/password authentication (RFC 1929). It records what each client asked for so a
// test can tell that (and how) Clove went through it.
//
//   const socks = await startSocks5Proxy({ auth: { user: 'u', pass: 'p' }, hosts: { 'up.test': '127.0.0.1' } });
//   socks.url                    // socks5://127.0.0.1:PORT (no credentials in it)
//   socks.urlWith('u', 'p')      // socks5://u:p@127.0.0.1:PORT (percent-encoded), scheme optional
//   socks.connections            // TCP connections accepted so far
//   socks.greetings              // [{methods: [0, 2]}] the methods each client offered
//   socks.auths                  // [{user, pass, ok}] RFC 1929 sub-negotiations
//   socks.requests               // [{cmd, atyp, host, port, result}] CONNECT requests (result: 'ok' | reply code)
//   socks.httpRequests(path)     // HTTP requests Clove sent through the tunnels (plain http:// upstreams):
//                                // [{method, target}], optionally only those whose path is `path`;
//                                // counts reused (pooled) tunnels too, unlike `tunnels`
//   socks.dropTunnels()          // closes every open tunnel (pooled connections through it die)
//
// Options:
//   auth     {user, pass}: only method 0x02 is acceptable (a client offering only 0x00 gets 0xFF);
//            absent: only method 0x00 (no authentication).
//   hosts    {name or address: ip}: where the proxy really connects for a requested host (so a test
//            can use a host name that only the proxy knows, or an IPv6 literal mapped to 127.0.0.1).
//            A domain name (ATYP 3) that is not in the map gets reply 0x04 (host unreachable);
//            an IP address not in the map is connected to as it is.
//   refuse   a CONNECT request gets this reply code (e.g. 0x02 "not allowed by ruleset") and the
//            connection is closed. true = 0x02.
//   silent   accept the TCP connection and never answer anything.
//
// Only loopback addresses are ever connected to: anything that maps elsewhere gets 0x02.

import net from 'node:net';
import { spliceTunnel } from './tunnel.mjs';

const LOOPBACK = new Set(['127.0.0.1', '::1']);

/** Reads exact byte counts from a socket (before it is piped). */
function byteReader(sock) {
  let buf = Buffer.alloc(0);
  let ended = false;
  let wake = null;
  const onData = (d) => {
    buf = Buffer.concat([buf, d]);
    if (wake) wake();
  };
  const onEnd = () => {
    ended = true;
    if (wake) wake();
  };
  sock.on('data', onData);
  sock.on('end', onEnd);
  sock.on('close', onEnd);
  return {
    async read(n) {
      while (buf.length < n) {
        if (ended) throw new Error('socks client closed during the handshake');
        await new Promise((r) => (wake = r));
        wake = null;
      }
      const out = buf.subarray(0, n);
      buf = buf.subarray(n);
      return out;
    },
    /** Stops reading (the socket is paused) and returns what was read beyond the handshake. */
    detach() {
      sock.pause();
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('close', onEnd);
      return buf;
    },
  };
}

function ipv6String(b) {
  const parts = [];
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  // compress like the usual text form, enough for the loopback/unspecified cases tests use
  const s = parts.join(':');
  return net.isIPv6(s) ? normaliseV6(s) : s;
}

function normaliseV6(s) {
  // '0:0:0:0:0:0:0:1' -> '::1'
  const m = s.split(':');
  let best = [-1, 0];
  for (let i = 0; i < m.length; ) {
    if (m[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < m.length && m[j] === '0') j++;
    if (j - i > best[1]) best = [i, j - i];
    i = j;
  }
  if (best[1] < 2) return s;
  const head = m.slice(0, best[0]).join(':');
  const tail = m.slice(best[0] + best[1]).join(':');
  return `${head}::${tail}`;
}

/**
 * The HTTP/1.1 request lines in what clients sent through tunnels: [{method, target}]. Not anchored
 * at a line start: a pipelined/kept-alive request follows the previous body directly, and JSON
 * bodies never hold a raw CR LF.
 */
export function httpRequestsIn(texts, path) {
  const out = [];
  for (const { text } of texts) {
    for (const m of text.matchAll(/(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (\/\S*) HTTP\/1\.[01]\r\n/g)) {
      if (path === undefined || m[2].split('?')[0] === path) out.push({ method: m[1], target: m[2] });
    }
  }
  return out;
}

export async function startSocks5Proxy({ auth = null, hosts = {}, refuse = false, silent = false } = {}) {
  const greetings = [];
  const auths = [];
  const requests = [];
  const sockets = new Set();
  const stats = { connections: 0 };
  const tunnelTexts = []; // per tunnel: what the client sent after the handshake (latin1)
  const tunnelSockets = new Set();
  const track = (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  };

  const reply = (code, port = 0) => {
    const b = Buffer.from([5, code, 0, 1, 127, 0, 0, 1, 0, 0]);
    b.writeUInt16BE(port, 8);
    return b;
  };

  async function handshake(client) {
    const rd = byteReader(client);
    const [ver, nmethods] = await rd.read(2);
    if (ver !== 5) return client.destroy();
    const methods = [...(await rd.read(nmethods))];
    greetings.push({ methods });
    const want = auth ? 2 : 0;
    if (!methods.includes(want)) {
      client.end(Buffer.from([5, 0xff]));
      return;
    }
    client.write(Buffer.from([5, want]));
    if (auth) {
      const [aver, ulen] = await rd.read(2);
      const user = (await rd.read(ulen)).toString('utf8');
      const [plen] = await rd.read(1);
      const pass = (await rd.read(plen)).toString('utf8');
      const ok = aver === 1 && user === auth.user && pass === auth.pass;
      auths.push({ user, pass, ok });
      if (!ok) {
        client.end(Buffer.from([1, 1]));
        return;
      }
      client.write(Buffer.from([1, 0]));
    }
    const [rver, cmd, , atyp] = await rd.read(4);
    let host;
    if (atyp === 1) host = [...(await rd.read(4))].join('.');
    else if (atyp === 4) host = ipv6String(await rd.read(16));
    else if (atyp === 3) host = (await rd.read((await rd.read(1))[0])).toString('latin1');
    else return client.end(reply(8)); // address type not supported
    const port = (await rd.read(2)).readUInt16BE(0);
    const req = { ver: rver, cmd, atyp, host, port, result: null };
    requests.push(req);
    if (rver !== 5 || cmd !== 1) {
      req.result = 7;
      return client.end(reply(7)); // command not supported
    }
    if (refuse) {
      req.result = refuse === true ? 2 : refuse;
      return client.end(reply(req.result));
    }
    const target = hosts[host] ?? (atyp === 3 ? null : host);
    if (!target) {
      req.result = 4;
      return client.end(reply(4)); // host unreachable
    }
    if (!LOOPBACK.has(target)) {
      req.result = 2;
      return client.end(reply(2));
    }
    const up = net.connect({ host: target, port });
    track(up);
    up.once('error', () => {
      if (req.result === null) {
        req.result = 5;
        client.end(reply(5)); // connection refused
      } else client.destroy();
    });
    up.once('connect', () => {
      req.result = 'ok';
      client.write(reply(0, up.localPort));
      const rest = rd.detach();
      spliceTunnel(client, up, rest, tunnelTexts, tunnelSockets);
    });
  }

  const server = net.createServer((client) => {
    stats.connections++;
    track(client);
    if (silent) return;
    handshake(client).catch(() => client.destroy());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const enc = encodeURIComponent;
  return {
    port,
    url: `socks5://127.0.0.1:${port}`,
    /** A URL with credentials (percent-encoded); scheme 'socks5' (default), 'socks5h'. */
    urlWith(user, pass, scheme = 'socks5') {
      return `${scheme}://${enc(user)}${pass === undefined ? '' : `:${enc(pass)}`}@127.0.0.1:${port}`;
    },
    get connections() {
      return stats.connections;
    },
    greetings,
    auths,
    requests,
    /** CONNECT requests that got through (result 'ok'). */
    get tunnels() {
      return requests.filter((r) => r.result === 'ok');
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
