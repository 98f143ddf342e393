// Lab addressing: one /24 (and one /64) per lab, chosen by the lab's network number N.
//
//   client netns kmc-<id>   eth0  10.250.N.1/24   fd00:6b6d:N::1/64
//   server netns kms-<id>   eth0  10.250.N.2/24   fd00:6b6d:N::2/64
//   backend addresses (server side)  10.250.N.10+   fd00:6b6d:N::10+
//
// N is written in decimal inside the IPv6 group too (N=25 -> fd00:6b6d:25::1), so both families read
// alike; as a hex group it is still valid for every N in 1..254.

/** Service VIP ranges: never routed in the client netns (an unrewritten connect fails locally). */
export const VIP_RANGE_V4 = '10.96.0.0/16';
export const VIP_RANGE_V6 = 'fd00:96::/64';

/**
 * The errno a client in the lab sees when it connects to a VIP that the mesh did not rewrite.
 * The client netns has `unreachable` routes for the VIP ranges (not `blackhole`, whose connect()
 * error is a puzzling EINVAL) and no default route.
 */
export const VIP_UNREACHABLE_ERROR = 'EHOSTUNREACH';

/** First host number of backend addresses on the server side. */
export const FIRST_BACKEND_HOST = 10;
export const LAST_BACKEND_HOST = 250;

export interface LabAddresses {
  n: number;
  clientV4: string;
  serverV4: string;
  clientV6: string;
  serverV6: string;
}

export function labAddresses(n: number): LabAddresses {
  checkNetworkNumber(n);
  return {
    n,
    clientV4: `10.250.${n}.1`,
    serverV4: `10.250.${n}.2`,
    clientV6: `fd00:6b6d:${n}::1`,
    serverV6: `fd00:6b6d:${n}::2`,
  };
}

/** Address of backend host `host` (10..250) in lab network `n`. */
export function backendAddress(n: number, host: number, family: 4 | 6): string {
  checkNetworkNumber(n);
  if (!Number.isInteger(host) || host < FIRST_BACKEND_HOST || host > LAST_BACKEND_HOST) {
    throw new Error(`backend host number ${host} is outside ${FIRST_BACKEND_HOST}..${LAST_BACKEND_HOST}`);
  }
  return family === 4 ? `10.250.${n}.${host}` : `fd00:6b6d:${n}::${host}`;
}

export function checkNetworkNumber(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 254) throw new Error(`lab network number ${n} is outside 1..254`);
}

/** "HOST:PORT" with brackets for IPv6, as a URL or the load client expects it. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Inverse of hostPort. */
export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (!m) throw new Error(`"${text}" is not HOST:PORT (use [ADDR]:PORT for IPv6)`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`port ${port} in "${text}" is outside 1..65535`);
  return { host: m[1], port };
}
