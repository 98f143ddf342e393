import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readInstanceState, removeInstanceState, stateFilePath, writeInstanceState } from '../src/kernel/pins.js';
import { ConfigWatcher } from '../src/daemon/config-watcher.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-ctl-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('instance state file', () => {
  it('one file per pin path, never shared by two paths', () => {
    expect(stateFilePath('/sys/fs/bpf/a-b', '/run/kmesh')).not.toBe(stateFilePath('/sys/fs/bpf/a/b', '/run/kmesh'));
    expect(stateFilePath('/sys/fs/bpf/kmesh/', '/run/kmesh')).toBe('/run/kmesh/%2Fsys%2Ffs%2Fbpf%2Fkmesh.json');
  });

  it('round-trips the cgroup and is removed once', () => {
    const dir = tempDir();
    expect(readInstanceState('/sys/fs/bpf/k1', dir)).toBeNull();
    writeInstanceState({ pinPath: '/sys/fs/bpf/k1', cgroup: '/sys/fs/cgroup/pod1', startedAt: 'now' }, dir);
    expect(readInstanceState('/sys/fs/bpf/k1', dir)).toEqual({ pinPath: '/sys/fs/bpf/k1', cgroup: '/sys/fs/cgroup/pod1', startedAt: 'now' });
    expect(removeInstanceState('/sys/fs/bpf/k1', dir)).toBe(true);
    expect(removeInstanceState('/sys/fs/bpf/k1', dir)).toBe(false);
  });
});

describe('config watcher', () => {
  it('sees an editor-style save (write temp, rename over) once, after the debounce', async () => {
    const dir = tempDir();
    const file = join(dir, 'envoy.yaml');
    writeFileSync(file, 'a: 1\n');
    let changes = 0;
    const watcher = new ConfigWatcher(file, () => changes++, { debounceMs: 100, pollMs: 1000 });
    watcher.start();
    try {
      writeFileSync(join(dir, '.envoy.yaml.swp'), 'a: 2\n');
      renameSync(join(dir, '.envoy.yaml.swp'), file);
      writeFileSync(join(dir, 'unrelated.txt'), 'x');
      await new Promise((r) => setTimeout(r, 400));
      expect(changes).toBe(1);
    } finally {
      watcher.close();
    }
  });
});
