// Builds the dashboard into one folder of static files (index.html, dashboard.js, dashboard.css and the notices of the
// libraries bundled into dashboard.js) that Ledger.Api embeds in its assembly and serves at /dashboard. Run by the Ledger.Api build (BuildDashboard in Ledger.Api.csproj):
//   node build.mjs <output folder>
import { build } from 'esbuild';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
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
console.log(`dashboard built into ${out}`);
