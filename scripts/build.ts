/**
 * `npm run build`: the compiled tree dist/ that the container image runs (devstack/build.ts, ADR 0027);
 * the Dockerfile's build stage runs it. Locally `npm run start:cluster` and the tests build their own copy.
 */
import { relative } from 'node:path';
import { buildApp } from '../devstack/build.js';

const { dist, files } = await buildApp();
console.log(
  `${relative(process.cwd(), dist) || dist}/: ${files.length} modules, the migrations and web/dist`,
);
