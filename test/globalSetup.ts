import { execFileSync } from 'node:child_process';

/**
 * Tests that run the topology as processes run the compiled `dist/`, as `npm start` and the Docker image do:
 * build it once, before any test file, as `npm run build` does (the storefront's page included).
 */
export default function setup(): void {
  process.env['APOLLO_TELEMETRY_DISABLED'] = 'true';
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
}
