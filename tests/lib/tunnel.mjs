// Shared by the test proxies (connect_proxy.mjs, socks5_proxy.mjs): joins an accepted client
// socket to the upstream socket once the proxy handshake is done, recording what the client sends
// through the tunnel (to count the HTTP requests inside) and tracking open tunnels.

/** `rest`: bytes the client sent after the handshake. Pushes the recorder onto `texts`. */
export function spliceTunnel(client, up, rest, texts, sockets) {
  const seen = { text: rest.toString('latin1') };
  texts.push(seen);
  sockets.add(client);
  client.on('close', () => sockets.delete(client));
  client.on('data', (d) => (seen.text += d.toString('latin1')));
  if (rest.length) up.write(rest);
  client.pipe(up);
  up.pipe(client);
  client.on('close', () => up.destroy());
  up.on('close', () => client.destroy());
}
