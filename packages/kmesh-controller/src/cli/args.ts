/**
 * Argument parsing for `kmesh` and `kmeshctl`: pure functions from argv to a typed
 * command, so the whole CLI surface is unit-tested without starting anything.
 * A usage problem throws UsageError: the caller prints its one line and exits 2.
 */
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { defaultPinPath } from '../kernel/pins.js';
import type { LogFormat } from '../log.js';

export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface AdminAddress {
  host: string;
  port: number;
}

export const defaultAdmin = '127.0.0.1:15200';

/** "127.0.0.1:15200", "[::1]:15200", "localhost:15200"; "off" disables the admin server (null). */
export function parseAdminAddress(text: string, flag = '--admin'): AdminAddress | null {
  if (text === 'off') return null;
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!match) throw new UsageError(`${flag} '${text}' is not HOST:PORT (for example 127.0.0.1:15200 or [::1]:15200)`);
  const host = match[1] ?? match[2];
  const port = Number(match[3]);
  if (match[1] !== undefined && isIP(host) !== 6) throw new UsageError(`${flag} '${text}': '${host}' in brackets is not an IPv6 address`);
  if (match[2] !== undefined && isIP(host) !== 4 && host !== 'localhost') {
    throw new UsageError(`${flag} '${text}': '${host}' is not an IPv4 address or localhost (write IPv6 as [addr]:port)`);
  }
  if (port > 65535) throw new UsageError(`${flag} '${text}': port ${port} is out of range (0-65535)`);
  return { host, port };
}

export function formatAdminAddress(address: AdminAddress): string {
  return isIP(address.host) === 6 ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs in strict mode, with its errors turned into one short line that names the problem. */
function parseStrict(
  command: string,
  argv: string[],
  options: Options,
  allowPositionals: boolean,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals }) as {
      values: Record<string, string | boolean | undefined>;
      positionals: string[];
    };
  } catch (error) {
    throw new UsageError(`${command}: ${describeParseError(error)} (see '${command} --help')`);
  }
}

function describeParseError(error: unknown): string {
  const err = error as { code?: string; message?: string };
  const message = err.message ?? String(error);
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? '';
  const flag = quoted.split(' ')[0];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${flag}'`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing|ambiguous/.test(message) ? `option '${flag}' needs a value` : `option '${flag}' takes no value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument '${quoted}'`;
    default:
      return message.split('\n')[0];
  }
}

function required(command: string, values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`${command}: missing required option --${name} (see '${command} --help')`);
  return value;
}

function logFormat(command: string, value: unknown): LogFormat {
  if (value === undefined || value === 'json') return 'json';
  if (value === 'text') return 'text';
  throw new UsageError(`${command}: --log-format must be json or text, not '${String(value)}'`);
}

// ---------------------------------------------------------------------------------------------
// kmesh

/** --locality: region[/zone[/sub_zone]], each part non-empty, no spaces (issue 6). */
export function parseLocality(command: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const parts = text.split('/');
  if (parts.length > 3 || parts.some((p) => p === '' || /\s/.test(p))) {
    throw new UsageError(`${command}: --locality '${text}' is not region[/zone[/sub_zone]] (for example us-east1/us-east1-b)`);
  }
  return text;
}

/** `--xds*` and `--node-*` flags of `kmesh run`. */
export interface XdsRunOptions {
  address: string;
  mode: 'sotw' | 'delta';
  tls?: { ca?: string; cert?: string; key?: string };
  node: { id?: string; cluster?: string; namespace?: string; locality?: string };
}

export interface RunOptions {
  /** static config file; optional with --xds (then merged over the xDS resources) */
  configFile?: string;
  xds?: XdsRunOptions;
  cgroup: string;
  pinPath: string;
  admin: AdminAddress | null;
  logFormat: LogFormat;
  /** same-node sockmap acceleration; --no-sockmap turns it off */
  sockmap: boolean;
  /** kmesh-probe: on unless false (--no-probe) */
  probe?: boolean;
  /** access log file (--access-log); stdout when undefined */
  accessLog?: string;
  /** --locality region[/zone[/sub_zone]]: this node's locality; nearer endpoints are preferred (issue 6) */
  locality?: string;
  /** L7 relay: --l7-netns PATH (repeatable), --l7-anchor-port N, --l7-head-timeout S, --no-l7; absent =
   *  none of them given (relay on, the daemon's own netns, port 15001, 300 s); headTimeoutS only when given */
  l7?: { enabled: boolean; netns: string[]; anchorPort: number; headTimeoutS?: number };
}
export interface ValidateOptions {
  file: string;
  json: boolean;
}
export interface CleanupOptions {
  pinPath: string;
  cgroup?: string;
}

export type KmeshCommand =
  | { kind: 'help'; text: string }
  | { kind: 'run'; options: RunOptions }
  | { kind: 'validate'; options: ValidateOptions }
  | { kind: 'cleanup'; options: CleanupOptions };

export const kmeshUsage = `Usage: kmesh <command> [options]

Commands:
  run       run the daemon: load and attach the eBPF programs, apply and watch a config file
  validate  check an Envoy bootstrap file and print the model it becomes
  cleanup   detach and unpin everything an instance left in the kernel

Run 'kmesh <command> --help' for the options of a command.`;

export const runUsage = `Usage: kmesh run (--config FILE | --xds HOST:PORT [--config FILE]) --cgroup CGROUP_DIR [options]

Runs in the foreground. Attaches the L4 programs to CGROUP_DIR (a cgroup v2 directory), writes
the config from FILE into the kernel and applies every valid edit of FILE as a new generation.
If PIN_PATH already holds this instance's maps and links, they are adopted (no reload).
SIGTERM/SIGINT stop the daemon and leave the programs attached: traffic keeps flowing.

Options:
  --config FILE          Envoy bootstrap (YAML or JSON) with static_resources
  --xds HOST:PORT        ADS server (istiod: istiod.istio-system.svc:15010 plaintext, :15012 TLS);
                         with --config too, the file's listeners and clusters win over xDS ones of the same name
  --xds-mode sotw|delta  state of the world (default) or incremental xDS
  --xds-ca FILE          CA bundle to verify the ADS server (turns TLS on)
  --xds-cert FILE        client certificate (mTLS), with --xds-key
  --xds-key FILE         client private key
  --node-id ID           node id (default sidecar~IP~HOSTNAME.NS~NS.svc.cluster.local)
  --node-cluster NAME    node cluster / CLUSTER_ID (default Kubernetes)
  --node-namespace NS    namespace in the default node id and metadata (default default)
  --cgroup CGROUP_DIR    cgroup v2 directory the programs attach to
  --pin-path DIR         bpffs directory for maps and links (default ${defaultPinPath})
  --admin HOST:PORT|off  admin HTTP API address (default ${defaultAdmin})
  --log-format json|text log lines on stderr (default json)
  --no-sockmap           no sockmap acceleration of same-node connections (on by default: sockets
                         of the cgroup whose peer is in the cgroup too exchange bytes without TCP/IP)
  --access-log FILE      append one JSON line per closed mesh connection to FILE (default: stdout)
  --no-probe             do not attach kmesh-probe (no /metrics, access log or endpoint health)
  --l7-netns PATH        network namespace (e.g. /run/netns/NAME) whose http listeners the L7 relay
                         serves; repeatable (default: the daemon's own namespace)
  --l7-anchor-port N     port of the L7 relay's anchor, 127.0.0.1:N and [::1]:N in every served
                         namespace (default 15001)
  --l7-head-timeout S    a client that has not sent a complete request head S seconds after it
                         connected gets 408 and is closed (default 300; 0 = never)
  --no-l7                no L7 relay: http listeners keep the L4 behaviour
  --locality R[/Z[/S]]   this node's region/zone/sub_zone (over the config's node.locality): endpoints of
                         the same sub_zone, then zone, then region take the connections while healthy
                         enough, spilling over as priorities do (overprovisioning factor 1.4)
  -h, --help             show this help`;

export const validateUsage = `Usage: kmesh validate FILE [--json]

Translates an Envoy bootstrap (YAML or JSON) and prints the model: listeners, the clusters they
route to with weights, each cluster's lb policy and endpoints, endpoints skipped because they are
not healthy, and warnings. Invalid input prints every reason on its own line and exits 1.

Options:
  --json      print the translation as JSON
  -h, --help  show this help`;

export const cleanupUsage = `Usage: kmesh cleanup [--pin-path DIR] [--cgroup CGROUP_DIR]

Detaches and unpins the links, unpins the maps, removes the pin directory and the instance's
state file. Safe to run twice: with nothing there it says so and exits 0.

Options:
  --pin-path DIR         instance pin directory (default ${defaultPinPath})
  --cgroup CGROUP_DIR    refuse unless the instance was attached to this cgroup
  -h, --help             show this help`;

function xdsOptions(command: string, values: Record<string, string | boolean | undefined>): XdsRunOptions | undefined {
  const text = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const address = text('xds');
  const dependent = ['xds-mode', 'xds-ca', 'xds-cert', 'xds-key', 'node-id', 'node-cluster', 'node-namespace'].filter((n) => text(n) !== undefined);
  if (address === undefined) {
    if (dependent.length) throw new UsageError(`${command}: --${dependent[0]} needs --xds HOST:PORT`);
    return undefined;
  }
  if (!/^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(address) || Number(address.split(':').pop()) > 65535) {
    throw new UsageError(`${command}: --xds '${address}' is not HOST:PORT (for example istiod.istio-system.svc:15010 or 127.0.0.1:15010)`);
  }
  const mode = text('xds-mode') ?? 'sotw';
  if (mode !== 'sotw' && mode !== 'delta') throw new UsageError(`${command}: --xds-mode must be sotw or delta, not '${mode}'`);
  if ((text('xds-cert') === undefined) !== (text('xds-key') === undefined)) throw new UsageError(`${command}: --xds-cert and --xds-key go together`);
  const file = (name: string) => (text(name) !== undefined ? { [name.replace('xds-', '')]: resolve(text(name)!) } : {});
  const tls = { ...file('xds-ca'), ...file('xds-cert'), ...file('xds-key') };
  return {
    address,
    mode,
    ...(Object.keys(tls).length ? { tls } : {}),
    node: {
      ...(text('node-id') !== undefined ? { id: text('node-id') } : {}),
      ...(text('node-cluster') !== undefined ? { cluster: text('node-cluster') } : {}),
      ...(text('node-namespace') !== undefined ? { namespace: text('node-namespace') } : {}),
    },
  };
}

/** `--l7-*` flags of `kmesh run`. */
function l7Options(command: string, values: Record<string, unknown>): RunOptions['l7'] {
  const netns = (values['l7-netns'] as string[] | undefined) ?? [];
  const portText = values['l7-anchor-port'] as string | undefined;
  const timeoutText = values['l7-head-timeout'] as string | undefined;
  if (values['no-l7'] !== true && netns.length === 0 && portText === undefined && timeoutText === undefined) return undefined;
  if (values['no-l7'] === true && (netns.length > 0 || portText !== undefined || timeoutText !== undefined)) {
    throw new UsageError(`${command}: --no-l7 turns the L7 relay off: drop --l7-netns, --l7-anchor-port and --l7-head-timeout`);
  }
  if (timeoutText !== undefined && (!/^\d{1,5}$/.test(timeoutText) || Number(timeoutText) > 86400)) {
    throw new UsageError(`${command}: --l7-head-timeout must be whole seconds 0-86400, not '${timeoutText}'`);
  }
  for (const path of netns) {
    if (path === '') throw new UsageError(`${command}: --l7-netns needs a path (for example /run/netns/client)`);
  }
  const anchorPort = portText === undefined ? 15001 : Number(portText);
  if (!/^\d{1,5}$/.test(portText ?? '15001') || anchorPort < 1 || anchorPort > 65535) {
    throw new UsageError(`${command}: --l7-anchor-port must be a port number 1-65535, not '${portText}'`);
  }
  return {
    enabled: values['no-l7'] !== true,
    netns: netns.map((p) => resolve(p)),
    anchorPort,
    ...(timeoutText !== undefined ? { headTimeoutS: Number(timeoutText) } : {}),
  };
}

const kmeshCommands: Record<string, (argv: string[]) => KmeshCommand> = {
  run(argv) {
    const command = 'kmesh run';
    const { values } = parseStrict(command, argv, {
      config: { type: 'string' },
      cgroup: { type: 'string' },
      'pin-path': { type: 'string' },
      admin: { type: 'string' },
      'log-format': { type: 'string' },
      xds: { type: 'string' },
      'xds-mode': { type: 'string' },
      'xds-ca': { type: 'string' },
      'xds-cert': { type: 'string' },
      'xds-key': { type: 'string' },
      'node-id': { type: 'string' },
      'node-cluster': { type: 'string' },
      'node-namespace': { type: 'string' },
      'no-sockmap': { type: 'boolean' },
      'access-log': { type: 'string' },
      'no-probe': { type: 'boolean' },
      locality: { type: 'string' },
      'l7-netns': { type: 'string', multiple: true },
      'l7-anchor-port': { type: 'string' },
      'l7-head-timeout': { type: 'string' },
      'no-l7': { type: 'boolean' },
    }, false);
    if (values.help) return { kind: 'help', text: runUsage };
    const locality = parseLocality(command, values.locality as string | undefined);
    const l7 = l7Options(command, values);
    const accessLog = values['access-log'] as string | undefined;
    if (accessLog !== undefined && values['no-probe']) throw new UsageError(`${command}: --access-log needs the probe: drop --no-probe`);
    const xds = xdsOptions(command, values);
    // The node's locality goes to the ADS server too (istiod shapes locality failover by it).
    if (xds && locality !== undefined) xds.node = { ...xds.node, locality };
    const config = values.config as string | undefined;
    return {
      kind: 'run',
      options: {
        configFile: xds && !config ? undefined : resolve(required(command, values, 'config')),
        ...(xds ? { xds } : {}),
        cgroup: resolve(required(command, values, 'cgroup')),
        pinPath: resolve((values['pin-path'] as string | undefined) ?? defaultPinPath),
        admin: parseAdminAddress((values.admin as string | undefined) ?? defaultAdmin),
        logFormat: logFormat(command, values['log-format']),
        sockmap: values['no-sockmap'] !== true,
        ...(values['no-probe'] === true ? { probe: false } : {}),
        ...(accessLog !== undefined ? { accessLog: resolve(accessLog) } : {}),
        ...(locality !== undefined ? { locality } : {}),
        ...(l7 ? { l7 } : {}),
      },
    };
  },
  validate(argv) {
    const command = 'kmesh validate';
    const { values, positionals } = parseStrict(command, argv, { json: { type: 'boolean' } }, true);
    if (values.help) return { kind: 'help', text: validateUsage };
    if (positionals.length === 0) throw new UsageError(`${command}: missing FILE (see '${command} --help')`);
    if (positionals.length > 1) throw new UsageError(`${command}: expected one FILE, got ${positionals.length}: ${positionals.join(' ')}`);
    return { kind: 'validate', options: { file: positionals[0], json: values.json === true } };
  },
  cleanup(argv) {
    const command = 'kmesh cleanup';
    const { values } = parseStrict(command, argv, { 'pin-path': { type: 'string' }, cgroup: { type: 'string' } }, false);
    if (values.help) return { kind: 'help', text: cleanupUsage };
    const cgroup = values.cgroup as string | undefined;
    return {
      kind: 'cleanup',
      options: { pinPath: resolve((values['pin-path'] as string | undefined) ?? defaultPinPath), ...(cgroup ? { cgroup: resolve(cgroup) } : {}) },
    };
  },
};

export function parseKmeshArgs(argv: string[]): KmeshCommand {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') return { kind: 'help', text: kmeshUsage };
  const parse = Object.hasOwn(kmeshCommands, name) ? kmeshCommands[name] : undefined;
  if (!parse) throw new UsageError(`kmesh: unknown command '${name}' (commands: ${Object.keys(kmeshCommands).join(', ')})`);
  return parse(rest);
}

// ---------------------------------------------------------------------------------------------
// kmeshctl

export const dumpTargets = ['config', 'maps', 'stats'] as const;
export type DumpTarget = (typeof dumpTargets)[number];

export type KmeshctlCommand =
  | { kind: 'help'; text: string }
  | { kind: 'dump'; target: DumpTarget; admin: AdminAddress }
  | { kind: 'monitoring'; admin: AdminAddress; once: boolean; intervalMs: number };

export const kmeshctlUsage = `Usage: kmeshctl <command> [options]

Commands:
  dump config|maps|stats   print the daemon's state as JSON (from its admin API)
  monitoring               tail the access log of mesh connections as a table

Run 'kmeshctl dump --help' for the options.`;

export const dumpUsage = `Usage: kmeshctl dump config|maps|stats [--admin HOST:PORT]

  config   the applied model, generation, version, warnings, last rejected edit
  maps     the kernel maps decoded, grouped by generation (the active one marked)
  stats    the km_stats counters summed over CPUs

Options:
  --admin HOST:PORT   the daemon's admin API (default ${defaultAdmin})
  -h, --help          show this help`;

export const monitoringUsage = `Usage: kmeshctl monitoring [--admin HOST:PORT] [--once] [--interval MS]

Tails the daemon's access log (one row per closed mesh connection: start, duration, source, original
destination, endpoint, cluster, bytes each way, retransmits, close reason) from its admin API.

Options:
  --admin HOST:PORT   the daemon's admin API (default ${defaultAdmin})
  --once              print the connections kept so far and exit
  --interval MS       poll period (default 1000)
  -h, --help          show this help`;

function parseMonitoring(rest: string[]): KmeshctlCommand {
  const command = 'kmeshctl monitoring';
  const { values } = parseStrict(command, rest, { admin: { type: 'string' }, once: { type: 'boolean' }, interval: { type: 'string' } }, false);
  if (values.help) return { kind: 'help', text: monitoringUsage };
  const admin = parseAdminAddress((values.admin as string | undefined) ?? defaultAdmin);
  if (!admin) throw new UsageError(`${command}: --admin off makes no sense here: give the daemon's HOST:PORT`);
  const intervalMs = Number((values.interval as string | undefined) ?? 1000);
  if (!Number.isInteger(intervalMs) || intervalMs < 50) throw new UsageError(`${command}: --interval must be an integer of at least 50 (ms), not '${String(values.interval)}'`);
  return { kind: 'monitoring', admin, once: values.once === true, intervalMs };
}

export function parseKmeshctlArgs(argv: string[]): KmeshctlCommand {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') return { kind: 'help', text: kmeshctlUsage };
  if (name === 'monitoring') return parseMonitoring(rest);
  if (name !== 'dump') throw new UsageError(`kmeshctl: unknown command '${name}' (commands: dump, monitoring)`);
  const command = 'kmeshctl dump';
  const { values, positionals } = parseStrict(command, rest, { admin: { type: 'string' } }, true);
  if (values.help) return { kind: 'help', text: dumpUsage };
  if (positionals.length !== 1) throw new UsageError(`${command}: expected one of ${dumpTargets.join('|')} (see '${command} --help')`);
  const target = positionals[0];
  if (!(dumpTargets as readonly string[]).includes(target)) throw new UsageError(`${command}: unknown target '${target}' (expected ${dumpTargets.join('|')})`);
  const admin = parseAdminAddress((values.admin as string | undefined) ?? defaultAdmin);
  if (!admin) throw new UsageError(`${command}: --admin off makes no sense here: give the daemon's HOST:PORT`);
  return { kind: 'dump', target: target as DumpTarget, admin };
}
