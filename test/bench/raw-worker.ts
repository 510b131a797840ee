/** A worker thread running a share of the raw baseline's client loops (see raw.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { prepareRawLoops, type RawLoopConfig } from './raw-loops';

const { cfg, phase } = workerData as { cfg: RawLoopConfig; phase: SharedArrayBuffer };

void (async () => {
  try {
    const loops = await prepareRawLoops(cfg, new Int32Array(phase));
    parentPort!.postMessage({ ready: true });
    await new Promise<void>((resolve) => parentPort!.once('message', () => resolve()));
    parentPort!.postMessage({ result: await loops.run() });
  } catch (e) {
    parentPort!.postMessage({ error: (e as Error).message });
  }
})();
