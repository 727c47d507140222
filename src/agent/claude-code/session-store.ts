// Where Claude Code keeps a session's state: `CLAUDE_CONFIG_DIR=<base>/claude/<sessionId>`, where the
// base is the session's HOME (`DATA_DIR/homes/<id>`: the one directory outside the workspace a
// sandboxed CLI may write, removed with the session) or DATA_DIR when no HOME is given.
// Claude Code writes its transcripts there (`projects/<cwd-slug>/<claudeSessionId>.jsonl`), so a
// conversation survives server restarts, stays per session, and nothing is read from or written
// to the real `~/.claude`. The engine also records the current Claude session id in
// `claude.json` in the session's STATE directory (DATA_DIR/state/<id>, the server's own), so a run
// that fails before returning its engineState (an interrupted first run, a crash) is still resumed
// by the next one. That record is never kept in CLAUDE_CONFIG_DIR: the sandboxed CLI and every
// command it runs can write there, and a planted symlink or FIFO would make the server overwrite
// a host file or hang.
import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BeneathRoot } from '../../sandbox/workspace/beneath.ts';

const STATE_FILE = 'claude.json';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `<base>/claude/<sessionId>` (the id made file-name safe). */
export function claudeConfigDir(base: string, sessionId: string): string {
  const safe = sessionId.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_') || '_';
  return path.join(path.resolve(base), 'claude', safe);
}

export function isClaudeSessionId(v: unknown): v is string {
  return typeof v === 'string' && UUID_RE.test(v);
}

export function newClaudeSessionId(): string {
  return randomUUID();
}

const CONFIG_KEY_RE = /^[A-Za-z0-9_-]{1,128}$/;

/** What the engine keeps about a session's Claude Code state, in the server's `stateDir`. */
export interface StoredSession {
  claudeSessionId?: string;
  /**
   * The name of the session's config dir under `<home>/claude/` when it is not the session's id:
   * a session that started in a warm spare keeps the spare's (its transcript is there).
   */
  configKey?: string;
}

export async function readStoredSession(stateDir: string): Promise<StoredSession> {
  try {
    const parsed: unknown = JSON.parse(await fsp.readFile(path.join(stateDir, STATE_FILE), 'utf8'));
    if (typeof parsed !== 'object' || parsed === null) return {};
    const { claudeSessionId: id, configKey: key } = parsed as Record<string, unknown>;
    return {
      ...(isClaudeSessionId(id) ? { claudeSessionId: id } : {}),
      ...(typeof key === 'string' && CONFIG_KEY_RE.test(key) ? { configKey: key } : {}),
    };
  } catch {
    return {};
  }
}

/** The Claude session id recorded in the server's `stateDir`, if any. */
export async function readStoredSessionId(stateDir: string): Promise<string | undefined> {
  return (await readStoredSession(stateDir)).claudeSessionId;
}

export async function writeStoredSessionId(stateDir: string, id: string, configKey?: string): Promise<void> {
  await fsp.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = path.join(stateDir, STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  const record: StoredSession = { claudeSessionId: id, ...(configKey ? { configKey } : {}) };
  await fsp.writeFile(tmp, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  await fsp.rename(tmp, file);
}

/**
 * Whether Claude Code has a transcript for `id` in the config dir `configDir` (any project
 * directory). `base` is the directory the server made (the session HOME) and `configDir` lies under
 * it: everything below `base` is the agent's, so it is walked through descriptors (never out of
 * `base`, never through a link it finds there), and only looked at — nothing is opened.
 */
export async function transcriptExists(base: string, configDir: string, id: string): Promise<boolean> {
  if (!isClaudeSessionId(id)) return false;
  const rel = path.relative(base, configDir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return false;
  let root: BeneathRoot;
  try {
    root = await BeneathRoot.open(base);
  } catch {
    return false;
  }
  try {
    const projects = await root.openDirAt(path.join(rel, 'projects')).catch(() => null);
    if (!projects) return false;
    try {
      for (const name of await fsp.readdir(projects.self)) {
        const project = await projects.openDir(name).catch(() => null);
        if (!project) continue;
        try {
          const st = await project.lstat(`${id}.jsonl`);
          if (st?.isFile() && st.size > 0) return true;
        } finally {
          await project.close();
        }
      }
      return false;
    } finally {
      await projects.close();
    }
  } finally {
    await root.close();
  }
}
