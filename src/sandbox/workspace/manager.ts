// Per-session directories under DATA_DIR: `workspaces/<id>` (the agent's tree) and `homes/<id>`
// (its HOME and TMPDIR, kept outside the workspace so dotfiles and caches never end up in commits).
//
// A session may instead live in a *slot*: a workspace/home pair made ahead of any session (named
// `spare-<random>`, with its own uid on a root server) in which a warm Claude Code spare was started
// (src/agent/claude-code/spares.ts). The sandbox bound those directories at their own paths when the
// spare started, so they cannot be renamed to the session's id; instead the session is *placed* in
// the slot: `state/<id>/placement` (the server's own directory, never visible to a sandbox) names
// it, and every lookup of the session's workspace and home goes through that record. Slots nobody
// was placed in are removed at start-up (`sweepSlots`).
//
// On a root server each session's directories belong to the session's own unprivileged uid
// (../bwrap/identity.ts): the workspace is created and given away here, before any sandboxed process of
// the session exists, and the uid is remembered by nothing but that ownership. Everything under
// them is the agent's; the server only ever touches their contents through descriptors
// (beneath.ts) — removal included — so a symlink planted by the agent is never followed.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ToolError } from '../../errors.ts';
import type { SandboxIdentities } from '../bwrap/identity.ts';
import { BeneathRoot, removeIn, walkTree } from './beneath.ts';

const ID = /^[A-Za-z0-9_-]{1,128}$/;
/** Slot names: never a session id (those are `<prefix>_<base36>`, without a dash). */
const SLOT = /^spare-[0-9a-f]{24}$/;
const PLACEMENT = 'placement';

/** A workspace/home pair made before the session it will serve is known. */
export interface Slot {
  name: string;
  /** Real path of the workspace (the spare's and later the session's cwd). */
  workspace: string;
  /** Real path of the home (with `tmp` inside). */
  home: string;
}

export interface WorkspaceOptions {
  /** Per-session uids (root server); absent: directories stay the server's own. */
  identities?: SandboxIdentities | null;
}

export class WorkspaceManager {
  /** `<dataDir>/workspaces` */
  readonly root: string;
  /** `<dataDir>/homes` */
  readonly homesRoot: string;
  /** `<dataDir>/state`: the server's own per-session records; never bound into a sandbox. */
  readonly stateRoot: string;
  /** `<dataDir>/mcp`: the directories of stdio MCP servers (each its own sandbox uid). */
  readonly mcpRoot: string;
  private readonly identities: SandboxIdentities | null;
  /** uids owned by existing workspaces (loaded on first allocation). */
  private taken: Set<number> | null = null;
  /** Serialises uid allocation (two new sessions must not pick the same uid). */
  private lock: Promise<unknown> = Promise.resolve();
  /** Adoptions in progress, by directory. */
  private adopting = new Map<string, Promise<void>>();
  /** Session id → the directory name its workspace and home have (its own id, or a slot's). */
  private placements = new Map<string, string>();

  constructor(dataDir: string, opts: WorkspaceOptions = {}) {
    this.root = path.join(path.resolve(dataDir), 'workspaces');
    this.homesRoot = path.join(path.resolve(dataDir), 'homes');
    this.stateRoot = path.join(path.resolve(dataDir), 'state');
    this.mcpRoot = path.join(path.resolve(dataDir), 'mcp');
    this.identities = opts.identities ?? null;
  }

  private checkId(id: string): void {
    if (!ID.test(id)) throw new ToolError('invalid_workspace_id', `Invalid workspace id "${id}"`);
  }

  pathFor(id: string): string {
    this.checkId(id);
    return path.join(this.root, id);
  }

  /**
   * The name of the session's directories under `workspaces/` and `homes/`: its own id, or the slot
   * it was placed in (read from the server's state directory once, then remembered).
   */
  async dirName(id: string): Promise<string> {
    this.checkId(id);
    const known = this.placements.get(id);
    if (known !== undefined) return known;
    let name = id;
    try {
      const raw = (await fsp.readFile(path.join(this.stateRoot, id, PLACEMENT), 'utf8')).trim();
      if (SLOT.test(raw)) name = raw;
    } catch {
      // no placement: the session's own id
    }
    this.placements.set(id, name);
    return name;
  }

  /** The session's workspace path (its slot's when it was placed in one); it may not exist yet. */
  async workspaceOf(id: string): Promise<string> {
    return path.join(this.root, await this.dirName(id));
  }

  /** Creates the workspace if needed and returns its real path (what ToolContext.workspace expects). */
  async ensure(id: string): Promise<string> {
    const dir = await this.workspaceOf(id);
    await fsp.mkdir(this.root, { recursive: true, mode: 0o700 });
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    if (this.identities) await this.adopt(dir);
    return fsp.realpath(dir);
  }

  /**
   * `<dataDir>/mcp/<name>`: the workspace, cwd and HOME of a stdio MCP server, made like a session's
   * workspace (its own sandbox uid on a root server, never shared with a session) and kept across
   * restarts (the server's data, e.g. the Memory MCP's knowledge graph).
   */
  async ensureMcpDir(name: string): Promise<string> {
    this.checkId(name);
    const dir = path.join(this.mcpRoot, name);
    await fsp.mkdir(this.mcpRoot, { recursive: true, mode: 0o700 });
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    if (this.identities) await this.adopt(dir);
    return fsp.realpath(dir);
  }

  /** The host uid the session's processes run as (root server), or undefined. */
  async uidOf(id: string): Promise<number | undefined> {
    if (!this.identities) return undefined;
    const st = await fsp.lstat(await this.workspaceOf(id)).catch(() => null);
    return st && this.identities.owns(st.uid) ? st.uid : undefined;
  }

  /** Gives a workspace that does not belong to a sandbox uid yet (new, or made by an older version) its own uid. */
  private adopt(dir: string): Promise<void> {
    // One adoption per directory at a time: a second caller shares the first one's.
    let p = this.adopting.get(dir);
    if (!p) {
      p = this.adoptOnce(dir).finally(() => this.adopting.delete(dir));
      this.adopting.set(dir, p);
    }
    return p;
  }

  private async adoptOnce(dir: string): Promise<void> {
    const ids = this.identities as SandboxIdentities;
    const st = await fsp.lstat(dir);
    if (ids.owns(st.uid) && st.uid !== ids.probeUid) return;
    // Only the choice of the uid is serialised; the hand-over below runs for many sessions at
    // once (it used to run under the lock too: a burst of new sessions waited on each other's).
    const uid = await this.allocateUid();
    // A workspace of an older version holds files owned by root: hand over the whole tree, by
    // descriptors (no agent process runs for it at this point, but nothing is followed anyway).
    const root = await BeneathRoot.open(dir);
    try {
      const top = await root.openRoot();
      try {
        await walkTree(top, async (e) => {
          await fsp.lchown(e.dir.at(e.name), uid, ids.gid);
          return true;
        });
        await top.fh.chown(uid, ids.gid);
      } finally {
        await top.close();
      }
    } finally {
      await root.close();
    }
    await fsp.chmod(dir, 0o700);
  }

  /** A uid no other workspace or MCP server has, marked taken (two new sessions never get the same). */
  private allocateUid(): Promise<number> {
    const ids = this.identities as SandboxIdentities;
    const run = this.lock.then(async () => {
      const taken = await this.takenUids();
      const uid = ids.pick(taken);
      taken.add(uid);
      return uid;
    });
    this.lock = run.catch(() => {});
    return run;
  }

  private async takenUids(): Promise<Set<number>> {
    if (this.taken) return this.taken;
    const taken = new Set<number>();
    for (const name of await this.dirNames()) {
      const st = await fsp.lstat(path.join(this.root, name)).catch(() => null);
      if (st) taken.add(st.uid);
    }
    // MCP servers' directories hold uids too: a session must never get one of theirs.
    for (const name of await fsp.readdir(this.mcpRoot).catch(() => [] as string[])) {
      const st = await fsp.lstat(path.join(this.mcpRoot, name)).catch(() => null);
      if (st) taken.add(st.uid);
    }
    this.taken = taken;
    return taken;
  }

  /**
   * Creates `<dataDir>/homes/<id>` (with a `tmp` inside for TMPDIR), owned like the workspace,
   * and returns its real path. The workspace must exist first on a root server.
   */
  async homeFor(id: string): Promise<string> {
    const dir = path.join(this.homesRoot, await this.dirName(id));
    await fsp.mkdir(this.homesRoot, { recursive: true, mode: 0o700 });
    let created = false;
    try {
      await fsp.mkdir(dir, { mode: 0o700 });
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const uid = await this.uidOf(id);
    const ids = this.identities;
    // The home itself is the server's to create (its parent is not visible to any sandbox); what
    // is inside it is the agent's and is only ever handled through descriptors.
    const root = await BeneathRoot.open(dir);
    try {
      if (created && ids && uid !== undefined) await fsp.lchown(dir, uid, ids.gid);
      const top = await root.openRoot();
      try {
        if ((await top.lstat('tmp')) === null) {
          await fsp.mkdir(top.at('tmp'), { mode: 0o700 });
          if (ids && uid !== undefined) await fsp.lchown(top.at('tmp'), uid, ids.gid);
        }
      } finally {
        await top.close();
      }
    } finally {
      await root.close();
    }
    return fsp.realpath(dir);
  }

  /**
   * `<dataDir>/state/<id>`: where the server keeps what it must be able to trust about a session
   * (which clone the workspace holds, the Claude Code conversation id). No sandbox ever sees it:
   * a record kept in the workspace or home could be replaced by a symlink or a FIFO.
   */
  async stateDirFor(id: string): Promise<string> {
    this.checkId(id);
    const dir = path.join(this.stateRoot, id);
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  async exists(id: string): Promise<boolean> {
    try {
      return (await fsp.lstat(await this.workspaceOf(id))).isDirectory();
    } catch {
      return false;
    }
  }

  /** Names of the directories under `workspaces/` (sessions' ids and slots'). */
  private async dirNames(): Promise<string[]> {
    try {
      const entries = await fsp.readdir(this.root, { withFileTypes: true });
      return entries
        .filter((e) => e.isDirectory() && ID.test(e.name))
        .map((e) => e.name)
        .sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** Ids of the sessions that have a workspace here (in their own directory or a slot). */
  async list(): Promise<string[]> {
    const own = (await this.dirNames()).filter((n) => !SLOT.test(n));
    const placed: string[] = [];
    for (const [id, slot] of await this.placedSessions()) {
      if (await isDirectory(path.join(this.root, slot))) placed.push(id);
    }
    return [...new Set([...own, ...placed])].sort();
  }

  /** Every session placed in a slot, from the records in the state directory. */
  private async placedSessions(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const ids = await fsp.readdir(this.stateRoot).catch(() => [] as string[]);
    for (const id of ids) {
      if (!ID.test(id)) continue;
      const name = await this.dirName(id);
      if (name !== id) out.set(id, name);
    }
    return out;
  }

  /**
   * A new slot: a workspace (its own uid on a root server) and a home with `tmp`, for a process
   * started before its session exists. Nothing but the server has touched either yet.
   */
  async allocateSlot(): Promise<Slot> {
    const name = `spare-${randomBytes(12).toString('hex')}`;
    const workspace = await this.ensure(name);
    const home = await this.homeFor(name);
    return { name, workspace, home };
  }

  /**
   * Places session `id` in `slot`: from now on its workspace and home are the slot's. Only for a
   * session without a workspace here (a slot is never shared). The record is written atomically in
   * the session's state directory, before anything of the session runs in the slot.
   */
  async place(id: string, slot: string): Promise<void> {
    this.checkId(id);
    if (!SLOT.test(slot)) throw new ToolError('invalid_workspace_id', `"${slot}" is not a slot`);
    if ((await this.dirName(id)) !== id || (await isDirectory(this.pathFor(id))))
      throw new ToolError('workspace_exists', `session ${id} already has a workspace`);
    const stateDir = await this.stateDirFor(id);
    const file = path.join(stateDir, PLACEMENT);
    const tmp = `${file}.${process.pid}.tmp`;
    await fsp.writeFile(tmp, `${slot}\n`, { mode: 0o600 });
    await fsp.rename(tmp, file);
    this.placements.set(id, slot);
  }

  /** Removes a slot nobody was placed in (a spare that was discarded). */
  async discardSlot(slot: string): Promise<void> {
    if (!SLOT.test(slot)) throw new ToolError('invalid_workspace_id', `"${slot}" is not a slot`);
    for (const [id, placed] of this.placements) if (placed === slot && id !== slot) return;
    this.placements.delete(slot);
    await this.removeDirs(slot);
  }

  /** Start-up: removes the slots of spares that died with an earlier process (no session was placed in them). */
  async sweepSlots(): Promise<string[]> {
    const removed: string[] = [];
    const slots = [
      ...new Set([
        ...(await this.dirNames()),
        ...(await fsp.readdir(this.homesRoot).catch(() => [] as string[])),
      ]),
    ].filter((name) => SLOT.test(name));
    // The placement records (one read per session) only when there is a slot to decide on.
    if (slots.length === 0) return removed;
    const placed = new Set((await this.placedSessions()).values());
    for (const name of slots) {
      if (placed.has(name)) continue;
      await this.removeDirs(name);
      removed.push(name);
    }
    return removed;
  }

  private async removeDirs(name: string): Promise<void> {
    const st = this.identities ? await fsp.lstat(path.join(this.root, name)).catch(() => null) : null;
    await removeTree(this.root, name);
    await removeTree(this.homesRoot, name);
    if (st) this.taken?.delete(st.uid);
  }

  /**
   * Removes the workspace and its home. Their contents are the agent's: they are removed through
   * descriptors (beneath.ts), so a directory swapped for a link is never followed out.
   */
  async remove(id: string): Promise<void> {
    const name = await this.dirName(id);
    const uid = await this.uidOf(id);
    await removeTree(this.root, name);
    await removeTree(this.homesRoot, name);
    // The placement record goes with the state directory, after the slot's directories.
    await removeTree(this.stateRoot, id);
    this.placements.delete(id);
    if (uid !== undefined) this.taken?.delete(uid);
  }
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fsp.lstat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Removes `<parent>/<name>` (a server-made directory) and everything in it, via descriptors. */
async function removeTree(parent: string, name: string): Promise<void> {
  let root: BeneathRoot;
  try {
    root = await BeneathRoot.open(parent);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    const top = await root.openRoot();
    try {
      await removeIn(top, name);
    } finally {
      await top.close();
    }
  } finally {
    await root.close();
  }
}
