// Hard budgets (docs/api.md §10): what a run may still spend, enforced from the usage the engine
// reports AS IT STREAMS (the native loop's stream events, the LLM proxy's metering for Claude
// Code), so a run is stopped within the model turn that passes a limit — not after it ends.
//
// Limits that apply to a run, each with what its scope spent before the run:
// - `session` / `workflow`: the session's `policy.budget` (a workflow's session carries the
//   workflow's policy) against the session's usage so far (all its finished runs);
// - `server`: BUDGET_MAX_COST_USD / BUDGET_MAX_TOKENS, the same per session or workflow (a policy
//   can only ask for less);
// - `daily`: BUDGET_DAILY_*_PER_KEY against what the run's credential spent since UTC midnight:
//   its finished runs (from the store) plus its runs still running on this instance (live).
// A scope with nothing left refuses the run before it starts (a budget of 0 runs nothing).
import type { UsageMeter } from '../agent/engine.ts';
import type { Clock } from '../clock.ts';
import type { BudgetConfig } from '../config.ts';
import { emptyUsage, type Usage } from '../protocol/index.ts';
import type { RunRecord, SessionRecord, Store } from '../store/types.ts';

export type BudgetScope = 'session' | 'workflow' | 'server' | 'daily';

interface Limit {
  scope: BudgetScope;
  maxTokens?: number;
  maxCostUsd?: number;
  /** What the scope spent before this run (read when checked: the daily one moves). */
  spent(): Usage;
}

/** Why a run may not go on (or not start). */
export interface BudgetStop {
  scope: BudgetScope;
  message: string;
}

const tokens = (u: Usage): number => u.inputTokens + u.outputTokens;
const plus = (a: Usage, b: Usage): Usage => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  costUsd: a.costUsd + b.costUsd,
});

/** The larger of two figures of the same run (the engine's own and the streamed one). */
export function largerUsage(a: Usage, b: Usage): Usage {
  return tokens(b) > tokens(a) || (tokens(b) === tokens(a) && b.costUsd > a.costUsd) ? b : a;
}

const LABEL: Record<BudgetScope, string> = {
  session: "the session's budget",
  workflow: "the workflow's budget",
  server: "the server's cap per session or workflow",
  daily: "this credential's daily budget (UTC day)",
};
const usd = (n: number): string => `$${n.toFixed(n < 1 ? 4 : 2)}`;

/** One run's meter: charged as usage streams; calls `onExceeded` once when a limit is passed. */
export class RunBudget implements UsageMeter {
  /** The run's usage as reported while it streamed. */
  used: Usage = emptyUsage();
  /** Set once a limit was passed. */
  stopped?: BudgetStop;
  readonly credential?: string;
  private limits: Limit[];
  private onExceeded: (stop: BudgetStop) => void = () => {};

  constructor(limits: Limit[], credential?: string) {
    this.limits = limits;
    if (credential !== undefined) this.credential = credential;
  }

  /** What happens when a limit is passed (the executor stops the run). */
  onExceed(fn: (stop: BudgetStop) => void): void {
    this.onExceeded = fn;
  }

  add(u: Usage): void {
    this.used = plus(this.used, u);
    if (this.stopped) return;
    for (const l of this.limits) {
      const spent = l.spent();
      const total = plus(spent, this.used);
      let message: string | undefined;
      if (l.maxTokens !== undefined && tokens(total) > l.maxTokens)
        message = `${LABEL[l.scope]} of ${l.maxTokens} tokens would be passed: ${tokens(total)} used (this run: ${tokens(this.used)})`;
      else if (l.maxCostUsd !== undefined && total.costUsd > l.maxCostUsd)
        message = `${LABEL[l.scope]} of ${usd(l.maxCostUsd)} would be passed: ${usd(total.costUsd)} used (this run: ${usd(this.used.costUsd)})`;
      if (message) {
        this.stopped = { scope: l.scope, message: `${message}; the run was stopped` };
        this.onExceeded(this.stopped);
        return;
      }
    }
  }

  /** A limit with nothing left before the run starts: the run is refused. */
  refusal(): BudgetStop | undefined {
    for (const l of this.limits) {
      const spent = l.spent();
      if (l.maxTokens !== undefined && tokens(spent) >= l.maxTokens)
        return {
          scope: l.scope,
          message: `${LABEL[l.scope]} of ${l.maxTokens} tokens is spent (${tokens(spent)} used); the run was not started`,
        };
      if (l.maxCostUsd !== undefined && spent.costUsd >= l.maxCostUsd)
        return {
          scope: l.scope,
          message: `${LABEL[l.scope]} of ${usd(l.maxCostUsd)} is spent (${usd(spent.costUsd)} used); the run was not started`,
        };
    }
    return undefined;
  }
}

/** A credential's spend today as this instance knows it. */
interface Ledger {
  day: string;
  /** Its runs finished today: the store's sum when the ledger was opened, plus runs closed since. */
  finished: Usage;
  /** Its runs running here now. */
  live: Set<RunBudget>;
}

/** The budgets of one instance's runs; keeps the live daily spend of each credential. */
export class Budgets {
  private store: Store;
  private config: BudgetConfig;
  private clock: Clock;
  private ledgers = new Map<string, Ledger>();

  constructor(o: { store: Store; config: BudgetConfig; clock: Clock }) {
    this.store = o.store;
    this.config = o.config;
    this.clock = o.clock;
  }

  /** The meter of a run about to start (its limits read now); `close` it when the run has ended. */
  async open(run: RunRecord, session: SessionRecord): Promise<RunBudget> {
    const limits: Limit[] = [];
    const spentBySession = () => session.usage;
    const own = session.policy?.budget;
    if (own && (own.maxTokens !== undefined || own.maxCostUsd !== undefined))
      limits.push({ scope: session.workflowId ? 'workflow' : 'session', ...own, spent: spentBySession });
    const { maxTokens, maxCostUsd, dailyTokensPerKey, dailyCostUsdPerKey } = this.config;
    if (maxTokens !== undefined || maxCostUsd !== undefined)
      limits.push({ scope: 'server', maxTokens, maxCostUsd, spent: spentBySession });
    const cred = run.credential;
    if (!cred || (dailyTokensPerKey === undefined && dailyCostUsdPerKey === undefined)) {
      return new RunBudget(limits);
    }
    const ledger = await this.ledger(cred);
    const budget = new RunBudget(
      [
        ...limits,
        {
          scope: 'daily',
          maxTokens: dailyTokensPerKey,
          maxCostUsd: dailyCostUsdPerKey,
          spent: () => {
            let s = ledger.finished;
            for (const other of ledger.live) if (other !== budget) s = plus(s, other.used);
            return s;
          },
        },
      ],
      cred,
    );
    ledger.live.add(budget);
    return budget;
  }

  /** The run has ended with `usage` (recorded in the store): it moves from live to finished. */
  close(budget: RunBudget, usage: Usage): void {
    if (budget.credential === undefined) return;
    const ledger = this.ledgers.get(budget.credential);
    if (!ledger?.live.delete(budget)) return;
    ledger.finished = plus(ledger.finished, usage);
    // Nothing running here: the next run reads the store again (runs of other instances too).
    if (ledger.live.size === 0) this.ledgers.delete(budget.credential);
  }

  private async ledger(cred: string): Promise<Ledger> {
    const midnight = new Date(this.clock.now());
    midnight.setUTCHours(0, 0, 0, 0);
    const day = midnight.toISOString();
    const known = this.ledgers.get(cred);
    if (known?.day === day) return known;
    const finished = await this.store.credentialUsageSince(cred, day);
    // Another run of the credential may have opened the ledger while the store answered.
    const now = this.ledgers.get(cred);
    if (now?.day === day) return now;
    const ledger: Ledger = { day, finished, live: now?.live ?? new Set() };
    this.ledgers.set(cred, ledger);
    return ledger;
  }
}
