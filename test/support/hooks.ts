import { setUpTestDatabase, tearDownTestDatabase } from './database.ts';

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(120_000);
    await setUpTestDatabase();
  },
  async afterAll() {
    await tearDownTestDatabase();
  },
};
