#!/usr/bin/env node
// The `gateway` command: `gateway <command> [options]` (see runCli.ts for the list). npm's scripts call it; a team that
// depends on the package runs it with its own config module (`gateway serve --config gateway.config.js`).
import { runCli } from './runCli.js';

process.exitCode = await runCli(process.argv.slice(2));
