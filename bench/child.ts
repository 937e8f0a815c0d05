/** A benchmark child process driven one command per line, answering one JSON line each. */
import { type ChildProcess, spawn } from 'node:child_process';
import * as readline from 'node:readline';

export class LineChild {
  private readonly proc: ChildProcess;
  private readonly lines: string[] = [];
  private waiter: ((line: string | null) => void) | undefined;
  private stderr = '';
  private closed = false;

  constructor(
    readonly label: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.proc = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    const rl = readline.createInterface({ input: this.proc.stdout! });
    rl.on('line', (l) => {
      // Only JSON lines are answers; anything else is a library talking on stdout.
      if (!l.startsWith('{')) return;
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(l);
      } else this.lines.push(l);
    });
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.proc.on('close', () => {
      this.closed = true;
      this.waiter?.(null);
    });
  }

  /** The next JSON answer; throws with the child's stderr when it died instead. */
  async next<T = Record<string, unknown>>(): Promise<T> {
    const line =
      this.lines.shift() ??
      (this.closed ? null : await new Promise<string | null>((resolve) => (this.waiter = resolve)));
    if (line === null) throw new Error(`${this.label} exited early:\n${this.stderr.trim()}`);
    const obj = JSON.parse(line) as T & { error?: string };
    if (obj.error) throw new Error(`${this.label}: ${obj.error}`);
    return obj;
  }

  async ask<T = Record<string, unknown>>(cmd: string): Promise<T> {
    this.proc.stdin!.write(`${cmd}\n`);
    return this.next<T>();
  }

  async quit(): Promise<void> {
    if (this.closed) return;
    this.proc.stdin!.write('quit\n');
    await new Promise<void>((resolve) => {
      if (this.closed) resolve();
      else this.proc.on('close', () => resolve());
    });
  }

  kill(): void {
    if (!this.closed) this.proc.kill('SIGKILL');
  }
}
