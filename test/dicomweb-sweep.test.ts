// The sweep of imaging leftovers (src/dicomweb/sweep.ts, `cusp sweep`): an object a store left
// CREATING goes with its blob, a blob no object names goes, and what is stored stays.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BlobStore } from '../src/blob/index.ts';
import { parseInstanceFile } from '../src/dicom/index.ts';
import { InstanceIngest } from '../src/dicomweb/ingest.ts';
import { sweepImaging } from '../src/dicomweb/sweep.ts';
import { startTestApp, tenantWithToken, type TestApp } from './support/app.ts';
import { testDatabaseUrl } from './support/database.ts';
import { pydicomFile, spooledFile, storeFiles } from './support/dicomweb.ts';

const ROOT = path.join(import.meta.dirname, '..');

describe('sweep of imaging leftovers', function () {
  this.timeout(60_000);
  let app: TestApp;
  const caller = (tenantId: string) => ({ tenantId, audit: { actorType: 'SYSTEM' as const } });
  const exists = async (key: string) => (await app.services.blobs.head(key)) !== undefined;
  const objects = (tenantId: string) => app.services.db.tenant(tenantId, (trx) => trx('imaging_objects').select('status', 'storage_uri')) as Promise<{ status: string; storage_uri: string }[]>;

  const sweepAudits = (tenantId: string) => app.services.db.tenant(tenantId, (trx) => trx('audit_events')
    .where({ tenant_id: tenantId }).whereRaw("metadata->>'sweep' is not null").select('event_type', 'resource_type', trx.raw("metadata->>'sopInstanceUid' as sop_instance_uid")));

  /** A tenant with one stored instance, one left CREATING by a store whose blob write failed after it was written, and a blob no object names. */
  async function tenantWithLeftovers() {
    const { tenantId } = await tenantWithToken(app, ['system/ImagingStudy.read']);
    const [stored] = await storeFiles(app.services, tenantId, [pydicomFile('CT_small.dcm')]);
    assert.ok(stored?.stored);
    let abandonedKey = '';
    const failing: BlobStore = Object.assign(Object.create(app.services.blobs), {
      putFile: async (key: string, file: string) => {
        abandonedKey = key;
        await app.services.blobs.putFile(key, file);
        throw new Error('the process died here');
      },
    });
    const file = pydicomFile('MR_small.dcm');
    await assert.rejects(new InstanceIngest(app.services.db, failing).store(caller(tenantId), await parseInstanceFile(file), spooledFile(file)));
    const strayKey = `dicom/${tenantId}/${randomUUID()}`;
    await app.services.blobs.put(strayKey, Buffer.from('a blob whose registration a crash undid'));
    const storedKey = (await objects(tenantId)).find((object) => object.status === 'CREATED')!.storage_uri;
    return { tenantId, abandonedKey, strayKey, storedKey };
  }

  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  it('removes a CREATING object older than the limit with its blob, and blobs no object names; keeps what is stored and other tenants\' blobs', async () => {
    const mine = await tenantWithLeftovers();
    const other = await tenantWithLeftovers();
    assert.ok(await exists(mine.abandonedKey) && await exists(mine.strayKey));

    assert.deepEqual(await sweepImaging(app.services, mine.tenantId, 60, caller(mine.tenantId).audit), { abandonedObjects: 0, unnamedBlobs: 0 },
      'a CREATING object, or a blob no object names, younger than the limit may belong to a store still under way');
    assert.ok(await exists(mine.abandonedKey) && await exists(mine.strayKey));
    assert.deepEqual(await sweepImaging(app.services, mine.tenantId, 0, caller(mine.tenantId).audit), { abandonedObjects: 1, unnamedBlobs: 1 });
    assert.deepEqual(await sweepAudits(mine.tenantId), [{ event_type: 'DICOM_DELETE', resource_type: 'ImagingStudy', sop_instance_uid: '1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457' }],
      'the removed object is audited');
    assert.deepEqual((await objects(mine.tenantId)).map((object) => object.status), ['CREATED']);
    assert.ok(!await exists(mine.abandonedKey) && !await exists(mine.strayKey));
    assert.ok(await exists(mine.storedKey), 'the stored instance keeps its blob');
    assert.ok(await exists(other.abandonedKey) && await exists(other.strayKey) && await exists(other.storedKey), 'another tenant is untouched');
  });

  it('`cusp sweep --tenant` does the same from the shell and prints what it removed', async () => {
    const leftovers = await tenantWithLeftovers();
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'bin/cusp.mjs'), 'sweep', '--tenant', leftovers.tenantId, '--older-than-minutes', '0'], {
      cwd: ROOT, env: { ...process.env, DATABASE_URL: testDatabaseUrl(), DATA_DIR: app.services.config.dataDir, BLOB_STORE: 'fs' },
    });
    assert.deepEqual(JSON.parse(stdout), { [leftovers.tenantId]: { abandonedObjects: 1, unnamedBlobs: 1 } });
    assert.equal((await sweepAudits(leftovers.tenantId)).length, 1, 'audited from the shell too');
    assert.ok(!await exists(leftovers.abandonedKey) && !await exists(leftovers.strayKey) && await exists(leftovers.storedKey));
  });
});
