/** The HTTP side: JSON API under /api/v1, health and metrics, and the portal's static files. */
import path from 'node:path';
import cookieParser from 'cookie-parser';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Store } from '../store/index.ts';
import type { DialplanRunner } from '../dialplan/types.ts';
import type { LiveView } from '../calls/liveView.ts';
import { apiKeyRoutes } from './apiKeyRoutes.ts';
import { cdrRoutes } from './cdrRoutes.ts';
import { liveRoutes } from './liveRoutes.ts';
import { dialplanRoutes } from './dialplanRoutes.ts';
import { authRoutes, meRoutes, type AuthLimits } from './authRoutes.ts';
import { errorHandler, unknownRoute } from './errors.ts';
import { passwordRoutes } from './passwordRoutes.ts';
import { portalRoutes } from './portalRoutes.ts';
import { registrationRoutes } from './registrationRoutes.ts';
import { requireAuth } from './session.ts';
import type { TlsView } from '../../contract/settings.ts';
import { settingsRoutes } from './settingsRoutes.ts';
import { sipAccountRoutes } from './sipAccountRoutes.ts';
import { providerRoutes } from './providerRoutes.ts';
import { promptRoutes } from './promptRoutes.ts';
import { recordingRoutes } from './recordingRoutes.ts';
import type { BrowserSessions } from '../sip/browserSessions.ts';
import type { RecordingStore } from '../recordings/recordingStore.ts';
import type { ProviderControl } from '../providers/service.ts';
import { operatorEmails, operatorRoutes, sipBlockRoutes, type BanControl } from './banRoutes.ts';
import { gettingStartedRoutes } from './gettingStartedRoutes.ts';
import { statsRoutes } from './statsRoutes.ts';
import { callStoryRoutes, type EndCall } from './callStoryRoutes.ts';
import type { CallTraceRecorder } from '../calls/callTraces.ts';
import { operatorNodeRoutes } from './nodeRoutes.ts';

export interface ApiDeps {
  config: Config;
  store: Store;
  log: Logger;
  metrics: Metrics;
  limits: AuthLimits;
  dialplans: DialplanRunner;
  liveView: LiveView;
  /** The SIP messages of calls (in progress and, saved, of records), for the call's story. */
  traces: CallTraceRecorder;
  /** Ends a call of the tenant in progress on this node; false if there is none. */
  endCall: EndCall;
  providers: ProviderControl;
  /** The SIP brute-force guard's blocks. */
  bans: BanControl;
  /** The SIP port actually bound (config.sip.port may be 0: any free port). */
  sipPort: number;
  /** SIP over TLS and WebSocket as the settings show them (absent: nothing to show). */
  tls?: () => TlsView;
  /** True once SIP is listening and the database answers. */
  ready: () => Promise<boolean>;
  /** The softphone's short-lived SIP passwords (absent: no softphone on this node). */
  browserSessions?: BrowserSessions;
  /** Where recordings' audio is read and deleted. */
  recordings: RecordingStore;
}

const PORTAL_DIR = path.resolve(import.meta.dirname, '../../web/dist');

export function createApiApp(deps: ApiDeps): Express {
  const { store, log, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.config.http.trustProxy);
  app.use((req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched';
      metrics.httpRequests.observe({ method: req.method, route, status: String(res.statusCode) }, Number(process.hrtime.bigint() - start) / 1e9);
    });
    res.set('X-Content-Type-Options', 'nosniff');
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/readyz', async (_req, res) => {
    const ready = await deps.ready().catch(() => false);
    res.status(ready ? 200 : 503).json({ ready });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  const api = express.Router();
  api.use(express.json({ limit: '256kb' }));
  api.use(cookieParser());
  const isOperator = operatorEmails(deps.config.operatorEmails);
  api.use('/auth', authRoutes(store, deps.limits, log, isOperator));
  api.use('/me/password', passwordRoutes(store));
  api.use('/me', meRoutes(store, isOperator));
  api.use('/operator', operatorRoutes(store, deps.bans, isOperator, deps.config.nodeId));
  api.use('/operator', operatorNodeRoutes(store, isOperator, deps.config.nodeId, deps.config.cluster.deadAfterMs));
  const tenantApi = express.Router();
  tenantApi.use(requireAuth(store));
  tenantApi.use('/sip-accounts', sipAccountRoutes(store, deps.config, deps.browserSessions, deps.config.http.softphonePasswordSeconds * 1000));
  tenantApi.use('/registrations', registrationRoutes());
  tenantApi.use('/api-keys', apiKeyRoutes());
  tenantApi.use('/settings', settingsRoutes(deps.config, deps.sipPort, deps.tls));
  tenantApi.use('/dialplans', dialplanRoutes(deps.dialplans));
  tenantApi.use('/providers', providerRoutes(deps.providers, deps.config.providers.perTenant));
  tenantApi.use('/getting-started', gettingStartedRoutes());
  tenantApi.use('/stats', statsRoutes());
  tenantApi.use('/sip-blocks', sipBlockRoutes(deps.bans, deps.config.nodeId));
  tenantApi.use(cdrRoutes(log));
  tenantApi.use(promptRoutes());
  tenantApi.use(recordingRoutes(deps.recordings));
  tenantApi.use(liveRoutes(deps.liveView));
  tenantApi.use(callStoryRoutes(deps.traces, deps.endCall));
  api.use(tenantApi);
  api.use(unknownRoute);
  app.use('/api/v1', api);

  app.use(portalRoutes(PORTAL_DIR));
  app.use(errorHandler(log));
  return app;
}
