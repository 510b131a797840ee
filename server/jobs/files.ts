/**
 * Where bulk jobs keep their files (under the data dir, so every process of one server sees them), and an NDJSON
 * writer that respects the file stream's back-pressure so an export never buffers more than one batch in memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';

const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.ndjson$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isJobId(id: string): boolean {
  return UUID.test(id);
}

export function isFileName(name: string): boolean {
  return FILE_NAME.test(name);
}

export function jobDir(dataDir: string, jobId: string): string {
  if (!isJobId(jobId)) throw new Error(`invalid job id ${jobId}`);
  return path.join(dataDir, 'bulk', 'jobs', jobId);
}

/** A job's output file, or undefined when the name is not one we could have written. */
export function jobFile(dataDir: string, jobId: string, name: string): string | undefined {
  return isJobId(jobId) && isFileName(name) ? path.join(jobDir(dataDir, jobId), name) : undefined;
}

export function uploadsDir(dataDir: string): string {
  return path.join(dataDir, 'bulk', 'uploads');
}

export function uploadFile(dataDir: string, uploadId: string): string | undefined {
  return isJobId(uploadId) ? path.join(uploadsDir(dataDir), `${uploadId}.ndjson`) : undefined;
}

export async function removeDir(dir: string): Promise<void> {
  await fs.promises.rm(dir, { recursive: true, force: true });
}

/** Appends lines to a file; `write` waits while the stream's buffer is full. */
export class NdjsonWriter {
  private readonly stream: fs.WriteStream;
  private failed: Error | undefined;
  lines = 0;

  constructor(readonly file: string) {
    this.stream = fs.createWriteStream(file, { flags: 'a' });
    this.stream.on('error', (e) => (this.failed = e));
  }

  /** Writes complete lines (each without its newline). */
  async write(lines: string[]): Promise<void> {
    if (this.failed) throw this.failed;
    if (lines.length === 0) return;
    this.lines += lines.length;
    if (!this.stream.write(`${lines.join('\n')}\n`)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.stream.closed) return;
    this.stream.end();
    await once(this.stream, 'close');
    if (this.failed) throw this.failed;
  }
}
