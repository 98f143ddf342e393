/**
 * The daemon: from a config file to the kernel, and keeping them in step.
 *
 *   start: checks (root, cgroup v2, bpffs) → admin API → fresh install or adoption → watch the file
 *   edit:  read → translate → (invalid: log every reason, keep serving) → KernelState.apply → log the diff
 *   stop:  stop watching, close the admin API and the fds; pins and links stay, traffic keeps flowing
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadConfigText, type Diagnostic, type MeshModel, type Translation } from '@kmesh/api';
import { l4Programs, objectPaths } from '@kmesh/orchestration';
import { startAdminServer, type AdminServer } from '../admin/server.js';
import { formatAdminAddress, type AdminAddress } from '../cli/args.js';
import { dumpMaps, dumpStats } from '../kernel/dump.js';
import type { ApplyResult } from '../kernel/generations.js';
import { adopt, freshInstall, inspectPins } from '../kernel/install.js';
import type { KernelState } from '../kernel/kernel-state.js';
import { installSockmap, removeSockmap } from '../kernel/sockmap.js';
import { withL7ParserStats } from '../kernel/l7.js';
import { ensureBpffs, requireCgroup2Dir, requireRoot, SetupError } from '../kernel/system.js';
import { silentLogger, type Logger } from '../log.js';
import { diffModels, isEmptyDiff, summarizeDiff } from '../model/diff.js';
import { formatDiagnostic } from '../model/summary.js';
import { ConfigWatcher } from './config-watcher.js';
import { endpointOnlyChanges } from '../kernel/endpoint-changes.js';
import type { ModelInfo } from '../xds/client.js';

const round3 = (ms: number) => Math.round(ms * 1000) / 1000;

/** A diff small enough to log: at 10,000 services a full diff would be a multi-megabyte line. */
function compactDiff<T>(diff: T): T | string {
  const text = JSON.stringify(diff);
  return text.length <= 4096 ? diff : `${text.length} bytes, left out of the log (see /config_dump)`;
}
import type { XdsRunOptions } from '../cli/args.js';
import { XdsSource } from './xds-source.js';
import { DaemonProbe, probeAdminRoutes } from './probe.js';
import { DaemonL7, withL7AdminRoutes, type L7DaemonOptions } from './l7.js';
import { ResilienceReader, withResilienceAdminRoutes } from '../kernel/resilience.js';
import { EjectionFailover } from '../kernel/ejection-failover.js';

export interface DaemonOptions {
  /** static config file (optional with xds: then merged over the xDS resources, the file winning) */
  configFile?: string;
  /** get the config from an ADS server */
  xds?: XdsRunOptions;
  cgroup: string;
  pinPath: string;
  admin: AdminAddress | null;
  logger?: Logger;
  /** Grace period before a retired generation is deleted (default 500 ms). */
  graceMs?: number;
  /** Directory of the instance state files (default /run/kmesh). */
  stateDir?: string;
  /** Same-node sockmap acceleration (default true); false removes it from an adopted instance. */
  sockmap?: boolean;
  /** kmesh-probe (connection metrics, access log): on unless false */
  probe?: boolean;
  /** access log file; stdout when undefined */
  accessLog?: string;
  /** this node's locality (region/zone/sub_zone), over the config's node.locality (issue 6) */
  locality?: string;
  /** L7 relay (--l7-netns, --l7-anchor-port, --no-l7); default: on, the daemon's own netns, port 15001 */
  l7?: L7DaemonOptions;
}

/** The config file was invalid at start and there was no pinned state to keep serving. */
export class ConfigError extends Error {
  constructor(readonly file: string, readonly errors: string[]) {
    super(`${file} is invalid, nothing attached:\n${errors.join('\n')}`);
    this.name = 'ConfigError';
  }
}

interface Applied {
  model: MeshModel | null;
  warnings: Diagnostic[];
  gen: number;
  version: number;
  appliedAt: string;
  /** 'file' for an applied config, 'adopted' for pinned state this daemon has not replaced yet. */
  origin: 'file' | 'adopted' | 'xds';
}

interface Rejected {
  at: string;
  errors: string[];
  warnings: string[];
}

type ReadResult = { text: string; translation: Translation } | { text: null; error: string };

export class Daemon {
  private readonly log: Logger;
  private readonly configFile: string;
  private xds: XdsSource | null = null;
  private state: KernelState | null = null;
  private admin: AdminServer | null = null;
  private watcher: ConfigWatcher | null = null;
  private applied: Applied | null = null;
  private rejected: Rejected | null = null;
  private lastText: string | null = null;
  /** Reloads run one after another, so the last edit of a burst is the one that ends up applied. */
  private reloads: Promise<void> = Promise.resolve();
  private stopped = false;
  private probe: DaemonProbe | null = null;
  private l7: DaemonL7 | null = null;
  /** issue 6 part A: live connection counts and ejections, read for the admin API */
  private resilience: ResilienceReader | null = null;
  /** issue 6 part B: outlier ejections spill load to the next priority (kernel/ejection-failover.ts) */
  private failover: { timer: NodeJS.Timeout; reader: ResilienceReader } | null = null;
  /** configs applied (ACK) and rejected (NACK) by this daemon, for /metrics */
  private readonly configCounts = { applied: 0, rejected: 0 };

  constructor(private readonly opts: DaemonOptions) {
    this.log = opts.logger ?? silentLogger;
    if (!opts.configFile && !opts.xds) throw new Error('the daemon needs a config file, an xDS server, or both');
    this.configFile = opts.configFile ? resolve(opts.configFile) : '';
  }

  /** The admin API's actual address (useful with port 0), or null when disabled. */
  get adminAddress(): AdminAddress | null {
    return this.admin?.address ?? null;
  }

  async start(): Promise<void> {
    const { cgroup, pinPath } = this.opts;
    requireRoot('kmesh run');
    requireCgroup2Dir(cgroup);
    const mounted = ensureBpffs(pinPath);
    if (mounted) this.log.info('mounted bpffs', { dir: mounted });

    // Listen before touching the kernel: a busy port then fails with nothing attached.
    if (this.opts.admin) {
      this.admin = await startAdminServer(this.opts.admin, this.routes());
      this.log.info('admin API listening', { address: formatAdminAddress(this.admin.address) });
    }
    try {
      if (this.opts.xds) {
        this.xds = new XdsSource(this.opts.xds, this.configFile || null, this.log, (model, warnings, versions, info) => this.applyXdsModel(model, warnings, versions, info));
        await this.xds.install(async (applyFirst) => {
          await this.installXds(applyFirst);
          if (this.state) this.syncSockmap();
          if (this.state) this.startL7();
        });
        this.startProbe();
        this.startEjectionFailover();
        return;
      }
      await this.install();
      this.syncSockmap();
      this.startL7();
      this.startProbe();
      this.startEjectionFailover();
    } catch (error) {
      this.xds?.stop();
      await this.admin?.close();
      this.admin = null;
      throw error;
    }
    this.watcher = new ConfigWatcher(this.configFile, () => this.queueReload());
    this.watcher.start();
    this.log.info('watching config', { file: this.configFile });
  }

  /**
   * issue 6 part B: every 500 ms, clusters whose shares depend on health (several priority levels or
   * locality tiers, or locality weights) and whose outlier-ejected endpoints changed are rewritten in
   * place with those endpoints treated as unhealthy, so load spills over as Envoy's 1.4 rule says.
   */
  private startEjectionFailover(): void {
    const reader = new ResilienceReader(this.opts.pinPath);
    const failover = new EjectionFailover({
      model: () => (this.state?.canApplyEndpoints() ? (this.applied?.model ?? null) : null),
      snapshot: (model) => reader.snapshot(model),
      apply: (clusters, ejected) => {
        const result = this.state!.applyEndpoints(clusters, ejected);
        const detail = clusters.map((c) => ({ name: c.name, ejected: [...(ejected.get(c.name) ?? [])] }));
        this.log.info('endpoint shares recomputed for outlier ejections', { gen: result.gen, version: result.version, clusters: detail });
      },
    });
    const timer = setInterval(() => {
      if (this.stopped) return;
      try {
        failover.tick();
      } catch (error) {
        this.log.warn('recomputing endpoint shares for outlier ejections failed; retried on the next tick', { error: (error as Error).message });
      }
    }, 500);
    timer.unref();
    this.failover = { timer, reader };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher?.close();
    this.xds?.stop();
    await this.reloads;
    await this.admin?.close();
    await this.probe?.close();
    this.l7?.stop();
    this.l7 = null;
    this.resilience?.close();
    if (this.failover) {
      clearInterval(this.failover.timer);
      this.failover.reader.close();
      this.failover = null;
    }
    this.state?.close();
    this.log.info('stopped; programs stay attached and pinned', { pinPath: this.opts.pinPath });
  }

  private async install(): Promise<void> {
    const { cgroup, pinPath } = this.opts;
    const first = await this.readConfig();
    const stateOptions = {
      pinPath,
      cgroup,
      graceMs: this.opts.graceMs,
      nodeLocality: this.opts.locality,
      onSweep: (r: { deleted: number; generations: number[] }) => this.log.debug('deleted retired generations', { ...r }),
      onSweepError: (e: unknown) => this.log.warn('sweeping retired generations failed; retried after the next apply', { error: (e as Error).message }),
    };
    const pinned = inspectPins(pinPath, l4Programs);

    if (pinned.kind === 'partial') {
      throw new SetupError(
        `${pinPath} holds an incomplete instance (links present: ${pinned.presentLinks.join(', ')}; missing: ${pinned.missingLinks.join(', ')}); ` +
          `run 'kmesh cleanup --pin-path ${pinPath}' first`,
      );
    }

    if (pinned.kind === 'complete') {
      this.state = adopt({ ...stateOptions, stateDir: this.opts.stateDir });
      const active = this.state.active();
      const swept = this.state.sweep({ force: true });
      this.log.info(`adopted pinned state gen=${active.gen}`, { pinPath, cgroup, gen: active.gen, version: active.version, staleRecordsDeleted: swept.deleted });
      if (active.gen !== 0) this.applied = { model: null, warnings: [], gen: active.gen, version: active.version, appliedAt: new Date().toISOString(), origin: 'adopted' };
      this.handle(first); // invalid: logged, the pinned config keeps serving
      return;
    }

    // Fresh start: an invalid file means nothing is attached at all.
    if (first.text === null) throw new ConfigError(this.configFile, [first.error]);
    if (!first.translation.ok) throw new ConfigError(this.configFile, first.translation.errors.map(formatDiagnostic));
    const { model, warnings } = first.translation;
    this.state = freshInstall({
      ...stateOptions,
      stateDir: this.opts.stateDir,
      objectPath: objectPaths.l4,
      programs: l4Programs,
      applyFirst: (state) => {
        const result = state.apply(model);
        this.recordApplied(result, model, warnings, first.text);
        this.log.info('config applied', { gen: result.gen, version: result.version, records: result.records, summary: summarizeDiff(diffModels(null, model)) });
      },
    });
    this.log.info('attached', { cgroup, pinPath, programs: l4Programs.map((p) => p.name) });
  }

  /**
   * xDS start: adopt pinned state (the xDS models then replace it as they come), or attach fresh
   * with the first model the ADS server gives (nothing is attached before it arrives).
   */
  private async installXds(firstModel: () => Promise<{ model: MeshModel; warnings: Diagnostic[] }>): Promise<void> {
    const { cgroup, pinPath } = this.opts;
    const stateOptions = {
      pinPath,
      cgroup,
      graceMs: this.opts.graceMs,
      nodeLocality: this.opts.locality,
      stateDir: this.opts.stateDir,
      onSweep: (r: { deleted: number; generations: number[] }) => this.log.debug('deleted retired generations', { ...r }),
      onSweepError: (e: unknown) => this.log.warn('sweeping retired generations failed; retried after the next apply', { error: (e as Error).message }),
    };
    const pinned = inspectPins(pinPath, l4Programs);
    if (pinned.kind === 'partial') {
      throw new SetupError(`${pinPath} holds an incomplete instance (missing links: ${pinned.missingLinks.join(', ')}); run 'kmesh cleanup --pin-path ${pinPath}' first`);
    }
    if (pinned.kind === 'complete') {
      this.state = adopt(stateOptions);
      const active = this.state.active();
      this.state.sweep({ force: true });
      this.log.info(`adopted pinned state gen=${active.gen}`, { pinPath, cgroup, gen: active.gen, version: active.version });
      if (active.gen !== 0) this.applied = { model: null, warnings: [], gen: active.gen, version: active.version, appliedAt: new Date().toISOString(), origin: 'adopted' };
      return;
    }
    this.log.info('waiting for the first configuration from xDS; nothing is attached before it arrives');
    const first = await firstModel();
    if (this.stopped) return;
    this.state = freshInstall({
      ...stateOptions,
      objectPath: objectPaths.l4,
      programs: l4Programs,
      applyFirst: (state) => {
        const result = state.apply(first.model);
        this.applied = { model: first.model, warnings: first.warnings, gen: result.gen, version: result.version, appliedAt: new Date().toISOString(), origin: 'xds' };
        this.configCounts.applied++;
        this.log.info('config applied', { gen: result.gen, version: result.version, records: result.records, summary: summarizeDiff(diffModels(null, first.model)) });
      },
    });
    this.log.info('attached', { cgroup, pinPath, programs: l4Programs.map((p) => p.name) });
  }

  /**
   * Sockmap acceleration follows --no-sockmap: attached (or adopted) when on, removed when off. It is
   * an optimisation only, so a failure is logged and the L4 programs keep serving.
   */
  private syncSockmap(): void {
    const { cgroup, pinPath } = this.opts;
    try {
      if (this.opts.sockmap === false) {
        const removed = removeSockmap(pinPath);
        this.log.info(removed ? 'sockmap acceleration removed (--no-sockmap)' : 'sockmap acceleration off (--no-sockmap)', { pinPath });
        return;
      }
      const outcome = installSockmap({ pinPath, cgroup });
      this.log.info(outcome === 'adopted' ? 'sockmap acceleration adopted' : 'sockmap acceleration attached', { pinPath, cgroup });
    } catch (error) {
      this.log.error('sockmap acceleration unavailable; same-node traffic takes the TCP path', { error: (error as Error).message });
    }
  }

  /**
   * A model from xDS (merged with the static file): unchanged → nothing; only endpoints of some
   * clusters changed → applied in place (same generation); anything else → a new generation.
   * The log line carries xdsToKernelMs: from the response's arrival to the last kernel write.
   */
  private applyXdsModel(model: MeshModel, warnings: Diagnostic[], versions: Record<string, string>, info?: ModelInfo): void {
    if (!this.state || this.stopped) return;
    const before = this.applied?.origin === 'xds' ? this.applied.model : null;
    const endpointOnly = this.state.canApplyEndpoints() ? endpointOnlyChanges(before, model, info?.endpointClusters) : null;
    if (endpointOnly && endpointOnly.length === 0) {
      this.log.info('xDS update leaves the model unchanged; nothing applied', { versions });
      return;
    }
    if (endpointOnly) {
      try {
        const startedAt = performance.now();
        const result = this.state.applyEndpoints(endpointOnly);
        const kernelMs = round3(performance.now() - startedAt);
        this.applied = { model, warnings, gen: result.gen, version: result.version, appliedAt: new Date().toISOString(), origin: 'xds' };
        const xdsToKernelMs = info ? round3(performance.now() - info.receivedAt) : undefined;
        this.log.info('endpoints applied in place', { gen: result.gen, version: result.version, xdsVersions: versions, clusters: result.clusters, records: result.records, xdsToKernelMs, kernelMs });
        return;
      } catch (error) {
        // Nothing half-visible: fall through to a full generation, which rewrites everything.
        this.log.warn('in-place endpoint change failed; applying a full generation instead', { error: (error as Error).message });
      }
    }
    const diff = diffModels(before, model);
    if (before && isEmptyDiff(diff)) {
      this.log.info('xDS update leaves the model unchanged; nothing applied', { versions });
      return;
    }
    let result: ApplyResult;
    const startedAt = performance.now();
    try {
      result = this.state.apply(model);
    } catch (error) {
      return this.reject([`applying to the kernel failed: ${(error as Error).message}`], warnings.map(formatDiagnostic));
    }
    const kernelMs = round3(performance.now() - startedAt); // encode + write + flip
    this.applied = { model, warnings, gen: result.gen, version: result.version, appliedAt: new Date().toISOString(), origin: 'xds' };
    const xdsToKernelMs = info ? round3(performance.now() - info.receivedAt) : undefined;
    this.log.info('config applied', { gen: result.gen, version: result.version, previousGen: result.previousGen, xdsVersions: versions, summary: summarizeDiff(diff), diff: compactDiff(diff), records: result.records, xdsToKernelMs, kernelMs });
  }

  private async readConfig(): Promise<ReadResult> {
    try {
      const text = await readFile(this.configFile, 'utf8');
      return { text, translation: loadConfigText(text, this.configFile) };
    } catch (error) {
      return { text: null, error: `cannot read ${this.configFile}: ${(error as Error).message}` };
    }
  }

  private queueReload(): void {
    this.reloads = this.reloads.then(async () => {
      if (this.stopped) return;
      const read = await this.readConfig();
      if (read.text !== null && read.text === this.lastText) return; // an event for content already handled
      this.handle(read);
    });
  }

  /** Apply a valid config as a new generation; log an invalid one with every reason. */
  private handle(read: ReadResult): void {
    if (read.text === null) return this.reject([read.error], []);
    this.lastText = read.text;
    const { translation } = read;
    const warnings = translation.warnings.map(formatDiagnostic);
    if (!translation.ok) return this.reject(translation.errors.map(formatDiagnostic), warnings);

    const before = this.applied?.origin === 'file' ? this.applied.model : null;
    const diff = diffModels(before, translation.model);
    // node.locality (issue 6) changes every cluster's endpoint shares without changing the clusters.
    if (this.applied?.origin === 'file' && isEmptyDiff(diff) && before?.nodeLocality === translation.model.nodeLocality) {
      this.log.info('config edit leaves the model unchanged; nothing applied', { file: this.configFile });
      return;
    }
    let result: ApplyResult;
    try {
      result = this.state!.apply(translation.model);
    } catch (error) {
      return this.reject([`applying to the kernel failed: ${(error as Error).message}`], warnings);
    }
    this.recordApplied(result, translation.model, translation.warnings, read.text);
    this.log.info('config applied', {
      gen: result.gen,
      version: result.version,
      previousGen: result.previousGen,
      summary: summarizeDiff(diff),
      diff,
      records: result.records,
      ...(warnings.length ? { warnings } : {}),
    });
  }

  private recordApplied(result: ApplyResult, model: MeshModel, warnings: Diagnostic[], text: string): void {
    this.applied = { model, warnings, gen: result.gen, version: result.version, appliedAt: new Date().toISOString(), origin: 'file' };
    this.configCounts.applied++;
    this.lastText = text;
  }

  private reject(errors: string[], warnings: string[]): void {
    this.rejected = { at: new Date().toISOString(), errors, warnings };
    this.configCounts.rejected++;
    const serving = this.applied ? `generation ${this.applied.gen} keeps serving` : 'nothing is serving yet';
    this.log.error(`config rejected; ${serving}`, { file: this.configFile, errors, ...(warnings.length ? { warnings } : {}) });
  }

  /** The L7 relay, after the objects that pin the L7 maps are loaded; never fatal (see l7.ts). */
  private startL7(): void {
    if (this.stopped || this.l7) return;
    this.l7 = DaemonL7.start(this.opts.l7 ?? { enabled: true, netns: [], anchorPort: 15001 }, this.opts.pinPath, this.log, this.opts.cgroup);
  }

  /** Observability must never take the data path down: a probe that cannot start is logged, not fatal. */
  private startProbe(): void {
    if (this.opts.probe === false || this.stopped) return;
    try {
      this.probe = DaemonProbe.start({ pinPath: this.opts.pinPath, accessLog: this.opts.accessLog, log: this.log, model: () => this.applied?.model ?? null, health: () => this.health() });
      this.log.info('probe attached', { accessLog: this.opts.accessLog ?? 'stdout' });
    } catch (error) {
      this.log.error('probe failed to start; routing is unaffected, metrics and access logs are off', { error: (error as Error).message });
    }
  }

  /** The daemon's own health for /metrics, read at scrape time. */
  private health() {
    const maps = this.state?.mapsForDump;
    const occupancy = (m: { keys(): Buffer[]; maxEntries: number }) => ({ entries: m.keys().length, capacity: m.maxEntries });
    return {
      configVersion: this.applied?.version,
      configGeneration: this.applied?.gen,
      configApplied: this.configCounts.applied,
      configRejected: this.configCounts.rejected,
      maps: maps ? { km_listener: occupancy(maps.listener), km_chain: occupancy(maps.chain), km_cluster: occupancy(maps.cluster), km_endpoint: occupancy(maps.endpoint) } : undefined,
      programOutcomes: maps ? dumpStats(maps.stats) : undefined,
    };
  }

  private routes() {
    const resilience = () => (this.state ? (this.resilience ??= new ResilienceReader(this.opts.pinPath)) : null);
    return withResilienceAdminRoutes(withL7AdminRoutes({
      ...probeAdminRoutes(() => this.probe),
      '/healthz': () => ({ status: 200, body: 'ok' }),
      '/readyz': () => {
        const active = this.state?.active();
        if (active && active.gen !== 0) return { status: 200, body: { ready: true, gen: active.gen, version: active.version } };
        const reason = this.state ? 'no configuration applied to the kernel yet' : 'kernel state not loaded yet';
        return { status: 503, body: { ready: false, reason } };
      },
      '/config_dump': () => ({
        status: 200,
        body: {
          version: this.applied?.version ?? 0,
          generation: this.applied?.gen ?? 0,
          appliedAt: this.applied?.appliedAt ?? null,
          origin: this.applied?.origin ?? null,
          source: this.xds ? { xds: this.opts.xds!.address, file: this.configFile || null } : this.configFile,
          ...(this.xds ? { xds: this.xds.dump() } : {}),
          pinPath: this.opts.pinPath,
          cgroup: this.opts.cgroup,
          model: this.applied?.model ?? null,
          warnings: (this.applied?.warnings ?? []).map(formatDiagnostic),
          lastRejected: this.rejected,
        },
      }),
      '/maps': () => (this.state ? { status: 200, body: dumpMaps(this.state.mapsForDump) } : { status: 503, body: { error: 'kernel state not loaded yet' } }),
      // issue 4: the L7 parser's outcome counters (km_l7_stats) under l7Parser, when it is loaded.
      '/stats': () => (this.state ? { status: 200, body: { ...dumpStats(this.state.mapsForDump.stats), ...withL7ParserStats(this.state.pinPath) } } : { status: 503, body: { error: 'kernel state not loaded yet' } }),
    }, () => this.l7), resilience, () => this.applied?.model ?? null);
  }
}
