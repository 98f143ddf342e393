/**
 * Watches one config file. Editors save by writing a temp file and renaming it over the
 * original, which replaces the inode a file watch would follow, so the parent directory is
 * watched and events are filtered by name. Bursts of events are debounced into one change.
 * A 1 s stat poll backs fs.watch up (network filesystems, missed events).
 */
import { statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface ConfigWatcherOptions {
  debounceMs?: number;
  pollMs?: number;
}

function fingerprint(file: string): string {
  try {
    const st = statSync(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

export class ConfigWatcher {
  private watcher: FSWatcher | null = null;
  private poll: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private lastFingerprint: string;

  constructor(
    private readonly file: string,
    private readonly onChange: () => void,
    private readonly options: ConfigWatcherOptions = {},
  ) {
    this.lastFingerprint = fingerprint(file);
  }

  start(): void {
    const name = basename(this.file);
    this.watcher = watch(dirname(this.file), (_event, filename) => {
      if (filename === null || filename.toString() === name) this.schedule();
    });
    this.poll = setInterval(() => {
      if (fingerprint(this.file) !== this.lastFingerprint) this.schedule();
    }, this.options.pollMs ?? 1000);
  }

  close(): void {
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher = this.poll = this.debounce = null;
  }

  private schedule(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.lastFingerprint = fingerprint(this.file);
      this.onChange();
    }, this.options.debounceMs ?? 100);
  }
}
