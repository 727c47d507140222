// A run's telemetry besides its events: the run span (a child of the request that queued it,
// through the traceparent stored with the run), a span per model call with the GenAI semantic
// conventions (gen_ai.*), a span per tool call, and the model-call metrics (latency, time to first
// token, outcome) that only the engines can see. The executor creates one per execution.
import type { EngineEvent, ModelCallEnd, ModelCallObserver } from '../agent/engine.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { StatsRecorder } from '../observability/stats.ts';
import { noopTracing, type Span, type Tracing } from '../observability/tracing.ts';
import type { RunRecord } from '../store/types.ts';
import type { RunOutcome } from './lifecycle.ts';

export interface RunTelemetryDeps {
  metrics?: Metrics;
  stats?: StatsRecorder;
  tracing?: Tracing;
}

/** Open tool spans per run at most (a tool.started without its tool.completed ends with the run). */
const MAX_OPEN_TOOLS = 256;

export interface RunTrace {
  /** The run span's trace id (log lines of the run carry it); undefined when untraced. */
  readonly traceId: string | undefined;
  readonly span: Span;
  readonly observer: ModelCallObserver;
  /** Every engine event passes here: tool.started / tool.completed become tool spans. */
  onEvent(ev: EngineEvent): void;
  /** The run ended (or went back to the queue: `requeued`). */
  end(outcome: RunOutcome | { status: 'requeued'; reason: string }): void;
}

export class RunTelemetry {
  private readonly d: RunTelemetryDeps;
  private readonly tracing: Tracing;

  constructor(deps: RunTelemetryDeps) {
    this.d = deps;
    this.tracing = deps.tracing ?? noopTracing;
  }

  begin(run: RunRecord, info: { engine: string; model: string }): RunTrace {
    const { metrics, stats } = this.d;
    const tracing = this.tracing;
    const traced = tracing.enabled;
    const runSpan = tracing.startSpan(`invoke_agent ${info.engine}`, {
      kind: 'internal',
      ...(run.traceParent ? { parent: run.traceParent } : {}),
      attributes: traced
        ? {
            'gen_ai.operation.name': 'invoke_agent',
            'gen_ai.agent.name': 'duyetbot',
            'gen_ai.provider.name': 'anthropic',
            'gen_ai.request.model': info.model,
            'duyetbot.engine': info.engine,
            'duyetbot.run.id': run.id,
            'duyetbot.session.id': run.sessionId,
            'duyetbot.workflow.id': run.workflowId,
            'duyetbot.run.attempt': run.attempts,
          }
        : undefined,
    });
    const tools = new Map<string, Span>();

    const observer: ModelCallObserver = {
      start({ model, startedAt }) {
        const t0 = startedAt ?? Date.now();
        let firstAt: number | undefined;
        const span = traced
          ? tracing.startSpan(`chat ${model}`, {
              kind: 'client',
              parent: runSpan,
              startTime: t0,
              attributes: {
                'gen_ai.operation.name': 'chat',
                'gen_ai.system': 'anthropic',
                'gen_ai.provider.name': 'anthropic',
                'gen_ai.request.model': model,
              },
            })
          : undefined;
        return {
          firstToken() {
            firstAt ??= Date.now();
          },
          end(r: ModelCallEnd) {
            const now = Date.now();
            const durationS = Math.max(0, (now - t0) / 1000);
            const ttftS = firstAt === undefined ? undefined : Math.max(0, (firstAt - t0) / 1000);
            const labels = { engine: info.engine, model };
            metrics?.llmRequests.inc({ ...labels, outcome: r.error ? 'error' : 'ok' });
            metrics?.llmDuration.observe(labels, durationS);
            if (ttftS !== undefined) metrics?.llmTimeToFirstToken.observe(labels, ttftS);
            stats?.modelCall({
              durationS,
              error: r.error !== undefined,
              ...(ttftS !== undefined ? { timeToFirstTokenS: ttftS } : {}),
            });
            if (!span) return;
            span.setAttributes({
              'gen_ai.response.model': r.responseModel,
              'gen_ai.response.id': r.responseId,
              'gen_ai.response.finish_reasons': r.finishReason ? [r.finishReason] : undefined,
              'gen_ai.usage.input_tokens': r.usage
                ? r.usage.inputTokens +
                  (r.usage.cacheReadInputTokens ?? 0) +
                  (r.usage.cacheCreationInputTokens ?? 0)
                : undefined,
              'gen_ai.usage.output_tokens': r.usage?.outputTokens,
              'gen_ai.usage.cache_read.input_tokens': r.usage?.cacheReadInputTokens,
              'gen_ai.usage.cache_creation.input_tokens': r.usage?.cacheCreationInputTokens,
              'duyetbot.time_to_first_token_s': ttftS,
              'error.type': r.error,
            });
            if (r.error) span.setError(r.error);
            span.end(now);
          },
        };
      },
    };

    return {
      traceId: runSpan.traceId,
      span: runSpan,
      observer,
      onEvent(ev) {
        if (!traced) return;
        if (ev.type === 'tool.started') {
          if (tools.size >= MAX_OPEN_TOOLS) return;
          tools.set(
            ev.data.toolUseId,
            tracing.startSpan(`execute_tool ${ev.data.name}`, {
              kind: 'internal',
              parent: runSpan,
              attributes: {
                'gen_ai.operation.name': 'execute_tool',
                'gen_ai.tool.name': ev.data.name,
                'gen_ai.tool.call.id': ev.data.toolUseId,
              },
            }),
          );
        } else if (ev.type === 'tool.completed') {
          const span = tools.get(ev.data.toolUseId);
          if (!span) return;
          tools.delete(ev.data.toolUseId);
          if (ev.data.isError) {
            span.setAttributes({ 'error.type': 'tool_error' });
            span.setError('the tool reported an error');
          }
          span.end();
        }
      },
      end(outcome) {
        for (const span of tools.values()) {
          span.setError('the run ended before the tool call did');
          span.end();
        }
        tools.clear();
        if (!traced) return;
        runSpan.setAttributes({
          'duyetbot.run.status': outcome.status,
          ...('usage' in outcome
            ? {
                'gen_ai.usage.input_tokens': outcome.usage.inputTokens,
                'gen_ai.usage.output_tokens': outcome.usage.outputTokens,
                'duyetbot.cost_usd': outcome.usage.costUsd,
              }
            : {}),
        });
        if (outcome.status === 'failed') {
          runSpan.setAttributes({ 'error.type': outcome.error.code });
          runSpan.setError(outcome.error.code);
        }
        runSpan.end();
      },
    };
  }
}
