import { checkStatementShapes } from '../../src/db/prepared.ts';
import { setUpTestDatabase, tearDownTestDatabase } from './database.ts';

// Every test checks that a named statement's shape determines its SQL text.
checkStatementShapes();

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(120_000);
    await setUpTestDatabase();
  },
  async afterAll() {
    await tearDownTestDatabase();
  },
};
