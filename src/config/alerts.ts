// ALERT_* / TELEGRAM_* (docs/api.md §11): where alerts go and when they fire.
import { ConfigError, type Env, httpUrl, int, opt, percent } from './parse.ts';

/** ALERT_* / TELEGRAM_*: alert destinations and thresholds (0 turns a rule off). */
export interface AlertConfig {
  webhookUrl?: string;
  telegram?: { botToken: string; chatId: string; apiUrl: string };
  /** A rule that fired is not notified again (firing) within this time of its last notification. */
  cooldownMs: number;
  /** How often the periodic rules (queue, disk, memory, instances, windows) are evaluated. */
  evalIntervalMs: number;
  /** The window of the counting rules (run, LLM and callback failures). */
  windowMs: number;
  /** Failed runs in the window. */
  runFailures: number;
  /** Runs failed with an LLM error (llm_error, llm_auth_error, llm_unavailable) in the window; a run that completes resolves it. */
  llmFailures: number;
  /** Failed callback delivery attempts in the window. */
  callbackFailures: number;
  /** Queued runs above this … */
  queueDepth: number;
  /** … for this long. */
  queueDepthForMs: number;
  /** Used percent of the DATA_DIR file system. */
  diskPercent: number;
  /** Used percent of memory (the cgroup limit when there is one, else the machine's). */
  memoryPercent: number;
  /** An instance (PostgreSQL) whose last heartbeat is older than this, without a clean stop. */
  instanceStaleMs: number;
}

export function alertConfig(env: Env): AlertConfig {
  const botToken = opt(env, 'TELEGRAM_BOT_TOKEN');
  const chatId = opt(env, 'TELEGRAM_CHAT_ID');
  if (Boolean(botToken) !== Boolean(chatId))
    throw new ConfigError('TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID must be set together');
  // The token goes into the Bot API's URL path: refuse anything that could change the path.
  if (botToken && !/^[A-Za-z0-9:_-]{1,200}$/.test(botToken))
    throw new ConfigError(
      'TELEGRAM_BOT_TOKEN must look like 123456:ABC-def (letters, digits, ":", "_", "-")',
    );
  const apiUrl = httpUrl(env, 'TELEGRAM_API_URL') ?? 'https://api.telegram.org';
  return {
    webhookUrl: httpUrl(env, 'ALERT_WEBHOOK_URL'),
    ...(botToken && chatId ? { telegram: { botToken, chatId, apiUrl } } : {}),
    cooldownMs: int(env, 'ALERT_COOLDOWN_MS', 900_000, 0),
    evalIntervalMs: int(env, 'ALERT_EVAL_INTERVAL_MS', 15_000, 50),
    windowMs: int(env, 'ALERT_WINDOW_MS', 600_000, 1000),
    runFailures: int(env, 'ALERT_RUN_FAILURES', 5, 0),
    llmFailures: int(env, 'ALERT_LLM_FAILURES', 3, 0),
    callbackFailures: int(env, 'ALERT_CALLBACK_FAILURES', 10, 0),
    queueDepth: int(env, 'ALERT_QUEUE_DEPTH', 100, 0),
    queueDepthForMs: int(env, 'ALERT_QUEUE_DEPTH_FOR_MS', 300_000, 0),
    diskPercent: percent(env, 'ALERT_DISK_PERCENT', 90),
    memoryPercent: percent(env, 'ALERT_MEMORY_PERCENT', 90),
    instanceStaleMs: int(env, 'ALERT_INSTANCE_STALE_MS', 60_000, 1000),
  };
}
