// Vitest setup file (vitest.config.ts): after each test file, fail it if a server it started wrote
// a log line that is not valid JSON or that contains a configured secret (test/helpers/log-check.ts).
// LOG_CHECK_REPORT=1 prints how many lines each file's servers wrote (to see what the check covers).
import { afterAll } from 'vitest';
import { takeLogProblems } from './log-check.ts';

afterAll(() => {
  const { problems, linesChecked } = takeLogProblems();
  if (process.env.LOG_CHECK_REPORT === '1') console.log(`log check: ${linesChecked} lines checked`);
  if (problems.length > 0)
    throw new Error(`log check failed (${problems.length}):\n${problems.slice(0, 20).join('\n')}`);
});
