// ESLint (flat config): JavaScript's and typescript-eslint's recommended rules over the
// TypeScript sources, tests and benchmarks. `npm run lint` runs it (and Prettier's check);
// .ci/run runs it before the tests.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'native/**', 'node_modules/**', 'web/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // A leading underscore marks what is unused on purpose (a destructured field left out, a
  // parameter an interface requires).
  {
    rules: {
      // A variable assigned once, after a closure (a teardown, a stream callback) that reads it.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  // Scripts and configs in plain JavaScript run on Node.
  { files: ['**/*.mjs', '**/*.js'], languageOptions: { globals: globals.node } },
);
