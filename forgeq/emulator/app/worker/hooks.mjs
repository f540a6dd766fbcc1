// Module hooks of forgeq's Node.js worker (registered with module.register; they run on Node's
// hooks thread). They make Node load a Forge app's source the way Forge's bundler (webpack) does:
//
// 1. Default-import interop. Forge apps write `import Resolver from '@forge/resolver'`. The
//    @forge packages are CommonJS compiled from TypeScript (`exports.__esModule = true` and
//    `exports.default = Resolver`). Webpack gives such an import `exports.default`; Node's own
//    ESM loader gives the whole `module.exports` object, so `new Resolver()` would throw. A
//    CommonJS module marked __esModule is therefore served to ESM importers through a small
//    wrapper module that re-exports its named exports and exports `default` as webpack would.
// 2. Extensionless relative imports (`import { x } from './util'`), which webpack resolves and
//    Node's ESM loader refuses: tried with Forge's handler extensions, then as a folder index.
// 3. TypeScript and JSX (.ts, .tsx, .jsx, .mts): compiled to ESM JavaScript with a
//    transpiler from the app's own node_modules (sucrase, esbuild or typescript, first found).
//    Node 20 has none built in; forgeq bundles none. A .jsx file without one is tried as plain JS.
// 4. ESM syntax in a .js file of a package without "type": "module": Node 20.19+ and 22.7+
//    detect it themselves; for earlier 20.x the app's own files are checked here. Such a file may
//    also call `require()` (webpack accepts a file that mixes both): an app file loaded as an ES
//    module gets `require`, `__filename` and `__dirname` where it uses them without declaring them,
//    on its first line, so its line numbers stay.
// 5. `import config from './config.json'` without `with { type: 'json' }`, which webpack allows
//    and Node refuses: the app's JSON files are served as a module exporting the parsed value.
// 6. A named import that a package does not export (`import { SortOrder } from '@forge/kvs'`, as
//    some Forge docs write it; the package exports `Sort`). Webpack binds it to undefined, so the
//    app fails only where it uses it, as a TypeError; Node refuses to link the whole module, which
//    would stop every function in it. An app module's named imports of packages are therefore read
//    from the package's namespace, on the import's own lines.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RAW = 'forgeq-cjs';
const COMPILED = new Set(['.ts', '.tsx', '.jsx', '.mts']);
const TRY_EXTENSIONS = ['.tsx', '.jsx', '.ts', '.js', '.cjs', '.mjs'];
const ESM_SYNTAX = /^\s*(import\s*[\w{*'"]|export\s+(default|const|let|var|function|class|async|\{|\*))/m;
const CJS_EXPORTS = /\bmodule\.exports\b|(^|[^.\w$])exports\.[\w$]+\s*=/m;
const APP_SCRIPT = /\.(js|jsx|mjs)$/;

let appDir = process.cwd();
let transpiler;

// Node's note that it reparsed a typeless .js file as ESM is about forgeq's loading, not the app.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.code === 'MODULE_TYPELESS_PACKAGE_JSON' || warning.name === 'ExperimentalWarning') return;
  process.stderr.write(`(node) ${warning.name}: ${warning.message}\n`);
});

export async function initialize(data) {
  if (data && data.appDir) appDir = data.appDir;
}

function inApp(url) {
  if (!url.startsWith('file:')) return false;
  const file = fileURLToPath(url);
  return file.startsWith(appDir + path.sep) && !file.split(path.sep).includes('node_modules');
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const relative = specifier.startsWith('./') || specifier.startsWith('../');
    const code = error && error.code;
    if (!relative || !context.parentURL || !inApp(context.parentURL)) throw error;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'ERR_UNSUPPORTED_DIR_IMPORT') throw error;
    // TypeScript's convention: `./util.js` names ./util.ts.
    const stem = /\.(js|jsx|mjs|cjs)$/.test(specifier) ? specifier.replace(/\.(js|jsx|mjs|cjs)$/, '') : specifier;
    const candidates = [];
    for (const extension of TRY_EXTENSIONS) candidates.push(stem + extension);
    for (const extension of TRY_EXTENSIONS) candidates.push(specifier.replace(/\/$/, '') + '/index' + extension);
    for (const candidate of candidates) {
      if (candidate === specifier) continue;
      try {
        return await nextResolve(candidate, context);
      } catch {
        // try the next one
      }
    }
    throw error;
  }
}

export async function load(url, context, nextLoad) {
  const parsed = new URL(url);
  if (parsed.searchParams.has(RAW)) {
    parsed.searchParams.delete(RAW);
    return nextLoad(parsed.href, { ...context, format: 'commonjs' });
  }
  if (parsed.protocol === 'file:' && COMPILED.has(path.extname(parsed.pathname))) {
    return compile(url, fileURLToPath(parsed));
  }
  const attributes = context.importAttributes || context.importAssertions || {};
  if (parsed.pathname.endsWith('.json') && attributes.type !== 'json' && inApp(url)) {
    const text = readFileSync(fileURLToPath(parsed), 'utf8');
    JSON.parse(text); // a broken file fails here, naming itself
    return { format: 'module', source: `export default ${text};\n`, shortCircuit: true };
  }
  const loaded = await nextLoad(url, context);
  if (parsed.protocol !== 'file:') return loaded;
  // Node 22+ runs `require` through these hooks too: a require gets module.exports as it is.
  if (Array.isArray(context.conditions) && context.conditions.includes('require')) return loaded;
  const file = fileURLToPath(parsed);
  const app = inApp(url) && APP_SCRIPT.test(file);
  if (loaded.format === 'module') return app ? { ...loaded, source: asBundled(String(loaded.source ?? readFileSync(file, 'utf8'))) } : loaded;
  if (loaded.format !== 'commonjs') return loaded;
  const text = loaded.source == null ? readFileSync(file, 'utf8') : String(loaded.source);
  if (app && ESM_SYNTAX.test(text) && !CJS_EXPORTS.test(text)) {
    return { format: 'module', source: asBundled(text), shortCircuit: true };
  }
  if (!text.includes('__esModule')) return loaded;
  parsed.searchParams.set(RAW, '');
  const raw = JSON.stringify(parsed.href);
  const source =
    `import * as namespace from ${raw};\n` +
    `export * from ${raw};\n` +
    `const exported = namespace.default;\n` +
    `export default exported !== null && (typeof exported === 'object' || typeof exported === 'function') && exported.__esModule ? exported.default : exported;\n`;
  return { format: 'module', source, shortCircuit: true };
}

// An ES module of the app as the bundler would run it: package imports (6) and CommonJS names (4).
function asBundled(source) {
  return withCommonJsNames(withPackageImportsAsBundled(source));
}

// `import D, { a, b as c } from 'pkg'` -> `import D, * as ns from 'pkg'; const { a, b: c } = ns`,
// for bare specifiers only (the app's own modules link as they are), keeping every line break.
const PACKAGE_IMPORT = /^([ \t]*)import(?:\s+([\w$]+)\s*,)?\s*\{([^}]*)\}\s*from\s*(['"])([^'"./][^'"]*)\4/gm;

function withPackageImportsAsBundled(source) {
  let count = 0;
  return source.replace(PACKAGE_IMPORT, (match, indent, name, names, quote, specifier) => {
    if (/\btype\b/.test(names)) return match; // TypeScript's type-only names, left to the transpiler
    const namespace = `__forgeqImport${count++}`;
    const bindings = names.replace(/([\w$]+)\s+as\s+([\w$]+)/g, '$1: $2');
    return `${indent}import ${name ? `${name}, ` : ''}* as ${namespace} from ${quote}${specifier}${quote}; const {${bindings}} = ${namespace}`;
  });
}

// `require`, `__filename` and `__dirname` for an ES module of the app that uses them without
// declaring them, put before its first line so that its line numbers stay.
function withCommonJsNames(source) {
  const declared = (name) => new RegExp(`\\b(const|let|var|function|class)\\s+${name}\\b|\\bas\\s+${name}\\b|\\bimport\\s+${name}\\b`).test(source);
  const lines = [];
  if (/\brequire\s*\(/.test(source) && !declared('require')) {
    lines.push("import { createRequire as __forgeqCreateRequire } from 'node:module'; const require = __forgeqCreateRequire(import.meta.url);");
  }
  const filename = /\b__filename\b/.test(source) && !declared('__filename');
  const dirname = /\b__dirname\b/.test(source) && !declared('__dirname');
  if (filename || dirname) lines.push("import { fileURLToPath as __forgeqPath } from 'node:url';");
  if (filename) lines.push('const __filename = __forgeqPath(import.meta.url);');
  if (dirname) lines.push("const __dirname = __forgeqPath(new URL('.', import.meta.url)).replace(/\\/$/, '');");
  return lines.length ? lines.join(' ') + ' ' + source : source;
}

function findTranspiler() {
  if (transpiler !== undefined) return transpiler;
  const require = createRequire(path.join(appDir, 'package.json'));
  transpiler = null;
  for (const name of ['sucrase', 'esbuild', 'typescript']) {
    try {
      transpiler = { name, module: require(name) };
      break;
    } catch {
      // not installed in the app
    }
  }
  return transpiler;
}

function compile(url, file) {
  const source = readFileSync(file, 'utf8');
  const extension = path.extname(file);
  const typescript = extension !== '.jsx';
  const jsx = extension === '.tsx' || extension === '.jsx';
  const found = findTranspiler();
  if (found === null) {
    if (!typescript) return { format: 'module', source: asBundled(source), shortCircuit: true };
    const error = new Error(
      `${path.relative(appDir, file)} is TypeScript, and Node.js ${process.versions.node} cannot run it without a transpiler: ` +
        `run \`npm install --save-dev sucrase\` in ${appDir} (forgeq also uses esbuild or typescript if the app has one)`
    );
    error.code = 'FORGEQ_NO_TRANSPILER';
    throw error;
  }
  const { name, module } = found;
  let code;
  if (name === 'sucrase') {
    const transforms = [...(typescript ? ['typescript'] : []), ...(jsx ? ['jsx'] : [])];
    // sucrase keeps every line where it was, so stack traces point at the .ts file's own lines.
    code = module.transform(source, { transforms, filePath: file, disableESTransforms: true }).code;
  } else if (name === 'esbuild') {
    code = module.transformSync(source, {
      loader: extension === '.mts' ? 'ts' : extension.slice(1),
      format: 'esm',
      sourcemap: 'inline',
      sourcefile: file,
      target: `node${process.versions.node.split('.')[0]}`,
    }).code;
  } else {
    code = module.transpileModule(source, {
      fileName: file,
      compilerOptions: {
        module: module.ModuleKind.ESNext,
        target: module.ScriptTarget.ES2022,
        jsx: module.JsxEmit.React,
        inlineSourceMap: true,
        inlineSources: true,
        esModuleInterop: true,
      },
    }).outputText;
  }
  return { format: 'module', source: asBundled(code), shortCircuit: true };
}

