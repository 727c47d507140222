// Scripts of the mock LLM for the dashboard's browser tests, picked by `[[script:NAME]]` in the
// first message (src/mock-llm byMarker).

import { textsOf } from '../../src/mock-llm/helpers.ts';
import {
  byMarker,
  type MessagesRequest,
  type Responder,
  scripted,
  textReply,
  toolCall,
} from '../../src/mock-llm/index.ts';
import { BUGFIX_COMMIT_MESSAGE, BUGFIX_FINAL_TEXT } from '../../src/mock-llm/scenarios.ts';

/** Printed by the `stream` script, one line every 250 ms: long enough to go offline in the middle. */
export const STREAM_LINES = 16;

/** Assistant text that tries every way into the page; none of it may run. */
export const HOSTILE_TEXT =
  'Hello **bold** and `code`.\n\n<script>window.__xss = 1</script>\n\n<img src="x" onerror="window.__xss = 2">\n\n' +
  '[click](javascript:window.__xss=3) <a href="https://example.com/" onclick="window.__xss = 4">site</a>\n\n' +
  '<iframe src="javascript:parent.__xss=5"></iframe><svg onload="window.__xss = 6"></svg>';

/** The text of the conversation's last user message (tool results are not text). */
function lastUserText(req: MessagesRequest): string {
  for (let i = req.messages.length - 1; i >= 0; i--) {
    const m = req.messages[i];
    if (m?.role !== 'user') continue;
    const texts = textsOf(m.content);
    if (texts.length > 0) return texts.join('\n');
    return '';
  }
  return '';
}

export function uiResponder(): Responder {
  return byMarker(
    {
      // The bugfix of src/mock-llm with a test step that takes a second (its card is seen running)
      // and a final answer streamed in small deltas.
      bugfix: scripted([
        toolCall('fs', { operation: 'read', path: 'math.js' }, { text: 'Let me look at the code.' }),
        toolCall('fs', {
          operation: 'edit',
          path: 'math.js',
          oldString: 'return a - b;',
          newString: 'return a + b;',
        }),
        toolCall('bash', { command: 'sleep 1; node test.js' }),
        toolCall('git', { operation: 'commit', message: BUGFIX_COMMIT_MESSAGE, all: true }),
        toolCall('git', { operation: 'push' }),
        textReply(BUGFIX_FINAL_TEXT, { stopReason: 'end_turn', chunkSize: 4, deltaDelayMs: 20 }),
      ]),
      stream: scripted([
        toolCall(
          'bash',
          { command: `for i in $(seq 1 ${STREAM_LINES}); do echo "line $i"; sleep 0.25; done` },
          { text: 'Printing lines.' },
        ),
        textReply('All lines printed.', { stopReason: 'end_turn', chunkSize: 3, deltaDelayMs: 30 }),
      ]),
      xss: () => textReply(HOSTILE_TEXT),
      ansi: scripted([
        toolCall('bash', { command: "printf '\\033[31mred\\033[0m plain \\033[1;32mgreen\\033[0m\\n'" }),
        textReply('coloured'),
      ]),
      sleep30: scripted([toolCall('bash', { command: 'exec sleep 30' }), textReply('slept')]),
      // Sleeps until interrupted; a later message containing "short" gets a short answer.
      steer: (req, info) =>
        /short/.test(lastUserText(req))
          ? textReply('A short answer.')
          : scripted([toolCall('bash', { command: 'exec sleep 30' }), textReply('slept')])(req, info),
    },
    () => textReply('done'),
  );
}
