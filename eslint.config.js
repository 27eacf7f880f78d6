// ESLint with typescript-eslint's type-aware recommended rules (and React's hook rules for the
// console); Prettier formats, and the one layout rule here is the length of comments. `npm test` fails on any warning.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'deploy/', 'coverage/', 'test-output/', '.local/', 'tools/bicep/obj/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js', 'console/vite.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  {
    rules: {
      // Leaving a property out of a copy is `{ left: _left, ...rest }`.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { ignoreRestSiblings: true, argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['console/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    // The two rules of hooks; the plugin's React Compiler checks are for apps built with that compiler.
    rules: { 'react-hooks/rules-of-hooks': 'error', 'react-hooks/exhaustive-deps': 'error' },
    languageOptions: { globals: globals.browser },
  },
  {
    // Tests read JSON answers of every shape (that is what they check): the any-typed reads of a
    // response body are the test's business, not a hole in the app's types.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      // A probe that waitFor polls is async by contract, whether or not it awaits.
      '@typescript-eslint/require-await': 'off',
    },
  },
  prettier,
  {
    // After Prettier's config, which turns it off: Prettier wraps code at 120, and this holds comments
    // to it too. A message stays in one piece, so that it can be found with a search; so do URLs and patterns.
    rules: {
      'max-len': [
        'error',
        { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true, ignoreStrings: true, ignoreTemplateLiterals: true },
      ],
    },
  },
);
