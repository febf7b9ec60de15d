import { createServer } from 'node:http';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { boundPort } from '../../lab/net/freePort.js';
import type { Stack } from './stack.js';

/** One notification as the generic webhook target receives it. */
export interface Notice {
  receivedAt: number;
  event: string;
  outcome?: string;
  node?: string;
  reason?: string;
  message?: string;
}

/**
 * A generic-webhook receiver on loopback that keeps what the worker sends, so a benchmark can check
 * that each run told its operator the right thing. Its URL goes into the inventory as a file secret,
 * as a user would keep it.
 */
export async function startNoticeReceiver(stack: Stack): Promise<{
  /** The inventory's notification target. */
  target: { type: 'webhook'; url: { file: string } };
  /** What arrived at or after `since` (epoch ms). */
  since(since: number): Notice[];
}> {
  const received: Notice[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Omit<Notice, 'receivedAt'>;
        received.push({ ...body, receivedAt: Date.now() });
        response.writeHead(204).end();
      } catch {
        response.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = boundPort(server);
  stack.defer(() => new Promise((resolve) => server.close(resolve)));
  const file = join(stack.dir, 'notice-url');
  await writeFile(file, `http://127.0.0.1:${port}/notices\n`, { mode: 0o600 });
  return {
    target: { type: 'webhook', url: { file } },
    since: (since) => received.filter((n) => n.receivedAt >= since),
  };
}

/** A notice in a table cell: `complete cancelled`, `rollback talos-cp-1`. */
export function noticeLabel(notice: Notice): string {
  return [notice.event, notice.outcome ?? notice.node].filter(Boolean).join(' ');
}
