/**
 * Outlier ejections feeding priority failover (issue 6 part B over part A).
 *
 * The kernel ejects endpoints on consecutive connect failures (part A, km_ep_load) and steers
 * single picks away from them. What it cannot do alone is Envoy's arithmetic over levels: an
 * ejected endpoint counts as unhealthy, so when too much of priority 0 (or of the node's own
 * locality tier) is ejected, load spills to the next level by the 1.4 rule. The daemon does it:
 * every tick it reads which endpoints are ejected now and, for a cluster whose shares depend on
 * that (several priority levels or proximity tiers, or locality weights) and whose ejected set
 * changed, rewrites that cluster's endpoints in place with the ejected ones treated as unhealthy
 * (GenerationStore.applyEndpoints with `ejected`). An ejection that expires is undone the same
 * way on a later tick. Clusters of one level are left to the kernel's re-pick alone.
 */
import { endpointShares, type ClusterModel, type MeshModel } from '@kmesh/api';

/** What the failover needs of the kernel's live state: which endpoint addresses are ejected now. */
export interface EjectionSnapshot {
  clusters: { name: string; endpoints: { address: string; ejected: boolean }[] }[];
}

export interface EjectionFailoverDeps {
  /** The model the kernel holds now (a new object after every apply). */
  model(): MeshModel | null;
  /** The live ejections of that model's clusters; null when the maps are not there. */
  snapshot(model: MeshModel): EjectionSnapshot | null;
  /** Rewrite these clusters in place with the ejected endpoints (by address) treated as unhealthy. */
  apply(clusters: ClusterModel[], ejected: ReadonlyMap<string, ReadonlySet<string>>): void;
}

/** True when a cluster's shares depend on how healthy its levels are: more than one level, or locality weights. */
export function sharesDependOnHealth(cluster: ClusterModel, nodeLocality: string | undefined): boolean {
  if (!cluster.outlierDetection) return false;
  if (cluster.localityWeighted) return true;
  return endpointShares(cluster, { nodeLocality }).levels.length > 1;
}

export class EjectionFailover {
  private model: MeshModel | null = null;
  /** Per cluster: the ejected set (sorted, joined) its kernel records were last written with. */
  private readonly written = new Map<string, string>();

  constructor(private readonly deps: EjectionFailoverDeps) {}

  /** One pass; returns the clusters rewritten. */
  tick(): string[] {
    const model = this.deps.model();
    if (!model) return [];
    if (model !== this.model) {
      // A new apply wrote every cluster without ejections.
      this.model = model;
      this.written.clear();
    }
    const candidates = model.clusters.filter((c) => sharesDependOnHealth(c, model.nodeLocality));
    if (candidates.length === 0) return [];
    // Only the candidates' endpoints are read (a lookup each), not the whole model's.
    const snapshot = this.deps.snapshot({ listeners: [], clusters: candidates });
    if (!snapshot) return [];
    const live = new Map(snapshot.clusters.map((c) => [c.name, new Set(c.endpoints.filter((e) => e.ejected).map((e) => e.address))]));
    const changed: ClusterModel[] = [];
    const ejected = new Map<string, ReadonlySet<string>>();
    for (const cluster of candidates) {
      const set = live.get(cluster.name) ?? new Set<string>();
      const id = [...set].sort().join(',');
      if (id === (this.written.get(cluster.name) ?? '')) continue;
      changed.push(cluster);
      ejected.set(cluster.name, set);
    }
    if (changed.length === 0) return [];
    this.deps.apply(changed, ejected);
    for (const cluster of changed) this.written.set(cluster.name, [...ejected.get(cluster.name)!].sort().join(','));
    return changed.map((c) => c.name);
  }
}
