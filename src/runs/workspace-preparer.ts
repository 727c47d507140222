// Gets a session's workspace ready for a run: the directory, a clone of `repoUrl` the first time,
// the private HOME and the allowlisted environment for the processes the agent starts.

import { EngineError } from '../agent/engine.ts';
import type { Config } from '../config.ts';
import { buildChildEnv } from '../sandbox/child-env.ts';
import type { SandboxWrapper } from '../sandbox/types.ts';
import type { WorkspaceManager } from '../sandbox/workspace.ts';
import type { SessionRecord, Store } from '../store/types.ts';
import { cloneRepository } from '../tools/git.ts';

export interface PreparedWorkspace {
  dir: string;
  env: Record<string, string>;
}

export class WorkspacePreparer {
  private config: Config;
  private store: Store;
  private manager: WorkspaceManager;
  private sandbox: SandboxWrapper;

  constructor(opts: { config: Config; store: Store; manager: WorkspaceManager; sandbox: SandboxWrapper }) {
    this.config = opts.config;
    this.store = opts.store;
    this.manager = opts.manager;
    this.sandbox = opts.sandbox;
  }

  async prepare(session: SessionRecord, signal: AbortSignal): Promise<PreparedWorkspace> {
    let dir = await this.manager.ensure(session.id);
    const home = await this.manager.homeFor(session.id);
    const env = buildChildEnv(this.config, { home });
    if (session.repoUrl && !session.workspaceReady) {
      // A clone cut short by a crash leaves a partial tree: start from an empty directory.
      await this.manager.remove(session.id);
      dir = await this.manager.ensure(session.id);
      let cloned: Awaited<ReturnType<typeof cloneRepository>>;
      try {
        cloned = await cloneRepository({
          config: this.config,
          sandbox: this.sandbox,
          repoUrl: session.repoUrl,
          branch: session.branch,
          dest: dir,
          env,
          signal,
        });
      } catch (err) {
        if (signal.aborted) throw err;
        throw new EngineError(
          'clone_failed',
          `could not clone ${session.repoUrl}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      // The base commit lets a workflow report what it changed and committed.
      session.engineState = { ...session.engineState, workspaceBaseSha: cloned.sha };
      await this.store.updateSession(session.id, { workspaceReady: true, engineState: session.engineState });
    }
    return { dir, env };
  }
}
