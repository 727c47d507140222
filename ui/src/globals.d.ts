// Values the build injects (esbuild `define`, src/server/ui-build.ts).

/** Failure code → what it means, from src/protocol/failure-codes.ts. */
declare const __FAILURE_CODES__: Record<string, string>;

/** The stylesheet: esbuild bundles it into its own file beside the script. */
declare module '*.css';
