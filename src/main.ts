// `npm start`: serve until SIGTERM or SIGINT, then shut down gracefully.
import { loadConfig } from './config/index.ts';
import { startServer } from './server.ts';

const running = await startServer(loadConfig());
const shutdown = (signal: string) => {
  running.services.logger.info({ signal }, 'shutting down');
  const force = setTimeout(() => process.exit(1), 30_000);
  force.unref();
  running.stop().then(() => {
    running.services.logger.info('shutdown complete');
    process.exit(0);
  }, (error) => {
    running.services.logger.error({ err: error }, 'shutdown failed');
    process.exit(1);
  });
};
process.once('SIGTERM', () => shutdown('SIGTERM'));
process.once('SIGINT', () => shutdown('SIGINT'));
