// `agent-server <command>` (docs/api.md §12), parsed with commander. Exit codes: 0 success (with
// --follow: the workflow completed), 1 the request or the followed workflow failed, 2 usage error.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { AgentClient, ApiError } from '../client/index.ts';
import { Priority, WorkflowStatus, WorkflowType } from '../protocol/index.ts';
import * as cmd from './commands.ts';
import { cliEnv } from './env.ts';

export interface CliIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

function oneOf(values: readonly string[], what: string) {
  return (v: string) => {
    if (!values.includes(v)) throw new InvalidArgumentError(`${what} must be one of ${values.join(', ')}`);
    return v;
  };
}

/** Runs the client commands (everything but `start`); resolves with the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let code: number = cmd.EXIT.ok;
  const program = new Command('agent-server')
    .description('Client of the duyetbot agent server (AGENT_SERVER_URL, AGENT_SERVER_KEY)')
    .option('--json', 'print JSON only')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) })
    .showHelpAfterError();
  const ctx = (): cmd.CliContext => {
    const env = cliEnv(io.env);
    return {
      client: new AgentClient({ baseUrl: env.url, ...(env.key ? { apiKey: env.key } : {}) }),
      out: io.out,
      json: Boolean(program.opts().json),
      ...(io.signal ? { signal: io.signal } : {}),
    };
  };
  program.command('start').description('start the server (same as npm start)');
  program
    .command('submit')
    .description('submit a workflow')
    .requiredOption(
      '--type <type>',
      `one of ${WorkflowType.options.join(', ')}`,
      oneOf(WorkflowType.options, '--type'),
    )
    .requiredOption('--instructions <text>', 'what the agent should do')
    .option('--repo <url>', 'repository to clone into the workspace')
    .option('--branch <branch>', 'branch to check out')
    .addOption(new Option('--priority <priority>').choices(Priority.options))
    .addOption(new Option('--engine <engine>').choices(['claude-code', 'native']))
    .option('--follow', 'follow the workflow live until it ends')
    .action(async (o) => {
      code = await cmd.submit(ctx(), o);
    });
  program
    .command('follow <id>')
    .description('follow a workflow (wf_…) to its end, or a session until it is idle')
    .action(async (id: string) => {
      code = await cmd.follow(ctx(), id);
    });
  program
    .command('sessions')
    .description('list sessions')
    .action(async () => {
      code = await cmd.sessions(ctx());
    });
  program
    .command('workflows')
    .description('list workflows')
    .addOption(new Option('--status <status>').choices(WorkflowStatus.options))
    .action(async (o: { status?: string }) => {
      code = await cmd.workflows(ctx(), o);
    });
  program
    .command('cancel <workflowId>')
    .description('cancel a workflow')
    .action(async (id: string) => {
      code = await cmd.cancel(ctx(), id);
    });
  program
    .command('approvals')
    .description('list pending approvals')
    .action(async () => {
      code = await cmd.approvals(ctx());
    });
  program
    .command('approve <approvalId>')
    .description('allow (or with --deny, deny) a pending approval')
    .option('--deny', 'deny instead of allow')
    .option('--message <text>', 'told to the agent with the decision')
    .action(async (id: string, o: { deny?: boolean; message?: string }) => {
      code = await cmd.approve(ctx(), id, o);
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end "successfully"; everything else commander refuses is a usage error.
      return err.exitCode === 0 ? cmd.EXIT.ok : cmd.EXIT.usage;
    }
    const json = Boolean(program.opts().json);
    if (err instanceof ApiError) {
      if (json)
        io.out.write(
          `${JSON.stringify({ error: { code: err.code, message: err.message, status: err.status } })}\n`,
        );
      else io.err.write(`error: ${err.message} (${err.code}, HTTP ${err.status})\n`);
      return err.code === 'invalid_request' ? cmd.EXIT.usage : cmd.EXIT.failed;
    }
    const message = err instanceof Error ? err.message : String(err);
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    if (json)
      io.out.write(`${JSON.stringify({ error: { code: 'request_failed', message: message + cause } })}\n`);
    else io.err.write(`error: ${message}${cause} (server ${cliEnv(io.env).url})\n`);
    return cmd.EXIT.failed;
  }
}
