/**
 * The README's TypeScript tour typechecks against the generated API types (load/api-schema.ts): every
 * ```ts block of README.md is compiled as a module at the repository root, with the project's tsconfig.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

function typeErrors(code: string): string[] {
  const file = resolve(ROOT, 'readme-tour.ts');
  const parsed = ts.getParsedCommandLineOfConfigFile(
    resolve(ROOT, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  )!;
  const base = ts.createCompilerHost(parsed.options);
  const host: ts.CompilerHost = {
    ...base,
    getSourceFile: (name, version, ...rest) =>
      name === file ? ts.createSourceFile(name, code, version) : base.getSourceFile(name, version, ...rest),
    fileExists: (name) => name === file || base.fileExists(name),
    readFile: (name) => (name === file ? code : base.readFile(name)),
  };
  const program = ts.createProgram([file], parsed.options, host);
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => {
    const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
    return `README tour line ${where ? where.line + 1 : '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}

describe('README tour', () => {
  const blocks = [...readFileSync(resolve(ROOT, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map(
    (m) => m[1]!,
  );

  it('has a TypeScript tour with the generated client', () => {
    expect(blocks.length).toBeGreaterThan(0);
    expect(blocks.join('\n')).toContain("from './load/api-schema.js'");
  });

  it('typechecks against the generated API types', { timeout: 120_000 }, () => {
    expect(blocks.flatMap(typeErrors)).toEqual([]);
  });

  it('reports a call that breaks the contract', { timeout: 120_000 }, () => {
    const broken = blocks[0]!.replace("direction: 'buy'", "direction: 'long'");
    expect(broken).not.toBe(blocks[0]);
    expect(typeErrors(broken).join('\n')).toContain(
      `Type '"long"' is not assignable to type '"buy" | "sell"'`,
    );
  });
});
