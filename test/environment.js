/**
 * Jest's `node` test environment, plus a report of what keeps a Jest worker process alive after the end of the run
 * (the cause of "A worker process has failed to exit gracefully"): when the worker is told to end, an unref'd timer
 * is armed; if the process is still running 1 s later (before Jest's force-exit at `workerGracefulExitTimeout`, 5 s),
 * it prints the resources still keeping its event loop alive (`process.getActiveResourcesInfo()`). No line means the
 * event loop was empty: a force-exit without one is the process's own exit being slow (a machine kept busy), not a
 * leftover of a test.
 */
const { TestEnvironment } = require('jest-environment-node');

const CHILD_MESSAGE_END = 2; // jest-worker's message to end a worker
let armed = false;

function armExitReport() {
  if (armed || typeof process.send !== 'function') return; // not a child-process worker (e.g. --runInBand)
  armed = true;
  const onMessage = (message) => {
    if (!Array.isArray(message) || message[0] !== CHILD_MESSAGE_END) return;
    // our listener must go at once, or it alone would keep the IPC channel (and so the process) alive
    process.removeListener('message', onMessage);
    const endAt = Date.now();
    setTimeout(() => {
      const alive = process.getActiveResourcesInfo();
      process.stderr.write(
        `[jest worker ${process.pid}] still running ${Date.now() - endAt} ms after it was told to end; keeping it alive: ${alive.join(', ') || '(nothing: its event loop is empty)'}\n`,
      );
    }, 1000).unref();
  };
  process.on('message', onMessage);
}

class ArogyaTestEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    armExitReport();
  }
}

module.exports = ArogyaTestEnvironment;
