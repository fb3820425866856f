// One connection of its own for one piece of work, outside the pool: catalogue probes, maintenance.
import pg from 'pg';

export async function withConnection<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
