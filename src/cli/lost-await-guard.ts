/**
 * A backstop for lost awaits. When a command awaits a promise that nothing will ever settle (a
 * stream left pending by a library, a callback never called) and nothing else keeps the event
 * loop alive, Node simply exits — with status 0, as if the command had succeeded. This turns that
 * into a failure with a line that says what happened.
 */

export const LOST_AWAIT_MESSAGE =
  "sdlite: internal error: the command stopped before it finished (an operation it was waiting on will never complete); please report this";

/** Marks the process failed (exit code 1) if it is about to exit while `command` is still pending. */
export function failIfExitingUnsettled(
  command: Promise<unknown>,
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): void {
  let settled = false;
  const done = () => {
    settled = true;
    process.removeListener("beforeExit", onBeforeExit);
  };
  // Only observes: the caller still handles the rejection.
  command.then(done, done);
  // 'beforeExit' comes when the loop has drained (not on process.exit() or a signal).
  const onBeforeExit = () => {
    if (settled) return;
    process.removeListener("beforeExit", onBeforeExit);
    write(LOST_AWAIT_MESSAGE);
    process.exitCode = 1;
  };
  process.on("beforeExit", onBeforeExit);
}
