// Builds the dashboard into one folder of static files (index.html, dashboard.js, dashboard.css and the notices of the
// libraries bundled into dashboard.js) that Ledger.Api embeds in its assembly and serves at /dashboard, with inputs.sha256,
// the manifest of the files it was built from:
//   node build.mjs <output folder>
// .ci/generated builds the committed copy, bundle/; the Ledger.Api build (Dashboard.targets) embeds that copy when its
// manifest matches the sources, and otherwise runs this into obj/.
import { createHash } from 'node:crypto';
import { build } from 'esbuild';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.argv[2] ?? path.join(here, 'dist'));
await mkdir(out, { recursive: true });

await build({
  entryPoints: { dashboard: path.join(here, 'src/main.js') },
  outdir: out,
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  minify: true,
  // The licences of what is bundled are served whole beside it (third-party-notices.txt), not as scattered comments.
  legalComments: 'none',
  banner: { js: '/* Megapack ledger dashboard. Bundled libraries and their licences: third-party-notices.txt */' },
  logLevel: 'warning',
});
await build({
  entryPoints: { dashboard: path.join(here, 'src/dashboard.css') },
  outdir: out,
  bundle: true,
  minify: true,
  logLevel: 'warning',
});
await copyFile(path.join(here, 'src/index.html'), path.join(out, 'index.html'));

// Apache-2.0 (ECharts) asks for its licence and NOTICE to travel with the code; BSD-3-Clause (ZRender) and 0BSD (tslib)
// for their licences. Every package in the bundle is listed, so a new dependency without a licence file fails the build.
const bundled = [
  ['echarts', ['LICENSE', 'NOTICE', 'licenses/LICENSE-d3']],
  ['zrender', ['LICENSE']],
  ['tslib', ['LICENSE.txt']],
];
const sections = [];
for (const [name, files] of bundled) {
  const { version } = JSON.parse(await readFile(path.join(here, 'node_modules', name, 'package.json'), 'utf8'));
  const texts = await Promise.all(files.map((file) => readFile(path.join(here, 'node_modules', name, file), 'utf8')));
  sections.push(`${name} ${version}\n${'='.repeat(`${name} ${version}`.length)}\n\n${texts.map((t) => t.trim()).join('\n\n')}\n`);
}
await writeFile(path.join(out, 'third-party-notices.txt'),
  `Libraries bundled into dashboard.js, with their licences.\n\n${sections.join('\n\n')}`);

// The manifest of the inputs, in sha256sum's format and sorted by path: every file under src/, build.mjs, package.json
// and package-lock.json (the same set as DashboardInput in Dashboard.targets, which compares it line by line).
// Walked by hand: readdir's recursive listing and Dirent.parentPath are newer than the Node.js 18 that Debian 12 ships.
const filesUnder = async (dir) => (await Promise.all((await readdir(path.join(here, dir), { withFileTypes: true }))
  .map((entry) => (entry.isDirectory() ? filesUnder(`${dir}/${entry.name}`) : entry.isFile() ? [`${dir}/${entry.name}`] : []))))
  .flat();
const inputs = [...(await filesUnder('src')), 'build.mjs', 'package.json', 'package-lock.json']
  .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const manifest = await Promise.all(inputs.map(async (input) =>
  `${createHash('sha256').update(await readFile(path.join(here, input))).digest('hex')}  ${input}\n`));
await writeFile(path.join(out, 'inputs.sha256'), manifest.join(''));
console.log(`dashboard built into ${out}`);
