import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type FailureKind = 'script_error' | 'cpu_timeout' | 'wall_timeout' | 'memory' | 'worker_crash' | 'rejected_tenant_limit' | 'rejected_quarantine' | 'rejected_overload';

export type RecycleReason = 'memory' | 'failures' | 'unresponsive' | 'crash' | 'forced';

export function createDialplanMetrics(registry: Registry) {
  return {
    executions: new Counter({
      name: 'dialplan_executions_total',
      help: 'Dialplan executions finished, by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    failures: new Counter({
      name: 'dialplan_failures_total',
      help: 'Dialplan executions that failed or were refused, by kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    recycles: new Counter({
      name: 'dialplan_worker_recycles_total',
      help: 'Dialplan worker processes replaced, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    reruns: new Counter({
      name: 'dialplan_execution_reruns_total',
      help: 'Executions run again on another worker after theirs died under them',
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'dialplan_queue_depth',
      help: 'Accepted executions waiting for a worker slot',
      registers: [registry],
    }),
    warmContexts: new Gauge({
      name: 'dialplan_warm_contexts',
      help: 'Warm contexts in the dialplan workers (idle or running an execution), at their last probe',
      registers: [registry],
    }),
    warmDiscards: new Counter({
      name: 'dialplan_warm_context_discards_total',
      help: 'Warm contexts discarded, by reason (count, idle, failure, heap, version, isolate)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'dialplan_execution_duration_seconds',
      help: 'Wall time from acceptance to result',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2, 10, 60, 300],
      registers: [registry],
    }),
  };
}

export type DialplanMetrics = ReturnType<typeof createDialplanMetrics>;
