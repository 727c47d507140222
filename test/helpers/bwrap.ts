// Whether bubblewrap is installed, for the suites that need the real sandbox. A skipped sandbox
// test proves nothing: without bubblewrap, importing this module fails the suite unless
// SKIP_SANDBOX_TESTS=1 says the skip is on purpose.
import { existsSync } from 'node:fs';

/** Where bwrap is installed, or undefined. */
export const BWRAP_PATH: string | undefined = ['/usr/bin/bwrap', '/usr/local/bin/bwrap'].find((p) =>
  existsSync(p),
);
export const HAS_BWRAP = BWRAP_PATH !== undefined;

if (!HAS_BWRAP && process.env.SKIP_SANDBOX_TESTS !== '1') {
  throw new Error(
    'bubblewrap (bwrap) not found: `apt-get install bubblewrap`, or set SKIP_SANDBOX_TESTS=1 to skip the sandbox tests',
  );
}
if (!HAS_BWRAP)
  console.warn('bubblewrap is not installed — the sandbox tests are SKIPPED (SKIP_SANDBOX_TESTS=1)');
