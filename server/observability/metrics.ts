import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One registry per switch instance (tests run several in one process), holding every metric the
 * subsystems update. Subsystems receive this object; none touch prom-client's global registry.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    sipMessagesReceived: new Counter({
      name: 'sip_messages_received_total',
      help: 'SIP messages received, by transport and kind (a request method SIP defines, other, or the response class)',
      labelNames: ['transport', 'kind'] as const,
      registers: [registry],
    }),
    sipDropped: new Counter({
      name: 'sip_messages_dropped_total',
      help: 'Inbound bytes or messages dropped without an answer, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    sipResponsesSent: new Counter({
      name: 'sip_responses_sent_total',
      help: 'Final and provisional responses sent, by status code (one SIP defines, else its class, e.g. 4xx)',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    sipConnectionsRefused: new Counter({
      name: 'sip_connections_refused_total',
      help: 'Stream connections closed unread as they were opened, by reason (banned-source, source-limit, limit)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    sipConnectionsTimedOut: new Counter({
      name: 'sip_connections_timed_out_total',
      help: 'Stream connections closed for time, by reason (message-deadline: a message not complete in time; idle)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    sipServerTransactions: new Gauge({
      name: 'sip_server_transactions',
      help: 'Server transactions currently held (including completed ones absorbing retransmissions)',
      registers: [registry],
    }),
    registerOutcomes: new Counter({
      name: 'sip_register_total',
      help: 'REGISTER requests by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    registrationsActive: new Gauge({
      name: 'sip_registrations_active',
      help: 'Bindings held in the location store (sampled)',
      registers: [registry],
    }),
    callsRefused: new Counter({
      name: 'calls_refused_total',
      help: "Calls or dial legs refused by a tenant's toll-fraud limits, by limit",
      labelNames: ['limit'] as const,
      registers: [registry],
    }),
    httpRequests: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP API request duration by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
