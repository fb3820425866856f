// The bench's HTTP client for a DICOMweb server: keep-alive connections, bodies counted (or kept
// for checks), nothing parsed in the timed loops, so that the client costs both servers the same.
import http from 'node:http';

/** A running DICOMweb server to measure. */
export interface DicomwebTarget {
  /** Shown in the results: "cusp" or "orthanc". */
  server: string;
  port: number;
  /** The service's path, e.g. /dicomweb; PS3.18 resource paths follow it. */
  root: string;
  /** Sent with every request (authorization). */
  headers: Record<string, string>;
  /** After a store: what a live server would have done by itself since (planner statistics). */
  afterStore?(): Promise<void>;
  stop(): Promise<void>;
}

export interface Answer {
  status: number;
  contentType: string;
  bytes: number;
  /** Only when asked for (checks); timed requests only count bytes. */
  body?: Buffer;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer;
  keepBody?: boolean;
}

export class DicomwebHttp {
  private readonly agent: http.Agent;

  constructor(private readonly target: DicomwebTarget, maxSockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  /** `resource` is a PS3.18 path below the service root, e.g. /studies?limit=10. */
  request(resource: string, options: RequestOptions = {}): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1', port: this.target.port, path: this.target.root + resource, method: options.method ?? 'GET', agent: this.agent,
        headers: { ...this.target.headers, ...options.headers, ...(options.body ? { 'content-length': String(options.body.length) } : {}) },
      }, (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (options.keepBody) chunks.push(chunk);
        });
        res.on('end', () => resolve({
          status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? '', bytes, body: options.keepBody ? Buffer.concat(chunks) : undefined,
        }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(options.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Throws unless the answer has the expected status (a timed request that fails counts as an error). */
export function expectStatus(answer: Answer, ...statuses: number[]): Answer {
  if (!statuses.includes(answer.status)) throw new Error(`answered ${answer.status}${answer.body ? `: ${answer.body.toString('utf8', 0, 300)}` : ''}`);
  return answer;
}
