import { execFileSync } from 'node:child_process';

/**
 * Tests that run the topology as processes run the compiled `dist/`, as `npm start` and the Docker image do:
 * build it once, before any test file.
 */
export default function setup(): void {
  process.env['APOLLO_TELEMETRY_DISABLED'] = 'true';
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
