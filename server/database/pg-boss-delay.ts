/**
 * pg-boss, with its internal `delay` bound to the timers module once, when this module loads.
 *
 * pg-boss 10 requires `node:timers/promises` inside every `delay()` call (its worker loop, a job handler's time limit,
 * the wait for workers to stop). A delay that starts after the module registry which loaded pg-boss is gone — under
 * Jest: a worker finishing its last job just after a test file's environment was torn down — then throws ("Cannot
 * destructure property 'setTimeout'") in whichever test file runs next in that process. The replacement behaves
 * exactly like the original (resolves after `ms`, or rejects with `error`; `abort()` resolves it early); it only
 * takes `setTimeout` from a module loaded up front. Every module that imports pg-boss imports this first.
 */
import { clearTimeout as clear, setTimeout as timer } from 'node:timers';

type AbortableDelay = Promise<void> & { abort(): void };

/** No AbortController: pg-boss aborts its loop delay whenever a worker is notified, and an abort builds a DOMException. */
function delay(ms: number, error?: string): AbortableDelay {
  let handle: NodeJS.Timeout | undefined;
  let early: () => void = () => undefined;
  const promise = new Promise<void>((resolve, reject) => {
    early = resolve;
    handle = timer(() => (error ? reject(new Error(error)) : resolve()), ms);
    // pg-boss's loops wait on these (its workers' polling, and at stop() a once-a-second wait for every worker to
    // have stopped, which never ends if a worker's handler never returns). What keeps a server process alive is its
    // HTTP server and its connections, never a queue's wait: unref'd, a stop that could not finish cannot hold the
    // process (or a Jest worker) open.
    handle.unref();
  }) as AbortableDelay;
  promise.abort = () => {
    clear(handle);
    early();
  };
  return promise;
}

// Before pg-boss itself loads: its modules take `delay` from this object when they are first required.
(require('pg-boss/src/tools') as { delay: typeof delay }).delay = delay;
