// Command line of the demo: `node tools/dist/demo/main.js [--config FILE] [--connections N] [--keep] [--help]`.
import { resolve } from 'node:path';

export interface DemoArgs {
  /** Envoy bootstrap (YAML or JSON) the daemon runs on and the demo derives its lab from. */
  config: string;
  /** Connections per listener through the VIP (and as many direct ones for the latency baseline). */
  connections: number;
  /** Leave the lab and the daemon up after the report, until Ctrl-C. */
  keep: boolean;
  help: boolean;
}

export const USAGE = `Usage: npm run demo -- [options]        (or: node tools/dist/demo/main.js [options], as root)

Builds a small network lab (client and server network namespaces, a mesh cgroup), starts the Kmesh
daemon on an Envoy config, drives connections to every listener's VIP from inside the mesh cgroup and
checks that the kernel spread them over the backends as the config says.

Options:
  --config FILE       Envoy bootstrap YAML/JSON (default: examples/bookinfo.yaml)
  --connections N     connections per listener (default: 1000; fewer makes the ±5-point check flaky)
  --keep              leave the lab and the daemon running after the report; Ctrl-C cleans up
  --help              this text

Exit status: 0 when every backend's share is within 5 points of its expected share, 1 otherwise.`;

export const DEFAULT_CONNECTIONS = 1000;

/** Parses argv (without node and the script). Throws an Error whose message names the bad option. */
export function parseArgs(argv: string[], repoRoot: string): DemoArgs {
  const args: DemoArgs = {
    config: resolve(repoRoot, 'examples/bookinfo.yaml'),
    connections: DEFAULT_CONNECTIONS,
    keep: false,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = splitInline(argv[i]);
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--config':
        args.config = resolve(value());
        break;
      case '--connections': {
        const text = value();
        const n = Number(text);
        if (!/^\d+$/.test(text) || n < 1) throw new Error(`--connections must be a positive integer, got "${text}"`);
        args.connections = n;
        break;
      }
      case '--keep':
        args.keep = true;
        break;
      case '--help':
      case '-h':
        args.help = true;
        break;
      default:
        throw new Error(`unknown option "${argv[i]}"`);
    }
  }
  return args;
}

/** "--config=FILE" -> ["--config", "FILE"]. */
function splitInline(arg: string): [string, string | undefined] {
  const eq = arg.indexOf('=');
  return arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
}
