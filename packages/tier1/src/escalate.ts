// When Tier 1 hands a message to the agent server. The seed ("Routing from Tier 1"):
//   "The RouterAgent in Tier 1 can escalate to Tier 2 when:
//    - Task complexity is high
//    - Task requires filesystem access
//    - Task needs extended execution time
//    - User explicitly requests long-running mode"
// and its table: quick Q&A and greetings stay on the edge; complex research, code generation with
// testing and multi-step workflows go to Tier 2.
//
// Each rule is a documented, pure heuristic over the text (no model call, no I/O), so it is cheap
// enough for every webhook and can be tested on a table of labelled messages. A decision lists the
// evidence of every rule that fired, so a bot can say why it escalated.
import type { WorkflowType } from './types.ts';

export type EscalationRule = 'complexity' | 'filesystem' | 'extended_time' | 'explicit';

export interface EscalationContext {
  /** The conversation already concerns a repository (`owner/name`): a GitHub issue, a chat's repo. */
  repo?: string;
  /** The user switched this chat to long-running mode (rule 4 for every message). */
  longRunningMode?: boolean;
}

export interface EscalationDecision {
  escalate: boolean;
  /** Every rule that fired, with the text that made it fire. */
  reasons: Array<{ rule: EscalationRule; evidence: string }>;
  /** The workflow `type` to submit (docs/api.md §6). */
  type: WorkflowType;
  /** `owner/name` named in the message, else the context's. */
  repo?: string;
  /** The message without a leading /command: what to send as `instructions`. */
  instructions: string;
  /** Rule 1's score; it fires at COMPLEXITY_THRESHOLD. */
  complexity: number;
}

/** Rule 1 fires at this score (see `complexityScore`). */
export const COMPLEXITY_THRESHOLD = 3;

// ---- rule 4: explicit request ----

/** Commands that ask for Tier 2 (`/long fix …`) and the one that keeps a message on Tier 1. */
const ESCALATE_COMMAND = /^\/(long|agent|task|tier2|escalate)(@\w+)?\b\s*/i;
const QUICK_COMMAND = /^\/(quick|ask)(@\w+)?\b\s*/i;
const EXPLICIT_PHRASES: RegExp[] = [
  /\blong[- ]running\b/i,
  /\bin the background\b/i,
  /\b(?:background|async) (?:task|job|mode)\b/i,
  /\btake (?:your|all the) time\b/i,
  /\bno rush\b/i,
  /\b(?:let me know|tell me|ping me|notify me) when (?:it'?s |you'?re |you are )?(?:done|finished|ready|complete)\b/i,
  /\bescalate\b/i,
  /\btier[ -]?2\b/i,
];

// ---- rule 2: needs the filesystem (a repository, files, a shell) ----

/** Verbs that act on code. A message asks for an action when one starts a sentence (after "please", "can you" …). */
const ACTION_VERBS = new Set(
  (
    'fix repair patch debug refactor restructure reorganize rewrite implement add write create update ' +
    'upgrade bump remove delete rename migrate port convert clean format lint build compile run ' +
    'execute test change modify edit commit push merge rebase open clone deploy release install ' +
    'configure setup set review audit profile benchmark optimize optimise speed document generate ' +
    'scaffold bootstrap investigate diagnose triage resolve close revert backport analyze analyse ' +
    'research check inspect look find search trace reproduce'
  ).split(' '),
);
/** What code-action verbs act on. Counted only when definite ("the test", "my parser"): an indefinite one ("write a function") is a snippet Tier 1 can answer. */
const CODE_NOUNS =
  'tests?|test suite|specs?|bugs?|crash(?:es)?|errors?|warnings?|functions?|methods?|class(?:es)?|modules?|' +
  'files?|repo(?:sitory)?|codebase|code|project|app|service|api|endpoints?|routes?|handlers?|parser|' +
  'pr|pull request|branch|commits?|build|ci|pipeline|workflows?|dependenc(?:y|ies)|deps|packages?|' +
  'migrations?|schema|database|queries|readme|docs|documentation|scripts?|dockerfile|config(?:uration)?|' +
  'types?|type errors|lint(?: errors)?|imports?|components?|pages?|styles?|server|client|cli|library|sdk';
const DEFINITE_CODE_TARGET = new RegExp(
  `\\b(?:the|my|our|this|that|these|those|its|their|all|every|each)\\s+(?:[\\w./#-]+\\s+){0,3}?(?:${CODE_NOUNS})\\b`,
  'i',
);
const SOURCE_EXT =
  'ts|tsx|js|jsx|mjs|cjs|py|rb|go|rs|java|kt|swift|c|h|cc|cpp|cs|php|md|json|ya?ml|toml|sql|sh|css|scss|html|vue|svelte|lock';
const FILE_PATH = new RegExp(
  `(?:^|[\\s\`'"(])((?:[\\w.-]+\\/)*[\\w-]+\\.(?:${SOURCE_EXT})|(?:[\\w.-]+\\/)*(?:Dockerfile|Makefile|README|LICENSE)|\\.github\\/[\\w./-]+)(?=$|[\\s\`'"),:;!?])`,
);
const SHELL_COMMAND =
  /`(?:npm|npx|pnpm|yarn|bun|node|deno|python3?|pip|pytest|go|cargo|make|git|gh|docker|bash|sh|mvn|gradle|dotnet|ruby|bundle|rake)\b[^`]*`|\b(?:npm|pnpm|yarn) (?:test|run \w+|install|ci)\b|\b(?:pytest|cargo test|go test|make test)\b/i;
/** A pasted stack trace (JS, Python, Java, Go). */
const STACK_TRACE =
  /(?:\n\s*at [\w.<>$]+ \(?[^\s)]+:\d+:\d+\)?)|Traceback \(most recent call last\)|\n\s*at [\w.$]+\([\w]+\.java:\d+\)|goroutine \d+ \[/;

// ---- rule 3: needs extended time ----

const EXTENDED_TIME: RegExp[] = [
  /\brun (?:the |all (?:the )?|my |our )?(?:\w+ )?(?:tests|test suite|specs|e2e|benchmarks?)\b/i,
  /\b(?:full|whole|entire|complete) (?:test suite|test run|build|codebase|repo(?:sitory)?|project)\b/i,
  /\btest suite\b/i,
  /\b(?:research|investigate|deep[- ]dive|in[- ]depth|comprehensive(?:ly)?|thorough(?:ly)?|exhaustive(?:ly)?)\b/i,
  /\b(?:benchmark|profile|load[- ]test|stress[- ]test|fuzz)\b/i,
  /\b(?:audit|survey)\b/i,
  /\b(?:every|each|all) (?:file|module|package|repo(?:sitory)?|service)s?\b/i,
  /\bacross (?:the |our |my |all )?(?:codebase|repo(?:sitory|s)?|project|services|files)\b/i,
  /\b(?:write|produce|prepare) (?:a |an )?(?:detailed |full |long )?(?:report|write-?up|analysis)\b/i,
  /\b(?:for|takes?|over|within) (?:several |a few |many |\d+ )?(?:hours?|days?)\b/i,
  /\bovernight\b/i,
];

// ---- rule 1: complexity ----

const COMPLEXITY_WORDS =
  /\b(?:architecture|architect|redesign|migrat(?:e|ion)|end[- ]to[- ]end|multi[- ]step|integrat(?:e|ion)|multi[- ]tenant|distributed|scal(?:able|ability)|concurren(?:t|cy)|(?:several|multiple|many) (?:files|services|modules|repos(?:itories)?|steps))\b/gi;
const SEQUENCE_WORDS = /\b(?:then|after that|afterwards|finally|next|first|second|also)\b/gi;
const LIST_ITEM = /^\s*(?:\d+[.)]|[-*•])\s+\S/gm;

// ---- small talk ----

const SMALL_TALK =
  /^(?:@\w+[\s,]*)?(?:hi|hello|hey|yo|hiya|howdy|good (?:morning|afternoon|evening|night)|gm|gn|thanks?(?: you)?(?: so much| a lot)?|thx|ty|cheers|ok(?:ay)?|cool|nice|great|awesome|bye|goodbye|see you|lol|👋|🙏|👍)(?:[\s,!.?]+(?:there|bot|man|guys|all|again|cool|bye|👋|🙏|👍|😊|duyetbot))*[\s!.?😊👋🙏👍]*$/iu;

const POLITE_PREFIX =
  /^(?:@[\w-]+[\s,:]*)?(?:(?:hey|hi|ok(?:ay)?|so|now|also|and)[,!\s]+)*(?:(?:please|pls|plz|kindly)[,\s]+)?(?:(?:can|could|would|will) you[,\s]+(?:please[,\s]+)?|i (?:need|want|would like|'d like) (?:you )?to[,\s]+|go ahead and[,\s]+|let'?s[,\s]+|help me[,\s]+|try to[,\s]+|make sure to[,\s]+)?(?:please[,\s]+)?/i;

// ---- repositories ----

const GITHUB_URL = /\bgithub\.com[/:]([A-Za-z0-9][A-Za-z0-9-]{0,38})\/([A-Za-z0-9._-]{1,100})/i;
const BARE_REPO =
  /(?:^|[\s(`'"])(?:in|on|at|for|from|of|to|into|repo|repository|project|clone|fork|deploy|review|audit|check|fix|update|upgrade|refactor|test|build|analy[sz]e)\s+`?([A-Za-z0-9][A-Za-z0-9-]{0,38})\/([A-Za-z0-9._-]{1,100})`?(?![\w/])/i;
/** After a verb ("fix src/parser") a path looks like owner/name: these first segments are directories, not owners. */
const DIRECTORY_OWNERS =
  /^(?:src|lib|libs|test|tests|spec|docs|doc|app|apps|packages|pkg|cmd|internal|dist|build|bin|scripts|config|public|assets|examples?)$/i;
const FILE_LIKE = new RegExp(`\\.(?:${SOURCE_EXT}|txt|png|jpe?g|gif|pdf)$`, 'i');

/** `owner/name` of the GitHub repository a message names (a github.com URL, or "in owner/name"), if any. */
export function extractRepo(message: string): string | undefined {
  for (const re of [GITHUB_URL, BARE_REPO]) {
    const m = re.exec(message);
    if (!m) continue;
    const owner = m[1]!;
    const name = m[2]!.replace(/\.git$/i, '').replace(/[.]+$/, '');
    if (!name || name === '.' || name === '..' || FILE_LIKE.test(name)) continue;
    if (re === BARE_REPO && (/^(?:and|or)$/i.test(owner) || DIRECTORY_OWNERS.test(owner))) continue;
    return `${owner}/${name}`;
  }
  return undefined;
}

/** The sentences of a message, each without its polite prefix ("please", "can you" …). */
function requests(text: string): string[] {
  return text
    .split(/[\n.!?;:,]+(?:\s|$)|\s+(?:and then|then|and)\s+/i)
    .map((s) => s.trim().replace(POLITE_PREFIX, ''))
    .filter(Boolean);
}

const QUESTION_WORD =
  /^(?:how|what|what's|whats|why|when|where|which|who|whom|whose|is|are|was|were|do|does|did|should|shall|could|would|can|may|might|isn't|aren't|doesn't|don't)\b/i;

/** A plain question (no request in any sentence): "how do I run the test suite?" asks for an answer, not a run. */
function isQuestion(text: string): boolean {
  const parts = requests(text);
  return parts.length > 0 && parts.every((s) => QUESTION_WORD.test(s)) && /\?\s*$/.test(text.trim());
}

/** The code-action verb starting a sentence (the message asks for an action), if any. */
function actionVerb(text: string): string | undefined {
  for (const s of requests(text)) {
    const first = /^[a-z]+/i.exec(s)?.[0]?.toLowerCase();
    if (first && ACTION_VERBS.has(first)) return first;
  }
  return undefined;
}

/**
 * Rule 1's score: +1 over 80 words, +1 more over 200; +2 for three or more list items; +1 for two
 * or more sequencing words (then, finally …); +1 for a fenced code block, +1 more when it is over
 * 15 lines; +1 per complexity word (architecture, migrate, end-to-end, multiple services …), at most
 * 2; +1 for a stack trace; +1 for three or more different action verbs.
 */
export function complexityScore(text: string): number {
  let score = 0;
  const words = text.split(/\s+/).filter(Boolean).length;
  if (words > 80) score++;
  if (words > 200) score++;
  if ((text.match(LIST_ITEM) ?? []).length >= 3) score += 2;
  if ((text.match(SEQUENCE_WORDS) ?? []).length >= 2) score++;
  const fence = /```[\s\S]*?```/.exec(text);
  if (fence) {
    score++;
    if (fence[0].split('\n').length > 17) score++;
  }
  score += Math.min(2, (text.match(COMPLEXITY_WORDS) ?? []).length);
  if (STACK_TRACE.test(text)) score++;
  const verbs = new Set(
    requests(text)
      .map((s) => /^[a-z]+/i.exec(s)?.[0]?.toLowerCase())
      .filter((v): v is string => v !== undefined && ACTION_VERBS.has(v)),
  );
  if (verbs.size >= 3) score++;
  return score;
}

/** The workflow type: deploy, refactor, test (run or write tests), analysis (research, review …), else custom. */
export function workflowTypeOf(text: string): WorkflowType {
  if (/\b(?:deploy|release|ship|publish|roll ?out)\b/i.test(text)) return 'deploy';
  if (/\b(?:refactor|restructure|reorganize|clean ?up|rename|simplify|modernize|migrate)\b/i.test(text))
    return 'refactor';
  if (
    /\b(?:run|write|add|increase|improve)\b[^.?!\n]{0,30}\b(?:tests?|test suite|coverage|specs?)\b/i.test(
      text,
    )
  )
    return 'test';
  if (
    /\b(?:analy[sz]e|analysis|research|investigate|review|audit|compare|benchmark|profile|explain|summari[sz]e|report|deep[- ]dive)\b/i.test(
      text,
    )
  )
    return 'analysis';
  return 'custom';
}

function firstMatch(res: RegExp[], text: string): string | undefined {
  for (const re of res) {
    const m = re.exec(text);
    if (m) return m[0];
  }
  return undefined;
}

/**
 * Decides whether `message` goes to the agent server (Tier 2) and with which workflow type.
 *
 * 1. complexity: `complexityScore` ≥ COMPLEXITY_THRESHOLD (long, multi-step, big code blocks,
 *    architecture/migration words, stack traces).
 * 2. filesystem: a sentence starts with a code-action verb (after "please", "can you" …) and the
 *    message names a definite code target ("the failing test", "my parser"), a repository
 *    (github.com URL, "in owner/name", or the context's repo), a file path or a shell command.
 * 3. extended_time: running tests or benchmarks, research, investigations, audits, "every file",
 *    "across the codebase", reports, durations in hours or days.
 * 4. explicit: /long (/agent, /task, /tier2, /escalate), "long-running", "in the background",
 *    "take your time", "let me know when it's done", or the chat's long-running mode.
 *
 * Greetings and thanks stay on Tier 1 unless asked explicitly; `/quick` (or `/ask`) keeps any message
 * on Tier 1. Questions ("how do I fix a failing test?") are not actions, so they stay unless another
 * rule fires.
 */
export function shouldEscalate(message: string, context: EscalationContext = {}): EscalationDecision {
  let text = message.trim();
  const quick = QUICK_COMMAND.test(text);
  const command = ESCALATE_COMMAND.exec(text);
  if (quick) text = text.replace(QUICK_COMMAND, '');
  else if (command) text = text.replace(ESCALATE_COMMAND, '');
  const repo = extractRepo(text) ?? context.repo;
  const reasons: EscalationDecision['reasons'] = [];
  const complexity = complexityScore(text);
  const decision = (escalate: boolean): EscalationDecision => ({
    escalate,
    reasons: escalate ? reasons : [],
    type: workflowTypeOf(text),
    ...(repo ? { repo } : {}),
    instructions: text,
    complexity,
  });
  if (quick) return decision(false);

  if (command) reasons.push({ rule: 'explicit', evidence: command[0].trim() });
  else if (context.longRunningMode) reasons.push({ rule: 'explicit', evidence: 'long-running mode' });
  else {
    const phrase = firstMatch(EXPLICIT_PHRASES, text);
    if (phrase) reasons.push({ rule: 'explicit', evidence: phrase });
  }
  if (reasons.length === 0 && SMALL_TALK.test(text)) return decision(false);

  const verb = actionVerb(text);
  if (verb) {
    const target =
      DEFINITE_CODE_TARGET.exec(text)?.[0] ??
      (repo ? `repository ${repo}` : undefined) ??
      FILE_PATH.exec(text)?.[1] ??
      SHELL_COMMAND.exec(text)?.[0];
    if (target) reasons.push({ rule: 'filesystem', evidence: `${verb} … ${target}` });
  }

  const slow = isQuestion(text) ? undefined : firstMatch(EXTENDED_TIME, text);
  if (slow) reasons.push({ rule: 'extended_time', evidence: slow });

  if (complexity >= COMPLEXITY_THRESHOLD)
    reasons.push({ rule: 'complexity', evidence: `score ${complexity}` });

  return decision(reasons.length > 0);
}
