// Which BPF programs are attached to the mesh cgroup, as the kernel reports it (bpftool), falling back
// to the daemon's pinned links (<pin path>/links/<program>) when bpftool is not there.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../lab/system.js';

interface BpftoolCgroupEntry { id: number; attach_type: string; name?: string }

/** "kmesh_connect4 (cgroup_inet4_connect)"-style labels, one per attached program. */
export async function attachedPrograms(cgroup: string, pinPath: string): Promise<string[]> {
  const r = await run('bpftool', ['-j', 'cgroup', 'show', cgroup]);
  if (r.code === 0 && r.stdout.trim()) {
    try {
      const entries = JSON.parse(r.stdout) as BpftoolCgroupEntry[];
      return entries.map((e) => e.name ?? `prog ${e.id}`);
    } catch {
      // fall through to the pins
    }
  }
  try {
    return readdirSync(join(pinPath, 'links')).sort();
  } catch {
    return [];
  }
}
