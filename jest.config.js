/** Jest: TypeScript through SWC (type checking is `npm run typecheck`), one real PostgreSQL per run. */
// ESM-only packages (jose, openid-client and the oidc-provider used as a real upstream OpenID provider in tests)
// are turned into CommonJS by SWC like our own sources; every other package is loaded as it is.
const ESM_PACKAGES = ['jose', 'openid-client', 'oauth4webapi', 'oidc-provider'];
module.exports = {
  testEnvironment: '<rootDir>/test/environment.js',
  roots: ['<rootDir>/server', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }],
    '^.+\\.m?js$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'ecmascript' } }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_PACKAGES.join('|')})/)`],
  globalSetup: '<rootDir>/test/globalSetup.ts',
  globalTeardown: '<rootDir>/test/globalTeardown.ts',
  testTimeout: 60000,
  maxWorkers: 2,
  // A worker whose event loop is empty exits on its own; on a 2-core machine kept busy by other processes its exit
  // (and the report of test/environment.js) can take longer than Jest's 500 ms default, which then force-kills it
  // with "A worker process has failed to exit gracefully" (every pass of `.ci/run` under two busy loops, no
  // leftover found). A test's leftover handle still keeps its worker alive past 5 s, and is still reported.
  workerGracefulExitTimeout: 5000,
};
