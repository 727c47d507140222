// Picks the process sandbox for tool processes. (bubblewrap arrives with the security work; until
// then only the explicit `SANDBOX=none` mode exists and start-up says so loudly.)
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import { noSandbox, type SandboxWrapper } from './types.ts';

export async function createSandbox(config: Config, logger: Logger): Promise<SandboxWrapper> {
  if (config.sandbox === 'none') {
    logger.warn('SANDBOX=none: agent processes run WITHOUT an OS sandbox (path guard and process-group kill only)');
    return noSandbox;
  }
  logger.warn('bubblewrap sandbox not available in this build: running tools unsandboxed');
  return noSandbox;
}
