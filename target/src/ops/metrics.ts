import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The service's Prometheus metrics, one registry per app instance. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly wsDeliveries = new Counter({
    name: 'ws_deliveries_total',
    help: 'Events delivered to WebSocket clients, by event type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly wsConnections = new Gauge({ name: 'ws_connections', help: 'Open WebSocket connections', registers: [this.registry] });
  readonly rateLimited = new Counter({
    name: 'rate_limit_rejections_total',
    help: 'Actions rejected by a rate limit, by limiter',
    labelNames: ['limiter'] as const,
    registers: [this.registry],
  });
  readonly dependencyErrors = new Counter({
    name: 'dependency_errors_total',
    help: 'Requests that failed because Postgres or Redis was unavailable',
    labelNames: ['dependency'] as const,
    registers: [this.registry],
  });
  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
