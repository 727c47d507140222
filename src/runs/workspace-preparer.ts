// Gets a session's workspace ready for a run: the directory, a clone of `repoUrl` the first time,
// the private HOME and the allowlisted environment for the processes the agent starts.
//
// Several instances (PostgreSQL): workspaces are local directories, and a session's next run may be
// claimed by an instance that does not have it (or has an outdated copy from an earlier run there).
// The shared `workspaceReady` flag only says a clone was made somewhere; each clone also gets an id,
// kept in the session's engineState (`workspaceId`) and in a marker file in the session's state
// directory (DATA_DIR/state/<id>: the server's, never in the workspace, where the agent could
// replace it with a symlink or a FIFO).
// A local copy is used only when its marker matches; otherwise the repository is cloned again here
// and a `session.notice` says so (uncommitted changes made on another instance are not carried
// over; what was pushed is). With SQLite (one instance) the flag alone decides, as before.
import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

import { EngineError, type SpareTicket } from '../agent/engine.ts';
import type { Config } from '../config.ts';
import { buildChildEnv } from '../sandbox/child-env.ts';
import { sandboxUnavailableReason } from '../sandbox/index.ts';
import type { SandboxWrapper } from '../sandbox/types.ts';
import type { WorkspaceManager } from '../sandbox/workspace/manager.ts';
import type { SessionRecord, Store } from '../store/types.ts';
import { cloneRepository } from '../tools/git.ts';
import type { GitCredentialBroker } from '../tools/git-credentials.ts';
import type { EventLog } from './event-log.ts';

/** In the session's server-owned state directory (never in the workspace: the agent could swap it). */
const MARKER = 'workspace-id';

export interface PreparedWorkspace {
  dir: string;
  env: Record<string, string>;
  /** The session's state directory: the server's, never visible to a sandbox. */
  stateDir: string;
  /** The warm engine process whose slot the session was just placed in (its first run here). */
  spare?: SpareTicket;
}

export interface PrepareOptions {
  /**
   * Asked only when the session has no workspace on this instance: a warm engine process whose slot
   * (workspace and home, made before the session existed) becomes the session's.
   */
  takeSpare?: () => SpareTicket | undefined;
}

export class WorkspacePreparer {
  private config: Config;
  private store: Store;
  private manager: WorkspaceManager;
  private sandbox: SandboxWrapper;
  private eventLog?: EventLog;
  private gitCredentials?: GitCredentialBroker;

  constructor(opts: {
    config: Config;
    store: Store;
    manager: WorkspaceManager;
    sandbox: SandboxWrapper;
    eventLog?: EventLog;
    /** GitHub credentials for cloning a private GitHub repository (the git credential proxy). */
    gitCredentials?: GitCredentialBroker;
  }) {
    this.gitCredentials = opts.gitCredentials;
    this.config = opts.config;
    this.store = opts.store;
    this.manager = opts.manager;
    this.sandbox = opts.sandbox;
    this.eventLog = opts.eventLog;
  }

  async prepare(
    session: SessionRecord,
    signal: AbortSignal,
    opts: PrepareOptions = {},
  ): Promise<PreparedWorkspace> {
    const unavailable = sandboxUnavailableReason(this.sandbox);
    if (unavailable) throw new EngineError('sandbox_unavailable', unavailable);
    const spare = opts.takeSpare && !(await this.manager.exists(session.id)) ? opts.takeSpare() : undefined;
    try {
      return await this.prepareIn(session, signal, spare);
    } catch (err) {
      spare?.close();
      throw err;
    }
  }

  private async prepareIn(
    session: SessionRecord,
    signal: AbortSignal,
    spare: SpareTicket | undefined,
  ): Promise<PreparedWorkspace> {
    // A spare's slot is fresh and empty (its home holds only what its process made): it becomes the
    // session's before anything of the session runs, and is never emptied below.
    if (spare) await this.manager.place(session.id, spare.slotName);
    const withSpare = spare ? { spare } : {};
    let dir = await this.manager.ensure(session.id);
    const home = await this.manager.homeFor(session.id);
    const stateDir = await this.manager.stateDirFor(session.id);
    const env = buildChildEnv(this.config, { home });
    const shared = this.store.shared;
    let recreate = false;
    if (session.repoUrl && session.workspaceReady && shared) {
      const wanted = session.engineState.workspaceId;
      const local = await readMarker(stateDir);
      if (typeof wanted !== 'string') {
        // A clone made before workspace ids existed: adopt the local copy if there is one.
        if (local !== undefined || (await isDir(path.join(dir, '.git')))) {
          await this.stamp(session, stateDir, session.engineState);
          return { dir, env, stateDir, ...withSpare };
        }
        recreate = true;
      } else recreate = local !== wanted;
    }
    if (session.repoUrl && (!session.workspaceReady || recreate)) {
      // A clone cut short by a crash leaves a partial tree: start from an empty directory.
      if (!spare) {
        await this.manager.remove(session.id);
        dir = await this.manager.ensure(session.id);
        await this.manager.homeFor(session.id); // remove() took the home (HOME, TMPDIR) too
        await this.manager.stateDirFor(session.id);
      }
      let cloned: Awaited<ReturnType<typeof cloneRepository>>;
      try {
        cloned = await cloneRepository({
          config: this.config,
          sandbox: this.sandbox,
          repoUrl: session.repoUrl,
          branch: session.branch,
          // Into the empty workspace root, created by git inside the sandbox; the session's own
          // repoUrl is its origin (a local one is allowed when it is not a protected place).
          workspace: dir,
          dest: '.',
          origin: session.repoUrl,
          env,
          signal,
          ...(this.gitCredentials ? { credentials: this.gitCredentials } : {}),
        });
      } catch (err) {
        if (signal.aborted) throw err;
        throw new EngineError(
          'clone_failed',
          `could not clone ${session.repoUrl}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      // The base commit lets a workflow report what it changed and committed (a re-clone keeps the
      // original base: commits pushed since are the session's own work).
      const base =
        recreate && typeof session.engineState.workspaceBaseSha === 'string'
          ? session.engineState.workspaceBaseSha
          : cloned.sha;
      const engineState = { ...session.engineState, workspaceBaseSha: base };
      if (shared) await this.stamp(session, stateDir, engineState);
      else {
        session.engineState = engineState;
        await this.store.updateSession(session.id, { workspaceReady: true, engineState });
      }
      if (recreate) await this.notice(session);
    }
    return { dir, env, stateDir, ...withSpare };
  }

  /** Gives the local clone a new id, in its marker and in the shared session state. */
  private async stamp(
    session: SessionRecord,
    stateDir: string,
    engineState: Record<string, unknown>,
  ): Promise<void> {
    const id = randomUUID();
    await fsp.writeFile(path.join(stateDir, MARKER), `${id}\n`, { mode: 0o600 });
    session.engineState = { ...engineState, workspaceId: id };
    await this.store.updateSession(session.id, { workspaceReady: true, engineState: session.engineState });
  }

  private async notice(session: SessionRecord): Promise<void> {
    if (!this.eventLog) return;
    const running = (await this.store.listRuns(session.id)).find((r) => r.status === 'running');
    await this.eventLog.append(session.id, {
      runId: running?.id,
      type: 'session.notice',
      data: {
        message:
          `the workspace was re-created on this instance (${this.config.instanceId}) from a fresh clone of ${session.repoUrl}: ` +
          'changes that were not pushed from the instance that ran the previous turn are not here',
      },
    });
  }
}

async function readMarker(stateDir: string): Promise<string | undefined> {
  try {
    return (await fsp.readFile(path.join(stateDir, MARKER), 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fsp.lstat(p)).isDirectory();
  } catch {
    return false;
  }
}
