// Per-session directories under DATA_DIR: `workspaces/<id>` (the agent's tree) and `homes/<id>`
// (its HOME and TMPDIR, kept outside the workspace so dotfiles and caches never end up in commits).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ToolError } from '../tools/types.ts';

const ID = /^[A-Za-z0-9_-]{1,128}$/;

export class WorkspaceManager {
  /** `<dataDir>/workspaces` */
  readonly root: string;
  /** `<dataDir>/homes` */
  readonly homesRoot: string;

  constructor(dataDir: string) {
    this.root = path.join(path.resolve(dataDir), 'workspaces');
    this.homesRoot = path.join(path.resolve(dataDir), 'homes');
  }

  private checkId(id: string): void {
    if (!ID.test(id)) throw new ToolError('invalid_workspace_id', `Invalid workspace id "${id}"`);
  }

  pathFor(id: string): string {
    this.checkId(id);
    return path.join(this.root, id);
  }

  /** Creates the workspace if needed and returns its real path (what ToolContext.workspace expects). */
  async ensure(id: string): Promise<string> {
    const dir = this.pathFor(id);
    await fsp.mkdir(this.root, { recursive: true, mode: 0o700 });
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    return fsp.realpath(dir);
  }

  /** Creates `<dataDir>/homes/<id>` (with a `tmp` inside for TMPDIR) and returns its real path. */
  async homeFor(id: string): Promise<string> {
    this.checkId(id);
    const dir = path.join(this.homesRoot, id);
    await fsp.mkdir(path.join(dir, 'tmp'), { recursive: true, mode: 0o700 });
    return fsp.realpath(dir);
  }

  async exists(id: string): Promise<boolean> {
    try {
      return (await fsp.lstat(this.pathFor(id))).isDirectory();
    } catch {
      return false;
    }
  }

  /** Ids of existing workspaces. */
  async list(): Promise<string[]> {
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

  /** Removes the workspace and its home. fs.rm unlinks symlinks rather than following them. */
  async remove(id: string): Promise<void> {
    const dir = this.pathFor(id);
    await fsp.rm(dir, { recursive: true, force: true, maxRetries: 3 });
    await fsp.rm(path.join(this.homesRoot, id), { recursive: true, force: true, maxRetries: 3 });
  }
}
