// The lab's side of the backend server's control channel (see backend-protocol.ts).
import { createInterface } from 'node:readline';
import type { LabProcess } from './processes.js';
import { BACKEND_READY_LINE, type BackendCommand, type BackendReply, type BackendStats } from './backend-protocol.js';

type Omitted<T> = T extends unknown ? Omit<T, 'id'> : never;

export class BackendControl {
  private nextId = 1;
  private readonly pending = new Map<number, (r: BackendReply) => void>();
  private readonly ready: Promise<void>;

  constructor(private readonly proc: LabProcess) {
    const stdout = proc.child.stdout;
    if (!stdout || !proc.child.stdin) throw new Error('backend server must be spawned with piped stdin and stdout');
    let markReady!: () => void;
    this.ready = new Promise((resolve) => { markReady = resolve; });
    createInterface({ input: stdout }).on('line', (line) => {
      if (line === BACKEND_READY_LINE) return markReady();
      let reply: BackendReply;
      try { reply = JSON.parse(line) as BackendReply; } catch { return; }
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
  }

  async waitReady(timeoutMs = 10_000): Promise<void> {
    await this.withTimeout(this.ready, timeoutMs, 'start');
  }

  async send(cmd: Omitted<BackendCommand>, timeoutMs = 10_000): Promise<BackendReply & { ok: true }> {
    const id = this.nextId++;
    const reply = new Promise<BackendReply>((resolve) => this.pending.set(id, resolve));
    this.proc.child.stdin!.write(JSON.stringify({ ...cmd, id }) + '\n');
    const r = await this.withTimeout(reply, timeoutMs, cmd.op);
    if (!r.ok) throw new Error(`backend server: ${r.error}`);
    return r;
  }

  async stats(): Promise<BackendStats> {
    return (await this.send({ op: 'stats' })).stats!;
  }

  /** Close stdin: the server exits by itself. */
  close(): void {
    this.proc.child.stdin?.end();
  }

  private async withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const exited = this.proc.exited.then((e) => {
      throw new Error(`backend server exited (code ${e.code}, signal ${e.signal}) during "${what}": ${this.proc.stderr().trim()}`);
    });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`backend server did not answer "${what}" within ${ms} ms: ${this.proc.stderr().trim()}`)), ms);
    });
    try {
      return await Promise.race([p, exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
