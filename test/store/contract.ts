// One behavioural contract for every Store implementation. sqlite.test.ts and postgres.test.ts
// call `storeContract` with a harness that gives each test a fresh, empty database; the cases
// live in ./contract/*.ts.
import { afterEach, beforeEach, describe } from 'vitest';
import type { Store } from '../../src/store/types.ts';
import { approvalsContract } from './contract/approvals.ts';
import type { Ctx } from './contract/ctx.ts';
import { eventsContract } from './contract/events.ts';
import { fairnessContract } from './contract/fairness.ts';
import { instancesContract } from './contract/instances.ts';
import { noncesContract } from './contract/nonces.ts';
import { runsContract } from './contract/runs.ts';
import { sessionsContract } from './contract/sessions.ts';
import { transitionsContract } from './contract/transitions.ts';
import { workflowsContract } from './contract/workflows.ts';
import type { StoreLocation } from './fixtures/location.ts';
import { newRun, newSession, newWorkflow } from './fixtures/records.ts';

export { newRun, newSession, newWorkflow };

/** How a test wants its store opened. */
export interface StoreOpenOptions {
  /** The store's clock (default the real one): nonce expiry, leases and timestamps are read from it. */
  now?: () => number;
}

export interface StoreHarness {
  /** The test's database, for another process. */
  location: StoreLocation;
  /** Opens (and migrates) another Store on this test's database; several may be open at once. */
  open(options?: StoreOpenOptions): Promise<Store>;
  /** Drops the database; called after every store was closed. */
  dispose(): Promise<void>;
}

export function storeContract(name: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`Store contract: ${name}`, () => {
    let harness: StoreHarness;
    let opened: Store[] = [];
    let current: Store | undefined;

    const ctx: Ctx = {
      get store() {
        if (!current) throw new Error('no store: the harness failed to open one');
        return current;
      },
      get location() {
        return harness.location;
      },
      async open(options) {
        const s = await harness.open(options);
        opened.push(s);
        return s;
      },
    };

    beforeEach(async () => {
      harness = await makeHarness();
      opened = [];
      current = undefined;
      current = await ctx.open();
    });

    afterEach(async () => {
      for (const s of opened) await s.close();
      await harness.dispose();
    });

    sessionsContract(ctx);
    eventsContract(ctx);
    runsContract(ctx);
    fairnessContract(ctx);
    workflowsContract(ctx);
    transitionsContract(ctx);
    noncesContract(ctx);
    approvalsContract(ctx);
    instancesContract(ctx);
  });
}
