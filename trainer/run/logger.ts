import * as fs from 'node:fs';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Appends timestamped lines to trainer.log and forwards each to listeners (RPC, console). */
export class RunLogger {
  private readonly listeners: ((level: LogLevel, message: string) => void)[] = [];
  constructor(private readonly file: string | null) {}

  onLog(fn: (level: LogLevel, message: string) => void): void {
    this.listeners.push(fn);
  }

  log(level: LogLevel, message: string): void {
    if (this.file) {
      try {
        fs.appendFileSync(
          this.file,
          `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}\n`,
        );
      } catch {
        // A full disk must not stop training; the message still reaches the listeners.
      }
    }
    for (const fn of this.listeners) fn(level, message);
  }
  info(m: string): void {
    this.log('info', m);
  }
  warn(m: string): void {
    this.log('warn', m);
  }
  error(m: string): void {
    this.log('error', m);
  }
}
