import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, subgraphUrlVariable } from '../src/config.js';

describe('loadConfig', () => {
  it('defaults to development on 127.0.0.1:4000 with Sandbox and introspection', () => {
    expect(loadConfig({})).toEqual({
      mode: 'development',
      host: '127.0.0.1',
      port: 4000,
      supergraphPath: 'schema/supergraph.graphql',
      subgraphUrls: {},
      subgraphTimeoutMs: 5000,
      introspection: true,
      sandbox: true,
      logLevel: 'info',
      bodyLimitBytes: 1048576,
      shutdownTimeoutMs: 10000,
    });
  });

  it('turns Sandbox and introspection off in production unless asked for', () => {
    expect(loadConfig({ NODE_ENV: 'production' })).toMatchObject({ mode: 'production', introspection: false, sandbox: false });
    expect(loadConfig({ NODE_ENV: 'production', INTROSPECTION: 'true' })).toMatchObject({ introspection: true, sandbox: false });
  });

  it('reads per-subgraph URL overrides by name', () => {
    expect(loadConfig({ SUBGRAPH_ACCOUNTS_URL: 'http://10.0.0.7:4001/graphql', SUBGRAPH_MY_SHOP_URL: 'https://shop.internal/graphql' }).subgraphUrls).toEqual({
      accounts: 'http://10.0.0.7:4001/graphql',
      my_shop: 'https://shop.internal/graphql',
    });
    expect(subgraphUrlVariable('my-shop')).toBe('SUBGRAPH_MY_SHOP_URL');
  });

  it('lists every bad value at once, each with what would be right', () => {
    const attempt = (): unknown => loadConfig({ NODE_ENV: 'prod', PORT: '99999', LOG_LEVEL: 'loud', SANDBOX: 'yes', SUBGRAPH_X_URL: 'ftp://x' });
    let caught: unknown;
    try {
      attempt();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).problems).toEqual([
      'NODE_ENV must be development, production or test (got "prod")',
      'PORT must be at most 65535 (got "99999")',
      'SANDBOX must be true or false (got "yes")',
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
      'SUBGRAPH_X_URL must be an http:// or https:// URL, e.g. http://accounts:4001/graphql (got "ftp://x")',
    ]);
  });
});
