// `npm run conformance`: writes the generated conformance documents into conformance/.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { conformanceDocuments } from './conformance.ts';

const directory = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../conformance');
for (const [name, document] of Object.entries(conformanceDocuments())) {
  fs.writeFileSync(path.join(directory, name), `${JSON.stringify(document, null, 2)}\n`);
  console.log(`wrote conformance/${name}`);
}
