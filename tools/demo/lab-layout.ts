// From endpoint addresses to the lab: the config's endpoints must be lab backend addresses,
// 10.250.N.H or fd00:6b6d:N::H (N the lab network, H the backend host number, both decimal, see
// tools/lab/addressing.ts). One lab backend is one host number and port, answering on both families.
import type { MeshModel, SocketAddress } from '@kmesh/api';
import type { BackendSpec } from '../lab/index.js';
import type { BackendIdentity, DemoPlan } from './plan.js';

const LAB_V4 = /^10\.250\.(\d+)\.(\d+)$/;
const LAB_V6 = /^fd00:6b6d:(\d+)::(\d+)$/;

export interface LabHost {
  n: number;
  host: number;
}

/** N and H of a lab address, or null when the address is not a lab backend address. */
export function labHostOf(a: SocketAddress): LabHost | null {
  const m = (a.family === 4 ? LAB_V4 : LAB_V6).exec(a.ip);
  return m ? { n: Number(m[1]), host: Number(m[2]) } : null;
}

/** Endpoints on the same lab host and port are one backend, whatever their family. */
export const labBackendIdentity: BackendIdentity = (a) => {
  const h = labHostOf(a);
  return h ? `${h.host}:${a.port}` : `${a.ip}:${a.port}`;
};

export interface LabLayout {
  n: number;
  ipv6: boolean;
  servers: BackendSpec[];
}

/** The lab that serves every endpoint of `model`; throws naming the first endpoint that does not fit. */
export function labLayout(model: MeshModel, plan: DemoPlan): LabLayout {
  const networks = new Set<number>();
  for (const cluster of model.clusters) {
    for (const e of cluster.endpoints) {
      const h = labHostOf(e.address);
      if (!h) {
        throw new Error(
          `cluster ${cluster.name}: endpoint ${e.address.ip} is not a lab backend address; the demo serves endpoints at ` +
            `10.250.N.H or fd00:6b6d:N::H (H in 10..250, one N for the whole config)`,
        );
      }
      networks.add(h.n);
    }
  }
  if (networks.size !== 1) throw new Error(`the config's endpoints span lab networks ${[...networks].join(', ') || '(none)'}; the demo needs exactly one (10.250.N.0/24)`);
  const usesV6 =
    model.listeners.some((l) => l.address.family === 6) || model.clusters.some((c) => c.endpoints.some((e) => e.address.family === 6));
  return {
    n: [...networks][0],
    ipv6: usesV6,
    servers: plan.backends.map((b) => ({ name: b.name, host: labHostOf(b.address)!.host, port: b.address.port })),
  };
}
