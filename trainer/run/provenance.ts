import { execFileSync } from 'node:child_process';
import * as os from 'node:os';

/** Git commit and dirty flag of the working directory, or null outside a repository. */
export function gitInfo(cwd: string): { commit: string; dirty: boolean } | null {
  try {
    const opts = { cwd, stdio: ['ignore', 'pipe', 'ignore'] as ('ignore' | 'pipe')[], timeout: 5000 };
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], opts).toString().trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], opts).toString();
    return { commit, dirty: status.trim().length > 0 };
  } catch {
    return null;
  }
}

export function hostName(): string {
  return os.hostname();
}
