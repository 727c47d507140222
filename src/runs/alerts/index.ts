// Alerts (docs/api.md §11): the manager with this server's sinks and probes.
import type { Clock } from '../../clock.ts';
import type { Config } from '../../config.ts';
import type { HostLookup } from '../../net/safe-post.ts';
import type { Logger } from '../../observability/logger.ts';
import type { MetricsRegistrar } from '../../observability/metrics.ts';
import type { Store } from '../../store/types.ts';
import type { InstanceRegistry } from '../instances.ts';
import { AlertManager } from './manager.ts';
import { diskUsedPercent, memoryUsedPercent } from './probes.ts';
import { telegramSink, webhookSink } from './sinks.ts';
import type { AlertSink } from './types.ts';

export { AlertManager, LLM_FAILURE_CODES } from './manager.ts';
export type { AlertName, AlertNotice, AlertSeverity, AlertState } from './types.ts';

export function createAlerts(o: {
  config: Config;
  store: Store;
  instances: InstanceRegistry;
  logger: Logger;
  registry?: MetricsRegistrar;
  clock: Clock;
  /** Host resolution of the sinks (tests map names to loopback). */
  lookup?: HostLookup;
}): AlertManager {
  const { config, store, instances, clock } = o;
  const sinkOpts = { allow: config.callbackAllowHosts, clock, ...(o.lookup ? { lookup: o.lookup } : {}) };
  const sinks: AlertSink[] = [];
  if (config.alerts.webhookUrl)
    sinks.push(webhookSink(config.alerts.webhookUrl, config.signingSecret, sinkOpts));
  if (config.alerts.telegram) sinks.push(telegramSink(config.alerts.telegram, sinkOpts));
  return new AlertManager({
    config: config.alerts,
    instanceId: config.instanceId,
    sinks,
    logger: o.logger,
    clock,
    ...(o.registry ? { registry: o.registry } : {}),
    probes: {
      queueDepth: () => store.countRuns('queued'),
      diskUsedPercent: () => diskUsedPercent(config.dataDir),
      memoryUsedPercent: () => memoryUsedPercent(),
      staleInstances: () => instances.staleInstances(),
      isLeader: () => instances.isLeader(),
    },
  });
}
