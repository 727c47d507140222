// The native engine's tool set (docs/api.md §9).
import type { Config } from '../config.ts';
import type { SandboxWrapper } from '../sandbox/types.ts';
import type { GitHubCredentials } from '../security/github-credentials.ts';
import { createBashTool } from './bash.ts';
import { createFsTool } from './fs.ts';
import { createGhTool } from './gh.ts';
import { createGitTool } from './git.ts';
import type { GitCredentialBroker } from './git-credentials.ts';
import type { Tool } from './types.ts';

export interface ToolDeps {
  config: Config;
  sandbox: SandboxWrapper;
  /** GitHub credentials of the `gh` tool (default: from the configuration). */
  github?: GitHubCredentials;
  /** Credential grants for git's GitHub remotes (the git credential proxy); none without it. */
  gitCredentials?: GitCredentialBroker;
}

export function createTools(deps: ToolDeps): Tool[] {
  return [
    createBashTool(deps) as Tool,
    createFsTool(deps) as Tool,
    createGitTool(deps) as Tool,
    createGhTool(deps) as Tool,
    // The tools of configured MCP servers are added by the runtime (`connectMcpTools`, ./mcp.ts).
  ];
}
