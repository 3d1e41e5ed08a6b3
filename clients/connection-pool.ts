import { BrokerConnection } from './broker-connection.js';

/** One connection per broker endpoint, opened on first use and closed together. */
export class ConnectionPool {
  private readonly connections = new Map<string, BrokerConnection>();

  get(endpoint: string): BrokerConnection {
    let connection = this.connections.get(endpoint);
    if (connection === undefined) {
      connection = new BrokerConnection(endpoint);
      this.connections.set(endpoint, connection);
    }
    return connection;
  }

  closeAll(): void {
    for (const connection of this.connections.values()) connection.close();
    this.connections.clear();
  }
}
