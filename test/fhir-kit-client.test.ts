// A real FHIR client (fhir-kit-client) against a listening Cusp.
import assert from 'node:assert/strict';
import { Client } from 'fhir-kit-client';
import { listeningTenantWithToken, startListeningApp, type ListeningApp } from './support/listening.ts';
import { dentalPatient } from './support/fhir.ts';

describe('fhir-kit-client against a listening server', () => {
  let server: ListeningApp;
  let client: Client;

  before(async () => {
    server = await startListeningApp();
    const { token } = await listeningTenantWithToken(server, ['system/*.*']);
    client = new Client({ baseUrl: `${server.baseUrl}/fhir`, bearerToken: token });
  });
  after(() => server.close());

  it('reads the CapabilityStatement and SMART configuration', async () => {
    const statement = await client.capabilityStatement() as unknown as fhir4.CapabilityStatement;
    assert.equal(statement.fhirVersion, '4.0.1');
    const smart = await client.smartAuthMetadata() as { tokenUrl?: URL | string };
    assert.equal(String(smart.tokenUrl), `${server.baseUrl}/auth/token`);
  });

  it('creates, reads, updates and vreads', async () => {
    const created = await client.create({ resourceType: 'Patient', body: dentalPatient() }) as unknown as fhir4.Patient;
    const read = await client.read({ resourceType: 'Patient', id: created.id! }) as unknown as fhir4.Patient;
    assert.equal(read.name?.[0]?.family, 'Okafor');
    await client.update({ resourceType: 'Patient', id: created.id!, body: { ...read, birthDate: '1987-06-15' } });
    const v1 = await client.vread({ resourceType: 'Patient', id: created.id!, version: '1' }) as unknown as fhir4.Patient;
    assert.equal(v1.birthDate, '1987-06-14');
    const history = await client.history({ resourceType: 'Patient', id: created.id! }) as unknown as fhir4.Bundle;
    assert.equal(history.entry?.length, 2);
  });

  it('searches and follows next links', async () => {
    for (let i = 0; i < 5; i++) await client.create({ resourceType: 'Patient', body: dentalPatient({ name: [{ family: 'Pagewell', given: [`P${i}`] }] }) });
    let bundle = await client.search({ resourceType: 'Patient', searchParams: { family: 'pagewell', _count: 2 } }) as unknown as fhir4.Bundle;
    const seen = [...(bundle.entry ?? [])];
    let next: Promise<unknown> | undefined;
    while ((next = client.nextPage({ bundle: bundle as unknown as Parameters<typeof client.nextPage>[0]['bundle'] }))) {
      bundle = await next as unknown as fhir4.Bundle;
      seen.push(...(bundle.entry ?? []));
    }
    assert.equal(seen.length, 5);
    assert.equal(new Set(seen.map((e) => e.resource?.id)).size, 5);
  });

  it('posts a transaction', async () => {
    const response = await client.transaction({
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: 'urn:uuid:6f1d2f6a-1c55-4d8e-9a0b-7f3c1e2d4b11', resource: dentalPatient(), request: { method: 'POST', url: 'Patient' } },
          { resource: dentalPatient(), request: { method: 'POST', url: 'Patient' } },
        ],
      },
    }) as unknown as fhir4.Bundle;
    assert.equal(response.type, 'transaction-response');
    assert.deepEqual(response.entry?.map((e) => e.response?.status), ['201 Created', '201 Created']);
  });

  it('a missing resource rejects with the OperationOutcome', async () => {
    await assert.rejects(client.read({ resourceType: 'Patient', id: '3c1a4f7e-0000-4000-8000-00000000abcd' }),
      (error: { response?: { status: number; data?: { resourceType?: string } } }) =>
        error.response?.status === 404 && error.response.data?.resourceType === 'OperationOutcome');
  });
});
