// The usual pair of an integration test: a mock LLM, and an in-process server pointed at it.
import { type MockLlm, type MockLlmOptions, startMockLlm } from '../../src/mock-llm/index.ts';
import type { RuntimeOptions } from '../../src/runtime.ts';
import { startTestServer, type TestServer } from './server.ts';

export interface MockedServer {
  mock: MockLlm;
  server: TestServer;
}

/** Starts the mock LLM, then a test server with ANTHROPIC_BASE_URL at it (and `env`, `opts`). */
export async function startMockedServer(
  mockOptions: MockLlmOptions,
  env: Record<string, string | undefined> = {},
  opts: RuntimeOptions = {},
): Promise<MockedServer> {
  const mock = await startMockLlm(mockOptions);
  try {
    return { mock, server: await startTestServer({ ANTHROPIC_BASE_URL: mock.url, ...env }, opts) };
  } catch (error) {
    await mock.close();
    throw error;
  }
}

/** Closes the server, then the mock (either may be missing when setup failed). */
export async function closeMockedServer(server?: TestServer, mock?: MockLlm): Promise<void> {
  await server?.close();
  await mock?.close();
}
