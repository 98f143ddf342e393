/**
 * The daemon's xDS config source: an XdsClient plus, with --config, the static file whose
 * listeners and clusters are merged over the xDS ones (a name in both: the file's wins, logged).
 * Models reach the daemon through `apply`; the first one is handed to the installer, because a
 * fresh start attaches nothing before there is a config to serve.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Diagnostic, MeshModel } from '@kmesh/api';
import type { XdsRunOptions } from '../cli/args.js';
import type { Logger } from '../log.js';
import { XdsClient, type ModelInfo, type StaticResources } from '../xds/client.js';
import { ConfigWatcher } from './config-watcher.js';

type ApplyModel = (model: MeshModel, warnings: Diagnostic[], versions: Record<string, string>, info?: ModelInfo) => void;
type FirstModel = () => Promise<{ model: MeshModel; warnings: Diagnostic[] }>;

/** static_resources of a bootstrap file, by name. Throws with the reason when unreadable. */
export function readStaticResources(file: string): StaticResources {
  const doc = parse(readFileSync(file, 'utf8')) as { static_resources?: { listeners?: { name?: string }[]; clusters?: { name?: string }[] } } | null;
  const byName = (items: { name?: string }[] | undefined, what: string) => {
    const map = new Map<string, unknown>();
    (items ?? []).forEach((item, i) => {
      if (typeof item?.name !== 'string' || item.name === '') throw new Error(`${file}: static_resources.${what}[${i}] has no name (needed to merge with xDS)`);
      map.set(item.name, item);
    });
    return map;
  };
  return { listeners: byName(doc?.static_resources?.listeners, 'listeners'), clusters: byName(doc?.static_resources?.clusters, 'clusters') };
}

export class XdsSource {
  private readonly client: XdsClient;
  private watcher: ConfigWatcher | null = null;
  private installed = false;
  private pending: Parameters<ApplyModel> | null = null;
  private firstWaiter: ((m: Parameters<ApplyModel>) => void) | null = null;
  private lastOverrides = '';

  constructor(
    private readonly opts: XdsRunOptions,
    private readonly configFile: string | null,
    private readonly log: Logger,
    private readonly apply: ApplyModel,
  ) {
    this.client = new XdsClient({
      address: opts.address,
      mode: opts.mode,
      tls: opts.tls,
      node: opts.node,
      logger: log,
      onModel: (model, info) => this.onModel([model, info.warnings, info.versions, info]),
    });
  }

  async install(installer: (first: FirstModel) => Promise<void>): Promise<void> {
    this.log.info('xDS config source', { server: this.opts.address, mode: this.opts.mode, staticFile: this.configFile });
    if (this.configFile) this.client.setStaticResources(readStaticResources(this.configFile));
    this.client.start();
    await installer(() => new Promise((resolve) => {
      if (this.pending) return resolve({ model: this.pending[0], warnings: this.pending[1] });
      this.firstWaiter = (m) => resolve({ model: m[0], warnings: m[1] });
    }));
    this.installed = true;
    if (this.pending) this.apply(...this.pending); // a model newer than the installed one (unchanged: not applied)
    this.pending = null;
    if (this.configFile) {
      const file = this.configFile;
      this.watcher = new ConfigWatcher(file, () => this.reloadFile(file));
      this.watcher.start();
    }
  }

  stop(): void {
    this.watcher?.close();
    this.client.stop();
  }

  dump(): Record<string, unknown> {
    return { ...this.client.dump(), staticFile: this.configFile, staticOverrides: this.client.staticOverrides() };
  }

  private onModel(args: Parameters<ApplyModel>): void {
    const overrides = this.client.staticOverrides();
    if (overrides.join(',') !== this.lastOverrides) {
      this.lastOverrides = overrides.join(',');
      if (overrides.length) this.log.warn('defined by both the static file and xDS; the file wins', { file: this.configFile, resources: overrides });
    }
    if (this.installed) return this.apply(...args);
    this.pending = args;
    if (this.firstWaiter) {
      this.firstWaiter(args);
      this.firstWaiter = null;
    }
  }

  private reloadFile(file: string): void {
    try {
      this.client.setStaticResources(readStaticResources(file));
    } catch (error) {
      this.log.error('static config file rejected; its previous resources keep being merged', { file, error: (error as Error).message });
    }
  }
}
