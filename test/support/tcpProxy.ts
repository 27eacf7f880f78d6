import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A loopback TCP proxy in front of one port (a storage service of Azurite), which a test can take
 * down (every connection is cut and new ones are closed at once) and bring back: one service of
 * the storage account fails while the others keep working.
 */
export class TcpProxy {
  #server: Server;
  #sockets = new Set<Socket>();
  #down = false;
  port = 0;

  private constructor(readonly targetPort: number) {
    this.#server = createServer((client) => {
      if (this.#down) return client.destroy();
      const upstream = connect({ host: '127.0.0.1', port: this.targetPort });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.once('close', () => this.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', () => resolve()));
    proxy.port = (proxy.#server.address() as AddressInfo).port;
    return proxy;
  }

  down(): void {
    this.#down = true;
    for (const s of this.#sockets) s.destroy();
  }

  up(): void {
    this.#down = false;
  }

  async close(): Promise<void> {
    this.down();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
