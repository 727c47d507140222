// Resources a tool keeps for the length of one run — the sandboxed file-system helper, for one —
// released when the run ends, whichever way it ends. The run executor creates one scope per run,
// hands it to the engine (and through it to every tool call) and closes it in a `finally`.
//
// Why a scope and not the abort signal: the signal fires only on cancel, drain or timeout; a run
// that simply completes never aborts, and its helper processes must still go away.

interface Entry {
  value: unknown;
  dispose: () => Promise<void> | void;
}

export class RunScope {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  /**
   * The resource under `key`, made by `make` on first use. `dispose` runs once when the scope
   * closes. After close, `use` throws: a tool call that outlives its run must not start anything.
   */
  use<T>(key: string, make: () => T, dispose: (value: T) => Promise<void> | void): T {
    if (this.closed) throw new Error('the run has ended');
    const found = this.entries.get(key);
    if (found) return found.value as T;
    const value = make();
    this.entries.set(key, { value, dispose: () => dispose(value) });
    return value;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Disposes everything, newest first; a failing dispose does not stop the others. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.entries.values()].reverse();
    this.entries.clear();
    for (const e of all) {
      try {
        await e.dispose();
      } catch {
        // Disposal is best effort: the resource is gone from the scope either way.
      }
    }
  }
}
