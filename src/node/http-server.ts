import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AdminClient } from '../../clients/admin.js';
import { toNodeStatus } from '../../clients/node-status.js';
import { assessCluster, type ClusterReport } from '../cluster/cluster-health.js';
import { brokerStatusJson, nodeStatusJson } from '../cluster/status-json.js';
import { LIMITS } from '../limits.js';
import type { Credentials } from '../runtime/curve-keys.js';
import type { Logger } from '../runtime/logger.js';
import { RateLimitedLog } from '../runtime/rate-limited-log.js';
import type { ordo } from '../wire/schema.js';
import { type ClusterConfig, clientEndpoint, type NodeAddress } from './cluster-config.js';
import type { PrometheusNodeMetrics } from './prometheus-metrics.js';
import { STATUS_PAGE_HTML } from './status-page.js';

export interface NodeHttpServerOptions {
  readonly config: ClusterConfig;
  readonly self: NodeAddress;
  readonly status: () => ordo.NodeStatus.$Properties;
  readonly metrics: PrometheusNodeMetrics;
  readonly logger: Logger;
  /** On a secured cluster: this node's credentials for the other nodes' client ports. */
  readonly credentials?: Credentials;
}

/**
 * A node's HTTP face for operators and orchestrators: `/metrics`
 * (Prometheus text format), `/healthz` (the process serves), `/readyz` (a
 * member of a cluster that has a sequencer, caught up), the live status page
 * at `/`, and its data at `/api/node` and `/api/cluster`.
 */
export class NodeHttpServer {
  private readonly server: Server;
  private readonly admin: AdminClient;
  private readonly failureLog: RateLimitedLog;
  private inFlight = 0;
  private cluster: { report: Promise<ClusterReport>; atMs: number } | null = null;

  constructor(private readonly options: NodeHttpServerOptions) {
    this.failureLog = new RateLimitedLog(options.logger, LIMITS.repeatedLogIntervalMs);
    this.admin = new AdminClient(
      options.config.nodes.map((n) => clientEndpoint(n)),
      LIMITS.clusterStatusTimeoutMs,
      options.credentials === undefined ? {} : { credentials: options.credentials },
    );
    this.server = createServer((request, response) => void this.handle(request, response));
    this.server.keepAliveTimeout = 5000;
  }

  async listen(): Promise<string> {
    const { self } = this.options;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(self.httpPort ?? 0, self.bindHost, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const port = (this.server.address() as AddressInfo).port;
    return `http://${self.host}:${port}`;
  }

  async close(): Promise<void> {
    this.admin.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(response, 405, 'text/plain', 'only GET and HEAD are served\n');
      return;
    }
    if (this.inFlight >= LIMITS.maxHttpRequestsInFlight) {
      send(response, 503, 'text/plain', 'too many requests in flight\n');
      return;
    }
    this.inFlight++;
    try {
      const path = new URL(request.url ?? '/', 'http://localhost').pathname;
      await this.route(path, response);
    } catch (error) {
      this.failureLog.warn(`HTTP ${request.url} failed: ${(error as Error).message}`);
      if (!response.headersSent) send(response, 500, 'text/plain', 'internal error\n');
    } finally {
      this.inFlight--;
    }
  }

  private async route(path: string, response: ServerResponse): Promise<void> {
    switch (path) {
      case '/metrics': {
        const { contentType, body } = await this.options.metrics.scrape();
        send(response, 200, contentType, body);
        return;
      }
      case '/healthz':
        send(response, 200, 'text/plain', 'ok\n');
        return;
      case '/readyz': {
        const reason = this.notReadyReason();
        if (reason === null) send(response, 200, 'text/plain', 'ready\n');
        else send(response, 503, 'text/plain', `not ready: ${reason}\n`);
        return;
      }
      case '/api/node':
        sendJson(response, nodeStatusJson(toNodeStatus(this.options.status())));
        return;
      case '/api/cluster':
        sendJson(response, await this.clusterReport());
        return;
      case '/':
      case '/index.html':
        send(response, 200, 'text/html; charset=utf-8', STATUS_PAGE_HTML);
        return;
      default:
        send(response, 404, 'text/plain', `no such page: ${path}\n`);
    }
  }

  /** Null when this node is ready to serve: it knows a sequencer and has caught up with it. */
  private notReadyReason(): string | null {
    const s = this.options.status();
    if (s.role === 'leader') return null;
    if (!s.leaderId) return 'no sequencer known';
    const behind = Number(s.catchUpRemaining ?? 0);
    if (behind > LIMITS.readyMaxCatchUpEntries)
      return `${behind} entries behind the sequencer (ready at ${LIMITS.readyMaxCatchUpEntries} or fewer)`;
    return null;
  }

  /** The cluster as every node reports it; one request fans out at most every clusterStatusCacheMs. */
  private clusterReport(): Promise<ClusterReport> {
    const nowMs = Date.now();
    if (this.cluster === null || nowMs - this.cluster.atMs > LIMITS.clusterStatusCacheMs) {
      const report = this.admin
        .statusAll()
        .then((all) => assessCluster(all.map((b) => brokerStatusJson(b))));
      this.cluster = { report, atMs: nowMs };
    }
    return this.cluster.report;
  }
}

function send(response: ServerResponse, code: number, type: string, body: string): void {
  response.writeHead(code, {
    'content-type': type,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  });
  response.end(body);
}

function sendJson(response: ServerResponse, value: unknown): void {
  send(response, 200, 'application/json', `${JSON.stringify(value)}\n`);
}
