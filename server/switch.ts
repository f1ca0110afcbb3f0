/**
 * Assembles one switch node: store, SIP service, HTTP API. `npm start` and the tests both start
 * the switch through here, so what the tests exercise is what runs.
 */
import type { Server } from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { createApiApp } from './api/app.ts';
import { ConfigError, ensureDataDirWritable, type Config } from './config.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { startBindingSweeper } from './sip/bindingSweeper.ts';
import { createSipService, type SipService } from './sip/service.ts';
import type { AuthGuardOptions } from './sip/authGuard.ts';
import type { SipTimers } from './sip/clientTransactions.ts';
import { Store } from './store/index.ts';
import { openLocationJournal } from './store/locationJournal.ts';
import { startDataDirHealth } from './store/dataDirHealth.ts';
import { startDialplanRunner, type PooledDialplanRunner } from './dialplan/runner.ts';
import { EventBus } from './calls/events.ts';
import { CallService } from './calls/service.ts';
import { iceCandidateFilter } from './calls/iceCandidates.ts';
import { persistCalls } from './calls/persistence.ts';
import { LiveView } from './calls/liveView.ts';
import { CallTraceRecorder } from './calls/callTraces.ts';
import { startCdrWriter, type CdrWriter } from './cdr/writer.ts';
import type { CallState } from './cdr/callRecord.ts';
import { startCdrRetention } from './cdr/retention.ts';
import { openRecordingStore } from './recordings/recordingStore.ts';
import { startRecordingRetention } from './recordings/retention.ts';
import { openCdrSpool } from './cdr/spool.ts';
import { withInsertDeadline } from './cdr/deadline.ts';
import { loadCredentialCipher } from './credentialKey.ts';
import { startProviderService, type ProviderService } from './providers/service.ts';
import { DestinationPolicy } from './sip/destinationPolicy.ts';
import { CertificateError, CertificateStore } from './sip/tlsCertificates.ts';
import { tlsStatusOf } from './api/settingsRoutes.ts';
import type { MediaEngine } from './media/engine.ts';
import { MediaConfigError, openMediaEngine } from './media/openMediaEngine.ts';
import { RtpengineStartError } from './media/rtpengine/rtpengineProcess.ts';
import { RedisCallBudgets } from './calls/redisCallBudgets.ts';
import { RedisLiveRelay } from './calls/redisLiveRelay.ts';
import { RedisRegistrationLeases } from './providers/registrationLeases.ts';
import { joinCluster } from './cluster.ts';
import { CONNECTION_BOUND_TRANSPORTS } from './sip/flowBindings.ts';
import type { LiveCallRow } from './store/liveCalls.ts';
import { openRedis } from './store/redis.ts';

export interface RunningSwitch {
  config: Config;
  store: Store;
  sip: SipService;
  metrics: Metrics;
  dialplans: PooledDialplanRunner;
  /** Call events: the call-handling code emits, consumers (CDRs, live view) subscribe. */
  bus: EventBus;
  /** Call records: built from the bus, written in batches. */
  cdrWriter: CdrWriter;
  /** Each tenant's current calls and event stream. */
  liveView: LiveView;
  /** Providers (trunks): registration agent, DNS, outbound and incoming routing. */
  providers: ProviderService;
  /** The media relay calls' audio passes through (or direct media). */
  media: MediaEngine;
  sipPort: number;
  httpPort: number;
  httpUrl: string;
  /** Where SIP over TLS and the HTTPS portal (with `wss://…/sip`) listen; null when off. */
  tlsPort: number | null;
  httpsPort: number | null;
  /** Graceful shutdown, first step: refuse new calls, let those being set up finish (until `deadline`). */
  drain(deadline: number): Promise<void>;
  stop(): Promise<void>;
}

export interface SwitchOptions {
  authGuard?: AuthGuardOptions;
  sweepIntervalMs?: number;
  /** Client transaction timers (RFC 3261 T1/T2/T4); tests shorten them so an unanswered request ends in seconds. */
  sipTimers?: SipTimers;
}

/** The records of persisted calls, in progress again, so the calls' ends complete them. */
function resumeRecords(persisted: LiveCallRow[], cdrWriter: CdrWriter): void {
  for (const row of persisted) {
    const record = (row.state as { record?: CallState | null }).record;
    if (record) cdrWriter.resume(record);
  }
}

/** Calls this node was handling when it stopped (restart, crash) carry on, before SIP resumes. */
async function resumePersistedCalls(store: Store, calls: CallService, cdrWriter: CdrWriter, nodeId: string, log: Logger): Promise<void> {
  const persisted = await store.liveCalls.forNode(nodeId);
  if (!persisted.length) return;
  resumeRecords(persisted, cdrWriter);
  const unusable = await calls.resume(persisted);
  await store.liveCalls.write([], unusable);
  log.info({ resumed: persisted.length - unusable.length, unusable: unusable.length }, 'resumed calls from the previous run');
}

/** The media engine MEDIA_ENGINE asks for; one that cannot start is a configuration error, said once at start. */
async function openMedia(config: Config, log: Logger): Promise<MediaEngine> {
  try {
    return await openMediaEngine(config.media, { log, dataDir: config.dataDir });
  } catch (err) {
    if (err instanceof MediaConfigError || err instanceof RtpengineStartError) throw new ConfigError([`MEDIA_ENGINE: ${err.message}`]);
    throw err;
  }
}

/** A listed operator address nobody has signed up with cannot be signed up while listed (api/authRoutes.ts). */
async function warnOfUnclaimedOperatorEmails(store: Store, emails: string[], log: Logger): Promise<void> {
  for (const email of emails) {
    const user = await store.directory.findUserByEmail(email).catch(() => null);
    if (user === undefined) log.warn({ email }, 'OPERATOR_EMAILS lists an address with no account; it cannot sign up while listed (remove it, sign up, list it again)');
  }
}

/** The certificates for SIP over TLS and HTTPS, when either is on; a bad one is a configuration error. */
async function openCertificates(config: Config, log: Logger): Promise<CertificateStore | undefined> {
  if (config.tls.sipPort === null && config.tls.httpsPort === null) return undefined;
  const names = [config.sip.domain, ...config.sip.domainAliases, config.sip.advertised.host, config.sip.host, 'localhost'].filter((n) => n && n !== '0.0.0.0');
  try {
    return await CertificateStore.open({
      files: config.tls.certificates,
      dataDir: config.dataDir,
      selfSignedNames: names,
      reloadMs: config.tls.reloadSeconds * 1000,
      log: log.child({ subsystem: 'tls' }),
    });
  } catch (err) {
    if (err instanceof CertificateError) throw new ConfigError([`TLS_CERTIFICATES: ${err.message}`]);
    throw err;
  }
}

export async function startSwitch(config: Config, log: Logger, options: SwitchOptions = {}): Promise<RunningSwitch> {
  if (config.databaseUrl.startsWith('sqlite://')) ensureDataDirWritable(config.dataDir);
  const metrics = createMetrics();
  const storeLog = log.child({ subsystem: 'store' });
  const spoolDir = path.join(config.dataDir, 'spool');
  const locationJournal = await openLocationJournal(spoolDir, storeLog).catch((err: Error) => {
    throw new ConfigError([`DATA_DIR: cannot keep the registration journal in ${spoolDir} (${err.message})`]);
  });
  const store = await Store.open(config.databaseUrl, {
    cipher: loadCredentialCipher(config, log),
    log: storeLog,
    registry: metrics.registry,
    locationJournal,
    localSnapshot: { dir: config.dataDir, nodeId: config.nodeId },
  });
  store.localSnapshot?.keepFresh(config.localDisk.snapshotIntervalMs);
  await warnOfUnclaimedOperatorEmails(store, config.operatorEmails, log);
  const certificates = await openCertificates(config, log).catch(async (err: unknown) => {
    await store.close();
    throw err;
  });
  const trustedCa = config.tls.trustedCaFile ? [readFileSync(config.tls.trustedCaFile, 'utf8')] : undefined;
  const sip = createSipService(config, store, log, metrics, options.authGuard, options.sipTimers, certificates && { certificates, ...(trustedCa ? { trustedCa } : {}) });
  const bus = new EventBus(config.nodeId, (err, event) => log.error({ err, eventType: event.type, tenantId: event.tenantId, callId: event.callId }, 'call event consumer failed'));
  // Consumers of call events subscribe here, before any call can start.
  const stops: Array<() => Promise<void> | void> = [() => store.close(), () => certificates?.stop()];
  const cdrLog = log.child({ subsystem: 'cdr' });
  // A database that hangs is treated like one that refuses: the batch goes to the spool.
  const cdrSink = withInsertDeadline(store.cdrs, 20_000);
  const dataDirHealth = startDataDirHealth({ dir: config.dataDir, minFreeBytes: config.localDisk.minFreeBytes, log: storeLog, registry: metrics.registry });
  stops.push(() => dataDirHealth.stop());
  const cdrSpool = await openCdrSpool({
    dir: spoolDir,
    sink: cdrSink,
    log: cdrLog,
    registry: metrics.registry,
    reserveBytes: config.localDisk.spoolReserveBytes,
    onDiskFailure: (err, what) => dataDirHealth.reportFailure(err, what),
  }).catch(async (err: Error) => {
    dataDirHealth.stop();
    await store.close();
    throw new ConfigError([`DATA_DIR: cannot keep the call record spool in ${spoolDir} (${err.message})`]);
  });
  const cdrWriter = startCdrWriter({ bus, sink: cdrSink, spool: cdrSpool, log: cdrLog, registry: metrics.registry });
  const liveView = new LiveView(bus, { maxListenersPerTenant: config.http.eventStreamsPerTenant });
  stops.unshift(
    () => liveView.stop(),
    () => cdrWriter.stop(),
    () => cdrSpool.stop(),
  );
  stops.unshift(startCdrRetention({ archive: store.cdrs, retentionDays: config.cdr.retentionDays, log: log.child({ subsystem: 'cdr' }) }));
  const recordingsLog = log.child({ subsystem: 'recordings' });
  const recordings = await openRecordingStore(config.recordings, config.dataDir, recordingsLog);
  stops.unshift(
    startRecordingRetention({
      archive: store.recordings,
      files: recordings,
      retentionDays: config.recordings.retentionDays,
      log: recordingsLog,
    }),
  );
  try {
    const { workers, workerRssBytes, ...limits } = config.dialplan;
    const dialplans = await startDialplanRunner({
      logger: log.child({ subsystem: 'dialplan' }),
      registry: metrics.registry,
      workers,
      limits,
      recycle: { rssBytes: workerRssBytes },
    });
    stops.unshift(() => dialplans.stop());
    const clusterLog = log.child({ subsystem: 'cluster' });
    const redis = config.cluster.redisUrl ? await openRedis(config.cluster.redisUrl, clusterLog) : undefined;
    if (redis) stops.push(() => void redis.disconnect());
    if (redis) {
      sip.browserSessions.useRedis(redis);
      const relay = await RedisLiveRelay.start(redis, liveView, config.nodeId, clusterLog);
      stops.unshift(() => relay.stop());
    }
    const destinations = new DestinationPolicy(config.deniedDestinations, config.allowedDestinations);
    // The agent sends through the stack, which is started below; its first REGISTERs wait on timers.
    const providers = await startProviderService({
      directory: store.providers,
      stack: sip.stack,
      log: log.child({ subsystem: 'providers' }),
      registry: metrics.registry,
      options: { ...config.providers, dnsServers: config.dns.servers, dnsTimeoutMs: config.dns.timeoutMs },
      onStatus: (status) => liveView.providerStatus(status),
      onHealth: (health) => liveView.providerHealth(health),
      policy: destinations,
      ...(redis ? { leases: new RedisRegistrationLeases(redis, config.nodeId, config.cluster.providerLeaseMs) } : {}),
    });
    stops.unshift(() => providers.stop());
    stops.unshift(sip.providerAddresses.start(providers.calls.resolver));
    const media = await openMedia(config, log);
    /** Live calls persisted for the next start keep their media engine running (rtpengine the switch started). */
    let keepCalls = () => false;
    // Closed after SIP and call persistence have stopped (stops run first-added last).
    stops.unshift(() => media.close({ keepCalls: keepCalls() }));
    const budgets = redis && new RedisCallBudgets(redis, config.calls.limits, config.nodeId, clusterLog);
    // Counts a previous run of this node left in Redis go before its resumed calls are counted again.
    await budgets?.resync();
    const calls = new CallService(
      {
        domain: config.sip.domain,
        media,
        iceFilter: iceCandidateFilter(config.media.iceCandidateAllow ?? null),
        audio: { dataDir: config.dataDir, recordings, recordingBytesPerTenant: config.recordings.bytesPerTenant },
        maxCallMs: config.calls.maxSeconds * 1000,
        limits: config.calls.limits,
        ...(budgets ? { budgets } : {}),
        refused: metrics.callsRefused,
        providers: providers.calls.directory,
        hops: { resolver: providers.calls.resolver, policy: destinations },
      },
      sip.stack,
      store,
      sip.auth,
      dialplans,
      bus,
      log.child({ subsystem: 'calls' }),
    );
    sip.route({ steps: [calls.cancel, calls.initialInvite, calls.inDialog], connectionClosed: (flow) => calls.connectionClosed(flow) });
    keepCalls = () => config.calls.persistState && calls.activeCalls > 0;
    if (config.calls.persistState) {
      const persistence = persistCalls({
        bus,
        store: store.liveCalls,
        nodeId: config.nodeId,
        callById: (id) => calls.callById(id),
        recordState: (id) => cdrWriter.openCall(id),
        log,
      });
      stops.unshift(() => persistence.stop());
      await resumePersistedCalls(store, calls, cdrWriter, config.nodeId, log);
    }
    await sip.forgetPreviousConnections();
    const traces = new CallTraceRecorder({
      bus,
      local: () => ({ address: config.sip.host, port: sip.stack.port }),
      save: (t) => store.callTraces.save(t),
      log: log.child({ subsystem: 'calls' }),
    });
    sip.stack.transport.setWireTap(traces.observe);
    stops.unshift(() => traces.stop());
    await sip.stack.start();
    stops.unshift(() => sip.stack.stop());
    stops.unshift(startBindingSweeper(store.location, log, metrics, options.sweepIntervalMs));

    const app = createApiApp({
      config,
      store,
      log,
      metrics,
      limits: { signupsPerHour: config.http.signupsPerHour, loginsPer15Min: config.http.loginsPer15Min, loginsPer15MinPerAddress: config.http.loginsPer15MinPerAddress },
      dialplans,
      liveView,
      traces,
      endCall: (tenantId, callId) => {
        const call = calls.callById(callId);
        if (!call || call.tenantId !== tenantId) return false;
        call.endByTenant();
        return true;
      },
      providers,
      bans: sip.guard,
      sipPort: sip.stack.port,
      browserSessions: sip.browserSessions,
      tls: () => tlsStatusOf(config, sip.stack.transport.ports, certificates),
      // Ready: the database answers and this node can persist to its data directory.
      ready: async () => {
        await store.ping();
        return dataDirHealth.canPersist;
      },
      recordings,
    });
    const server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(config.http.port, config.http.host, (err?: Error) => (err ? reject(err) : resolve(s)));
      s.once('error', reject);
    });
    stops.unshift(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const address = server.address();
    const httpPort = typeof address === 'object' && address ? address.port : config.http.port;
    // Several nodes share a MySQL database; a SQLite file is one node's alone.
    if (store.dialect === 'mysql') {
      const membership = await joinCluster({
        self: { id: config.nodeId, sipAddress: `${config.sip.advertised.host}:${config.sip.advertised.port ?? sip.stack.port}`, httpUrl: `http://${config.http.host}:${httpPort}` },
        nodes: store.nodes,
        heartbeatMs: config.cluster.heartbeatMs,
        deadAfterMs: config.cluster.deadAfterMs,
        callsOf: (nodeId) => store.liveCalls.forNode(nodeId),
        takeOver: async (dead, persisted) => {
          await budgets?.forgetNode(dead.id);
          resumeRecords(persisted, cdrWriter);
          await store.liveCalls.write([], await calls.endCallsOf(persisted));
          const bindings = await store.location.deleteOfNode(dead.id, CONNECTION_BOUND_TRANSPORTS);
          clusterLog.info({ deadNode: dead.id, calls: persisted.length, bindings }, "ended a dead node's calls and dropped the bindings of its connections");
        },
        log: clusterLog,
      });
      stops.unshift(() => membership.stop());
    }
    server.on('upgrade', (req, socket, head) => {
      if (!sip.webSocket.upgrade(req, socket, head, 'ws')) socket.destroy();
    });
    sip.stack.transport.listening('ws', httpPort);
    let httpsPort: number | null = null;
    if (certificates && config.tls.httpsPort !== null) {
      // The portal over HTTPS, and SIP over secure WebSocket on the same port and certificates.
      const secure = https.createServer({ ...certificates.serverOptions(), handshakeTimeout: config.sip.streamMessageSeconds * 1000 }, app);
      certificates.onReload((pem) => secure.setSecureContext(pem));
      secure.on('upgrade', (req, socket, head) => {
        if (!sip.webSocket.upgrade(req, socket, head, 'wss')) socket.destroy();
      });
      secure.on('tlsClientError', (err: Error & { code?: string }, socket) => {
        metrics.sipConnectionsRefused.inc({ reason: 'tls-handshake' });
        log.debug({ ip: socket.remoteAddress, reason: err.code ?? err.message }, 'HTTPS connection refused: the handshake failed');
      });
      await new Promise<void>((resolve, reject) => {
        secure.once('error', reject);
        secure.listen(config.tls.httpsPort!, config.http.host, () => {
          secure.off('error', reject);
          resolve();
        });
      });
      stops.unshift(
        () =>
          new Promise<void>((resolve) => {
            secure.close(() => resolve());
            secure.closeAllConnections();
          }),
      );
      httpsPort = (secure.address() as AddressInfo).port;
      sip.stack.transport.listening('wss', httpsPort);
    }
    return {
      config,
      store,
      sip,
      metrics,
      dialplans,
      bus,
      cdrWriter,
      liveView,
      providers,
      media,
      sipPort: sip.stack.port,
      httpPort,
      httpUrl: `http://${config.http.host}:${httpPort}`,
      tlsPort: sip.stack.transport.ports.tls ?? null,
      httpsPort,
      drain: (deadline) => calls.drain(deadline),
      stop: async () => {
        for (const stop of stops) await stop();
      },
    };
  } catch (err) {
    for (const stop of stops) await stop();
    throw err;
  }
}
