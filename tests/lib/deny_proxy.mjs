// An HTTP(S) proxy on 127.0.0.1 that refuses and records every attempt to go through it.
// Given to child processes as HTTP(S)_PROXY (with NO_PROXY for loopback) so that any attempt to
// reach a host other than the gateway under test is visible and goes nowhere.
import http from 'node:http';

export async function startDenyProxy() {
  const attempts = [];
  const server = http.createServer((req, res) => {
    attempts.push({ method: req.method, url: req.url, host: req.headers.host });
    req.resume();
    res.writeHead(403, { 'content-type': 'text/plain', connection: 'close' });
    res.end('blocked by the test deny-proxy\n');
  });
  server.on('connect', (req, socket) => {
    attempts.push({ method: 'CONNECT', url: req.url, host: req.headers.host });
    socket.on('error', () => {});
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    attempts,
    env: {
      HTTP_PROXY: url,
      HTTPS_PROXY: url,
      http_proxy: url,
      https_proxy: url,
      NO_PROXY: '127.0.0.1,localhost,::1',
      no_proxy: '127.0.0.1,localhost,::1',
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(() => r()));
    },
  };
}
