import { BrokerConnection } from './broker-connection.js';
import type { ClientRuntime } from './client-runtime.js';

/** One connection per broker endpoint, opened on first use and closed together. */
export class ConnectionPool {
  private readonly connections = new Map<string, BrokerConnection>();

  constructor(
    private readonly runtime: ClientRuntime = {},
    private readonly onDisconnect?: (endpoint: string) => void,
  ) {}

  get(endpoint: string): BrokerConnection {
    let connection = this.connections.get(endpoint);
    if (connection === undefined) {
      const onDisconnect = this.onDisconnect;
      connection = new BrokerConnection(endpoint, {
        runtime: this.runtime,
        ...(onDisconnect === undefined ? {} : { onDisconnect: () => onDisconnect(endpoint) }),
      });
      this.connections.set(endpoint, connection);
    }
    return connection;
  }

  closeAll(): void {
    for (const connection of this.connections.values()) connection.close();
    this.connections.clear();
  }
}
