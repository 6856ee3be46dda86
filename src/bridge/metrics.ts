// A bridge's figures over HTTP: Prometheus text at /metrics, the stats()
// snapshot at /stats.json (what `ringcast stat http://host:port` reads).
// Hand-written exposition: a dozen counters do not justify a metrics client
// library as a dependency of every ringcast user.
import { once } from 'node:events';
import http from 'node:http';

import type { BridgeStats } from './bridge.js';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  value: (s: BridgeStats) => number;
}

const METRICS: Metric[] = [
  { name: 'connected', help: 'Whether the link is up (1) or down (0).', type: 'gauge', value: (s) => (s.connected ? 1 : 0) },
  { name: 'reconnects_total', help: 'Times the link came back after a loss.', type: 'counter', value: (s) => s.reconnects },
  { name: 'forward_attached', help: 'Whether the bridge is a subscriber of the forwarded bus now (1) or not (0).', type: 'gauge', value: (s) => (s.forward.attached ? 1 : 0) },
  { name: 'forward_attach_failures_total', help: 'Failed attempts to attach to the forwarded bus (each retried).', type: 'counter', value: (s) => s.forward.attachFailures },
  { name: 'forwarded_messages_total', help: 'Messages sent to the link.', type: 'counter', value: (s) => s.forward.messages },
  { name: 'forwarded_bytes_total', help: 'Frame bytes sent to the link.', type: 'counter', value: (s) => s.forward.bytes },
  { name: 'forwarded_batches_total', help: 'Frames sent to the link.', type: 'counter', value: (s) => s.forward.batches },
  { name: 'forward_lag_bytes', help: 'Local bus bytes committed and not yet read by the bridge.', type: 'gauge', value: (s) => s.forward.lagBytes },
  { name: 'forward_pending_bytes', help: 'Frame bytes waiting for the link.', type: 'gauge', value: (s) => s.forward.pendingBytes },
  { name: 'forward_pending_messages', help: 'Messages in frames waiting for the link.', type: 'gauge', value: (s) => s.forward.pendingMessages },
  { name: 'forward_dropped_messages_total', help: 'Messages dropped by the drop policy or as too large for the link.', type: 'counter', value: (s) => s.forward.droppedMessages },
  { name: 'forward_evictions_total', help: 'Evictions of the bridge from the local bus.', type: 'counter', value: (s) => s.forward.evictions },
  { name: 'forward_lost_messages_total', help: 'Local bus messages lost to those evictions.', type: 'counter', value: (s) => s.forward.lostMessages },
  { name: 'republish_subscribers', help: 'Subscribers of the republished bus now.', type: 'gauge', value: (s) => s.republish.subscribers },
  { name: 'republished_messages_total', help: 'Messages published into the local bus.', type: 'counter', value: (s) => s.republish.messages },
  { name: 'republished_bytes_total', help: 'Payload bytes published into the local bus.', type: 'counter', value: (s) => s.republish.bytes },
  { name: 'republished_batches_total', help: 'Frames published into the local bus.', type: 'counter', value: (s) => s.republish.batches },
  { name: 'gaps_total', help: 'Jumps in an origin sequence (or drops here).', type: 'counter', value: (s) => s.republish.gaps },
  { name: 'gap_lost_messages_total', help: 'Messages missing in those gaps.', type: 'counter', value: (s) => s.republish.lostMessages },
  { name: 'duplicates_total', help: 'Messages seen before: dropped.', type: 'counter', value: (s) => s.republish.duplicates },
  { name: 'echoes_total', help: 'Own messages that came back: dropped.', type: 'counter', value: (s) => s.republish.echoes },
  { name: 'loops_total', help: 'Messages past the hop limit: dropped.', type: 'counter', value: (s) => s.republish.loops },
  { name: 'malformed_frames_total', help: 'Frames that broke the wire format: dropped.', type: 'counter', value: (s) => s.republish.malformedFrames },
];

export function prometheusText(stats: BridgeStats): string {
  const labels = `{bridge="${stats.id}"}`;
  let text = '';
  for (const metric of METRICS) {
    const name = `ringcast_bridge_${metric.name}`;
    text += `# HELP ${name} ${metric.help}\n# TYPE ${name} ${metric.type}\n${name}${labels} ${metric.value(stats)}\n`;
  }
  return text;
}

export async function serveMetrics(stats: () => BridgeStats, port: number, host: string): Promise<MetricsServer> {
  const server = http.createServer((request, response) => {
    if (request.method !== 'GET') {
      response.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (request.url === '/metrics') {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(prometheusText(stats()));
    } else if (request.url === '/stats.json') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats()));
    } else {
      response.writeHead(404).end();
    }
  });
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
